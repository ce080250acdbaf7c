"""Ablation: the bundled recipe trained with and without the real answers of the two 2-way
corpora (SciEntsBank, Beetle), whose "incorrect" merges partially correct, contradictory and
irrelevant answers. Per held-out source as in eval/loso.py (each source's model trained once,
seed 0); printed, not shipped.

    .venv/bin/python eval/twoway_ablation.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loso import balanced, labelled_table, metrics, strata  # noqa: E402
from recipe import build_model, grade_like_grader  # noqa: E402


def main():
    rows, X, sources, made, y, groups = labelled_table()
    two_way_real = np.isin(sources, ["scientsbank", "beetle"]) & ~made
    for s in ("indomain", "mohler", "beetle", "saf"):
        test = np.flatnonzero((sources == s) & ~made)
        for name, allowed in (("all sources", np.ones(len(rows), bool)), ("without 2-way answers", ~two_way_real)):
            train = balanced(np.flatnonzero((sources != s) & allowed), strata(rows), 2500, np.random.default_rng(0))
            model = build_model(X[train], y[train], groups[train])
            proba, pred, score, _ = grade_like_grader(model, X[test])
            m = metrics(s, proba, score, [rows[i] for i in test], pred)
            print(s, name, {k: round(m[k], 3) for k in ("pearson", "macro_f1", "qwk", "correct_labelled_incorrect")
                            if m.get(k) is not None}, flush=True)


if __name__ == "__main__":
    main()
