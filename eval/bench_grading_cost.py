"""What `grader batch` spends beyond the model, split into a cost per question and a cost per row.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_grading_cost.py [--copies 1,2,4] [--repeats 5]

The model's forward pass is memoised (run once for real, then replayed), so every other part of
a batch job is timed on its own: reading and writing the CSV, tokenizing, pooling, rubric
preparation, concept matching, signals, the classifier. Each run is a fresh `Grader` with the
process-level memos emptied, as a new `grader batch` process starts.

The hand-written answers to bank questions (eval/data/labelled.jsonl) are graded with each answer
repeated 1, 2 and 4 times (copies get a numbered suffix, so each is a new text): the same
questions, with 2 and 4 times the answers per question. A straight line through
(rows, seconds) gives the cost per row (its slope) and the cost per question (its intercept over
the number of questions). The bare model's time per answer is measured on the same texts, and
the ratio `grader batch` / bare model is worked out for any number of answers per question:
    bare / (bare + per_row + per_question / answers_per_question)
With the Mohler answers (../shared), the same is done for user questions with drafted rubrics.
Prints a table and writes eval/results/bench_grading_cost.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MOHLER = ROOT.parent / "shared" / "data" / "mohler" / "mohler.csv"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))


def memoised(backend):
    """The backend with its forward pass replayed from memory after the first call per input."""
    forward, memo = backend._forward, {}

    def replay(ids, mask):
        key = (ids.shape, ids.tobytes())
        if key not in memo:
            memo[key] = forward(ids, mask)
        return memo[key]

    backend._forward = replay
    return backend


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", default="1,2,4", help="Times each answer is repeated, one run per value.")
    ap.add_argument("--repeats", type=int, default=5, help="Runs per input (the best one counts).")
    args = ap.parse_args()
    copies = [int(k) for k in args.copies.split(",")]
    if len(copies) < 2:
        sys.exit("--copies needs at least two values to separate per-question from per-row cost")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["GRADER_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-cost-cache-")

    from bench_batch import forget_process_caches
    from grader.workflows.batch.job import BatchJob
    from grader.core.embedding import BACKENDS, DEFAULT_BACKEND, DIM, CachedEmbedder
    from grader.grading import Grader
    from grader.core.vector_store import VectorStore

    real = BACKENDS[DEFAULT_BACKEND]()
    replayed = memoised(BACKENDS[DEFAULT_BACKEND]())
    base = Grader.from_paths()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    store = tmp / "vectors.sqlite3"

    def batch_seconds(src: Path) -> float:
        forget_process_caches()
        grader = Grader(base.bank, dict(base.rubrics), base.model,
                        CachedEmbedder(replayed, store=VectorStore(store, DEFAULT_BACKEND, DIM)))
        t = time.perf_counter()
        BatchJob(grader).run(str(src), str(tmp / "out.csv"))
        return time.perf_counter() - t

    def timed(fn, *a) -> float:
        t = time.perf_counter()
        fn(*a)
        return time.perf_counter() - t

    labelled = [json.loads(line) for line in (ROOT / "eval" / "data" / "labelled.jsonl").read_text().splitlines()]
    sets = {"bank questions, reviewed rubrics": [{"question_id": r["question_id"], "answer": r["answer"]}
                                                  for r in labelled if r["origin"] == "handwritten"]}
    if MOHLER.exists():
        import pandas as pd

        df = pd.read_csv(MOHLER)
        sets["Mohler, user questions, drafted rubrics"] = [
            {"question": q, "reference_answer": ref, "answer": a}
            for q, ref, a in zip(df.question, df.desired_answer, df.student_answer.fillna(""))]

    result = {"backend": DEFAULT_BACKEND, "copies": copies, "sets": {}}
    for name, rows in sets.items():
        questions = len({r.get("question_id") or r["question"] for r in rows})
        points, bare_ms = [], []
        for k in copies:
            expanded = [dict(r, answer=r["answer"] + (f" (copy {c})" if c else "")) for r in rows for c in range(k)]
            src = tmp / f"in_{k}.csv"
            with src.open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=list(expanded[0]))
                w.writeheader()
                w.writerows(expanded)
            texts = list(dict.fromkeys(r["answer"] for r in expanded))
            batch_seconds(src)                       # fills the forward memo and the vector cache
            replayed.encode_vectors(texts)
            # Tokenizing and pooling are part of the bare model too: only the rest is the grader's.
            batch = min(batch_seconds(src) for _ in range(args.repeats))
            bare_rest = min(timed(replayed.encode_vectors, texts) for _ in range(args.repeats))
            bare_ms.append(min(timed(real.encode_vectors, texts) for _ in range(max(1, args.repeats // 2)))
                           / len(texts) * 1000)
            points.append((len(expanded), batch - bare_rest))
        n, seconds = np.array(points, dtype=float).T
        per_row, intercept = np.polyfit(n, seconds, 1)
        bare = float(np.median(bare_ms))
        per_question_ms = intercept / questions * 1000

        def ratio(answers_per_question):
            return bare / (bare + per_row * 1000 + per_question_ms / answers_per_question)

        per_q = len(rows) / questions
        result["sets"][name] = {
            "rows": len(rows), "questions": questions, "answers_per_question": round(per_q, 1),
            "grading_seconds_beyond_model": {str(int(r)): round(s, 3) for r, s in points},
            "bare_model_ms_per_answer": round(bare, 3),
            "per_row_ms": round(per_row * 1000, 3), "per_question_ms": round(per_question_ms, 2),
            "ratio_at_this_set": round(ratio(per_q), 3),
            "ratio_without_per_question_cost": round(bare / (bare + per_row * 1000), 3),
            "per_row_budget_ms_for_0.9": round(bare / 9, 3),
        }
        print(f"{name}: {len(rows)} rows, {questions} questions ({per_q:.1f} answers each)")
        print("  grading beyond the model: " + ", ".join(f"{int(r)} rows {s:.2f} s" for r, s in points))
        print(f"  bare model {bare:.2f} ms/answer; grader {per_row * 1000:.3f} ms/row + {per_question_ms:.1f} ms/question")
        print(f"  batch/bare: {ratio(per_q):.2f} at {per_q:.0f} answers/question, "
              f"{ratio(4 * per_q):.2f} at {4 * per_q:.0f}, {bare / (bare + per_row * 1000):.2f} with no per-question "
              f"cost; 0.9 needs at most {bare / 9:.3f} ms/row in all")
    out = ROOT / "eval" / "results" / "bench_grading_cost.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
