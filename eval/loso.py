"""Leave one source out: the headline measure of how the grader does on answers written by people
it has never seen. For each source (Mohler, SciEntsBank, Beetle, SAF, in-domain) a model is trained
on the other four and measured on it; and, on the hand-written in-domain answers, leave one writer
out (trained without that writer's questions at all).

    .venv/bin/python eval/signals.py     # featurise every row once (cached)
    .venv/bin/python eval/loso.py        # writes eval/results/loso.json

Models compared on the same rows:
* ``cosine``: plain cosine (MiniLM-L3) to the closest reference; its labels from a one-signal
  model trained on the other sources the same way as the others;
* ``previous``: the model bundled before this change (trained on in-domain rows only), as is;
* ``minilm``: the 25 MiniLM, concept and text signals, retrained on the other sources;
* ``bundled``: the shipped recipe (eval/recipe.py: every signal including e5, the MiniLM-only
  fallback, the semantic judge), graded as `Grader` grades: the e5 cascade and the coherence rules;
* ``bundled, e5 always``: the same without the cascade (e5 on every answer).

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

from corpora import LABELS3, SOURCES, load_training_rows  # noqa: E402
from recipe import build_model, grade_like_grader  # noqa: E402
from signals import load_signals  # noqa: E402

from grader.signals.features import MINILM_FEATURES  # noqa: E402
from grader.model.classifier import GradingModel  # noqa: E402
from grader.settings import E5_CASCADE_CONFIDENCE  # noqa: E402


RESULTS = ROOT / "eval" / "results" / "loso.json"
TWO_WAY = {"scientsbank", "beetle"}
GAMING_KINDS = {"keyword_list", "keyword_bag", "keyword_salad", "question_copy", "negated_reference", "reversed",
                "topic_term_dump"}


def full_matrix(signals) -> np.ndarray:
    """FEATURES columns of every row: the MiniLM signals, the e5 ones, the answer judge's."""
    return np.hstack([signals["base"], signals["e5"], signals["judge"][:, None]])


def labelled_table():
    """Every row with its signals, as the ablations need them: rows, FEATURES matrix, and per row
    its source, whether it is a self-made gaming row, its label and its question."""
    rows = load_training_rows()
    X = full_matrix(load_signals(rows))
    sources = np.array([r.source for r in rows])
    made = np.array([r.author == "corpora.py" for r in rows])
    return rows, X, sources, made, np.array([r.label3 for r in rows]), np.array([r.group for r in rows])


def strata(rows) -> np.ndarray:
    """What `balanced` caps: each source's real answers, and apart from them its gaming rows."""
    return np.array([r.source + (":gaming" if r.author == "corpora.py" else "") for r in rows])


def balanced(train_idx, sources, cap, rng):
    """At most `cap` rows of each source (stratum), so that no corpus outweighs the others."""
    keep = []
    for s in np.unique(sources[train_idx]):
        idx = train_idx[sources[train_idx] == s]
        keep.extend(rng.choice(idx, cap, replace=False) if len(idx) > cap else idx)
    return np.sort(np.array(keep))


def fit(features, X, y, groups):
    model = GradingModel(labels=LABELS3, features=tuple(features), estimator="boosting", calibration="sigmoid", cv=5)
    return model.fit(X, y, groups=groups)


def metrics(source, proba, score, rows, pred=None) -> dict:
    from sklearn.metrics import cohen_kappa_score, f1_score, roc_auc_score
    from scipy.stats import pearsonr, spearmanr

    gold = np.array([r.grade for r in rows])
    y = np.array([LABELS3.index(r.label3) for r in rows])
    pred = proba.argmax(axis=1) if pred is None else np.asarray(pred)
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
    out["_pred"] = pred   # taken out by the caller
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
    ap.add_argument("--signals", help="an .npz of signals to use instead of eval/signals.py's cache")
    ap.add_argument("--no-writers", action="store_true", help="skip leave one writer out")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    rows = load_training_rows()
    signals = dict(np.load(args.signals)) if args.signals else load_signals(rows)
    X_full = full_matrix(signals)
    sources = np.array([r.source for r in rows])
    layers = strata(rows)
    groups = np.array([r.group for r in rows])
    y = np.array([r.label3 for r in rows])
    rng = np.random.default_rng(0)
    prev_proba, prev_score = previous_model_scores(rows, signals)
    indomain_test = np.array([r.source == "indomain" and r.question_id in _indomain_test_ids() for r in rows])
    results = {"cap_per_source": args.cap, "sources": {}, "writers": {}}
    made = np.array([r.author == "corpora.py" for r in rows])
    for s in SOURCES:
        test = np.flatnonzero((sources == s) & ~made)
        gaming = np.flatnonzero((sources == s) & made)
        if not len(test):
            continue
        # The stranger-style training answers are deep-learning answers to bank questions: out
        # of training when the in-domain source is held out.
        train = balanced(np.flatnonzero((sources != s) & ((sources != "strangers_train") | (s != "indomain"))),
                         layers, args.cap, rng)
        held = [rows[i] for i in test]
        res = {"cosine_raw_pearson": metrics(s, np.eye(3)[np.zeros(len(test), int)], signals["base"][test, 0], held)["pearson"]}
        # The previous model was trained on in-domain train-split rows: measure it on the test split only there.
        prev_rows = test if s != "indomain" else test[indomain_test[test]]
        res["previous"] = metrics(s, prev_proba[prev_rows], prev_score[prev_rows], [rows[i] for i in prev_rows])
        res["previous"].pop("_pred")
        if s == "indomain":
            res["previous"]["note"] = "its own held-out split (54 questions); it was trained on the other in-domain rows"
        res.update(evaluate_all(X_full, y, groups, train, test, held, s, gaming, rows))
        results["sources"][s] = res
    writers = [] if args.no_writers else sorted({r.author for r in rows if r.origin == "handwritten"})
    for w in writers:
        test = np.array([i for i, r in enumerate(rows) if r.origin == "handwritten" and r.author == w])
        their_questions = {rows[i].group for i in test}
        train = balanced(np.array([i for i, r in enumerate(rows) if r.group not in their_questions]), layers,
                         args.cap, rng)
        held = [rows[i] for i in test]
        results["writers"][w] = evaluate_all(X_full, y, groups, train, test, held, "indomain", np.array([], int),
                                             rows, label=w)
    results["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True).stdout.strip()
    Path(args.out).write_text(json.dumps(results, indent=1), encoding="utf-8")


def evaluate_all(X, y, groups, train, test, held, source, gaming, rows, label=None) -> dict:
    """Every variant trained on `train` rows and measured on `test` rows, and on the source's own
    gaming rows (`gaming`: derived by corpora.py, never trained on in this fold)."""
    out, gaming_pred = {}, {}
    cos = [MINILM_FEATURES.index("cos_max")]
    both = np.concatenate([test, gaming]).astype(int)
    for name, cols in (("cosine", cos), ("minilm", list(range(len(MINILM_FEATURES))))):
        model = fit([MINILM_FEATURES[c] for c in cols], X[train][:, cols], y[train], groups[train])
        proba = model.predict_proba(X[both][:, cols])
        out[name] = metrics(source, proba[:len(test)], model.predict_grade(X[test][:, cols], proba[:len(test)]), held)
        gaming_pred[name] = proba[len(test):].argmax(axis=1)
    model = build_model(X[train], y[train], groups[train])
    for name, cascade, coherence in (("bundled", E5_CASCADE_CONFIDENCE, True), ("bundled, e5 always", None, True),
                                     ("bundled, without the coherence rules", E5_CASCADE_CONFIDENCE, False)):
        proba, pred, score, share = grade_like_grader(model, X[both], cascade, coherence)
        out[name] = metrics(source, proba[:len(test)], score[:len(test)], held, pred[:len(test)])
        out[name]["share_graded_with_e5"] = share
        gaming_pred[name] = pred[len(test):]
    kinds = [r.kind for r in held] + [rows[i].kind for i in gaming]
    for name, res in out.items():
        pred = np.concatenate([res.pop("_pred"), gaming_pred[name]])
        res["gaming_labelled_correct"] = _gaming(kinds, pred)
        print(label or source, name, {k: round(v, 3) for k, v in res.items() if isinstance(v, float)}, flush=True)
    return out


def _gaming(kinds, pred):
    g = np.array([k in GAMING_KINDS for k in kinds])
    return float((np.asarray(pred)[g] == 2).mean()) if g.any() else None


def _indomain_test_ids() -> set:
    path = ROOT / "eval" / "data" / "labelled.jsonl"
    return {json.loads(l)["question_id"] for l in path.read_text().splitlines()
            if l.strip() and json.loads(l)["split"] == "test"}


if __name__ == "__main__":
    main()
