"""Shape family: the answer's length (against the references' median), its share of stopwords and
its commas (a keyword list has few of the one and many of the other), and whether the question
has only short references (flashcards)."""

from __future__ import annotations

import numpy as np

from grader.signals.context import Group
from grader.signals.registry import register

SLOTS = {"log_words": 17, "length_ratio": 18, "stopword_ratio": 19, "comma_density": 20, "short_reference": 21}


def columns(g: Group) -> dict[str, np.ndarray]:
    batch = g.batch
    n_words, stopwords, commas = np.zeros(g.n), np.zeros(g.n), np.zeros(g.n)
    for a, t in enumerate(g.answers):
        lo, hi = batch.word_bounds[t], batch.word_bounds[t + 1]
        n_words[a] = hi - lo
        stopwords[a] = np.count_nonzero(batch.is_stopword[lo:hi])
        commas[a] = batch.encoded[t].text.count(",")
    return {
        "log_words": np.log1p(n_words),
        "length_ratio": np.log((n_words + 1) / (g.reference_length + 1)),
        "stopword_ratio": stopwords / np.maximum(n_words, 1),
        "comma_density": commas / (n_words + 1),
        "short_reference": np.full(g.n, float(g.short_mask.all())),
    }


SIGNALS = register("shape", SLOTS, columns)
