"""Leave one source out: the headline measure of how the grader does on answers written by people
it has never seen. For each source (Mohler, SciEntsBank, Beetle, SAF, in-domain) a model is trained
on the other four and measured on it; and, on the hand-written in-domain answers, leave one writer
out (trained without that writer's questions at all).

    .venv/bin/python eval/signals.py     # featurise every row once (cached)
    .venv/bin/python eval/train_judge.py --holdout SOURCE   # per source: the judge's held-out scores
    .venv/bin/python eval/loso.py        # writes eval/results/loso.json

Models compared on the same rows:
* ``cosine``: plain cosine (MiniLM-L3) to the closest reference; its labels from a one-signal
  model trained on the other sources the same way as the others;
* ``previous``: the model bundled before this change (trained on in-domain rows only), as is;
* ``signals``: today's 25 signals, retrained on the other sources;
* ``+e5``: plus the multilingual-e5-small cosines;
* ``+judge``: plus the fine-tuned cross-encoder's score (from a judge that never saw the source);
* ``+e5+judge``.

Metrics: Pearson / Spearman of the score against the gold grade; macro-F1 of the labels (2-way
sources: "correct" against the rest; 3-way: the three labels), QWK, the share of correct answers
labelled incorrect, AUC of P(correct) for correct vs not.
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

from corpora import LABELS3, SOURCES, load_all  # noqa: E402
from signals import TEXT_SIGNALS, TMP, load_signals  # noqa: E402

from grader.model import GradingModel  # noqa: E402

RESULTS = ROOT / "eval" / "results" / "loso.json"
TWO_WAY = {"scientsbank", "beetle"}
E5 = ("e5_cos_max", "e5_cos_mean", "e5_cos_question", "e5_gain_over_question")
GAMING_KINDS = {"keyword_list", "keyword_bag", "question_copy", "negated_reference", "reversed", "topic_term_dump"}


def judge_scores(rows) -> np.ndarray | None:
    out = np.full(len(rows), np.nan)
    sources = np.array([r.source for r in rows])
    for s in SOURCES:
        path = TMP / f"judge_holdout_{s}.npy"
        if not path.exists():
            return None
        out[sources == s] = np.load(path)
    return out


def matrices(rows, signals, judge):
    """name -> (features, matrix) of each model variant."""
    base = signals["base"]
    col = {f: base[:, k] for k, f in enumerate(TEXT_SIGNALS)}
    variants = {"cosine": (("cos_max",), base[:, [TEXT_SIGNALS.index("cos_max")]]),
                "signals": (TEXT_SIGNALS, base),
                "+e5": (TEXT_SIGNALS + E5, np.hstack([base, signals["e5"]]))}
    if judge is not None:
        variants["+judge"] = (TEXT_SIGNALS + ("judge",), np.hstack([base, judge[:, None]]))
        variants["+e5+judge"] = (TEXT_SIGNALS + E5 + ("judge",), np.hstack([base, signals["e5"], judge[:, None]]))
        few = ("cos_max", "log_words", "length_ratio", "question_copy")
        variants["judge+e5+few"] = (("judge",) + E5 + few,
                                    np.column_stack([judge, signals["e5"]] + [col[f] for f in few]))
    return variants


def balanced(train_idx, sources, cap, rng):
    """At most `cap` rows of each source, so that no corpus outweighs the others."""
    keep = []
    for s in np.unique(sources[train_idx]):
        idx = train_idx[sources[train_idx] == s]
        keep.extend(rng.choice(idx, cap, replace=False) if len(idx) > cap else idx)
    return np.sort(np.array(keep))


def fit(features, X, y, groups):
    model = GradingModel(labels=LABELS3, features=tuple(features), estimator="boosting", calibration="sigmoid", cv=5)
    return model.fit(X, y, groups=groups)


def metrics(source, proba, score, rows) -> dict:
    from sklearn.metrics import cohen_kappa_score, f1_score, roc_auc_score
    from scipy.stats import pearsonr, spearmanr

    gold = np.array([r.grade for r in rows])
    y = np.array([LABELS3.index(r.label3) for r in rows])
    pred = proba.argmax(axis=1)
    is_correct = y == 2
    out = {"n": len(rows), "pearson": float(pearsonr(score, gold)[0]), "spearman": float(spearmanr(score, gold)[0])}
    if source in TWO_WAY:
        out["macro_f1"] = float(f1_score(is_correct, pred == 2, average="macro"))
        out["accuracy"] = float(((pred == 2) == is_correct).mean())
    else:
        out["macro_f1"] = float(f1_score(y, pred, average="macro", labels=[0, 1, 2], zero_division=0))
        out["qwk"] = float(cohen_kappa_score(y, pred, weights="quadratic", labels=[0, 1, 2]))
        out["accuracy"] = float((pred == y).mean())
    out["correct_labelled_incorrect"] = float((pred[is_correct] == 0).mean()) if is_correct.any() else None
    out["auc_correct"] = float(roc_auc_score(is_correct, proba[:, 2])) if 0 < is_correct.sum() < len(y) else None
    return out


def previous_model_scores(rows, signals):
    """The model bundled before this change, on the same signals (its 25 FEATURES)."""
    path = ROOT / "eval" / "results" / "previous_model.json"
    if not path.exists():
        raw = subprocess.run(["git", "show", "031b23e:grader/models/default/model.json"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        path.write_text(raw, encoding="utf-8")
    model = GradingModel.load(path)
    proba = model.predict_proba(signals["base"])
    return proba, model.predict_grade(signals["base"], proba)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=int, default=2500, help="training rows per source (stratified sample)")
    ap.add_argument("--variants", default="", help="comma-separated subset")
    args = ap.parse_args()
    rows = load_all()
    signals = load_signals(rows)
    judge = judge_scores(rows)
    variants = matrices(rows, signals, judge)
    if args.variants:
        variants = {k: v for k, v in variants.items() if k in args.variants.split(",")}
    sources = np.array([r.source for r in rows])
    groups = np.array([r.group for r in rows])
    y = np.array([r.label3 for r in rows])
    rng = np.random.default_rng(0)
    prev_proba, prev_score = previous_model_scores(rows, signals)
    indomain_test = np.array([r.source == "indomain" and r.question_id in _indomain_test_ids() for r in rows])
    results = {"cap_per_source": args.cap, "sources": {}, "writers": {}}
    for s in SOURCES:
        test = np.flatnonzero(sources == s)
        if not len(test):
            continue
        train = balanced(np.flatnonzero(sources != s), sources, args.cap, rng)
        held = [rows[i] for i in test]
        res = {"cosine_raw_pearson": metrics(s, np.eye(3)[np.zeros(len(test), int)], signals["base"][test, 0], held)["pearson"]}
        # The previous model was trained on in-domain train-split rows: measure it on the test split only there.
        prev_rows = test if s != "indomain" else np.flatnonzero(indomain_test)
        res["previous"] = metrics(s, prev_proba[prev_rows], prev_score[prev_rows], [rows[i] for i in prev_rows])
        if s == "indomain":
            res["previous"]["note"] = "its own held-out split (54 questions); it was trained on the other in-domain rows"
        for name, (features, X) in variants.items():
            model = fit(features, X[train], y[train], groups[train])
            proba = model.predict_proba(X[test])
            res[name] = metrics(s, proba, model.predict_grade(X[test], proba), held)
            if s == "indomain":
                res[name]["gaming_labelled_correct"] = _gaming(held, proba)
            print(s, name, {k: round(v, 3) for k, v in res[name].items() if isinstance(v, float)}, flush=True)
        results["sources"][s] = res
    writers = sorted({r.author for r in rows if r.origin == "handwritten"})
    for w in writers:
        test = np.array([i for i, r in enumerate(rows) if r.origin == "handwritten" and r.author == w])
        their_questions = {rows[i].group for i in test}
        train = balanced(np.array([i for i, r in enumerate(rows) if r.group not in their_questions]), sources,
                         args.cap, rng)
        held = [rows[i] for i in test]
        res = {}
        for name, (features, X) in variants.items():
            model = fit(features, X[train], y[train], groups[train])
            proba = model.predict_proba(X[test])
            res[name] = metrics("indomain", proba, model.predict_grade(X[test], proba), held)
            res[name]["gaming_labelled_correct"] = _gaming(held, proba)
            print(w, name, {k: round(v, 3) for k, v in res[name].items() if isinstance(v, float)}, flush=True)
        results["writers"][w] = res
    results["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True).stdout.strip()
    RESULTS.write_text(json.dumps(results, indent=1), encoding="utf-8")


def _gaming(rows, proba):
    g = np.array([r.kind in GAMING_KINDS for r in rows])
    return float((proba[g].argmax(axis=1) == 2).mean()) if g.any() else None


def _indomain_test_ids() -> set:
    path = ROOT / "eval" / "data" / "labelled.jsonl"
    return {json.loads(l)["question_id"] for l in path.read_text().splitlines()
            if l.strip() and json.loads(l)["split"] == "test"}


if __name__ == "__main__":
    main()
