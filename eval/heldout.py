"""Measure the bundled model on the held-out questions of eval/data/labelled.jsonl, with the
breakdowns eval/RESULTS.md reports. Never touches training rows.

    .venv/bin/python eval/heldout.py          # writes eval/results/heldout.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

import train  # noqa: E402
from grader.grading import default_model_path  # noqa: E402
from grader.metrics import classification_metrics  # noqa: E402
from grader.model import GradingModel  # noqa: E402


def main():
    rows = [r for r in train.load_rows() if r["split"] == "test"]
    model = GradingModel.load(default_model_path())
    labels = model.labels
    y = np.array([labels.index(r["label"]) for r in rows])
    results = {}
    for rubrics, drafted in (("reviewed rubrics", False), ("drafted rubrics", True)):
        proba = model.predict_proba(train.featurize(rows, drafted_rubrics=drafted))
        pred = proba.argmax(axis=1)
        subsets = {
            "all": np.ones(len(rows), bool),
            "all except reference_itself": np.array([r["kind"] != "reference_itself" for r in rows]),
            "hand-written": np.array([r["origin"] == "handwritten" for r in rows]),
            "derived": np.array([r["origin"] == "derived" for r in rows]),
        }
        block = {name: classification_metrics(proba[m], y[m], labels) for name, m in subsets.items()}
        gaming = np.array([r["kind"] in train.GAMING_KINDS for r in rows])
        block["gaming answers labelled correct"] = {
            "n": int(gaming.sum()), "share": float((pred[gaming] == labels.index("correct")).mean())}
        results[rubrics] = block
    out = ROOT / "eval" / "results" / "heldout.json"
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    for rubrics, block in results.items():
        print(f"with {rubrics}:")
        for name, m in block.items():
            if "qwk" in m:
                print(f"  {name:28s} n={m['n']:4d} acc {m['accuracy']:.3f} QWK {m['qwk']:.3f} "
                      f"macro-F1 {m['macro_f1']:.3f} ECE {m['ece']:.3f} Brier {m['brier']:.3f}")
            else:
                print(f"  {name:28s} n={m['n']:4d} share {m['share']:.3f}")


if __name__ == "__main__":
    main()
