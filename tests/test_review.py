"""`grader review` and `grader regrade` (issue 21): grouping, group and single decisions kept in
SQLite across sittings, export for `grader calibrate`, rubric suggestions, regrading only the
questions that changed, bad input, and a review in a real terminal (tmux)."""

import csv
import json
import random
import sqlite3
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from grader import load_labelled
from grader.bank.questions import load_bank
from grader.cli import main
from terminal import GRADER, Terminal
from grader.workflows.review.grouping import group_answers

DROPOUT = "q004-035"
TENSOR_Q = "What is a tensor?"
TENSOR_REF = "A multi-dimensional array of numbers."
HEADER = ["question_id", "question", "reference_answer", "answer", "score", "label", "confidence",
          "matched_concepts", "missed_concepts", "contradicted_concepts", "feedback", "status", "message"]
# The fixture's answers are written for groups at this distance (the default, 0.5, joins the two
# dropout pairs into one mixed group).
FINE = ["--threshold", "0.25"]
MISSED = "randomly drops neurons; off at test time; prevents overfitting; prevents co-adaptation"

# (question id, answer, machine label, confidence, missed concepts); as `grader batch` writes them.
GRADED = [
    (DROPOUT, "Dropout randomly switches off neurons during training so the network does not overfit.",
     "incorrect", 0.41, "prevents overfitting; off at test time"),
    (DROPOUT, "Dropout randomly switches off neurons while training so that the network does not overfit.",
     "incorrect", 0.45, "prevents overfitting; off at test time"),
    (DROPOUT, "Dropout makes the network run faster.", "partial", 0.52, MISSED),
    (DROPOUT, "Dropout makes the network run faster!", "incorrect", 0.55, MISSED),
    (DROPOUT, "I don't know.", "incorrect", 0.93, MISSED),
    ("", "an n-dimensional array of numbers", "correct", 0.62, ""),
    ("", "An n-dimensional array of numbers.", "correct", 0.66, ""),
    ("", "a kind of neural network layer", "incorrect", 0.9, "multi-dimensional array"),
]


def write_graded(path: Path, rows=GRADED, error_row=True) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=HEADER, lineterminator="\n")
        w.writeheader()
        for qid, answer, label, conf, missed in rows:
            own = not qid
            w.writerow({"question_id": qid, "question": TENSOR_Q if own else "",
                        "reference_answer": TENSOR_REF if own else "", "answer": answer,
                        "score": 0.8 if label == "correct" else 0.2, "label": label, "confidence": conf,
                        "matched_concepts": "", "missed_concepts": missed, "contradicted_concepts": "",
                        "feedback": "", "status": "ok", "message": ""})
        if error_row:
            w.writerow({"question_id": "no-such-id", "answer": "x", "status": "error",
                        "message": "unknown question_id 'no-such-id'"})
    return path


def summary(runner, graded, *extra):
    out = runner.invoke(main, ["review", str(graded), "--json", *FINE, *extra])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def exported(runner, graded, tmp_path) -> dict:
    out_path = tmp_path / f"labels-{uuid.uuid4().hex[:6]}.csv"
    out = runner.invoke(main, ["review", str(graded), "--export", str(out_path)])
    assert out.exit_code == 0, out.output
    with open(out_path, newline="", encoding="utf-8") as f:
        return {r["answer"]: r["label"] for r in csv.DictReader(f)}


# --- grouping: no model -------------------------------------------------------------------------

def _fake(texts_and_vectors, qkey="q"):
    answers = [SimpleNamespace(qkey=qkey, text=t, confidence=0.5, label="partial") for t, _ in texts_and_vectors]
    return answers, np.array([v for _, v in texts_and_vectors], dtype=float)


def _partition(groups, answers):
    return sorted(sorted(answers[i].text for i in g.members) for g in groups)


def test_grouping_is_deterministic_whatever_the_row_order():
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(4, 16))
    items = [(f"answer {c}-{k}", centres[c] + 0.05 * rng.normal(size=16)) for c in range(4) for k in range(5)]
    items.append(("ANSWER 0-0 ", centres[3]))     # the same text as another up to case and spaces
    answers, vectors = _fake(items)
    first = group_answers(answers, vectors, 0.25)
    again = group_answers(answers, vectors, 0.25)
    assert [(g.members, g.representative) for g in first] == [(g.members, g.representative) for g in again]
    order = list(range(len(items)))
    random.Random(3).shuffle(order)
    shuffled, shuffled_vectors = _fake([items[i] for i in order])
    assert _partition(group_answers(shuffled, shuffled_vectors, 0.25), shuffled) == _partition(first, answers)
    parts = _partition(first, answers)
    # Four meanings, four groups; texts equal but for case and spaces always together.
    assert len(parts) == 4
    assert any({"answer 0-0", "ANSWER 0-0 "} <= set(p) for p in parts)
    # A threshold below the noise splits them: the threshold is what decides.
    assert len(group_answers(answers, vectors, 0.0001)) > 4


def test_groups_are_per_question_and_the_representative_is_central():
    v = np.eye(3)
    items = [("a", v[0]), ("b", v[0] + 0.1 * v[1]), ("c", v[0] - 0.1 * v[1])]
    answers, vectors = _fake(items)
    other, other_vectors = _fake([("a", v[0])], qkey="other")
    groups = group_answers(answers + other, np.vstack([vectors, other_vectors]), 0.25)
    assert sorted(len(g.members) for g in groups) == [1, 3]
    (big,) = [g for g in groups if len(g.members) == 3]
    assert answers[big.representative].text == "a"


# --- bad input: no model is loaded ------------------------------------------------------------

def test_bad_graded_files_are_one_line_errors(tmp_path, runner):
    plain = tmp_path / "plain.csv"
    plain.write_text("question_id,answer\nq004-035,hello\n", encoding="utf-8")
    out = runner.invoke(main, ["review", str(plain), "--json"])
    assert out.exit_code == 1 and "no 'label' column" in out.output and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1

    bad = write_graded(tmp_path / "bad.csv", [(DROPOUT, "x", "correct", 0.5, "")])
    text = bad.read_text().replace(",0.5,", ",lots,")
    bad.write_text(text)
    out = runner.invoke(main, ["review", str(bad), "--json"])
    assert out.exit_code == 1 and "row 1" in out.output and "'confidence'" in out.output

    graded = write_graded(tmp_path / "graded.csv")
    out = runner.invoke(main, ["review", str(graded), "--export", str(tmp_path / "labels.csv")])
    assert out.exit_code == 1 and "no review database" in out.output
    assert not (tmp_path / "graded.csv.review.sqlite3").exists()

    out = runner.invoke(main, ["regrade", str(graded), "-o", str(tmp_path / "re.csv")])
    assert out.exit_code == 1 and "record them first" in out.output and "Traceback" not in out.output


# --- the review itself: the real embedding model ------------------------------------------------

@pytest.mark.slow
def test_group_decisions_label_every_member_and_a_stopped_review_continues(tmp_path, runner):
    graded = write_graded(tmp_path / "graded.csv")
    before = graded.read_bytes()
    s = summary(runner, graded)
    assert s["answers"] == 8 and s["skipped_rows"] == 1 and s["decided"] == 0
    groups = [g for q in s["questions"] for g in q["groups"]]
    first = min(groups, key=lambda g: g["queue_position"])
    # The near-identical dropout answers that the machine is least sure of come first, together.
    assert sorted(first["rows"]) == [1, 2]
    assert first["machine_labels"] == {"incorrect": 2}
    rows_by_group = {tuple(sorted(g["rows"])) for g in groups}
    assert (3, 4) in rows_by_group and (6, 7) in rows_by_group

    # Sitting 1: one group decision, then quit.
    out = runner.invoke(main, ["review", str(graded), *FINE], input="c\nq\n")
    assert out.exit_code == 0, out.output
    assert "2 answers marked correct" in out.output
    labels = exported(runner, graded, tmp_path)
    assert labels == {GRADED[0][1]: "correct", GRADED[1][1]: "correct"}

    # Sitting 2 (a new process would see the same): the decided group is not asked again; the
    # next group is split: one answer alone, then the rest as a group; input ends mid-review.
    out = runner.invoke(main, ["review", str(graded), *FINE], input="s\n1\ni\np\n")
    assert out.exit_code == 0, out.output
    assert "group 2 of" in out.output and "group 1 of" not in out.output
    s = summary(runner, graded)
    assert s["decided"] == 4 and s["decisions"] == 3
    labels = exported(runner, graded, tmp_path)
    assert labels[GRADED[0][1]] == labels[GRADED[1][1]] == "correct"
    # The split-off answer (least confident of its group: row 3) keeps its own label.
    assert labels[GRADED[2][1]] == "incorrect" and labels[GRADED[3][1]] == "partial"

    # Undo takes back the whole latest decision, and only it.
    out = runner.invoke(main, ["review", str(graded), *FINE], input="u\nq\n")
    assert "undone: 1 answers" in out.output
    labels = exported(runner, graded, tmp_path)
    assert GRADED[3][1] not in labels and labels[GRADED[2][1]] == "incorrect"
    assert graded.read_bytes() == before          # the graded file is never written


@pytest.mark.slow
def test_export_is_labelled_data_calibrate_reads(tmp_path, runner):
    graded = write_graded(tmp_path / "graded.csv")
    out = runner.invoke(main, ["review", str(graded), *FINE], input="c\np\ni\nc\ni\nq\n")
    assert out.exit_code == 0, out.output
    path = tmp_path / "labels.csv"
    out = runner.invoke(main, ["review", str(graded), "--export", str(path)])
    assert out.exit_code == 0 and "wrote 8 labelled answers" in out.output
    data = load_labelled(load_bank(), str(path))        # what `grader calibrate` reads first
    assert len(data) == 8 and set(data.gold) <= {"correct", "partial", "incorrect"}
    by_answer = dict(zip(data.answers, data.questions))
    assert by_answer[GRADED[0][1]].id == DROPOUT                       # a bank id stays a bank id
    assert by_answer[GRADED[5][1]].references[0].text == TENSOR_REF    # an own question keeps its reference
    # The export never overwrites the graded file.
    out = runner.invoke(main, ["review", str(graded), "--export", str(graded)])
    assert out.exit_code == 1 and "same file" in out.output


@pytest.mark.slow
def test_decisions_join_the_answer_memory_of_a_calibrated_model_without_a_refit(tmp_path, runner):
    from grader import Grader
    from grader.signals.memory import MEMORY_FEATURES

    graded = write_graded(tmp_path / "graded.csv")
    assert runner.invoke(main, ["review", str(graded), *FINE], input="c\np\ni\nc\ni\nq\n").exit_code == 0
    labels = tmp_path / "labels.csv"
    assert runner.invoke(main, ["review", str(graded), "--export", str(labels)]).exit_code == 0
    decided = exported(runner, graded, tmp_path)
    # The model is calibrated on all decisions but one answer's, which the review then adds.
    new_answer = GRADED[4][1]
    with open(labels, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(labels, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(r for r in rows if r["answer"] != new_answer)
    model = tmp_path / "model"
    out = runner.invoke(main, ["calibrate", str(labels), "-o", str(model), "--memory", "--estimator", "logistic",
                               "--cv", "1", "--quiet"])
    assert out.exit_code == 0, out.output
    before = (model / "answer_memory.json").read_bytes()

    out = runner.invoke(main, ["review", str(graded), "--model", str(model), "--remember", str(tmp_path / "m2"),
                               "--json"])
    assert out.exit_code == 0, out.output
    done = json.loads(out.stdout)
    assert done["added"] == 1 and done["replaced"] == 7 and done["remembered"] == 8
    assert (model / "answer_memory.json").read_bytes() == before        # the given model is not changed
    # Grading with the copy finds the added answer among the graded ones, with the reviewer's grade.
    grader = Grader.from_paths(model_path=str(tmp_path / "m2"))
    question = grader.bank.get(DROPOUT)
    X, _ = grader.featurize([(question, new_answer)])
    features = list(grader.model.features)
    memory = {name: X[0, features.index(name)] for name in MEMORY_FEATURES if name in features}
    assert memory["memory_max_sim"] > 0.99
    assert memory["memory_nearest"] == {"correct": 1.0, "partial": 0.5, "incorrect": 0.0}[decided[new_answer]]

    # Refused: no --model; a directory that holds other files; a model without an answer memory.
    out = runner.invoke(main, ["review", str(graded), "--remember", str(tmp_path / "m3")])
    assert out.exit_code == 2 and "--remember needs --model" in out.output
    out = runner.invoke(main, ["review", str(graded), "--model", str(tmp_path / "m2" / "model.json"),
                               "--remember", str(graded.parent)])
    assert out.exit_code == 1 and "not an empty directory" in out.output
    from grader.grading import default_model_path

    out = runner.invoke(main, ["review", str(graded), "--model", str(default_model_path()),
                               "--remember", str(tmp_path / "m4")])
    assert out.exit_code == 1 and "no answer memory" in out.output and len(out.output.strip().splitlines()) == 1
    assert not (tmp_path / "m4").exists()


@pytest.mark.slow
def test_accepted_synonym_goes_to_a_rubric_copy_and_regrade_touches_only_that_question(tmp_path, runner):
    graded = write_graded(tmp_path / "graded.csv")
    rubrics = tmp_path / "my-rubrics"
    bundled = Path(__file__).resolve().parent.parent / "grader" / "data" / "rubrics" / f"{DROPOUT}.yaml"
    bundled_before = bundled.read_bytes()
    # The first group (rows 1-2, graded incorrect for missing "prevents overfitting") is marked correct.
    out = runner.invoke(main, ["review", str(graded), *FINE, "--rubrics", str(rubrics)], input="c\ny\nq\n")
    assert out.exit_code == 0, out.output
    assert "rubric suggestion for q004-035" in out.output and "added to" in out.output
    mine = (rubrics / f"{DROPOUT}.yaml").read_text()
    assert mine != bundled_before.decode() and bundled.read_bytes() == bundled_before
    assert len(list(rubrics.glob("*.yaml"))) > 200          # a full rubric directory for --rubrics

    # The review recorded the fingerprints the file was graded with; only the dropout question's
    # rubric changed, so only its 5 rows are regraded: the own question's made-up grades stay.
    out = runner.invoke(main, ["regrade", str(graded), "--rubrics", str(rubrics), "-o", str(tmp_path / "re.csv"),
                               "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["changed_questions"] == [DROPOUT] and report["rows_regraded"] == 5
    with open(tmp_path / "re.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(graded, newline="", encoding="utf-8") as f:
        old = list(csv.DictReader(f))
    assert len(rows) == len(old) == 9
    assert rows[5:] == old[5:]                                  # untouched, error row included
    assert all(r["matched_concepts"] != "" or r["feedback"] != "" for r in rows[:5])   # really regraded
    moved = {m["row"] for m in report["labels_moved"]}
    assert moved == {i + 1 for i in range(5) if rows[i]["label"] != old[i]["label"]}

    # Nothing changed since: the regraded file regrades nothing.
    out = runner.invoke(main, ["regrade", str(tmp_path / "re.csv"), "--rubrics", str(rubrics),
                               "-o", str(tmp_path / "re2.csv"), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["rows_regraded"] == 0


# --- a real terminal ----------------------------------------------------------------------------

@pytest.mark.slow
def test_review_in_a_real_terminal_keys_split_and_ctrl_c(tmp_path, runner):
    graded = write_graded(tmp_path / "graded.csv")
    script = f"HF_HUB_OFFLINE=1 {GRADER} review {graded} {' '.join(FINE)}; echo REVIEW-EXIT=$?; sleep 120"
    with Terminal(script, width=160, timeout=60) as t:
        t.wait_for("group 1 of")
        t.wait_for("[q] quit >")
        t.keys("-l", "c")                                 # one key, no Enter
        t.wait_for("2 answers marked correct")
        t.wait_for("group 2 of")
        t.keys("-l", "s")
        t.wait_for("answer number:")
        t.keys("-l", "1")
        t.keys("Enter")
        t.wait_for("label for row")
        t.keys("-l", "i")
        t.wait_for("marked incorrect")
        t.keys("C-c")
        s = t.wait_for("REVIEW-EXIT=")
        assert "Interrupted." in s and "3 of 8 answers decided with 2 decisions" in s
        assert "REVIEW-EXIT=0" in s and "Traceback" not in s

    db = tmp_path / "graded.csv.review.sqlite3"
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT row, label, scope FROM decisions ORDER BY id").fetchall()
    assert rows == [(1, "correct", "group"), (2, "correct", "group"), (3, "incorrect", "single")]
