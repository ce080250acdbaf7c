"""The e5 cascade's threshold against its cost: for each held-out source (as in eval/loso.py), the
bundled recipe graded with e5 on every answer and with the cascade at several confidences; the
share of answers sent to e5 and Pearson / macro-F1.

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

THRESHOLDS = (None, 0.8, 0.7, 0.6, 0.5)


def main():
    rows, X, sources, made, y, groups = labelled_table()
    out = {}
    for s in ("mohler", "beetle", "saf", "indomain"):
        test = np.flatnonzero((sources == s) & ~made)
        train = balanced(np.flatnonzero(sources != s), strata(rows), 2500, np.random.default_rng(0))
        model = build_model(X[train], y[train], groups[train])
        out[s] = {}
        for t in THRESHOLDS:
            proba, pred, score, share = grade_like_grader(model, X[test], t)
            m = metrics(s, proba, score, [rows[i] for i in test], pred)
            out[s][str(t)] = {"share_to_e5": share, "pearson": m["pearson"], "macro_f1": m["macro_f1"]}
            print(s, t, {k: round(v, 3) for k, v in out[s][str(t)].items()}, flush=True)
    (ROOT / "eval" / "results" / "cascade_sweep.json").write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
