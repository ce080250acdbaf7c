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

from corpora import load_all  # noqa: E402
from loso import balanced, full_matrix, metrics, strata  # noqa: E402
from recipe import build_model, grade_like_grader  # noqa: E402
from signals import load_signals  # noqa: E402


def main():
    rows = load_all()
    X = full_matrix(load_signals(rows))
    sources = np.array([r.source for r in rows])
    made = np.array([r.author == "corpora.py" for r in rows])
    y = np.array([r.label3 for r in rows])
    groups = np.array([r.group for r in rows])
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
