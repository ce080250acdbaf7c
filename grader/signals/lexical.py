"""Lexical family: the answer's content-word stems against the references' (recall, the best over
references), against the references' and question's together (precision), and against the
question's alone (question_copy: an answer that restates the question)."""

from __future__ import annotations

from itertools import compress

import numpy as np

from grader.signals.context import Group
from grader.signals.registry import register

SLOTS = {"lex_recall": 12, "lex_precision": 13, "question_copy": 14}


def columns(g: Group) -> dict[str, np.ndarray]:
    batch, q_stems = g.batch, g.question_stems
    all_ref_stems = set().union(*(r.stems for r in g.refs))
    lex_recall, lex_precision, question_copy = np.zeros(g.n), np.zeros(g.n), np.zeros(g.n)
    for a, t in enumerate(g.answers):
        _, answer_stems = batch.words_of(t)
        lo, hi = batch.word_bounds[t], batch.word_bounds[t + 1]
        a_stems = set(compress(answer_stems, batch.is_content[lo:hi].tolist()))
        lex_recall[a] = max((len(a_stems & r.stems) / len(r.stems) if r.stems else 0.0) for r in g.refs)
        if a_stems:
            lex_precision[a] = len(a_stems & (all_ref_stems | q_stems)) / len(a_stems)
            question_copy[a] = len(a_stems & q_stems) / len(a_stems)
    return {"lex_recall": lex_recall, "lex_precision": lex_precision, "question_copy": question_copy}


SIGNALS = register("lexical", SLOTS, columns)
