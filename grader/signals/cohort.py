"""Cohort signals: where an answer sits among the other answers to the same question that are
graded together (a class's answers in one batch file, or a labelled data set).

No labels are used, only the answers' texts. Answers that many classmates agree with, and that
sit above their classmates on similarity to the reference, tend to be graded higher: on Mohler,
unseen questions, these signals raise agreement more than any single-answer signal we tried
(eval/RESULTS.md section 4). A model calibrated with them (`grader calibrate --cohort`) still
grades a lone answer: without a cohort the signals are missing (NaN), and such rows go to the
fallback model fitted alongside without them (`GradingModel.fallback`).

Everything here is a per-question sum, so a cohort is gathered in one streaming pass over any
number of answers and held in a few kilobytes per question.
"""

from __future__ import annotations

import math

import numpy as np

from grader.bank.questions import question_key
from grader.core.text import words
from grader.signals.registry import register_extra

COHORT_FEATURES = ("cohort_similarity", "cohort_z_cos", "cohort_z_words")
register_extra("cohort", COHORT_FEATURES)
COHORT_MIN = 5      # fewer answers than this to a question: no cohort signals for it
_FLAT = 1e-6        # a spread below this (all answers alike) gives z-scores of 0


def answer_signals(embedder, items) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Answer vectors, best cosine to a reference and log word count: the inputs of the cohort
    signals, computed as `Grader.featurize` computes `cos_max` and `log_words`."""
    answers = [a for _, a in items]
    vectors = embedder.encode(answers)
    refs = list(dict.fromkeys(r.text for q, _ in items for r in q.references))
    # Through the on-disk store, as grading takes them: references come back run after run.
    ref_vec = {e.text: e.vector for e in embedder.encode_full(refs, persist=True)}
    cos = np.array([max(float(ref_vec[r.text] @ v) for r in q.references) for (q, _), v in zip(items, vectors)])
    n_words = np.array([math.log1p(len(words(a))) for a in answers])
    return vectors, cos, n_words


class CohortStats:
    """Per-question sums over a cohort of answers, enough to place each of its members."""

    def __init__(self):
        self._groups: dict[str, list] = {}   # key -> [n, sum of vectors, sum cos, sum cos^2, sum words, sum words^2]

    def add(self, keys, vectors, cos, n_words) -> "CohortStats":
        for key, v, c, w in zip(keys, np.asarray(vectors, dtype=float), cos, n_words):
            g = self._groups.get(key)
            if g is None:
                g = self._groups[key] = [0, np.zeros(len(v)), 0.0, 0.0, 0.0, 0.0]
            g[0] += 1
            g[1] += v
            g[2] += c
            g[3] += c * c
            g[4] += w
            g[5] += w * w
        return self

    def add_answers(self, embedder, keys, items) -> "CohortStats":
        return self.add(keys, *answer_signals(embedder, items))

    def columns(self, keys, vectors, cos, n_words) -> np.ndarray:
        """COHORT_FEATURES for members of the cohort (each left out of its own similarity);
        NaN where the question's cohort is smaller than COHORT_MIN."""
        out = np.full((len(keys), len(COHORT_FEATURES)), np.nan)
        vectors = np.asarray(vectors, dtype=float)
        for i, key in enumerate(keys):
            g = self._groups.get(key)
            if g is None or g[0] < COHORT_MIN:
                continue
            n, total = g[0], g[1]
            v = vectors[i]
            out[i, 0] = (float(v @ total) - float(v @ v)) / (n - 1)
            out[i, 1] = _z(cos[i], g[2], g[3], n)
            out[i, 2] = _z(n_words[i], g[4], g[5], n)
        return out


def _z(x, s, s2, n) -> float:
    mean = s / n
    sd = math.sqrt(max(s2 / n - mean * mean, 0.0))
    return 0.0 if sd < _FLAT else (x - mean) / sd


def cohort_columns(keys, vectors, cos, n_words) -> np.ndarray:
    """COHORT_FEATURES of every row, with all the rows as the cohort."""
    return CohortStats().add(keys, vectors, cos, n_words).columns(keys, vectors, cos, n_words)


def gather_cohort(embedder, items, progress=None, chunk: int = 256) -> CohortStats:
    """The cohort of (question, answer) pairs that are about to be graded together."""
    stats = CohortStats()
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        stats.add_answers(embedder, [question_key(q) for q, _ in part], part)
        if progress:
            progress(len(part))
    return stats


def uses_cohort(model) -> bool:
    return any(f in COHORT_FEATURES for f in model.features)
