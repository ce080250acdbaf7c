"""Data loss and silently wrong results found by fault-hunting: each test failed before its fix."""

import copy
import json
import os
from pathlib import Path

import pytest

from grader.workflows.batch.job import BatchJob
from grader.cli import main
from grader.errors import DataError
from grader.model.classifier import GradingModel
from faults_helpers import interrupt_at_chunk, one_line_error, read_csv, write_csv  # noqa: E402

BUNDLED_MODEL = Path(__file__).resolve().parent.parent / "grader" / "models" / "default" / "model.json"


# --- 1. export-labels over its own database ---------------------------------------------------

def _quiz_db(path):
    from grader.workflows.quiz.store import QuizStore

    with QuizStore(path) as store:
        store.record(question_id="q004-035", answer="drops units", label="partial", score=0.5)
    return path


@pytest.mark.parametrize("via_link", [False, True])
def test_export_labels_refuses_to_write_over_the_database(tmp_path, runner, via_link):
    db = _quiz_db(tmp_path / "q.db")
    before = db.read_bytes()
    target = db
    if via_link:
        target = tmp_path / "link.db"
        target.symlink_to(db)
    out = runner.invoke(main, ["export-labels", "--db", str(db), "-o", str(target)])
    one_line_error(out)
    assert "-o" in out.output and "--db" in out.output
    assert db.read_bytes() == before


# --- 2. a labelled file's columns survive batch ------------------------------------------------

LABELLED = [
    {"question_id": "q004-035", "answer": "It randomly drops neurons during training to curb overfitting.",
     "label": "correct", "score": "5", "status": "reviewed", "feedback": "nice", "message": "a", "grader_message": "mine"},
    {"question_id": "no-such-id", "answer": "whatever", "label": "incorrect", "score": "0", "status": "reviewed",
     "feedback": "", "message": "", "grader_message": "mine too"},
    {"question_id": "q004-001", "answer": "a tensor is an array", "label": "partial", "score": "2",
     "status": "pending", "feedback": "hmm", "message": "c", "grader_message": ""},
]


def test_batch_keeps_input_columns_named_like_output_columns(tmp_path, grader):
    src = write_csv(tmp_path / "in.csv", [dict(r) for r in LABELLED * 2])
    summary = BatchJob(grader, chunk_size=2).run(str(src), str(tmp_path / "out.csv"))
    rows = read_csv(tmp_path / "out.csv")
    for row, given in zip(rows, LABELLED * 2):
        for key, value in given.items():
            assert row[key] == value          # the human labels, untouched
    assert {r["grader_status"] for r in rows} == {"ok", "error"}
    assert all(r["grader_label"] in ("correct", "partial", "incorrect") for r in rows if r["grader_status"] == "ok")
    assert all(r["grader_score"] for r in rows if r["grader_status"] == "ok")
    # `message` and `grader_message` are both the input's: the grader's message moves one prefix further.
    assert "unknown question_id" in rows[1]["grader_grader_message"]
    # Not renamed: columns the input does not have.
    assert "confidence" in rows[0] and "grader_confidence" not in rows[0]
    assert summary.errors == 2                 # counted from the grader's status, not the input's


def test_batch_jsonl_renames_colliding_fields(tmp_path, grader):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in LABELLED) + "\n")
    BatchJob(grader).run(str(src), str(tmp_path / "out.jsonl"))
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == [r["label"] for r in LABELLED]
    assert [r["status"] for r in rows] == [r["status"] for r in LABELLED]
    assert [r["grader_status"] for r in rows] == ["ok", "error", "ok"]


def test_resume_with_renamed_columns_equals_an_uninterrupted_run(tmp_path, grader, monkeypatch):
    src = write_csv(tmp_path / "in.csv", [dict(r, answer=f"{r['answer']} {i}") for i in range(4) for r in LABELLED])
    BatchJob(grader, chunk_size=3).run(str(src), str(tmp_path / "full.csv"))

    job = interrupt_at_chunk(BatchJob(grader, chunk_size=3), monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        job.run(str(src), str(tmp_path / "out.csv"))
    summary = BatchJob(grader, chunk_size=3).run(str(src), str(tmp_path / "out.csv"), resume=True)
    assert summary.resumed_from == 6
    assert (tmp_path / "out.csv").read_text() == (tmp_path / "full.csv").read_text()
    assert "grader_label" in read_csv(tmp_path / "out.csv")[-1]


# --- 3. outputs that are an input or another output --------------------------------------------

def _batch_input(tmp_path):
    return write_csv(tmp_path / "in.csv", [{"question_id": "q004-035", "answer": "drops neurons"}])


@pytest.mark.parametrize("args, names", [
    (lambda d: [str(d / "in.csv"), "-o", str(d / "in.csv")], ("-o", "INPUT")),
    (lambda d: [str(d / "in.csv"), "-o", str(d / "sub" / ".." / "in.csv")], ("-o", "INPUT")),
    (lambda d: [str(d / "in.csv"), "-o", str(d / "out.csv"), "--report", str(d / "out.csv")], ("--report", "-o")),
    (lambda d: [str(d / "in.csv"), "-o", str(d / "out.csv"), "--report", str(d / "in.csv")], ("--report", "INPUT")),
    (lambda d: [str(d / "in.csv"), "-o", str(d / "hard.csv")], ("-o", "INPUT")),
    (lambda d: [str(d / "in.csv"), "-o", "-", "--report", str(d / "in.csv")], ("--report", "INPUT")),
    (lambda d: [str(d / "in.csv.part"), "-o", str(d / "in.csv")], ("partial output", "INPUT")),
])
def test_batch_refuses_an_output_that_is_an_input_or_another_output(tmp_path, runner, args, names):
    src = _batch_input(tmp_path)
    (tmp_path / "sub").mkdir()
    os.link(src, tmp_path / "hard.csv")
    (tmp_path / "in.csv.part").write_bytes(src.read_bytes())
    before = src.read_bytes()
    out = runner.invoke(main, ["batch", *args(tmp_path), "-q"])
    one_line_error(out)
    assert all(n in out.output for n in names), out.output
    assert src.read_bytes() == before
    assert (tmp_path / "in.csv.part").read_bytes() == before
    assert not (tmp_path / "out.csv").exists()


def test_batch_job_refuses_its_own_input_as_output(tmp_path, grader):
    from grader.errors import GraderError

    src = _batch_input(tmp_path)
    before = src.read_bytes()
    with pytest.raises(GraderError, match="same file"):
        BatchJob(grader).run(str(src), str(src))
    assert src.read_bytes() == before


def test_eval_refuses_a_report_over_its_data(tmp_path, runner):
    data = write_csv(tmp_path / "labelled.csv",
                      [{"question_id": "q004-035", "answer": "drops neurons", "label": "correct"}])
    before = data.read_bytes()
    out = runner.invoke(main, ["eval", str(data), "--report", str(data)])
    one_line_error(out)
    assert "--report" in out.output and "DATA" in out.output
    assert data.read_bytes() == before


def test_calibrate_refuses_data_inside_the_output_as_its_model(tmp_path, runner):
    (tmp_path / "m").mkdir()
    data = write_csv(tmp_path / "m" / "report.html",
                      [{"question_id": "q004-035", "answer": "drops neurons", "label": "correct"}])
    before = data.read_bytes()
    out = runner.invoke(main, ["calibrate", str(data), "--input-format", "csv", "-o", str(tmp_path / "m")])
    one_line_error(out)
    assert "same file" in out.output and "DATA" in out.output
    assert data.read_bytes() == before


# --- 4. JSONL values that are not text -------------------------------------------------------

QUESTION = {"question": "What is 6 times 7?", "reference_answer": "42"}


@pytest.mark.parametrize("row, field", [
    ({**QUESTION, "answer": ["forty", "two"]}, "answer"),
    ({**QUESTION, "answer": {"text": "42"}}, "answer"),
    ({**QUESTION, "answer": True}, "answer"),
    ({**QUESTION, "answer": None}, "answer"),
    ({**QUESTION, "answer": float("nan")}, "answer"),
    ({"question": ["What?"], "reference_answer": "42", "answer": "42"}, "question"),
    ({"question": "What?", "reference_answer": {"a": 1}, "answer": "42"}, "reference_answer"),
    ({"question": "What?", "reference_answer": "42", "reference_answer_2": False, "answer": "42"},
     "reference_answer_2"),
    ({"question": "What?", "reference_answers": ["42", {"x": 1}], "answer": "42"}, "reference_answers"),
    ({"question": "What?", "reference_answers": {"x": "42"}, "answer": "42"}, "reference_answers"),
    ({"question_id": ["q004-035"], "answer": "drops neurons"}, "question_id"),
])
def test_jsonl_value_that_is_not_text_is_an_error_row_naming_the_field(tmp_path, grader, row, field):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({**QUESTION, "answer": "42"}) + "\n" + json.dumps(row) + "\n")
    summary = BatchJob(grader).run(str(src), str(tmp_path / "out.jsonl"))
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out[0]["status"] == "ok"
    assert out[1]["status"] == "error" and f"'{field}'" in out[1]["message"], out[1]
    assert out[1]["score"] == "" and out[1]["label"] == ""
    assert summary.errors == 1


def test_jsonl_numbers_are_graded_as_the_text_written(tmp_path, grader):
    src = tmp_path / "in.jsonl"
    src.write_text('{"question": "What is 6 times 7?", "reference_answer": "42", "answer": 42}\n'
                   '{"question": "What is pi to two places?", "reference_answer": "3.14", "answer": 3.10}\n')
    job = BatchJob(grader)
    job.keep_records = True
    job.run(str(src), str(tmp_path / "out.jsonl"))
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["status"] for r in out] == ["ok", "ok"]
    assert [r["answer"] for r in job.records] == ["42", "3.10"]
    assert out[1]["answer"] == 3.1                      # passed through as the number it is


# --- 5. tampered model files ------------------------------------------------------------------

def _bundled():
    return json.loads(BUNDLED_MODEL.read_text(encoding="utf-8"))


def _set(*path_and_value):
    *path, value = path_and_value

    def tamper(d):
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value
    return tamper


@pytest.mark.parametrize("tamper, key", [
    (_set("labels", ["incorrect", "correct", "correct"]), "labels"),
    (_set("fallback", "labels", ["incorrect", "incorrect", "correct"]), "labels"),
    (_set("classes", [0, 2, 2]), "classes"),
    (_set("classes", [0, True, 2]), "classes"),
    (_set("scaler", "mean", 0, 10 ** 400), "scaler.mean"),
    (_set("scaler", "scale", 1, 10 ** 400), "scaler.scale"),
    (_set("folds", 0, "calibrators", 0, "a", -(10 ** 400)), "folds[0].calibrators[0]"),
    (_set("params", "C", float("nan")), "params.C"),
    (_set("params", "C", "1e-3"), "params.C"),
    (_set("params", "max_iter", float("inf")), "params.max_iter"),
    (_set("metadata", "scale", [0, float("inf")]), "metadata.scale"),
    (_set("metadata", "semantic_judge", "intercept", float("nan")), "metadata.semantic_judge.intercept"),
    (_set("metadata", "semantic_judge", "coef", 3, float("-inf")), "metadata.semantic_judge.coef"),
    # Rejected before as well; kept so the finite check stays.
    (_set("scaler", "mean", 0, float("nan")), "scaler.mean"),
])
def test_tampered_model_is_a_data_error_naming_the_key(tamper, key):
    d = copy.deepcopy(_bundled())
    tamper(d)
    text = json.dumps(d)            # NaN/Infinity, as a hand-edited file may hold them
    with pytest.raises(DataError) as err:
        GradingModel.from_dict(json.loads(text), "m.json")
    assert f": {key}: " in str(err.value)


def test_the_bundled_model_still_loads():
    GradingModel.from_dict(_bundled(), "m.json")


# --- 6. override with an id SQLite cannot hold ------------------------------------------------

@pytest.mark.parametrize("answer_id", ["99999999999999999999999", "9223372036854775808"])
def test_override_of_an_id_too_large_is_a_one_line_error(tmp_path, runner, answer_id):
    db = _quiz_db(tmp_path / "q.db")
    out = runner.invoke(main, ["override", answer_id, "correct", "--db", str(db)])
    one_line_error(out)
    assert f"#{answer_id}" in out.output
