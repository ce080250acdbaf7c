"""Usability of the command line: listing, id lookup, column names, eval on a model's own scale,
error rows in batch reports, broken pipes, overrides in stats, and quiet model loading."""

import csv
import json
import subprocess
import sys

import pytest

from grader.bank.questions import load_bank
from grader.cli import main
from grader.errors import GraderError

DROPOUT = "q004-035"


def write_csv(path, rows, header=None):
    header = header or list(rows[0])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([r.get(h, "") for h in header] for r in rows)
    return path


# --- 1. questions list / topics ----------------------------------------------------------------

def test_questions_list_has_a_header_and_rejects_unknown_topics_and_levels(runner):
    out = runner.invoke(main, ["questions", "list", "--topic", "cnn"])
    assert out.exit_code == 0
    assert out.stdout.splitlines()[0] == "id\ttopic\tlevel\treferences\tquestion"
    for option, value, allowed in (("--topic", "astrology", "regularization"), ("--level", "expert", "basic")):
        out = runner.invoke(main, ["questions", "list", option, value])
        assert out.exit_code == 1
        lines = out.output.strip().splitlines()
        assert len(lines) == 1 and repr(value) in lines[0] and allowed in lines[0]


def test_questions_topics_counts_topics_and_levels(runner):
    bank = load_bank()
    out = runner.invoke(main, ["questions", "topics", "--json"])
    assert out.exit_code == 0
    counts = json.loads(out.output)
    served = [q for q in bank if q.has_reference]
    assert counts["topics"]["cnn"] == sum(q.topic == "cnn" for q in served)
    assert sum(counts["levels"].values()) == len(served)
    everything = json.loads(runner.invoke(main, ["questions", "topics", "--json", "--all"]).output)
    assert sum(everything["topics"].values()) == len(bank)
    text = runner.invoke(main, ["questions", "topics"]).output
    assert "regularization" in text and "advanced" in text


def test_a_closed_pipe_is_not_an_error_message():
    # The reader is gone before the first line is written: every write meets EPIPE.
    proc = subprocess.Popen([sys.executable, "-m", "grader", "questions", "list", "--all"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert b"Broken pipe" not in err and b"Traceback" not in err, err.decode()


# --- 2. ids ----------------------------------------------------------------------------------

def test_ids_match_in_any_case_and_unknown_ones_get_suggestions(runner):
    bank = load_bank()
    assert bank.get("Q004-035").id == DROPOUT and "Q004-035" in bank
    with pytest.raises(GraderError, match=r"did you mean q004-035"):
        bank.get("q004-35")
    out = runner.invoke(main, ["questions", "show", "Q004-035"])
    assert out.exit_code == 0 and out.output.startswith(DROPOUT)
    out = runner.invoke(main, ["questions", "show", "q004-35"])
    assert out.exit_code == 1 and "did you mean q004-035" in out.output


def test_grade_finds_an_id_typed_in_capitals(runner):
    out = runner.invoke(main, ["grade", "-q", "Q004-035", "-a", "It drops random neurons during training.", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["question_id"] == DROPOUT


# --- 3. column names ---------------------------------------------------------------------------

def test_batch_takes_a_column_named_in_another_case(tmp_path, runner):
    src = write_csv(tmp_path / "in.csv", [{"Question_ID": DROPOUT, "Answer": "It drops random units in training."}])
    out = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "out.csv"), "--quiet"])
    assert out.exit_code == 0, out.output
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        row = next(csv.DictReader(f))
    assert row["status"] == "ok" and row["label"]


def test_missing_or_ambiguous_columns_name_the_option_to_use(tmp_path, runner):
    src = write_csv(tmp_path / "a.csv", [{"question_id": DROPOUT, "student_answer": "x"}])
    out = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "o.csv")])
    assert out.exit_code == 1 and "--answer-column student_answer" in out.output
    both = write_csv(tmp_path / "b.csv", [{"question_id": DROPOUT, "Answer": "x", "ANSWER": "y"}])
    out = runner.invoke(main, ["batch", str(both), "-o", str(tmp_path / "o.csv")])
    assert out.exit_code == 1 and "'Answer'" in out.output and "--answer-column Answer" in out.output


def test_labelled_data_columns_match_in_any_case(tmp_path):
    from grader.workflows.calibration.labels import load_labelled

    src = write_csv(tmp_path / "l.csv", [{"Question_Id": DROPOUT, "ANSWER": "drops units", "Label": "correct"},
                                         {"Question_Id": DROPOUT, "ANSWER": "no idea", "Label": "incorrect"}])
    data = load_labelled(load_bank(), str(src))
    assert data.gold == ["correct", "incorrect"] and data.questions[0].id == DROPOUT
    scored = write_csv(tmp_path / "s.csv", [{"Question": "What is a stack?", "Reference_Answer": "A LIFO structure.",
                                             "Answer": "last in first out", "Score": "4"}])
    data = load_labelled(load_bank(), str(scored), scale=(0, 5))
    assert data.gold == [4.0]


# --- 4. eval on the model's own scale -----------------------------------------------------------

@pytest.fixture
def scale_model(tmp_path):
    """The bundled model, as `grader calibrate` would have stored it for a 0-5 scale."""
    from grader.grading import default_model_path

    model = json.loads(default_model_path().read_text(encoding="utf-8"))
    labels = ["0", "1", "2", "3", "4", "5"]
    model["metadata"].update({"label_scheme": {"kind": "score", "labels": labels, "scale": [0.0, 5.0]},
                              "scale": [0.0, 5.0]})
    out = tmp_path / "scale-model"
    out.mkdir()
    (out / "model.json").write_text(json.dumps(model), encoding="utf-8")
    return out


def test_eval_takes_the_scale_from_the_model(tmp_path, runner, scale_model):
    answers = ["Dropout randomly drops units during training to reduce overfitting.", "It drops neurons.",
               "It makes the network bigger.", "No idea.", "Dropout zeroes random activations while training, "
               "which prevents co-adaptation; at test time all units are used.", "A learning rate schedule."]
    src = write_csv(tmp_path / "s.csv", [{"question_id": DROPOUT, "answer": a, "score": s}
                                         for a, s in zip(answers, ["4", "2", "0", "0", "5", "1"])])
    out = runner.invoke(main, ["eval", str(src), "--model", str(scale_model), "--json", "--quiet"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["label_scheme"] == {"kind": "score", "labels": ["0", "1", "2", "3", "4", "5"],
                                                      "scale": [0.0, 5.0]}


def test_eval_checks_the_file_before_loading_the_embedding_model(tmp_path, runner, scale_model, monkeypatch):
    from grader.grading import Grader

    def not_yet(*args, **kwargs):
        raise AssertionError("the grader was built before the file was checked")

    monkeypatch.setattr(Grader, "from_paths", not_yet)
    src = write_csv(tmp_path / "s.csv", [{"question_id": DROPOUT, "answer": "x", "score": "7"}])
    out = runner.invoke(main, ["eval", str(src), "--model", str(scale_model)])
    assert out.exit_code == 1 and "off the scale 0:5" in out.output


# --- 5. batch report and line endings ----------------------------------------------------------

def test_batch_report_lists_error_rows_and_csv_has_plain_newlines(tmp_path, runner):
    src = write_csv(tmp_path / "in.csv", [
        {"question_id": DROPOUT, "answer": "It drops random units in training.\r\nSecond line."},
        {"question_id": "no-such-id", "answer": "whatever"},
    ])
    out_csv, report = tmp_path / "out.csv", tmp_path / "r.html"
    out = runner.invoke(main, ["batch", str(src), "-o", str(out_csv), "--report", str(report), "--quiet"])
    assert out.exit_code == 0, out.output
    raw = out_csv.read_bytes()
    assert raw.count(b"\n") == 4 and b"\r\n" in raw.split(b"\n", 1)[1]   # only inside the quoted answer
    assert raw.endswith(b"\n") and not raw.endswith(b"\r\n") and not raw.split(b"\n", 1)[0].endswith(b"\r")
    with open(out_csv, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["answer"] == "It drops random units in training.\r\nSecond line."
    page = report.read_text(encoding="utf-8")
    assert "Rows not graded (1)" in page and "no-such-id" in page and "unknown question_id" in page


# --- 6. stats and overrides -------------------------------------------------------------------

def test_stats_leaves_out_concepts_missed_by_answers_overridden_to_correct(tmp_path, runner):
    from grader.workflows.quiz.store import QuizStore

    db = tmp_path / "quiz.sqlite3"
    with QuizStore(db) as store:
        store.record(question_id=DROPOUT, topic="regularization", label="partial", score=0.5, confidence=0.6,
                     missed=["off at test time"], contradicted=["prevents overfitting"])
        store.record(question_id="q004-031", topic="optimization", label="incorrect", score=0.1, confidence=0.7,
                     missed=["momentum"])
    out = runner.invoke(main, ["override", "1", "correct", "--db", str(db)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["stats", "--json", "--db", str(db)])
    weak = {c["concept"] for c in json.loads(out.output)["weakest_concepts"]}
    assert weak == {"momentum"}


# --- 7. quiet model loading --------------------------------------------------------------------

def test_torch_backend_loads_without_progress_bars(capfd):
    from transformers.utils import logging as hf_logging

    from grader.core.embedding import TorchEmbedder, _minilm_dir

    hf_logging.enable_progress_bar()   # as a fresh process has it
    TorchEmbedder(_minilm_dir())
    assert "Loading weights" not in capfd.readouterr().err
