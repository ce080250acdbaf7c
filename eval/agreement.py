"""How far two human annotators agree on held-out hand-written answers, next to the bundled model.

eval/data/relabel_second_annotator.jsonl holds a second, blind labelling of 240 held-out
hand-written rows (sampled with a fixed seed; see eval/data/README.md).

    .venv/bin/python eval/agreement.py        # writes eval/results/agreement.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

LABELS = ("incorrect", "partial", "correct")


def main():
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    import train
    from grader.model import GradingModel
    from grader.grading import default_model_path

    rows = train.load_rows()
    second = [json.loads(l) for l in (ROOT / "eval" / "data" / "relabel_second_annotator.jsonl").read_text().splitlines()]
    picked = [rows[s["row"]] for s in second]
    assert all(p["split"] == "test" and p["origin"] == "handwritten" for p in picked)
    first = np.array([LABELS.index(p["label"]) for p in picked])
    other = np.array([LABELS.index(s["label"]) for s in second])
    model = GradingModel.load(default_model_path())
    pred = model.predict_proba(train.featurize(picked)).argmax(axis=1)

    def pair(a, b):
        return {"qwk": round(float(cohen_kappa_score(a, b, weights="quadratic")), 3),
                "accuracy": round(float(accuracy_score(a, b)), 3)}

    result = {"rows": len(second), "first_vs_second_annotator": pair(first, other),
              "model_vs_first": pair(first, pred), "model_vs_second": pair(other, pred)}
    print(json.dumps(result, indent=1))
    (ROOT / "eval" / "results" / "agreement.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
