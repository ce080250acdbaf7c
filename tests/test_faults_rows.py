"""Issue 18: text that is not valid Unicode (lone surrogates, undecodable bytes) in batch rows,
stdin answers and quiz answers, and CSV output columns that every row keeps (ragged CSV rows,
JSONL keys that only later rows have, a broken first JSONL line). Each test failed before its fix."""

import csv
import io
import json
from pathlib import Path

import pytest

from grader.cli import main
from grader.workflows.batch.job import BatchJob
from faults_helpers import interrupt_at_chunk, one_line_error, read_csv, write_csv, write_jsonl  # noqa: E402


GOOD = json.dumps({"question_id": "q004-035", "answer": "drops units at random while training", "who": "b"})


# --- lone surrogates in a batch row -------------------------------------------------------------

@pytest.mark.parametrize("line, field", [
    ('{"question_id": "q004-035", "answer": "drops \\ud800 units", "who": "a"}', "'answer'"),
    ('{"question_id": "q004-035", "answer": "drops units", "who": "a\\udc80"}', "'who'"),
    ('{"question": "What \\udfff?", "reference_answer": "r", "answer": "x", "who": "a"}', "'question'"),
    ('{"question": "Q?", "reference_answer": "r\\ud800", "answer": "x", "who": "a"}', "'reference_answer'"),
    ('{"question": "Q?", "reference_answers": ["r", "s\\ud800"], "answer": "x", "who": "a"}', "'reference_answers'"),
    ('{"question_id": "q004-035", "answer": "x", "who": "a", "n\\ud800te": "y"}', "field name"),
    ('{"question_id": "q004-035\\ud800", "answer": "x", "who": "a"}', "'question_id'"),
])
@pytest.mark.parametrize("out_name", ["out.csv", "out.jsonl"])
def test_a_row_with_a_lone_surrogate_is_an_error_row_naming_the_field(tmp_path, grader, line, field, out_name):
    src = write_jsonl(tmp_path / "in.jsonl", [line, GOOD])
    summary = BatchJob(grader).run(str(src), str(tmp_path / out_name))
    out = tmp_path / out_name
    rows = read_csv(out) if out_name.endswith(".csv") else [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["who"] for r in rows][1] == "b" and rows[1]["status"] == "ok"
    assert rows[0]["status"] == "error" and "line 1" in rows[0]["message"] and field in rows[0]["message"]
    assert "surrogate" in rows[0]["message"]
    assert "\ufffd" in out.read_text(encoding="utf-8")        # the bad character shown, the rest kept
    assert summary.errors == 1


def test_resume_past_a_row_with_a_lone_surrogate(tmp_path, grader, monkeypatch):
    lines = [GOOD.replace('"b"', f'"b{i}"') for i in range(6)]
    lines[4] = '{"question_id": "q004-035", "answer": "drops \\ud800 units", "who": "bad"}'
    src = write_jsonl(tmp_path / "in.jsonl", lines)
    BatchJob(grader, chunk_size=2).run(str(src), str(tmp_path / "full.csv"))
    job = interrupt_at_chunk(BatchJob(grader, chunk_size=2), monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        job.run(str(src), str(tmp_path / "out.csv"))
    summary = BatchJob(grader, chunk_size=2).run(str(src), str(tmp_path / "out.csv"), resume=True)
    assert summary.resumed_from == 2 and summary.errors == 1
    assert (tmp_path / "out.csv").read_text() == (tmp_path / "full.csv").read_text()


def test_the_embedder_takes_text_with_a_lone_surrogate(grader):
    vectors = grader.embedder.encode(["drops \udcff units", "fine"])
    assert vectors.shape[0] == 2


# --- stdin and argument answers of `grader grade` -----------------------------------------------

def test_grade_with_stdin_that_is_not_utf8_is_a_one_line_error(runner):
    out = runner.invoke(main, ["grade", "-q", "q004-035", "-a", "-"], input=b"drops \xff units")
    one_line_error(out, "stdin", "UTF-8")


@pytest.mark.parametrize("args, name", [
    (["-q", "q004-035", "-a", "drops \udcff units"], "--answer"),
    (["-q", "What \udcff?", "-r", "ref", "-a", "x"], "--question"),
    (["-q", "What?", "-r", "re\udcfff", "-a", "x"], "--reference"),
])
def test_grade_with_an_argument_that_is_not_utf8_is_a_one_line_error(runner, args, name):
    out = runner.invoke(main, ["grade", *args])
    one_line_error(out, name, "byte 0xff")


def test_quiz_keeps_an_answer_with_bytes_that_are_not_utf8(tmp_path, runner):
    db = tmp_path / "q.db"
    out = runner.invoke(main, ["quiz", "--ids", "q004-035,q004-001", "--db", str(db)],
                        input=b"drops \xff units\nsecond answer\n")
    assert out.exit_code == 0, out.output
    assert "Traceback" not in out.output and "not UTF-8" in out.output
    history = runner.invoke(main, ["history", "--db", str(db), "--json"])
    answers = [r["answer"] for r in json.loads(history.output)]
    assert sorted(answers) == ["drops \ufffd units", "second answer"]


# --- every row's columns in the CSV header ------------------------------------------------------

def test_ragged_csv_row_is_an_error_row_naming_the_line_and_keeps_its_fields(tmp_path, grader):
    src = tmp_path / "in.csv"
    src.write_text("question_id,answer,who\nq004-035,drops units,a\nq004-035,drops units,b,x1,x2\n"
                   "q004-035,drops units,c\n", encoding="utf-8")
    BatchJob(grader).run(str(src), str(tmp_path / "out.csv"))
    rows = read_csv(tmp_path / "out.csv")
    assert [r["who"] for r in rows] == ["a", "b", "c"]
    assert [r["status"] for r in rows] == ["ok", "error", "ok"]
    assert "line 3" in rows[1]["message"] and "5 fields" in rows[1]["message"]
    assert rows[1]["_extra_fields"] == "x1,x2"


def test_jsonl_keys_that_only_later_rows_have_are_kept(tmp_path, grader):
    src = write_jsonl(tmp_path / "in.jsonl", [
        json.dumps({"question_id": "q004-035", "answer": "drops units"}),
        json.dumps({"question_id": "q004-035", "answer": "drops units", "late": "L", "label": "human"})])
    BatchJob(grader, chunk_size=1).run(str(src), str(tmp_path / "out.csv"))
    rows = read_csv(tmp_path / "out.csv")
    assert rows[1]["late"] == "L" and rows[1]["label"] == "human"
    assert rows[0]["late"] == "" and rows[0]["label"] == ""
    # The grader's label is renamed on every row, not only from the row that has `label` on.
    assert all(r["grader_label"] for r in rows) and all(r["status"] == "ok" for r in rows)


def test_broken_first_jsonl_line_does_not_decide_the_header(tmp_path, grader):
    src = write_jsonl(tmp_path / "in.jsonl", [
        "{not json", json.dumps({"question_id": "q004-035", "answer": "drops units", "who": "b"})])
    BatchJob(grader).run(str(src), str(tmp_path / "out.csv"))
    rows = read_csv(tmp_path / "out.csv")
    assert list(rows[0])[:3] == ["question_id", "answer", "who"] and "_parse_error" not in rows[0]
    assert rows[0]["status"] == "error" and "line 1" in rows[0]["message"]
    assert (rows[1]["question_id"], rows[1]["answer"], rows[1]["who"], rows[1]["status"]) == \
        ("q004-035", "drops units", "b", "ok")


def test_resume_keeps_the_header_of_every_column(tmp_path, grader, monkeypatch):
    lines = [json.dumps({"question_id": "q004-035", "answer": "drops units", **({"late": i} if i > 3 else {})})
             for i in range(6)]
    src = write_jsonl(tmp_path / "in.jsonl", lines)
    BatchJob(grader, chunk_size=2).run(str(src), str(tmp_path / "full.csv"))
    job = interrupt_at_chunk(BatchJob(grader, chunk_size=2), monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        job.run(str(src), str(tmp_path / "out.csv"))
    BatchJob(grader, chunk_size=2).run(str(src), str(tmp_path / "out.csv"), resume=True)
    assert (tmp_path / "out.csv").read_text() == (tmp_path / "full.csv").read_text()
    assert [r["late"] for r in read_csv(tmp_path / "out.csv")] == ["", "", "", "", "4", "5"]


def test_stdin_jsonl_to_csv_keeps_late_keys_and_leaves_no_spool(tmp_path, runner, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    text = "\n".join([json.dumps({"question_id": "q004-035", "answer": "drops units"}),
                      json.dumps({"question_id": "q004-035", "answer": "drops", "late": "L"})]) + "\n"
    out = runner.invoke(main, ["batch", "-", "--input-format", "jsonl", "-o", "-", "-q"], input=text)
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["late"] for r in rows] == ["", "L"]
    assert not list(Path(tmp_path).glob(".grader-stdin-*"))


# --- calibrate: a class missing from a grouped inner fold ---------------------------------------

@pytest.mark.parametrize("estimator", ["logistic", "boosting"])
def test_a_class_missing_from_an_inner_fold_falls_back_to_folds_over_rows(estimator):
    """Before: boosting raised ValueError (a traceback from `grader calibrate`), logistic regression
    gave the missing class a constant probability."""
    import numpy as np

    from grader.model.classifier import GradingModel
    from grader.signals.features import FEATURES

    rng = np.random.default_rng(0)
    groups = np.array([f"g{i % 6}" for i in range(60)])
    y = np.where(groups == "g0", "correct", np.where(groups == "g1", "partial", "incorrect"))
    X = rng.normal(size=(60, len(FEATURES)))
    X[:, :5] += (y == "correct")[:, None] * 3.0   # in several columns: the trees sample columns
    model = GradingModel(labels=["incorrect", "partial", "correct"], features=tuple(FEATURES),
                         estimator=estimator, cv=5)
    model.fit(X, list(y), groups=groups)
    assert model.inner_folds_ == "rows"
    proba = model.predict_proba(X)
    # The class is learnt: its rows get more of its probability than the others do.
    assert proba[y == "correct", 2].mean() > proba[y != "correct", 2].mean() + 0.2


def test_the_inner_fold_fallback_is_a_calibration_warning():
    from types import SimpleNamespace

    from grader.workflows.calibration.run import _inner_fold_warnings

    data = SimpleNamespace(group_by="question")
    assert "folds over rows" in _inner_fold_warnings(SimpleNamespace(inner_folds_="rows"), data)[0]
    assert _inner_fold_warnings(SimpleNamespace(inner_folds_="grouped"), data) == []


# --- formula cells in exported label files ------------------------------------------------------

@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20"])
def test_export_labels_neutralises_formula_cells_full_width_too(tmp_path, runner, start):
    db = tmp_path / "q.db"
    answer = start + "HYPERLINK(\"http://x\")"
    out = runner.invoke(main, ["quiz", "--db", str(db), "--ids", "q004-035"], input=answer + "\n")
    assert out.exit_code == 0, out.output
    labels = tmp_path / "labels.csv"
    out = runner.invoke(main, ["export-labels", "--db", str(db), "-o", str(labels)])
    assert out.exit_code == 0, out.output
    assert read_csv(labels)[0]["answer"] == "'" + answer


def test_exported_formula_cells_read_back_without_the_quote(tmp_path, grader):
    """The quote export-labels and batch add for spreadsheets is taken off again when the file is
    read as labelled data, so calibrate never trains on it; a quote the user wrote stays."""
    from grader.workflows.calibration.labels import load_labelled

    path = tmp_path / "labels.csv"
    write_csv(path, [{"question_id": "q004-035", "answer": "'-drops units at random while training", "label": "partial"},
                     {"question_id": "q004-035", "answer": "'quoted: drops units", "label": "partial"},
                     {"question_id": "q004-035", "answer": "'-1", "label": "incorrect"}])
    data = load_labelled(grader, str(path))
    assert data.answers == ["-drops units at random while training", "'quoted: drops units", "'-1"]
