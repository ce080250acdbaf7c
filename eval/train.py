"""Train the bundled model (grader/models/default/model.json) on real graded answers of four
corpora and the in-domain set (eval/corpora.py), at most --cap rows of each source (a stratified
random sample, seed 0), so that no corpus outweighs the others. In-domain rows count twice: with
the bank's reviewed rubrics and with rubrics drafted on the fly (what a question without a rubric
file gets).

The judge signal of every training row is the held-out score of the judge trained without that
row's source (eval/train_judge.py --holdout), which is how the shipped judge will see new answers.

    .venv/bin/python eval/signals.py && for s in mohler scientsbank beetle saf indomain; do
        .venv/bin/python eval/train_judge.py --holdout $s; done
    .venv/bin/python eval/train_judge.py --final
    .venv/bin/python eval/train.py

What it measures is in eval/loso.py (leave one source out); the model written here is trained on
every source, so no held-out figure is claimed for it beyond those.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from corpora import LABELS3, load_all  # noqa: E402
from loso import balanced, judge_scores  # noqa: E402
from signals import TEXT_SIGNALS, load_signals  # noqa: E402

from grader.features import FEATURES  # noqa: E402
from grader.model import GradingModel  # noqa: E402

MODEL_OUT = ROOT / "grader" / "models" / "default" / "model.json"


def training_matrix(rows, signals, judge):
    """FEATURES of every row (in-domain rows twice: reviewed and drafted rubrics) and row indices."""
    def full(base):
        X = np.zeros((len(rows), len(FEATURES)))
        for k, f in enumerate(TEXT_SIGNALS):
            X[:, FEATURES.index(f)] = base[:, k]
        X[:, FEATURES.index("judge")] = judge
        return X

    indomain = np.flatnonzero([r.source == "indomain" for r in rows])
    X = np.vstack([full(signals["base"]), full(signals["base_drafted"])[indomain]])
    index = np.concatenate([np.arange(len(rows)), indomain])
    return X, index


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=int, default=2500)
    args = ap.parse_args()
    rows = load_all()
    signals = load_signals(rows)
    judge = judge_scores(rows)
    if judge is None:
        sys.exit("train.py: the judge's held-out scores are missing; run eval/train_judge.py --holdout SOURCE first")
    X, index = training_matrix(rows, signals, judge)
    sources = np.array([rows[i].source for i in index])
    keep = balanced(np.arange(len(index)), sources, args.cap, np.random.default_rng(0))
    y = np.array([rows[i].label3 for i in index[keep]])
    groups = np.array([rows[i].group for i in index[keep]])
    model = GradingModel(labels=LABELS3, features=FEATURES, estimator="boosting", calibration="sigmoid", cv=5)
    model.fit(X[keep], y, groups=groups)
    import sklearn

    judge_meta = json.loads((ROOT / "grader" / "models" / "judge" / "judge.json").read_text())
    model.metadata = {
        "embedder": "paraphrase-minilm-l3-onnx",
        "trained_on": {"rows_per_source": dict(Counter(sources[keep].tolist())),
                       "sources": "eval/corpora.py (Mohler; SciEntsBank, Beetle, SAF training splits; "
                                  "eval/data/labelled.jsonl with reviewed and drafted rubrics)",
                       "sample": f"at most {args.cap} rows per source, seed 0", "judge": judge_meta.get("trained_on")},
        "held_out_figures": "eval/results/loso.json (leave one source out)",
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip(),
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__},
    }
    model.save(MODEL_OUT)
    print(json.dumps(model.metadata["trained_on"], indent=1))


if __name__ == "__main__":
    main()
