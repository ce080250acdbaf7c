"""e5 family: whole-answer cosines from the second, stronger encoder (`core.semantic.E5Encoder`),
computed only for the rows a model needs them for (after the rest of the matrix: `add_e5`). Its
cosines sit in a narrow band (about 0.8-0.95), which the calibrated model learns to read; they
are never thresholded by hand."""

from __future__ import annotations

import numpy as np

from grader.core.pooling import TextBatch
from grader.signals.registry import register

E5_FEATURES = ("e5_cos_max", "e5_cos_mean", "e5_cos_question", "e5_gain_over_question")
# The last slots of the matrix: a model whose fallback lacks them can skip them for answers it is sure of.
SLOTS = {n: 25 + i for i, n in enumerate(E5_FEATURES)}
_COLUMNS = slice(SLOTS[E5_FEATURES[0]], SLOTS[E5_FEATURES[-1]] + 1)


def e5_signals(question: np.ndarray, references: list[np.ndarray], answer: np.ndarray) -> list[float]:
    """E5_FEATURES of one answer from e5 vectors: best and mean cosine to the references, cosine to
    the question, and the best's gain over it."""
    cos = np.stack(references) @ answer
    cos_q = float(question @ answer)
    return [float(cos.max()), float(cos.mean()), cos_q, float(cos.max()) - cos_q]


def add_e5(X: np.ndarray, batch: TextBatch, pairings: list, e5, rows) -> None:
    """Fill the E5_FEATURES of `rows` of X (a `features.feature_matrix`, its `pairings` the
    `features.Pairing`s) from `e5` (a `semantic.E5Encoder`): every text through the encoder in two
    calls (its per-call cost is high), then the cosines answer by answer."""
    rows = list(rows)
    if not rows:
        return
    asked = list(dict.fromkeys(t for k in rows for t in (pairings[k].question_text,
                                                         *(r.text for r in pairings[k].references))))
    answers = list(dict.fromkeys(batch.encoded[pairings[k].answer].text for k in rows))
    vectors = dict(zip(asked, e5.vectors(asked, persist=True)))
    vectors.update(zip(answers, e5.vectors(answers)))
    for k in rows:
        p = pairings[k]
        X[k, _COLUMNS] = e5_signals(vectors[p.question_text], [vectors[r.text] for r in p.references],
                                    vectors[batch.encoded[p.answer].text])


SIGNALS = register("e5", SLOTS)
