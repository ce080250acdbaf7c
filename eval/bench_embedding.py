"""Compare the packaged embedding backends side by side in one run: start time, speed and
zero-shot agreement (cosine of student answer and desired answer against the mean human score)
on the Mohler answers, read from ../shared (never copied).

    .venv/bin/python eval/bench_embedding.py      # writes eval/results/bench_embedding.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOHLER = ROOT.parent / "shared" / "data" / "mohler" / "mohler.csv"
sys.path.insert(0, str(ROOT))

START_CODE = ("import time; t = time.time(); from grader.core.embedding import BACKENDS; b = BACKENDS[{name!r}](); "
              "b.encode_full(['warm up']); print(time.time() - t)")


def main():
    if not MOHLER.exists():
        sys.exit(f"{MOHLER} not found: this benchmark needs the Mohler answers from ../shared")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import pandas as pd
    from scipy.stats import pearsonr, spearmanr

    from grader.core.embedding import BACKENDS

    df = pd.read_csv(MOHLER)
    answers = df.student_answer.fillna("").astype(str).tolist()
    desired = df.desired_answer.astype(str).tolist()
    results = {}
    for name, make in BACKENDS.items():
        start = float(subprocess.run([sys.executable, "-c", START_CODE.format(name=name)], capture_output=True,
                                     text=True, check=True, cwd=ROOT).stdout.split()[-1])
        backend = make()
        t = time.perf_counter()
        a = backend.encode_full(answers, batch_size=32)
        speed = len(answers) / (time.perf_counter() - t)
        unique = sorted(set(desired))
        d = {text: e.vector for text, e in zip(unique, backend.encode_full(unique))}
        cos = np.array([float(x.vector @ d[t]) for x, t in zip(a, desired)])
        results[name] = {"start_s": round(start, 2), "answers_per_s": round(speed, 1),
                         "pearson": round(float(pearsonr(cos, df.score_avg)[0]), 3),
                         "spearman": round(float(spearmanr(cos, df.score_avg)[0]), 3)}
        print(f"{name:28s} start {start:5.2f}s  {speed:6.1f} answers/s  Pearson {results[name]['pearson']:.3f}  "
              f"Spearman {results[name]['spearman']:.3f}")
    out = ROOT / "eval" / "results" / "bench_embedding.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
