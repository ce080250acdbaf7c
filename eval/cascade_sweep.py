"""The e5 cascade's threshold against its cost: for each held-out source (as in eval/loso.py), the
bundled recipe graded with e5 on every answer and with the cascade at several confidences (0.0:
e5 only where the fallback's label contradicts the concept evidence); the share of answers sent
to e5 and Pearson / macro-F1; and the same on the stranger-style test answers (eval/strangers.py:
QWK, correct answers labelled incorrect), with the recipe trained on every training row.

    .venv/bin/python eval/cascade_sweep.py      # writes eval/results/cascade_sweep.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))

from loso import balanced, labelled_table, metrics, strata  # noqa: E402
from recipe import build_model, grade_like_grader  # noqa: E402

THRESHOLDS = (None, 0.8, 0.7, 0.6, 0.5, 0.0)


def main():
    rows, X, sources, made, y, groups = labelled_table()
    out = {}
    for s in ("mohler", "scientsbank", "beetle", "saf", "indomain"):
        test = np.flatnonzero((sources == s) & ~made)
        # As in loso.py: the stranger-style training answers are to bank questions, so they go
        # with the in-domain source.
        held = (sources == s) | ((sources == "strangers_train") & (s == "indomain"))
        train = balanced(np.flatnonzero(~held), strata(rows), 2500, np.random.default_rng(0))
        model = build_model(X[train], y[train], groups[train])
        out[s] = {}
        for t in THRESHOLDS:
            proba, pred, score, share = grade_like_grader(model, X[test], t)
            m = metrics(s, proba, score, [rows[i] for i in test], pred)
            out[s][str(t)] = {"share_to_e5": share, "pearson": m["pearson"], "macro_f1": m["macro_f1"]}
            print(s, t, {k: round(v, 3) for k, v in out[s][str(t)].items()}, flush=True)
    out["strangers"] = strangers_sweep(rows, X, y, groups)
    (ROOT / "eval" / "results" / "cascade_sweep.json").write_text(json.dumps(out, indent=1), encoding="utf-8")


def strangers_sweep(rows, X, y, groups) -> dict:
    from strangers import load_rows, measure, signals_of

    test_rows = load_rows()
    X_test = signals_of(test_rows)
    train = balanced(np.arange(len(rows)), strata(rows), 2500, np.random.default_rng(0))
    model = build_model(X[train], y[train], groups[train])
    out = {}
    for t in THRESHOLDS:
        proba, pred, _, share = grade_like_grader(model, X_test, t)
        m = measure(test_rows, pred, proba[:, 2], by_round=False)
        out[str(t)] = {"share_to_e5": share, "qwk": m["qwk"],
                       "correct_labelled_incorrect": m["correct_labelled_incorrect"]["share"]}
        print("strangers", t, {k: round(v, 3) for k, v in out[str(t)].items()}, flush=True)
    return out


if __name__ == "__main__":
    main()
