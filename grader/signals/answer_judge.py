"""Answer-judge family: the cross-encoder of `core.judge`, which reads the answer against its
closest reference, gives the probability that the answer is right. It is the one signal that
ranks fluent wrong answers (misconceptions, reversed statements, which reuse the references'
words) below correct answers in a stranger's own words (eval/RESULTS.md §3). Like e5's, it is
filled after the rest of the matrix and only for the rows a model needs it for (`add_judge`)."""

from __future__ import annotations

import numpy as np

from grader.core.pooling import TextBatch
from grader.signals.registry import register

JUDGE_FEATURES = ("answer_judge",)
SLOTS = {"answer_judge": 29}   # after e5's: the costly signals come last, for the cascade


def add_judge(X: np.ndarray, batch: TextBatch, pairings: list, judge, rows) -> None:
    """Fill the JUDGE_FEATURES of `rows` of X (a `features.feature_matrix`) from `judge` (a
    `core.judge.AnswerJudge`), all rows in one call so that its batches are full."""
    rows = list(rows)
    if not rows:
        return
    items = [([r.text for r in pairings[k].references], batch.encoded[pairings[k].answer].text) for k in rows]
    X[rows, SLOTS["answer_judge"]] = judge.judge_many(items)


SIGNALS = register("answer_judge", SLOTS)
