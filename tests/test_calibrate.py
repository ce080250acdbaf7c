"""`grader calibrate` / `grader eval`: label schemes, grouped folds, the answer memory, saved models
and the HTML report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from grader.signals.memory import MEMORY_FEATURES, memory_features
from grader.workflows.calibration.labels import LabelScheme, parse_scale
from grader.workflows.calibration.fitting import make_folds, project_proba
from grader.cli import main

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "eval" / "data" / "labelled.jsonl"
# A strict teacher: half-right answers fail, and a correct but bare one-liner is only partial.
STRICT = {"partial": "incorrect", "terse": "partial"}


def _fixture_rows(n_questions=20):
    """Held-out (test split) answers of the most-answered questions, re-labelled by a strict
    teacher (STRICT). The bundled model never saw these answers and grades the default way, so
    calibrating should agree with this teacher better."""
    rows = [json.loads(l) for l in LABELLED.read_text(encoding="utf-8").splitlines() if l.strip()]
    rows = [r for r in rows if r["split"] == "test" and not r.get("exclude_source")]
    top = [q for q, _ in Counter(r["question_id"] for r in rows).most_common(n_questions)]
    return [{"question_id": r["question_id"], "answer": r["answer"],
             "label": STRICT.get(r["kind"], STRICT.get(r["label"], r["label"]))}
            for r in rows if r["question_id"] in top]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def strict_file(tmp_path_factory):
    return _write_jsonl(tmp_path_factory.mktemp("data") / "strict.jsonl", _fixture_rows())


@pytest.fixture(scope="module")
def calibrated_dir(strict_file, tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("model") / "strict-model"
    res = CliRunner().invoke(main, ["calibrate", str(strict_file), "-o", str(out), "--memory",
                                    "--cv", "3", "--group-by", "answer", "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    return out, json.loads(res.output)


def test_calibrate_chooses_estimator_and_memory_by_cross_validation(strict_file, tmp_path, runner):
    res = runner.invoke(main, ["calibrate", str(strict_file), "-o", str(tmp_path / "m"), "--cv", "3",
                               "--group-by", "answer", "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["estimator"] == "boosting" and summary["memory"] in (True, False)
    assert any("labelled answers" in w for w in summary["warnings"]) == (summary["rows"] < 200)


# --- pure functions ---------------------------------------------------------------------------

def test_grouped_folds_never_leak_a_group():
    rng = np.random.default_rng(1)
    groups = rng.choice([f"q{i}" for i in range(17)], size=400)
    folds = make_folds(groups, 5)
    assert len(folds) == 5
    seen_test = np.concatenate([te for _, te in folds])
    assert sorted(seen_test) == list(range(400))          # every row tested exactly once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    # unique groups (unseen answers): plain stratified folds over rows
    y = rng.integers(0, 3, size=60)
    folds = make_folds([f"r{i}" for i in range(60)], 4, y)
    assert sorted(np.concatenate([te for _, te in folds])) == list(range(60))


def test_scale_scheme_and_projection():
    s = LabelScheme.for_scale(*parse_scale("0:5"))
    assert s.labels == ("0", "1", "2", "3", "4", "5")
    assert s.class_of(s.normalise(4.5)) == 5 and s.class_of(s.normalise(4.25)) == 4
    p = project_proba(np.array([[0.2, 0.3, 0.5]]), 6)
    assert p.sum() == pytest.approx(1.0)
    # expected grade is kept
    assert p @ np.linspace(0, 1, 6) == pytest.approx(np.array([0.2, 0.3, 0.5]) @ np.linspace(0, 1, 3))


def test_memory_features_use_only_the_same_question_and_leave_self_out():
    emb = np.eye(4)
    emb[1] = emb[0]
    keys = ["a", "a", "a", "b"]
    t = np.array([1.0, 0.0, 0.5, 1.0])
    f = memory_features(keys, emb, keys, emb, t, exclude_self=True)
    score, nearest, max_sim = (MEMORY_FEATURES.index(n) for n in ("memory_score", "memory_nearest", "memory_max_sim"))
    assert f[0, nearest] == 0.0 and f[0, max_sim] == pytest.approx(1.0)   # its twin, not itself
    assert f[1, nearest] == 1.0
    assert f[3, score] == -1.0                                             # no other answer to b


# --- calibration ------------------------------------------------------------------------------

def test_calibration_beats_default_model_on_held_out_folds(calibrated_dir):
    _, summary = calibrated_dir
    m = summary["cv"]["metrics"]
    assert summary["cv"]["group_by"] == "answer"
    assert m["calibrated"]["n"] == summary["rows"] > 150
    assert m["calibrated"]["accuracy"] > m["default"]["accuracy"]
    assert m["calibrated"]["brier"] < m["default"]["brier"]
    assert m["calibrated"]["macro_f1"] > m["default"]["macro_f1"]
    assert set(m) == {"calibrated", "default", "cosine"}


def test_saved_model_round_trips_through_grade_and_eval(calibrated_dir, strict_file, runner):
    out, _ = calibrated_dir
    meta = json.loads((out / "model.json").read_text())["metadata"]
    assert meta["label_scheme"]["labels"] == ["incorrect", "partial", "correct"]
    assert len(meta["trained_on"]["sha256"]) == 64
    assert meta["answer_memory"] == "answer_memory.json" and (out / "answer_memory.json").exists()
    features = json.loads((out / "model.json").read_text())["features"]
    assert features[-len(MEMORY_FEATURES):] == list(MEMORY_FEATURES)

    res = runner.invoke(main, ["grade", "-q", "q004-035", "-a",
                               "Dropout randomly zeroes activations during training so units cannot co-adapt, "
                               "which reduces overfitting.", "--model", str(out), "--json"])
    assert res.exit_code == 0, res.output
    graded = json.loads(res.output)
    assert set(graded["probabilities"]) == {"incorrect", "partial", "correct"} and "scaled_score" not in graded

    res = runner.invoke(main, ["eval", str(strict_file), "--model", str(out), "--json"])
    assert res.exit_code == 0, res.output
    metrics = json.loads(res.output)["metrics"]
    assert metrics["accuracy"] > 0.8    # in-sample, with the answer memory: the graded answers themselves


def test_tampered_model_is_refused_with_one_line(calibrated_dir, tmp_path, runner):
    out, _ = calibrated_dir
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    d = json.loads((bad / "model.json").read_text())
    d["scaler"]["mean"][0] = "__import__('os').system('echo pwned')"
    (bad / "model.json").write_text(json.dumps(d))
    res = runner.invoke(main, ["grade", "-q", "q004-035", "-a", "x", "--model", str(bad)])
    assert res.exit_code == 1
    assert "scaler.mean" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1

    shutil.copytree(out, tmp_path / "bad2")
    (tmp_path / "bad2" / "answer_memory.json").write_text('{"format": "grader-answer-memory/1", "questions": {"k": 1}}')
    res = runner.invoke(main, ["grade", "-q", "q004-035", "-a", "x", "--model", str(tmp_path / "bad2")])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1
    assert "answer_memory.json" in res.output


@pytest.mark.parametrize("rows, args, message", [
    ([{"question_id": "q004-035", "answer": "a", "label": "great"}], [], "unknown label 'great'"),
    ([{"question_id": "q004-035", "answer": "a", "score": "7"}], ["--scale", "0:5"], "off the scale 0:5"),
    ([{"question_id": "q004-035", "answer": "a", "score": "x"}], ["--scale", "0:5"], "not a number"),
    ([{"question_id": "q004-035", "answer": "a", "score": "1"}], [], "--scale"),
    ([{"question_id": "q004-035", "answer": f"a{i}", "label": "correct" if i < 8 else "incorrect"} for i in range(10)],
     ["--labels", "incorrect,correct"], "fewer than the 5 folds"),
    # Two of a class pass the count for --cv 2, but a training fold then holds one: too few to calibrate on.
    ([{"question_id": "q004-035", "answer": f"a{i}", "label": ["correct", "incorrect", "correct", "partial",
                                                                 "incorrect", "partial", "correct"][i]}
      for i in range(7)], ["--cv", "2", "--estimator", "logistic"], "example in a cross-validation training fold"),
])
def test_validation_errors_are_one_line(rows, args, message, tmp_path, runner):
    path = _write_jsonl(tmp_path / "d.jsonl", rows)
    res = runner.invoke(main, ["calibrate", str(path), "-o", str(tmp_path / "m"), "--group-by", "answer", *args])
    assert res.exit_code == 1, res.output
    assert message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1


def test_output_folder_holding_other_files_is_refused_before_any_work(tmp_path, runner, monkeypatch):
    """Its new files could only land one by one: a crash between two would leave a model beside
    another's answer memory. A folder of model files only is replaced whole."""
    data = _write_jsonl(tmp_path / "d.jsonl", [{"question_id": "q004-035", "answer": "a", "label": "correct"}])
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    res = runner.invoke(main, ["calibrate", str(data), "-o", str(folder)])
    assert res.exit_code == 1 and "holds more than a model's files (notes.txt)" in res.output
    assert len(res.output.strip().splitlines()) == 1 and sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    monkeypatch.chdir(tmp_path / "mine")
    (folder / "notes.txt").unlink()
    res = runner.invoke(main, ["calibrate", str(data), "-o", "."])
    assert res.exit_code == 1 and "holds more than a model's files" in res.output


@pytest.mark.parametrize("estimator", ["logistic", "ridge"])
def test_score_scale_with_group_regex(tmp_path, runner, estimator):
    """A Mohler-shaped file: question + reference columns, scores 0-5, folds by the id's assignment."""
    qs = {"1": ("What does a compiler do?", "It translates source code into machine code."),
          "2": ("What is a stack?", "A last-in first-out data structure."),
          "3": ("What is recursion?", "A function that calls itself on a smaller input.")}
    answers = {"1": ["translates source code to machine code", "turns code into an executable program",
                     "runs the program line by line", "it is an editor"],
               "2": ["last in first out structure", "a LIFO list where you push and pop",
                     "a list of items", "a kind of loop"],
               "3": ["a function calling itself with a smaller problem", "when a function calls itself",
                     "a loop", "a variable"]}
    rows = []
    for a, (q, ref) in qs.items():
        for j, text in enumerate(answers[a] * 2):
            rows.append({"id": f"{a}.{j % 2 + 1}", "question": q, "desired_answer": ref, "student_answer": text,
                         "score_avg": [5, 4.5, 2, 0][j % 4]})
    import csv

    path = tmp_path / "m.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    res = runner.invoke(main, ["calibrate", str(path), "-o", str(tmp_path / "model"), "--scale", "0:5", "--bins", "3",
                               "--answer-column", "student_answer", "--reference-column", "desired_answer",
                               "--score-column", "score_avg", "--group-column", "id", "--group-regex", r"^(\d+)\.",
                               "--cv", "3", "--estimator", estimator, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["cv"]["group_by"] == "column"
    assert {"pearson", "spearman", "rmse", "mae", "qwk", "ece", "brier"} <= set(out["cv"]["metrics"]["calibrated"])
    meta = json.loads((tmp_path / "model" / "model.json").read_text())["metadata"]
    assert meta["scale"] == [0.0, 5.0]
    res = runner.invoke(main, ["grade", "-q", "What is a stack?", "-r", "A last-in first-out data structure.",
                               "-a", "last in first out structure", "--model", str(tmp_path / "model"), "--json"])
    assert res.exit_code == 0, res.output
    assert 0 <= json.loads(res.output)["scaled_score"] <= 5


# --- the report ---------------------------------------------------------------------------------

def test_report_renders_in_headless_chromium(calibrated_dir, tmp_path):
    out, _ = calibrated_dir
    report = out / "report.html"
    text = report.read_text(encoding="utf-8")
    assert "<script" not in text and "http://" not in text and "https://" not in text
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium not installed")
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--dump-dom", report.resolve().as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    imgs = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]{200,})"', dom)
    alts = {a for a, _ in imgs}
    assert {"reliability diagram", "confusion matrix", "score scatter", "signal importance"} <= alts, alts
    assert "Agreement per question" in dom and "Rubric concepts that mattered" in dom
