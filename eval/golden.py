"""Regenerate the golden file that pins grading behaviour: every signal, concept status, label
and score of 220 fixed in-domain answers (every 10th row of eval/data/labelled.jsonl) graded with
the bundled bank, rubrics, model and judge.

    .venv/bin/python eval/golden.py        # rewrites tests/golden/golden.json

Run it on purpose, when a change is meant to move grading, and review the diff (`git diff
--stat tests/golden/` and `tests/test_golden.py`'s failure messages show what moved).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOLDEN = ROOT / "tests" / "golden" / "golden.json"
DATA = ROOT / "eval" / "data" / "labelled.jsonl"


def golden_items() -> list[tuple[str, str]]:
    rows = [json.loads(l) for l in DATA.read_text(encoding="utf-8").splitlines() if l.strip()]
    return [(r["question_id"], r["answer"]) for r in rows[::10]]


def snapshot(grader, items) -> list[dict]:
    from grader.signals.features import FEATURES

    questions = [(grader.resolve(q), a) for q, a in items]
    X, matches = grader.featurize(questions, all_signals=True)
    results = grader.grade_many(items)
    return [{"question_id": q, "answer": a, "signals": {f: round(float(x), 6) for f, x in zip(FEATURES, row)},
             "concepts": {m.concept.name: m.status for m in ms},
             "label": r.label, "score": r.score,
             "feedback_concepts": {"matched": r.matched_concepts, "missed": r.missed_concepts,
                                   "contradicted": r.contradicted_concepts}}
            for (q, a), row, ms, r in zip(items, X, matches, results)]


def main():
    from grader.grading import Grader

    grader = Grader.from_paths()
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(snapshot(grader, golden_items()), indent=1, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
