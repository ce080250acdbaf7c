"""Train the bundled model on the train split of eval/data/labelled.jsonl and measure it on the
held-out questions (test split). The shipped model is exactly the one measured.

    .venv/bin/python eval/train.py            # writes grader/models/default/model.json
                                              # and eval/results/indomain.json
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.bank import load_bank  # noqa: E402
from grader.embedding import get_embedder  # noqa: E402
from grader.features import FEATURES  # noqa: E402
from grader.grading import Grader  # noqa: E402
from grader.metrics import classification_metrics  # noqa: E402
from grader.model import DEFAULT_LABELS, GradingModel  # noqa: E402
from grader.rubric import load_rubrics  # noqa: E402

DATA = ROOT / "eval" / "data" / "labelled.jsonl"
MODEL_OUT = ROOT / "grader" / "models" / "default" / "model.json"
RESULTS = ROOT / "eval" / "results" / "indomain.json"
GAMING_KINDS = {"keyword_list", "keyword_bag", "question_copy", "negated_reference", "reversed", "topic_term_dump"}


def load_rows():
    return [json.loads(l) for l in DATA.read_text(encoding="utf-8").splitlines() if l.strip()]


def featurize(rows, embedder_name=None, drafted_rubrics=False):
    """Signals for every row, with the bank's reviewed rubrics or with rubrics drafted on the fly
    (what a question without a rubric file gets)."""
    bank = load_bank(ROOT / "questions")
    embedder = get_embedder(embedder_name)
    # The model is not needed for features; a placeholder keeps Grader's constructor happy.
    placeholder = GradingModel(features=FEATURES)
    rubrics = {} if drafted_rubrics else load_rubrics(ROOT / "rubrics")
    grader = Grader(bank, rubrics, placeholder, embedder)
    items = []
    for r in rows:
        q = bank.get(r["question_id"])
        if r.get("exclude_source"):
            q = replace(q, references=[ref for ref in q.references if ref.source != r["exclude_source"]])
        items.append((q, r["answer"]))
    X, _ = grader.featurize(items)
    return X


def main():
    rows = load_rows()
    t0 = time.time()
    X = featurize(rows)
    X_drafted = featurize(rows, drafted_rubrics=True)
    seconds = time.time() - t0
    y = np.array([r["label"] for r in rows])
    split = np.array([r["split"] for r in rows])
    groups = np.array([r["question_id"] for r in rows])
    train, test = split == "train", split == "test"

    # Every training answer twice: with the reviewed rubric and with a drafted one.
    model = GradingModel(labels=DEFAULT_LABELS, features=FEATURES, estimator="boosting", calibration="sigmoid", cv=10)
    model.fit(np.vstack([X[train], X_drafted[train]]), np.concatenate([y[train], y[train]]),
              groups=np.concatenate([groups[train], groups[train]]))
    proba = model.predict_proba(X[test])
    proba_drafted = model.predict_proba(X_drafted[test])
    y_idx = np.array([DEFAULT_LABELS.index(v) for v in y[test]])
    test_rows = [r for r, t in zip(rows, test) if t]

    def subset(mask):
        mask = np.asarray(mask)
        return classification_metrics(proba[mask], y_idx[mask], DEFAULT_LABELS) if mask.any() else None

    hand = np.array([r["origin"] == "handwritten" for r in test_rows])
    gaming = np.array([r["kind"] in GAMING_KINDS for r in test_rows])
    pred = proba.argmax(axis=1)
    gaming_correct = float((pred[gaming] == DEFAULT_LABELS.index("correct")).mean()) if gaming.any() else None
    per_kind = {}
    for kind in sorted({r["kind"] for r in test_rows}):
        m = np.array([r["kind"] == kind for r in test_rows])
        per_kind[kind] = {"n": int(m.sum()),
                          "share_labelled": {l: float((pred[m] == i).mean()) for i, l in enumerate(DEFAULT_LABELS)}}
    results = {
        "data": str(DATA.relative_to(ROOT)),
        "train_rows": int(train.sum()), "test_rows": int(test.sum()),
        "train_questions": int(len(set(groups[train]))), "test_questions": int(len(set(groups[test]))),
        "embedder": get_embedder().name,
        "test_all": subset(np.ones(len(test_rows), bool)),
        "test_handwritten": subset(hand),
        "test_derived": subset(~hand),
        "test_all_with_drafted_rubrics": classification_metrics(
            proba_drafted, y_idx, DEFAULT_LABELS),
        "test_handwritten_with_drafted_rubrics": classification_metrics(
            proba_drafted[hand], y_idx[hand], DEFAULT_LABELS),
        "gaming_rows": int(gaming.sum()), "gaming_labelled_correct": gaming_correct,
        "per_kind": per_kind,
        "featurize_seconds": round(seconds, 1),
    }
    import sklearn

    model.metadata = {
        "embedder": get_embedder().name,
        "trained_on": f"{DATA.relative_to(ROOT)} split=train ({int(train.sum())} rows)",
        "metrics_heldout": results["test_all"],
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__},
    }
    model.save(MODEL_OUT)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(json.dumps({k: results[k] for k in ("test_all", "test_handwritten", "test_derived",
                                              "test_all_with_drafted_rubrics", "test_handwritten_with_drafted_rubrics",
                                              "gaming_rows", "gaming_labelled_correct")}, indent=1))


if __name__ == "__main__":
    main()
