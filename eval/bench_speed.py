"""Speed of the grader with the e5 and answer-judge signals, side by side with the bare models it runs.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_speed.py [--rows 1000]

In one run, on the same answers (Mohler's as user questions, read from ../shared; the in-domain
hand-written ones as bank questions):
* `grader grade` from a cold start (a fresh process, the vector cache warm), median of 3;
* `grader batch` rows/s with the bundled model and its cascade, and with e5 and the judge on
  every answer;
* the bare forward passes those runs need: MiniLM-L3 (ONNX) on every answer, e5 on every answer,
  texts/s, and the answer judge on every answer (its closest references), answers/s;
* the share of answers the cascade sends to e5 and the judge.
Writes eval/results/bench_speed.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

RESULTS = ROOT / "eval" / "results" / "bench_speed.json"


def answer_files(tmp: Path, n: int) -> dict[str, Path]:
    from corpora import load_indomain, load_mohler

    files = {}
    mohler = [r for r in load_mohler()][:n]
    if mohler:
        files["mohler"] = tmp / "mohler.csv"
        with files["mohler"].open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["question", "reference_answer", "answer"])
            w.writerows([r.question, r.references[0], r.answer] for r in mohler)
    bank = [r for r in load_indomain() if r.origin == "handwritten"][:n]
    files["bank"] = tmp / "bank.csv"
    with files["bank"].open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["question_id", "answer"])
        w.writerows([r.question_id, r.answer] for r in bank)
    return files


def cold_grade_seconds() -> float:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([str(ROOT / ".venv" / "bin" / "grader"), "grade", "-q", "q004-035", "-a",
                        "It switches off random units while training so the net cannot rely on any one."],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000)
    args = ap.parse_args()
    from bench_batch import forget_process_caches

    from grader import BatchJob, Grader
    from grader.settings import E5_CASCADE_CONFIDENCE

    results = {"cold_grade_seconds": cold_grade_seconds()}
    grader = Grader.from_paths()
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in answer_files(Path(tmp), args.rows).items():
            table = list(csv.DictReader(path.open(encoding="utf-8")))
            answers = [row["answer"] for row in table]
            judged = [([row["reference_answer"]] if "reference_answer" in row else
                       [r.text for r in grader.resolve(row["question_id"]).references], row["answer"]) for row in table]
            BatchJob(grader).run(str(path), str(Path(tmp) / "warmup.csv"))   # questions, references, drafts
            runs = {}
            for mode, cascade in (("cascade", E5_CASCADE_CONFIDENCE), ("e5_always", None)):
                grader.cascade = cascade
                forget_process_caches()
                grader.e5.forget()
                grader.judge.forget()
                before = grader.e5.texts_embedded
                t0 = time.perf_counter()
                BatchJob(grader).run(str(path), str(Path(tmp) / f"{name}-{mode}.csv"))
                seconds = time.perf_counter() - t0
                runs[mode] = {"rows_per_s": len(answers) / seconds,
                              "share_sent_to_e5": (grader.e5.texts_embedded - before) / len(set(answers))}
            grader.cascade = E5_CASCADE_CONFIDENCE
            t0 = time.perf_counter()
            grader.embedder.backend.encode_vectors(answers)
            l3 = len(answers) / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            grader.e5.model.query([a[:2000] for a in answers])
            e5 = len(answers) / (time.perf_counter() - t0)
            grader.judge.forget()
            t0 = time.perf_counter()
            grader.judge.judge_many(judged)
            judge = len(answers) / (time.perf_counter() - t0)
            results[name] = {"rows": len(answers), "grader_batch": runs, "bare_minilm_l3_texts_per_s": l3,
                             "bare_e5_texts_per_s": e5, "bare_judge_answers_per_s": judge,
                             "bare_all_three_per_s": 1 / (1 / l3 + 1 / e5 + 1 / judge)}
            print(name, json.dumps(results[name], indent=1), flush=True)
    print("cold grade", round(results["cold_grade_seconds"], 2), "s")
    RESULTS.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
