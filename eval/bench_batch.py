"""Batch throughput against the bare embedding model, and peak memory as the input grows.

    .venv/bin/python eval/bench_batch.py [--rows-large 200000]

Input: the Mohler student answers (read from ../shared, never copied), as batch rows with
`question` + `reference_answer`; and the hand-written answers of eval/data/labelled.jsonl as rows
with bank `question_id`s. In one run, on the same texts:
  * bare model: the default backend embedding every distinct answer once (answers/s);
  * `grader batch`: the full job (rubric drafts, concept matching, signals, classifier, CSV out).
Then peak RSS of `grader batch` on a small and a large file (rows repeated from the same set),
each in a fresh process. Prints a table and writes eval/results/bench_batch.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOHLER = ROOT.parent / "shared" / "data" / "mohler" / "mohler.csv"
sys.path.insert(0, str(ROOT))


def write_rows(path: Path, rows: list[dict], n: int):
    """n rows cycling through the Mohler answers; past the first pass each answer gets a
    distinct suffix, so every row is a new text to embed (no cache hits flatter the memory)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["row", "question", "reference_answer", "answer"])
        w.writeheader()
        for i in range(n):
            r = dict(rows[i % len(rows)])
            if i >= len(rows):
                r["answer"] = f"{r['answer']} (copy {i // len(rows)})"
            w.writerow({"row": i, **r})


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    code = ("import resource, subprocess, sys, time; t = time.time(); "
            f"subprocess.run({cmd!r}, check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.time() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss, seconds = out.stdout.split()
    return float(rss), float(seconds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows-small", type=int, default=2000)
    ap.add_argument("--rows-large", type=int, default=200_000)
    args = ap.parse_args()
    if not MOHLER.exists():
        sys.exit(f"{MOHLER} not found: the benchmark needs the Mohler answers from ../shared")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import pandas as pd

    df = pd.read_csv(MOHLER)
    rows = [{"question": q, "reference_answer": ref, "answer": a}
            for q, ref, a in zip(df.question, df.desired_answer, df.student_answer.fillna(""))]
    answers = list(dict.fromkeys(r["answer"] for r in rows))

    from grader.batch import BatchJob
    from grader.embedding import BACKENDS, DEFAULT_BACKEND
    from grader.grading import Grader

    backend = BACKENDS[DEFAULT_BACKEND]()
    t = time.perf_counter()
    backend.encode_full(answers, batch_size=32)
    bare = len(answers) / (time.perf_counter() - t)

    # Bank questions with reviewed rubrics: the hand-written answers of eval/data/labelled.jsonl.
    labelled = [json.loads(l) for l in (ROOT / "eval" / "data" / "labelled.jsonl").read_text().splitlines()]
    bank_rows = [{"question_id": r["question_id"], "answer": r["answer"]} for r in labelled
                 if r["origin"] == "handwritten"]
    bank_answers = list(dict.fromkeys(r["answer"] for r in bank_rows))
    t = time.perf_counter()
    backend.encode_full(bank_answers, batch_size=32)
    bare_bank = len(bank_answers) / (time.perf_counter() - t)

    grader = Grader.from_paths()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.csv"
        write_rows(src, rows, len(rows))
        t = time.perf_counter()
        BatchJob(grader).run(str(src), str(Path(tmp) / "out.csv"))
        batch = len(rows) / (time.perf_counter() - t)
        bank_src = Path(tmp) / "bank.csv"
        with bank_src.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["question_id", "answer"])
            w.writeheader()
            w.writerows(bank_rows)
        t = time.perf_counter()
        BatchJob(grader).run(str(bank_src), str(Path(tmp) / "bank_out.csv"))
        batch_bank = len(bank_rows) / (time.perf_counter() - t)

        exe = str(ROOT / ".venv" / "bin" / "grader")
        memory = {}
        for n in (args.rows_small, args.rows_large):
            f = Path(tmp) / f"in_{n}.csv"
            write_rows(f, rows, n)
            memory[n] = peak_rss_mb([exe, "batch", str(f), "-o", str(Path(tmp) / f"out_{n}.csv"), "-q"])

    result = {
        "answers": len(rows), "distinct_answers": len(answers), "backend": DEFAULT_BACKEND,
        "bare_model_answers_per_s": round(bare, 1), "batch_rows_per_s": round(batch, 1),
        "batch_over_bare": round(batch / bare, 3),
        "bank_rows": len(bank_rows), "bank_bare_answers_per_s": round(bare_bank, 1),
        "bank_batch_rows_per_s": round(batch_bank, 1), "bank_batch_over_bare": round(batch_bank / bare_bank, 3),
        "peak_rss_mb": {str(n): round(m[0], 1) for n, m in memory.items()},
        "wall_s": {str(n): round(m[1], 1) for n, m in memory.items()},
    }
    print(f"bare model ({DEFAULT_BACKEND}): {bare:.0f} answers/s on {len(answers)} distinct answers")
    print(f"grader batch: {batch:.0f} rows/s on {len(rows)} rows  -> ratio {batch / bare:.2f}")
    print(f"bank questions (reviewed rubrics), {len(bank_rows)} hand-written answers: bare {bare_bank:.0f}/s, "
          f"batch {batch_bank:.0f}/s -> ratio {batch_bank / bare_bank:.2f}")
    for n, (rss, secs) in memory.items():
        print(f"grader batch on {n} rows: peak RSS {rss:.0f} MB, {secs:.0f} s")
    out = ROOT / "eval" / "results" / "bench_batch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
