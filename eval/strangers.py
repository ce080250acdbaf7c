"""Answers to bank questions written as strangers would write them: the closest this repository
gets to the blind sets that found the grader acting as a word matcher.

How the set was made (eval/data/strangers/README.md): two writers (helpers) who saw only the
question text (never the references, rubrics or program) wrote five answers per question for 40
bank questions picked at random (seed 20261202): two correct ones in their own words, a partial
one, a misconception and a reversed statement, in ten different voices. A third helper labelled
every answer against the references and rubric, blind to the writer's intent and to the program.
None of these rows is ever trained on.

    .venv/bin/python eval/strangers.py            # writes eval/results/strangers.json

Measured:
* ``grader``: the shipped product, `Grader.from_paths()` on (question_id, answer): bank
  references and reviewed rubrics;
* ``grader, own reference``: the `question + reference_answers` path (rubric drafted on the fly),
  as a user who brings their own question would grade;
* variants replayed on cached signals, each trained on every row of `corpora.load_training_rows()`
  (at most 2,500 real answers per source): see `VARIANTS`.

Metrics: QWK and accuracy against the labeller, correct answers labelled incorrect, correct
answers that share few content words with the references (overlap below LOW_OVERLAP) labelled
correct, misconceptions and reversed statements labelled correct, AUC of P(correct).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from corpora import LABELS3, Row  # noqa: E402

DATA = ROOT / "eval" / "data" / "strangers"
TRAIN_DATA = ROOT / "eval" / "data" / "strangers_train"   # other bank questions, writers' intent as label
RESULTS = ROOT / "eval" / "results" / "strangers.json"
TMP = ROOT / "eval" / "results" / "tmp"
LOW_OVERLAP = 0.34   # share of the answer's content stems found in the references


def load_rows() -> list[Row]:
    """Every labelled stranger answer as a corpora.Row (source "strangers", the labeller's label)."""
    from grader import load_bank

    bank = load_bank(ROOT / "grader" / "data" / "questions")
    labels = {}
    for line in (DATA / "labels.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            labels[d["id"]] = d["label"]
    rows = []
    for part in sorted(DATA.glob("answers_*.jsonl")):
        for n, line in enumerate(part.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            d = json.loads(line)
            key = f"{part.stem.removeprefix('answers_')}-{n:03d}"
            if key not in labels:
                continue
            q = bank.get(d["question_id"])
            label = labels[key]
            rows.append(Row(source="strangers", group=q.id, question=q.question,
                            references=tuple(r.text for r in q.references), answer=d["answer"],
                            grade=LABELS3.index(label) / 2, label3=label, question_id=q.id, kind=d["kind"],
                            origin="strangers", author=d["writer"]))
    return rows


def load_train_rows() -> list[Row]:
    """Stranger-style answers to the bank questions NOT in the test set, written the same way,
    labelled by a blind labeller where one labelled them (`label`, the third round), else by the
    writer's intent (which the blind labellers matched on 86-98% of the answers they saw)."""
    from grader import load_bank

    bank = load_bank(ROOT / "grader" / "data" / "questions")
    test_questions = {json.loads(line)["question_id"] for f in DATA.glob("questions_*.jsonl")
                      for line in f.read_text(encoding="utf-8").splitlines() if line.strip()}
    rows = []
    # In the order the files were written (answers_2 before answers_10): eval/signals.py caches the
    # rows' signals by position and computes only the rows appended since.
    for part in sorted(TRAIN_DATA.glob("answers_*.jsonl"), key=lambda p: int(p.stem.split("_")[1])):
        for line in part.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            if d["question_id"] in test_questions:
                raise ValueError(f"{part}: {d['question_id']} is a test question")
            q = bank.get(d["question_id"])
            label = d.get("label", d["intended"])
            rows.append(Row(source="strangers_train", group="indomain:" + q.id, question=q.question,
                            references=tuple(r.text for r in q.references), answer=d["answer"],
                            grade=LABELS3.index(label) / 2, label3=label, question_id=q.id,
                            kind=d["kind"], origin="strangers", author=d["writer"]))
    return rows


def overlap(answer: str, references) -> float:
    """Share of the answer's content stems that occur in any reference."""
    from grader.core.text import content_stems

    mine = set(content_stems(answer))
    theirs = set(s for r in references for s in content_stems(r))
    return len(mine & theirs) / len(mine) if mine else 0.0


# Writers' voice ids by round of writing (data README): the first 200 answers, the 240 added later.
ROUNDS = {"first": ("a", "b"), "second": ("k", "m")}


def measure(rows, pred, p_correct, by_round: bool = True) -> dict:
    from sklearn.metrics import cohen_kappa_score, roc_auc_score

    y = np.array([LABELS3.index(r.label3) for r in rows])
    pred = np.asarray(pred)
    kinds = np.array([r.kind for r in rows])
    low = np.array([overlap(r.answer, r.references) < LOW_OVERLAP for r in rows])
    correct = y == 2

    def share(mask, value):
        return {"n": int(mask.sum()), "share": float((pred[mask] == value).mean()) if mask.any() else None}

    out = {"n": len(rows), "qwk": float(cohen_kappa_score(y, pred, weights="quadratic", labels=[0, 1, 2])),
           "accuracy": float((pred == y).mean()),
           "correct_labelled_incorrect": share(correct, 0),
           "correct_labelled_correct": share(correct, 2),
           "low_overlap_correct_labelled_correct": share(correct & low, 2),
           "low_overlap_correct_labelled_incorrect": share(correct & low, 0),
           "misconception_labelled_correct": share((kinds == "misconception") & (y == 0), 2),
           "reversed_labelled_correct": share((kinds == "reversed") & (y == 0), 2),
           "bluff_labelled_correct": share((kinds == "bluff") & (y == 0), 2),
           "auc_correct": float(roc_auc_score(correct, p_correct)) if 0 < correct.sum() < len(y) else None}
    if by_round:
        p_correct = np.asarray(p_correct)
        for name, voices in ROUNDS.items():
            idx = np.array([i for i, r in enumerate(rows) if r.author[:1] in voices], dtype=int)
            if len(idx):
                out.setdefault("by_round", {})[name] = measure([rows[i] for i in idx], pred[idx], p_correct[idx],
                                                               by_round=False)
    return out


def grade_product(rows, own_reference: bool) -> tuple[np.ndarray, np.ndarray]:
    from grader import Grader, user_question

    grader = Grader.from_paths()
    if own_reference:
        items = [(user_question(r.question, list(r.references), qid=f"s-{r.group}"), r.answer) for r in rows]
    else:
        items = [(r.question_id, r.answer) for r in rows]
    results = grader.grade_many(items)
    pred = np.array([LABELS3.index(x.label) for x in results])
    p_correct = np.array([x.probabilities.get("correct", 0.0) for x in results])
    return pred, p_correct, np.array([x.confidence for x in results])


def review_flag(rows, pred, confidence, threshold=0.6) -> dict:
    """How well "confidence under `threshold`" (the API's needs_review) picks out wrong labels."""
    right = np.array([LABELS3.index(r.label3) for r in rows]) == pred
    flagged = confidence < threshold
    return {"threshold": threshold, "mean_confidence": float(confidence.mean()), "accuracy": float(right.mean()),
            "flagged_share": float(flagged.mean()), "accuracy_unflagged": float(right[~flagged].mean()),
            "accuracy_flagged": float(right[flagged].mean()) if flagged.any() else None,
            "wrong_flagged": int((flagged & ~right).sum()), "wrong": int((~right).sum())}


def signals_of(rows) -> np.ndarray:
    """FEATURES of the stranger rows (reviewed rubrics), cached by the answers' text."""
    from signals import base_features, e5_features

    import hashlib

    key = hashlib.sha256(json.dumps([[r.question_id, r.answer] for r in rows]).encode()).hexdigest()[:16]
    path = TMP / f"strangers_{key}.npy"
    if path.exists():
        X = np.load(path)
    else:
        X = np.hstack([base_features(rows, drafted=False), e5_features(rows)])
        TMP.mkdir(parents=True, exist_ok=True)
        np.save(path, X)
    # The answer judge as shipped (its training never saw these 40 questions), not cached: it changes
    # whenever eval/train_judge.py --ship runs.
    from grader.core.judge import AnswerJudge

    from grader.signals.features import FEATURES

    judged = AnswerJudge().judge_many([(list(r.references), r.answer) for r in rows])
    return np.hstack([X[:, :FEATURES.index("answer_judge")], judged[:, None]])


def variants(rows, X_test, only=()) -> dict:
    """Each VARIANT trained on every corpora row and measured on the strangers."""
    from corpora import load_training_rows
    from loso import balanced, full_matrix, strata
    from recipe import VARIANTS, build_variant, grade_like_grader
    from signals import load_signals

    train_rows = load_training_rows()
    X = full_matrix(load_signals(train_rows))
    y = np.array([r.label3 for r in train_rows])
    groups = np.array([r.group for r in train_rows])
    idx = balanced(np.arange(len(train_rows)), strata(train_rows), 2500, np.random.default_rng(0))
    out = {}
    names = [n for n in VARIANTS if not only or n in only]
    for name in names:
        model, cascade = build_variant(name, X[idx], y[idx], groups[idx])
        proba, pred, _, share = grade_like_grader(model, X_test, cascade)
        out[name] = measure(rows, pred, proba[:, 2])
        out[name]["share_graded_with_e5"] = share
        halves = np.array([r.author[0] for r in rows])
        for half in ("a", "b"):
            m = halves == half
            out[name][f"half_{half}"] = measure([r for r, k in zip(rows, m) if k], pred[m], proba[m, 2])
        print(name, _short(out[name]), flush=True)
    return out


TRAINING_MIXES = {
    "real corpora and their gaming rows only": lambda r: r.source not in ("indomain", "strangers_train"),
    "in-domain rows only": lambda r: r.source == "indomain",
    "everything but the self-made gaming rows": lambda r: r.author != "corpora.py",
    "everything but the stranger-style training answers": lambda r: r.source != "strangers_train",
}


def training_mixes(rows, X_test) -> dict:
    """The bundled recipe (e5 on every answer) trained on subsets of the corpora rows."""
    from corpora import load_training_rows
    from loso import balanced, full_matrix, strata
    from recipe import build_model, grade_like_grader
    from signals import load_signals

    train_rows = load_training_rows()
    X = full_matrix(load_signals(train_rows))
    y = np.array([r.label3 for r in train_rows])
    groups = np.array([r.group for r in train_rows])
    out = {}
    for name, keep in TRAINING_MIXES.items():
        idx = balanced(np.array([i for i, r in enumerate(train_rows) if keep(r)]), strata(train_rows), 2500,
                       np.random.default_rng(0))
        proba, pred, _, _ = grade_like_grader(build_model(X[idx], y[idx], groups[idx]), X_test, None)
        out[name] = {"train_rows": len(idx), **measure(rows, pred, proba[:, 2])}
        print(name, _short(out[name]), flush=True)
    return out


def baselines(rows, X_test) -> dict:
    """The plain cosine (a one-signal model trained like the variants) and the model bundled before
    the real corpora (trained on in-domain rows only), on the same answers; and per signal, the AUC
    of correct against incorrect answers (above 0.5: higher for correct ones)."""
    from sklearn.metrics import roc_auc_score

    from corpora import load_training_rows
    from loso import balanced, fit, full_matrix, previous_model_scores, strata
    from signals import load_signals

    from grader.signals.features import FEATURES

    train_rows = load_training_rows()
    X = full_matrix(load_signals(train_rows))
    y = np.array([r.label3 for r in train_rows])
    groups = np.array([r.group for r in train_rows])
    idx = balanced(np.arange(len(train_rows)), strata(train_rows), 2500, np.random.default_rng(0))
    cos = [FEATURES.index("cos_max")]
    model = fit(["cos_max"], X[idx][:, cos], y[idx], groups[idx])
    proba = model.predict_proba(X_test[:, cos])
    out = {"plain cosine": measure(rows, proba.argmax(axis=1), proba[:, 2])}
    proba, _ = previous_model_scores(rows, {"base": X_test[:, :25]})
    out["previous model"] = measure(rows, proba.argmax(axis=1), proba[:, 2])
    for name in out:
        print(name, _short(out[name]), flush=True)
    gold = np.array([r.label3 for r in rows])
    keep = gold != "partial"
    out["signal_auc_correct_vs_incorrect"] = {f: round(float(roc_auc_score(gold[keep] == "correct", X_test[keep, j])), 3)
                                              for j, f in enumerate(FEATURES)}
    return out


def _short(res: dict) -> dict:
    """The figures of a `measure` result, rounded, for the log."""
    out = {}
    for k, v in res.items():
        if isinstance(v, float):
            out[k] = round(v, 3)
        elif isinstance(v, dict) and "share" in v:
            out[k] = None if v["share"] is None else round(v["share"], 3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-product", action="store_true", help="only the variants on cached signals")
    ap.add_argument("--variants", default="", help="semicolon-separated subset of recipe.VARIANTS")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    rows = load_rows()
    print(f"{len(rows)} answers", {k: sum(r.label3 == k for r in rows) for k in LABELS3}, flush=True)
    results = {"n": len(rows), "labels": {k: sum(r.label3 == k for r in rows) for k in LABELS3}}
    if not args.skip_product:
        for name, own in (("grader", False), ("grader, own reference", True)):
            pred, p, confidence = grade_product(rows, own)
            results[name] = measure(rows, pred, p)
            results[name]["review_flag"] = review_flag(rows, pred, confidence)
            print(name, _short(results[name]), flush=True)
    X_test = signals_of(rows)
    results["baselines"] = baselines(rows, X_test)
    only = [v.strip() for v in args.variants.split(";") if v.strip()]
    results["variants"] = variants(rows, X_test, only)
    if not only:
        results["training_mixes"] = training_mixes(rows, X_test)
    results["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True).stdout.strip()
    Path(args.out).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
