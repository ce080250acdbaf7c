"""Issue 18: a property-based fuzzer of `grader batch` over small generated CSV and JSONL files
(column names that clash with the grader's, ragged rows, quotes, commas, newlines, unicode, empty
answers, unknown question ids, JSON values that are not text, broken lines, lone surrogates), run
through the CLI with the real bundled model (loaded once).

Invariant: every input row is in the output once, in input order, with its input columns intact
and status ok or error; or the job stops with a one-line error (no traceback) and leaves no
output file."""

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.cli import main
from grader.errors import repaired_text
from grader.workflows.formats import EXTRA_FIELDS, neutralise_formula

NAMES = ["question_id", "answer", "question", "reference_answer", "reference_answer_2", "label", "score",
         "status", "message", "grader_label", "confidence", "who", "Answer", "x,y", 'q"t', "é名", "=sum", " "]
IDS = ["q004-035", "q004-001", "no-such-id", "", " q004-035 "]
TEXT = st.text(st.sampled_from(list("ab ,\"'\n\r\t=+-@é名😀;\\{}")) | st.characters(codec="utf-8"), max_size=12)
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture
def cli(grader, runner, monkeypatch):
    """`grader batch` through click with the session's loaded grader (no model reload per example)."""
    from grader.grading import Grader

    monkeypatch.setattr(Grader, "from_paths", classmethod(lambda cls, *a, **k: grader))

    def run(src: Path, out: Path, *args):
        return runner.invoke(main, ["batch", str(src), "-o", str(out), "-q", *args])
    return run


def _stopped_cleanly(result, out: Path):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists() and not list(out.parent.glob(out.name + ".*"))


def _status_name(columns) -> str:
    """The grader's status column: `status`, or `grader_status` when the input has `status`, ..."""
    name = "status"
    while name in columns:
        name = "grader_" + name
    return name


# --- CSV -----------------------------------------------------------------------------------------

@st.composite
def csv_files(draw):
    header = ["rid"] + draw(st.lists(st.sampled_from(NAMES) | TEXT, max_size=5))
    records = []
    for i in range(draw(st.integers(1, 5))):
        fields = [f"r{i}"]
        for name in header[1:]:
            fields.append(draw(st.sampled_from(IDS)) if name == "question_id" else draw(TEXT))
        cut = draw(st.sampled_from([0, 0, 0, -1, 1, 2]))     # ragged: a field short, or extra ones
        fields = fields[:len(fields) + cut] if cut < 0 else fields + [draw(TEXT) for _ in range(cut)]
        records.append(fields)
    return header, records


@FUZZ
@given(data=csv_files(), out_ext=st.sampled_from([".csv", ".jsonl"]))
def test_fuzz_csv_every_row_kept_in_order_or_a_one_line_error(cli, data, out_ext):
    header, records = data
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "in.csv", Path(d) / f"out{out_ext}"
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(records)
        src.write_text(buf.getvalue(), encoding="utf-8")
        result = cli(src, out)
        if result.exit_code != 0:
            _stopped_cleanly(result, out)
            return
        # What the input holds, read as the grader's reader must read it.
        with open(src, newline="", encoding="utf-8") as f:
            parsed = list(csv.reader(f))
        head, body = parsed[0], [r for r in parsed[1:]]
        ragged = any(len(r) > len(head) for r in body)
        columns = head + ([EXTRA_FIELDS] if ragged else [])
        if out_ext == ".csv":
            with open(out, newline="", encoding="utf-8") as f:
                got = list(csv.reader(f))
            assert got[0][:len(columns)] == [neutralise_formula(c) for c in columns]
            assert got[0][len(columns) + 7] == neutralise_formula(_status_name(columns))
            rows = [dict(zip(columns, r)) | {"_status": r[len(columns) + 7]} for r in got[1:]]
            shown = neutralise_formula
        else:
            loaded = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
            rows = [dict(r, _status=r[_status_name(columns)]) for r in loaded]
            shown = str
        assert len(rows) == len(body)
        for row, fields in zip(rows, body):
            for name, value in zip(head, fields):
                assert row[name] == shown(value)
            if len(fields) > len(head):
                assert row[EXTRA_FIELDS] == shown(",".join(fields[len(head):]))
                assert row["_status"] == "error"
            assert row["_status"] in ("ok", "error")


# --- JSONL ---------------------------------------------------------------------------------------

VALUES = (TEXT | st.sampled_from(IDS) | st.integers(-10**6, 10**6) | st.booleans() | st.none()
          | st.floats(allow_nan=False, allow_infinity=False, width=32)
          | st.lists(TEXT, max_size=2) | st.dictionaries(TEXT, TEXT, max_size=1)
          | TEXT.map(lambda t: t + "\ud800"))        # a lone surrogate, written as a JSON escape


@st.composite
def jsonl_files(draw):
    lines = []
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["row", "row", "row", "broken", "not-object"]))
        if kind == "broken":
            lines.append((("{broken " + draw(TEXT)).replace("\n", " ").replace("\r", " "), None))
            continue
        if kind == "not-object":
            lines.append(("[1, 2]", None))
            continue
        row = {"rid": f"r{i}"}
        for name in draw(st.lists(st.sampled_from(NAMES), max_size=5, unique=True)):
            row[name] = draw(VALUES)
        lines.append((json.dumps(row), row))
    return lines


def _repaired(value):
    if isinstance(value, str):
        return repaired_text(value)
    if isinstance(value, list):
        return [_repaired(v) for v in value]
    if isinstance(value, dict):
        return {repaired_text(k): _repaired(v) for k, v in value.items()}
    return value


@FUZZ
@given(lines=jsonl_files(), out_ext=st.sampled_from([".jsonl", ".csv"]))
def test_fuzz_jsonl_every_row_kept_in_order_or_a_one_line_error(cli, lines, out_ext):
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "in.jsonl", Path(d) / f"out{out_ext}"
        src.write_text("".join(text + "\n" for text, _ in lines), encoding="utf-8")
        result = cli(src, out)
        if result.exit_code != 0:
            _stopped_cleanly(result, out)
            return
        columns = list(dict.fromkeys(k for _, row in lines if row for k in row))
        if out_ext == ".csv":
            with open(out, newline="", encoding="utf-8") as f:
                got = list(csv.reader(f))
            assert got[0][:len(columns)] == [neutralise_formula(c) for c in columns]   # every key, once
            rows = [dict(zip(got[0], r)) | {"_status": r[len(columns) + 7]} for r in got[1:]]
        else:
            rows = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
        assert len(rows) == len(lines)
        for row, (_, given_row) in zip(rows, lines):
            if out_ext == ".csv":
                assert row["_status"] in ("ok", "error")
                assert row.get("rid", "") == (given_row["rid"] if given_row else "")
                continue
            status = row[_status_name(columns)]
            assert status in ("ok", "error")
            if given_row is None:
                assert status == "error"
                continue
            for key, value in given_row.items():
                assert row[key] == _repaired(value), key
