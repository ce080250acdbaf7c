"""Load benchmark of `grader serve` on loopback, side by side with `grader batch` (not a test).

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_serve.py [--answers 200] [--clients 8] [--batch-size 50]

Mohler answers (read from ../shared, never copied) as own questions (question + its desired
answer as the reference), sampled across questions with a fixed seed; two disjoint sets of
`--answers` each, so that no pass finds the previous one's answers in the server's memo:
1. `grader serve` is started as a subprocess on a free loopback port (its own temporary quiz
   database; the vector cache warmed beforehand with the questions, references and drafted
   rubrics, as `grader batch`'s warm-up run does);
2. set A through POST /v1/grade, one answer per request, from `--clients` concurrent client
   threads (httpx, keep-alive), each taking the next answer until all are sent;
3. set B through POST /v1/grade/batch in requests of `--batch-size` items, from the same
   bounded pool of clients;
4. set B through `grader batch` (BatchJob in this process, the model already loaded, its
   in-process memos emptied first), the throughput the API is compared with.
Reports requests/s and answers/s, p50/p95/p99 latency, errors (anything but 200, or an item
with status "error") and the server's RSS before and after. Writes eval/results/bench_serve.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

MOHLER = ROOT.parent / "shared" / "data" / "mohler" / "mohler.csv"
RESULTS = ROOT / "eval" / "results" / "bench_serve.json"


def mohler_items(n: int, seed: int = 0) -> list[dict]:
    with MOHLER.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["student_answer"].strip()]
    random.Random(seed).shuffle(rows)
    return [{"question": r["question"].strip(), "reference_answers": [r["desired_answer"].strip()],
             "answer": r["student_answer"].strip()} for r in rows[:n]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))]


def run_clients(base: str, path: str, bodies: list[dict], clients: int, answers_per_body) -> dict:
    """Send every body once from `clients` threads; latencies in ms, errors counted."""
    import httpx

    queue = list(enumerate(bodies))
    lock = threading.Lock()
    latencies, errors, statuses = [], [], {}

    def worker():
        with httpx.Client(base_url=base, timeout=300) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    _, body = queue.pop(0)
                t0 = time.perf_counter()
                try:
                    r = client.post(path, json=body)
                    ms = (time.perf_counter() - t0) * 1000
                    bad = r.status_code != 200 or (path.endswith("batch") and r.json()["errors"])
                    code = r.status_code
                except httpx.HTTPError as exc:
                    ms, bad, code = (time.perf_counter() - t0) * 1000, True, type(exc).__name__
                with lock:
                    latencies.append(ms)
                    statuses[str(code)] = statuses.get(str(code), 0) + 1
                    if bad:
                        errors.append(code)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    answers = sum(answers_per_body(b) for b in bodies)
    return {"requests": len(bodies), "answers": answers, "seconds": round(seconds, 2),
            "requests_per_s": round(len(bodies) / seconds, 2), "answers_per_s": round(answers / seconds, 2),
            "latency_ms": {"p50": round(percentile(latencies, 50), 1), "p95": round(percentile(latencies, 95), 1),
                           "p99": round(percentile(latencies, 99), 1), "mean": round(statistics.mean(latencies), 1)},
            "errors": len(errors), "statuses": statuses}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--answers", type=int, default=200, help="answers per set (two disjoint sets)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    ap.add_argument("--batch-size", type=int, default=50, help="items per /v1/grade/batch request")
    args = ap.parse_args()
    if not MOHLER.exists():
        sys.exit(f"{MOHLER} not found: the benchmark needs the Mohler data")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    items = mohler_items(2 * args.answers)
    set_a, set_b = items[:args.answers], items[args.answers:]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["GRADER_CACHE_DIR"] = str(tmp / "cache")   # shared with the server: warmed below
        from bench_batch import forget_process_caches

        from grader import BatchJob, Grader

        grader = Grader.from_paths()
        csv_b = tmp / "b.csv"
        with csv_b.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["question", "reference_answer", "answer"])
            w.writerows([it["question"], it["reference_answers"][0], it["answer"]] for it in set_b)
        csv_all = tmp / "all.csv"
        with csv_all.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["question", "reference_answer", "answer"])
            w.writerows([it["question"], it["reference_answers"][0], "warm-up"] for it in items)
        print("warming the vector cache (questions, references, drafted rubrics)...", flush=True)
        BatchJob(grader).run(str(csv_all), str(tmp / "warm.csv"))

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "GRADER_DB": str(tmp / "quiz.sqlite3")}
        env.pop("GRADER_API_KEY", None)
        t0 = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--port", str(port),
                                   "--log-level", "warning"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            import httpx

            while True:
                if server.poll() is not None:
                    sys.exit("the server stopped: " + server.stderr.read().decode()[-2000:])
                try:
                    if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.3)
            startup = time.perf_counter() - t0
            rss_before = rss_mb(server.pid)
            print(f"server up in {startup:.1f} s, RSS {rss_before:.0f} MB", flush=True)
            single = run_clients(base, "/v1/grade", set_a, args.clients, lambda b: 1)
            print("/v1/grade", json.dumps(single), flush=True)
            batches = [{"items": set_b[i:i + args.batch_size]} for i in range(0, len(set_b), args.batch_size)]
            batch = run_clients(base, "/v1/grade/batch", batches, args.clients, lambda b: len(b["items"]))
            print("/v1/grade/batch", json.dumps(batch), flush=True)
            rss_after = rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)

        forget_process_caches()
        grader.e5.forget()
        t0 = time.perf_counter()
        summary = BatchJob(grader).run(str(csv_b), str(tmp / "b-graded.csv"))
        seconds = time.perf_counter() - t0
        cli = {"rows": summary.rows, "seconds": round(seconds, 2), "rows_per_s": round(summary.rows / seconds, 2)}
        print("grader batch", json.dumps(cli), flush=True)

    results = {
        "data": "Mohler answers as own questions (question + desired answer), two disjoint seeded samples",
        "answers_per_set": args.answers, "clients": args.clients, "batch_size": args.batch_size,
        "machine_cpus": os.cpu_count(), "server_startup_s": round(startup, 1),
        "server_rss_mb": {"before": round(rss_before), "after": round(rss_after)},
        "v1_grade": single, "v1_grade_batch": batch, "grader_batch": cli,
        "ratio_batch_endpoint_to_grader_batch": round(batch["answers_per_s"] / cli["rows_per_s"], 3),
        "ratio_single_endpoint_to_grader_batch": round(single["answers_per_s"] / cli["rows_per_s"], 3),
    }
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: results[k] for k in ("ratio_batch_endpoint_to_grader_batch",
                                              "ratio_single_endpoint_to_grader_batch", "server_rss_mb")}))


if __name__ == "__main__":
    main()
