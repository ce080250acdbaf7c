"""Batch throughput against the bare embedding model, and peak memory as the input grows.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_batch.py [--rows 2000,20000,200000]

Input: the Mohler student answers (read from ../shared, never copied), as batch rows with
`question` + `reference_answer`; and the hand-written answers of eval/data/labelled.jsonl as rows
with bank `question_id`s. In one run, on the same texts:
  * bare model: the default backend embedding every distinct answer once (tokenizer, forward pass,
    mean pooling: what sentence-transformers does), answers/s;
  * `grader batch`: the full job (rubric drafts, concept matching, signals, classifier, CSV out),
    with an empty on-disk vector cache (a machine's first run) and again with it filled.
Then peak RSS of `grader batch` on a small and a large file (rows repeated from the same set,
every one with a numbered suffix), each in a fresh process. Prints a table and writes eval/results/bench_batch.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOHLER = ROOT.parent / "shared" / "data" / "mohler" / "mohler.csv"
sys.path.insert(0, str(ROOT))


def write_rows(path: Path, rows: list[dict], n: int, mark_every_pass: bool = False):
    """n rows cycling through the Mohler answers; past the first pass each answer gets a
    distinct suffix, so every row is a new text to embed (no cache hits flatter the memory).
    With `mark_every_pass`, the first pass gets one too, so that files of every size hold texts
    of the same lengths: the longest text of a file sets the size of the runtime's buffers, and a
    small file without suffixes would be compared with large ones on shorter texts."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["row", "question", "reference_answer", "answer"])
        w.writeheader()
        for i in range(n):
            r = dict(rows[i % len(rows)])
            if i >= len(rows) or mark_every_pass:
                r["answer"] = f"{r['answer']} (copy {i // len(rows)})"
            w.writerow({"row": i, **r})


def forget_process_caches():
    """Empty the module-level memos (stems, words, sentences, reference signals) that a new
    process starts without: otherwise every run after the first would be measured warm."""
    from grader.core import text
    from grader.signals import context, polarity

    for memo in (text.stem, text.words, text.word_spans, text.sentences):
        memo.cache_clear()
    polarity.forget()
    context.forget()


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    code = ("import resource, subprocess, sys, time; t = time.time(); "
            f"subprocess.run({cmd!r}, check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.time() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss, seconds = out.stdout.split()
    return float(rss), float(seconds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", default="2000,20000,200000",
                    help="Comma-separated input sizes for the peak-memory runs (each a fresh process).")
    ap.add_argument("--repeats", type=int, default=3, help="Alternating runs of bare model and batch (best of each).")
    ap.add_argument("--chunk-size", type=int, default=None, help="Rows per chunk of `grader batch` (default: its own).")
    args = ap.parse_args()
    args.rows = [int(n) for n in args.rows.split(",") if n.strip()]
    if not MOHLER.exists():
        sys.exit(f"{MOHLER} not found: the benchmark needs the Mohler answers from ../shared")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The memory runs below are separate processes: give them a vector cache of their own.
    os.environ["GRADER_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-batch-cache-")
    import pandas as pd

    df = pd.read_csv(MOHLER)
    rows = [{"question": q, "reference_answer": ref, "answer": a}
            for q, ref, a in zip(df.question, df.desired_answer, df.student_answer.fillna(""))]
    answers = list(dict.fromkeys(r["answer"] for r in rows))

    from grader.workflows.batch.job import BatchJob
    from grader.core.embedding import BACKENDS, DEFAULT_BACKEND, DIM, CachedEmbedder
    from grader.grading import Grader
    from grader.core.vector_store import VectorStore

    # The bare model: tokenizer, forward pass and mean pooling, as sentence-transformers runs it (but
    # batched by token count, which pads less than sentence-transformers' sort by characters).
    backend = BACKENDS[DEFAULT_BACKEND]()
    backend.encode_vectors(answers[:64])

    def bare_per_s(texts):
        t = time.perf_counter()
        backend.encode_vectors(texts, batch_size=32)
        return len(texts) / (time.perf_counter() - t)

    # Bank questions with reviewed rubrics: the hand-written answers of eval/data/labelled.jsonl.
    labelled = [json.loads(l) for l in (ROOT / "eval" / "data" / "labelled.jsonl").read_text().splitlines()]
    bank_rows = [{"question_id": r["question_id"], "answer": r["answer"]} for r in labelled
                 if r["origin"] == "handwritten"]
    bank_answers = list(dict.fromkeys(r["answer"] for r in bank_rows))

    base = Grader.from_paths()

    def fresh_grader(store_path):
        """What a new `grader batch` process sees: empty in-memory caches, the given disk cache."""
        forget_process_caches()
        store = VectorStore(store_path, DEFAULT_BACKEND, DIM)
        return Grader(base.bank, dict(base.rubrics), base.model, CachedEmbedder(backend, store=store))

    def rows_per_s(src, out, store_path, n):
        job = BatchJob(fresh_grader(store_path), **({"chunk_size": args.chunk_size} if args.chunk_size else {}))
        t = time.perf_counter()
        job.run(str(src), str(out))
        return n / (time.perf_counter() - t)

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.csv"
        write_rows(src, rows, len(rows))
        bank_src = Path(tmp) / "bank.csv"
        with bank_src.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["question_id", "answer"])
            w.writeheader()
            w.writerows(bank_rows)
        store = Path(tmp) / "vectors.sqlite3"
        # Cold: the first run on a machine embeds every rubric phrase; warm: the next runs.
        batch_cold = rows_per_s(src, Path(tmp) / "out.csv", store, len(rows))
        batch_bank_cold = rows_per_s(bank_src, Path(tmp) / "bank_out.csv", store, len(bank_rows))
        # The machine is shared and its speed drifts by minutes: the bare model and the batch
        # alternate, and the best of each over the repeats is compared (as timeit does).
        runs = {"bare": [], "batch": [], "bare_bank": [], "batch_bank": []}
        for _ in range(args.repeats):
            runs["bare"].append(bare_per_s(answers))
            runs["batch"].append(rows_per_s(src, Path(tmp) / "out.csv", store, len(rows)))
            runs["bare_bank"].append(bare_per_s(bank_answers))
            runs["batch_bank"].append(rows_per_s(bank_src, Path(tmp) / "bank_out.csv", store, len(bank_rows)))
        bare, batch, bare_bank, batch_bank = (max(runs[k]) for k in ("bare", "batch", "bare_bank", "batch_bank"))

        exe = str(ROOT / ".venv" / "bin" / "grader")
        memory = {}
        for n in args.rows:
            f = Path(tmp) / f"in_{n}.csv"
            write_rows(f, rows, n, mark_every_pass=True)
            memory[n] = peak_rss_mb([exe, "batch", str(f), "-o", str(Path(tmp) / f"out_{n}.csv"), "-q"])

    result = {
        "answers": len(rows), "distinct_answers": len(answers), "backend": DEFAULT_BACKEND,
        "chunk_size": args.chunk_size or BatchJob(base).chunk_size,
        "bare_model_answers_per_s": round(bare, 1), "batch_rows_per_s": round(batch, 1),
        "batch_over_bare": round(batch / bare, 3),
        "batch_rows_per_s_cold_cache": round(batch_cold, 1), "batch_over_bare_cold_cache": round(batch_cold / bare, 3),
        "bank_rows": len(bank_rows), "bank_bare_answers_per_s": round(bare_bank, 1),
        "bank_batch_rows_per_s": round(batch_bank, 1), "bank_batch_over_bare": round(batch_bank / bare_bank, 3),
        "bank_batch_rows_per_s_cold_cache": round(batch_bank_cold, 1),
        "bank_batch_over_bare_cold_cache": round(batch_bank_cold / bare_bank, 3),
        "runs_per_s": {k: [round(v, 1) for v in vals] for k, vals in runs.items()},
        "peak_rss_mb": {str(n): round(m[0], 1) for n, m in memory.items()},
        "wall_s": {str(n): round(m[1], 1) for n, m in memory.items()},
    }
    print(f"bare model ({DEFAULT_BACKEND}): {bare:.0f} answers/s on {len(answers)} distinct answers")
    print(f"grader batch: {batch:.0f} rows/s on {len(rows)} rows  -> ratio {batch / bare:.2f} "
          f"(cold vector cache: {batch_cold:.0f} rows/s, ratio {batch_cold / bare:.2f})")
    print(f"bank questions (reviewed rubrics), {len(bank_rows)} hand-written answers: bare {bare_bank:.0f}/s, "
          f"batch {batch_bank:.0f}/s -> ratio {batch_bank / bare_bank:.2f} "
          f"(cold vector cache: {batch_bank_cold:.0f} rows/s, ratio {batch_bank_cold / bare_bank:.2f})")
    for n, (rss, secs) in memory.items():
        print(f"grader batch on {n} rows: peak RSS {rss:.0f} MB, {secs:.0f} s")
    out = ROOT / "eval" / "results" / "bench_batch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
