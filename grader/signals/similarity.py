"""Similarity family: the answer's MiniLM vector against the references' and the question's, and
its sentences aligned with each reference's (the best over references)."""

from __future__ import annotations

import numpy as np

from grader.signals.context import Group
from grader.signals.registry import register

SLOTS = {"cos_max": 0, "cos_mean": 1, "cos_short": 2, "ref_recall": 3, "answer_precision": 4, "worst_sentence": 5,
         "cos_question": 15, "cos_gain_over_question": 16}


def columns(g: Group) -> dict[str, np.ndarray]:
    recall, precision, worst = np.zeros(g.n), np.zeros(g.n), np.zeros(g.n)
    for s in g.sentence_alignments:
        recall, precision, worst = np.maximum(recall, s.recall), np.maximum(precision, s.precision), \
            np.maximum(worst, s.worst)
    cos, cos_q, short_mask = g.cos, g.cos_question, g.short_mask
    cos_max = cos.max(axis=1)
    return {
        "cos_max": cos_max,
        "cos_mean": cos.mean(axis=1),
        "cos_short": cos[:, short_mask].max(axis=1) if short_mask.any() else cos_max,
        "ref_recall": recall,
        "answer_precision": precision,
        "worst_sentence": worst,
        "cos_question": cos_q,
        "cos_gain_over_question": cos_max - cos_q,
    }


SIGNALS = register("similarity", SLOTS, columns)
