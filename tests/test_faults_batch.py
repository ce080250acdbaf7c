"""Issue 18, batch items: concurrent runs on one output, resume after an in-place edit, and the
input faults of CSV/JSONL files (each test failed before its fix)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.cli import main
from faults_helpers import one_line_error, read_csv, write_csv  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


# --- item 4: two runs with the same -o -------------------------------------------------------

def test_second_run_on_a_locked_output_stops_naming_the_file(tmp_path, runner):
    import fcntl

    src = write_csv(tmp_path / "in.csv", [{"question_id": "q004-035", "answer": "drops units"}])
    out_path = tmp_path / "out.csv"
    lock = tmp_path / "out.csv.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)     # what a first, still running job holds
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        out = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "-q"])
    finally:
        os.close(fd)
    one_line_error(out, str(out_path), "another grader batch")
    assert not out_path.exists() and not (tmp_path / "out.csv.part").exists()
    out = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "-q"])   # released: runs
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]    # no lock left behind


@pytest.mark.slow
def test_two_concurrent_runs_never_mix_rows(tmp_path):
    """Two real processes on one -o: one finishes with its own rows, the other stops with the lock error."""
    a = write_csv(tmp_path / "a.csv", [{"who": f"a{i}", "question_id": "q004-035", "answer": f"drops units {i}"}
                                        for i in range(300)])
    b = write_csv(tmp_path / "b.csv", [{"who": f"b{i}", "question_id": "q004-035", "answer": f"drops units {i}"}
                                        for i in range(300)])
    out_path = tmp_path / "out.csv"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "grader", "batch"]
    first = subprocess.Popen(cmd + [str(a), "-o", str(out_path), "-q", "--chunk-size", "8"], env=env,
                             stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "out.csv.lock"
    for _ in range(600):
        if lock.exists() or first.poll() is not None:
            break
        import time
        time.sleep(0.05)
    second = subprocess.run(cmd + [str(b), "-o", str(out_path), "-q"], env=env, capture_output=True, text=True)
    first.wait(timeout=600)
    assert first.returncode == 0, first.stderr
    if second.returncode == 0:       # the first had finished before the second started
        assert [r["who"] for r in read_csv(out_path)] == [f"b{i}" for i in range(300)]
    else:
        assert "another grader batch" in second.stderr and "Traceback" not in second.stderr
        assert [r["who"] for r in read_csv(out_path)] == [f"a{i}" for i in range(300)]


# --- item 9: resume after a same-size in-place edit ------------------------------------------

def test_resume_refuses_an_input_edited_in_place_at_the_same_size(tmp_path, runner):
    rows = [{"question_id": "q004-035", "answer": f"answer number {i}"} for i in range(6)]
    src = write_csv(tmp_path / "in.csv", rows)
    out_path = tmp_path / "out.csv"
    assert runner.invoke(main, ["batch", str(src), "-o", str(out_path), "-q"]).exit_code == 0
    # Make it look interrupted after 3 rows, then edit the input without changing its size.
    from grader.workflows.batch.resume import _input_identity

    graded = out_path.read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "out.csv.part").write_text("".join(graded[:4]), encoding="utf-8")
    (tmp_path / "out.csv.checkpoint.json").write_text(json.dumps({"rows_done": 3, **_input_identity(str(src))}))
    out_path.unlink()
    size = src.stat().st_size
    src.write_bytes(src.read_bytes().replace(b"answer number 1", b"answer NUMBER 1"))
    assert src.stat().st_size == size
    out = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "--resume", "-q"])
    one_line_error(out, "checkpoint", "changed")
    assert not out_path.exists()


# --- item 6: an unbalanced quote swallowing the rest of the file -----------------------------

@pytest.mark.parametrize("body", [
    # the rest of the file
    'q004-035,"it drops units\nq004-035,a second answer\nq004-035,a third answer\n',
    # up to the quote that opens a field of line 4, the file read on as if nothing happened
    'q004-035,"it drops units\nq004-035,a second answer\nq004-035,"a third answer, quoted"\nq004-035,a fourth answer\n',
    # up to a stray quote at a line end (5" for inches): strict CSV, yet the lines start like rows
    'q004-035,"it drops units\nq004-035,a second answer\nq004-035,a kernel of 5"\nq004-035,a fourth answer\n',
], ids=["to the end", "to a later quote", "to a stray quote at a line end"])
def test_a_quote_left_open_that_swallows_rows_stops_naming_the_line(tmp_path, runner, body):
    src = tmp_path / "in.csv"
    src.write_text("question_id,answer\n" + body, encoding="utf-8")
    out_path = tmp_path / "out.csv"
    out = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "-q"])
    one_line_error(out, "line 2", "quote")
    assert not out_path.exists()
def test_a_real_multi_line_answer_is_not_taken_for_a_broken_quote(tmp_path, runner):
    src = tmp_path / "in.csv"
    src.write_text('question_id,answer\nq004-035,"it drops units\nduring training, not at test time"\n'
                   'q004-035,another\n', encoding="utf-8")
    out_path = tmp_path / "out.csv"
    out = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "-q"])
    assert out.exit_code == 0, out.output
    assert [r["answer"] for r in read_csv(out_path)][1] == "another"


def test_a_quoted_field_closing_before_its_end_is_an_error_row_and_the_others_grade(tmp_path, runner):
    """`"dropout" drops units` reads as `dropout drops units` in a lenient reader: the text the
    user wrote would change silently; a quote inside an unquoted field, or a doubled one, is fine."""
    src = tmp_path / "in.csv"
    src.write_text('question_id,answer\nq004-035,"dropout" drops units at random\n'
                   'q004-035,He said "drops units" while training\nq004-035,"it is ""off"" at test time"\n',
                   encoding="utf-8")
    out_path = tmp_path / "out.csv"
    out = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "-q"])
    assert out.exit_code == 0, out.output
    rows = read_csv(out_path)
    assert [r["status"] for r in rows] == ["error", "ok", "ok"]
    assert "line 2" in rows[0]["message"] and "quote" in rows[0]["message"]
    assert rows[1]["answer"] == 'He said "drops units" while training'
    assert rows[2]["answer"] == 'it is "off" at test time'


# --- binary files given as rows, outputs that cannot be written -----------------------------------

@pytest.mark.parametrize("name, head, says", [
    ("answers.csv", b"PAR1\x15\x04\x15", "is a Parquet file"),
    ("answers.jsonl", b"PAR1\x15\x04\x15", "is a Parquet file"),
    ("answers.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "is an Excel workbook"),
])
def test_binary_input_says_what_it_is(tmp_path, runner, name, head, says):
    src = tmp_path / name
    src.write_bytes(head + b"\xff\xfe" * 32)
    out = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "out.csv"), "-q"])
    one_line_error(out, str(src), says)
    assert "UTF-8" not in out.output.replace("CSV UTF-8", "")


def test_xlsx_input_says_it_is_an_excel_workbook_and_how_to_export(tmp_path, runner):
    import zipfile

    src = tmp_path / "answers.xlsx"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    out = runner.invoke(main, ["batch", str(src), "--input-format", "csv", "-o", str(tmp_path / "out.csv"), "-q"])
    one_line_error(out, str(src), "Excel workbook", "Save As")


def _count_grading(monkeypatch):
    from grader.workflows.batch.job import BatchJob

    calls = []
    real = BatchJob._run
    monkeypatch.setattr(BatchJob, "_run", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    return calls


@pytest.mark.parametrize("where", ["output dir", "report dir", "report folder missing"])
def test_unwritable_output_stops_before_grading(tmp_path, runner, monkeypatch, where):
    src = write_csv(tmp_path / "in.csv", [{"question_id": "q004-035", "answer": "drops units"}])
    (tmp_path / "d").mkdir()
    output, report = str(tmp_path / "out.csv"), str(tmp_path / "r.html")
    if where == "output dir":
        output = str(tmp_path / "d")
        bad = output
    elif where == "report dir":
        report = bad = str(tmp_path / "d")
    else:
        report = bad = str(tmp_path / "missing" / "r.html")
    calls = _count_grading(monkeypatch)
    out = runner.invoke(main, ["batch", str(src), "-o", output, "--report", report, "-q"])
    one_line_error(out, bad)
    assert calls == [] and not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("last", [False, True])
def test_a_real_three_line_answer_with_commas_is_read_as_one_answer(tmp_path, runner, last):
    answer = ('Dropout, during training, switches units off at random,\n"so" they cannot co-adapt,\n'
              'and at test time, all units are used.')
    rows = [{"question_id": "q004-035", "answer": answer}, {"question_id": "q004-035", "answer": "another"}]
    src = write_csv(tmp_path / "in.csv", rows[::-1] if last else rows)
    out_path = tmp_path / "out.csv"
    out = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "-q"])
    assert out.exit_code == 0, out.output
    assert sorted(r["answer"] for r in read_csv(out_path)) == sorted([answer, "another"])
