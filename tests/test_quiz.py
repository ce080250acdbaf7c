"""The practice quiz: sessions through the CLI with piped input, the database, the schedule,
overrides and labelled-data export, and one session in a real terminal (tmux)."""

import csv
import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from grader.cli import main
from terminal import GRADER, Terminal

DROPOUT = "q004-035"     # What is dropout in deep learning?
ANN = "q004-002"         # What is an artificial neural network?
DL = "q004-001"          # What is deep learning?
GOOD = "Dropout switches off random neurons while training so the net cannot overfit."


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("GRADER_DB", raising=False)


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "quiz.sqlite3")


def run(runner, args, text="", db=None):
    args = list(args) + (["--db", db] if db else [])
    result = runner.invoke(main, args, input=text, catch_exceptions=False)
    return result


def rows(db, sql):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def cards(db):
    return {r["question_id"]: r for r in rows(db, "SELECT * FROM cards")}


# --- a session through the CLI ---------------------------------------------------------------

def test_session_is_graded_stored_and_summarised(runner, db):
    before = datetime.now(timezone.utc)
    # One answer per line; an empty line is an empty answer (graded incorrect).
    r = run(runner, ["quiz", "--ids", f"{DROPOUT},{ANN}"], f"{GOOD}\n\n", db)
    after = datetime.now(timezone.utc)
    assert r.exit_code == 0, r.output
    out = r.output
    assert f"[1/2] {DROPOUT}" in out and f"[2/2] {ANN}" in out
    assert "Reference answer:" in out and "randomly drop out" in out      # the reference is shown
    assert "score" in out and "missed:" in out
    assert "Saved as answer #1" in out and "Saved as answer #2" in out
    assert "Summary" in out and "2 asked: 2 answered" in out
    assert "regularization" in out and "fundamentals" in out
    assert "Weakest concepts" in out

    answers = rows(db, "SELECT * FROM answers ORDER BY id")
    assert [a["question_id"] for a in answers] == [DROPOUT, ANN]
    assert [a["kind"] for a in answers] == ["graded", "graded"]
    assert answers[0]["answer"] == GOOD and answers[0]["topic"] == "regularization"
    assert answers[0]["label"] in ("correct", "partial", "incorrect")
    assert 0 <= answers[0]["score"] <= 1 and 0 < answers[0]["confidence"] <= 1
    assert answers[1]["answer"] == "" and answers[1]["label"] == "incorrect" and answers[1]["score"] == 0
    assert json.loads(answers[1]["missed_concepts"])                       # concepts stored as JSON
    for a in answers:
        stamp = datetime.fromisoformat(a["created_at"])
        assert before - timedelta(seconds=1) <= stamp <= after + timedelta(seconds=1)
        assert a["override_label"] is None
    assert set(cards(db)) == {DROPOUT, ANN}


def test_schedule_advances_and_due_questions_come_first(runner, db):
    # q1 answered and confirmed correct by the learner, q2 answered with nothing (incorrect).
    r = run(runner, ["quiz", "--ids", f"{DROPOUT},{ANN}"], f"{GOOD}\n:override correct\n\n", db)
    assert r.exit_code == 0, r.output
    assert "Answer #1" in r.output
    answers = rows(db, "SELECT * FROM answers ORDER BY id")
    assert answers[0]["override_label"] == "correct" and answers[0]["overridden_at"]
    assert answers[1]["label"] == "incorrect"
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    c = cards(db)
    assert c[DROPOUT]["due"] > now and c[ANN]["due"] > now               # neither is due immediately
    assert c[ANN]["due"] < c[DROPOUT]["due"]                             # the incorrect one returns sooner
    assert json.loads(c[DROPOUT]["card"])["last_review"]                  # a real FSRS card

    # With no filter, neither comes back right away: only new questions are served.
    r = run(runner, ["quiz", "--count", "3", "--seed", "7"], ":skip\n:skip\n:skip\n", db)
    assert r.exit_code == 0, r.output
    assert "3 new" in r.output and DROPOUT not in r.output and ANN not in r.output
    assert "3 asked: 0 answered, 3 skipped" in r.output
    assert len(rows(db, "SELECT * FROM answers")) == 2                   # skips store nothing

    # Once the incorrect one is due, it is served first.
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE cards SET due = ? WHERE question_id = ?", ("2000-01-01T00:00:00.000000+00:00", ANN))
    conn.close()
    r = run(runner, ["quiz", "--count", "2", "--seed", "7"], ":quit\n", db)
    assert "1 due, 1 new" in r.output and f"[1/2] {ANN}" in r.output


def test_seed_gives_a_reproducible_order(runner, tmp_path):
    heads = []
    for i in range(2):
        r = run(runner, ["quiz", "--topic", "cnn", "--count", "3", "--seed", "42"], ":quit\n",
                str(tmp_path / f"{i}.db"))
        heads.append([line for line in r.output.splitlines() if line.startswith("[1/3]")])
    assert heads[0] == heads[1] and heads[0] and "(cnn," in heads[0][0]


def test_skip_and_quit_end_the_session_with_a_summary(runner, db):
    r = run(runner, ["quiz", "--ids", f"{DROPOUT},{ANN},{DL}"], ":skip\n:quit\n", db)
    assert r.exit_code == 0, r.output
    assert "Skipped." in r.output and f"[2/3] {ANN}" in r.output and "[3/3]" not in r.output
    assert "Summary" in r.output and "1 asked: 0 answered, 1 skipped" in r.output
    assert rows(db, "SELECT * FROM answers") == [] and cards(db) == {}


def test_end_of_input_ends_cleanly_and_keeps_what_was_graded(runner, db):
    r = run(runner, ["quiz", "--ids", f"{DROPOUT},{ANN},{DL}"], f"{GOOD}\n", db)
    assert r.exit_code == 0, r.output
    assert f"[2/3] {ANN}" in r.output and "[3/3]" not in r.output
    assert "Summary" in r.output and "1 asked: 1 answered" in r.output
    assert [a["question_id"] for a in rows(db, "SELECT * FROM answers")] == [DROPOUT]


def test_reveal_shows_the_reference_and_counts_as_a_lapse(runner, db):
    r = run(runner, ["quiz", "--ids", DROPOUT], ":reveal\n", db)
    assert r.exit_code == 0, r.output
    assert "Reference answer:" in r.output and "randomly drop out" in r.output
    assert "1 revealed" in r.output
    (a,) = rows(db, "SELECT * FROM answers")
    assert a["kind"] == "revealed" and a["label"] is None and a["rating"] == 1     # Rating.Again
    due = datetime.fromisoformat(cards(db)[DROPOUT]["due"])
    assert due - datetime.now(timezone.utc) < timedelta(minutes=2)


def test_unknown_command_and_override_without_answer_reprompt(runner, db):
    r = run(runner, ["quiz", "--ids", DROPOUT], ":override correct\n:bogus\n:skip\n", db)
    assert r.exit_code == 0, r.output
    assert "Nothing to override" in r.output and "Unknown command :bogus" in r.output
    assert "1 asked: 0 answered, 1 skipped" in r.output


def test_override_export_labels_and_stats(runner, db, tmp_path):
    r = run(runner, ["quiz", "--ids", f"{DROPOUT},{DL}"],
            f"{GOOD}\nDeep learning uses neural networks with many layers to learn representations.\n", db)
    assert r.exit_code == 0, r.output
    graded = rows(db, "SELECT * FROM answers ORDER BY id")
    flip = {"correct": "incorrect", "partial": "correct", "incorrect": "correct"}[graded[1]["label"]]

    r = run(runner, ["override", "2", flip], db=db)
    assert r.exit_code == 0, r.output
    assert f"Answer #2 ({DL}) relabelled {graded[1]['label']} -> {flip}" in r.output
    assert rows(db, "SELECT override_label FROM answers WHERE id = 2")[0]["override_label"] == flip

    r = run(runner, ["override", "99", "correct"], db=db)
    assert r.exit_code == 1 and "no answer #99" in r.output
    r = run(runner, ["override", "1", "brilliant"], db=db)
    assert r.exit_code == 1 and "unknown label" in r.output

    out = tmp_path / "labels.csv"
    r = run(runner, ["export-labels", "-o", str(out)], db=db)
    assert r.exit_code == 0, r.output
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        data = list(reader)
    assert reader.fieldnames == ["question_id", "question", "reference_answer", "answer", "label"]
    assert [d["question_id"] for d in data] == [DROPOUT, DL]
    assert data[0]["label"] == graded[0]["label"] and data[1]["label"] == flip
    assert data[0]["question"] == "What is dropout in deep learning?" and data[0]["answer"] == GOOD
    assert "randomly drop out" in data[0]["reference_answer"]

    only = tmp_path / "overrides.csv"
    r = run(runner, ["export-labels", "--only-overrides", "-o", str(only)], db=db)
    with open(only, newline="", encoding="utf-8") as f:
        data = list(csv.DictReader(f))
    assert [(d["question_id"], d["label"]) for d in data] == [(DL, flip)]

    r = run(runner, ["stats", "--json"], db=db)
    assert r.exit_code == 0, r.output
    stats = json.loads(r.stdout)
    assert stats["answered"] == 2 and stats["overrides"] == 1 and stats["seen"] == 2
    assert stats["topics"]["fundamentals"]["overrides"] == 1
    assert stats["topics"]["fundamentals"]["labels"] == {flip: 1}
    assert stats["topics"]["regularization"]["answered"] == 1
    assert stats["topics"]["cnn"]["questions"] > 0 and stats["topics"]["cnn"]["answered"] == 0
    r = run(runner, ["stats"], db=db)
    assert r.exit_code == 0 and "fundamentals" in r.output and "1 overridden" in r.output

    r = run(runner, ["history"], db=db)
    assert r.exit_code == 0 and "#2" in r.output and f"{flip}*" in r.output


def test_db_from_environment(runner, tmp_path, monkeypatch):
    path = tmp_path / "env.sqlite3"
    monkeypatch.setenv("GRADER_DB", str(path))
    r = run(runner, ["quiz", "--ids", DROPOUT], ":reveal\n")
    assert r.exit_code == 0, r.output and path.exists()
    assert len(rows(str(path), "SELECT * FROM answers")) == 1


def test_bad_options_are_one_line_errors(runner, db):
    r = run(runner, ["quiz", "--topic", "astrology"], "", db)
    assert r.exit_code == 1 and "unknown topic" in r.output and "Traceback" not in r.output
    r = run(runner, ["quiz", "--ids", "q999-999"], "", db)
    assert r.exit_code == 1 and "unknown question id" in r.output


def test_every_command_has_help_with_an_example(runner):
    for cmd in ("quiz", "stats", "override", "export-labels", "history"):
        r = runner.invoke(main, [cmd, "--help"])
        assert r.exit_code == 0 and "Example" in r.output, cmd
    assert "empty line" in runner.invoke(main, ["quiz", "--help"]).output.lower()


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from grader.cli import main; "
            "heavy = [m for m in ('numpy', 'onnxruntime', 'torch', 'fsrs') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the library with a stub grader: the rating policy ---------------------------------------

class StubGrader:
    def __init__(self, label, confidence, score):
        self.label, self.confidence, self.score = label, confidence, score

    def grade(self, question, answer):
        from grader.grading import GradeResult

        return GradeResult(question.id, self.score, self.label, self.confidence, {self.label: self.confidence},
                           [], ["a concept"], [])


def test_incorrect_comes_back_sooner_than_partial_sooner_than_correct(tmp_path):
    from grader.bank.questions import load_bank
    from grader.workflows.quiz.session import QuizSession, plan_quiz
    from grader.workflows.quiz.store import QuizStore

    bank = load_bank()
    q = bank.get(DROPOUT)
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    dues = {}
    for label, conf, score in [("incorrect", 0.9, 0.1), ("partial", 0.9, 0.5), ("correct", 0.6, 0.7),
                               ("correct", 0.95, 0.95)]:
        with QuizStore(tmp_path / f"{label}{conf}.db") as store:
            outcome = QuizSession(StubGrader(label, conf, score), store, clock=lambda: now).grade(q, "x")
            dues[(label, conf)] = outcome.due
            assert store.card(DROPOUT).due == outcome.due.isoformat(timespec="microseconds")
            # not due right after the answer, due once its time has come
            assert plan_quiz(bank, store, ids=None, topic="regularization", count=0, now=now).due == 0
            assert plan_quiz(bank, store, topic="regularization", count=0, now=outcome.due).questions[0].id == DROPOUT
            later = plan_quiz(bank, store, topic="regularization", count=0, now=now, ahead=True)
            assert later.questions[-1].id == DROPOUT and later.ahead == 1
    order = [dues[("incorrect", 0.9)], dues[("partial", 0.9)], dues[("correct", 0.6)], dues[("correct", 0.95)]]
    assert all(now < d for d in order) and order == sorted(order) and len(set(order)) == 4
    assert dues[("correct", 0.95)] - now >= timedelta(days=1)        # very sure and correct: Easy


# --- a real terminal -------------------------------------------------------------------------

def test_quiz_in_a_real_terminal_multiline_override_and_ctrl_c(tmp_path):
    db = tmp_path / "tty.sqlite3"
    script = (f"HF_HUB_OFFLINE=1 {GRADER} quiz --ids {DROPOUT},{ANN} --db {db}; "
              f"echo QUIZ-EXIT=$?; sleep 120")
    with Terminal(script, width=150, timeout=40) as t:
        t.wait_for(f"[1/2] {DROPOUT}")
        t.wait_for("deep learning?\n>")
        t.keys("-l", "Dropout switches off random neurons")
        t.keys("Enter")
        t.keys("-l", "while training so the net cannot overfit.")
        t.keys("Enter")
        t.keys("Enter")                                  # the empty line ends the answer
        t.wait_for("Saved as answer #1")
        t.wait_for(f"[2/2] {ANN}")
        t.keys("-l", ":override partial")
        t.keys("Enter")
        t.wait_for("Answer #1")
        t.keys("C-c")                                    # Ctrl-C: stop, with the summary
        s = t.wait_for("QUIZ-EXIT=")
        assert "Interrupted." in s and "Summary" in s and "1 asked: 1 answered" in s
        assert "QUIZ-EXIT=0" in s and "Traceback" not in s

    (a,) = rows(str(db), "SELECT * FROM answers")
    assert a["answer"] == "Dropout switches off random neurons\nwhile training so the net cannot overfit."
    assert a["override_label"] == "partial"
