"""Word alignment family: soft alignment of the answer's content tokens with each reference's, in
the style of BERTScore, leaving out the words the question already gives away."""

from __future__ import annotations

import numpy as np

from grader.core.pooling import concatenated_ranges
from grader.signals.context import Group
from grader.signals.registry import register

SLOTS = {"token_recall": 23, "token_precision": 24}


def columns(g: Group) -> dict[str, np.ndarray]:
    """How well each content token of a reference is matched by some token of the answer (recall),
    and the reverse (precision), without the question's words. The best over references."""
    parts, answers, question_stems = g.parts, g.answers, g.question_stems
    bounds = parts.token_bounds
    at = np.asarray(answers, dtype=np.int64)
    candidates = concatenated_ranges(bounds[at], bounds[at + 1])
    keep = np.array([s not in question_stems for s in parts.token_stems[candidates].tolist()], dtype=bool)
    rows = candidates[keep]
    owner = np.repeat(np.arange(len(answers)), bounds[at + 1] - bounds[at])
    counts = np.bincount(owner[keep], minlength=len(answers))
    has = counts > 0
    # An answer or reference without content tokens aligns with nothing: 0 for that reference.
    recall, precision = np.full(len(answers), -np.inf), np.full(len(answers), -np.inf)
    starts = np.concatenate([[0], np.cumsum(counts[has])[:-1]])
    tokens = parts.token_vectors[rows]
    for ref in g.refs:
        r_recall, r_precision = np.zeros(len(answers)), np.zeros(len(answers))
        if len(ref.token_stems) and has.any():
            keep = np.array([s not in question_stems for s in ref.token_stems])
            sims = tokens @ ref.token_vectors[keep if keep.any() else slice(None)].T
            r_recall[has] = np.maximum.reduceat(sims, starts, axis=0).mean(axis=1)
            r_precision[has] = np.add.reduceat(sims.max(axis=1), starts) / counts[has]
        recall, precision = np.maximum(recall, r_recall), np.maximum(precision, r_precision)
    return {"token_recall": recall, "token_precision": precision}


SIGNALS = register("alignment", SLOTS, columns)
