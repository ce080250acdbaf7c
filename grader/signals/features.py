"""The feature matrix: every signal of the registry (`registry.FEATURES` order) for each pairing of
an answer with a question. Each family of signals is its own module and registers its signals
with the function computing them for a group of answers sharing a question (`context.Group`):
`similarity`, `coverage` (the rubric), `polarity`, `lexical`, `shape`, `alignment`; `e5` and
`answer_judge`, the costly ones, are filled afterwards, only for the rows that need them
(`e5.add_e5`, `answer_judge.add_judge`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.bank.questions import question_key
from grader.core.embedding import Encoded
from grader.core.pooling import TextBatch
from grader.core.text import content_stems
from grader.errors import GraderError
from grader.signals import (  # noqa: F401  (they register)
    alignment, answer_judge, coverage, e5, lexical, polarity, shape, similarity)
from grader.signals.cohort import COHORT_FEATURES
from grader.signals.concepts import ConceptMatch
from grader.signals.context import Group, TextParts, references
from grader.signals.memory import MEMORY_FEATURES
from grader.signals.registry import extra_signals, group_columns, matrix_signals

FEATURES = matrix_signals()
# The signals of one MiniLM pass, the concept matcher and the text; the costly ones (e5's, then the
# answer judge's) come after them.
MINILM_FEATURES = FEATURES[:-len(e5.E5_FEATURES + answer_judge.JUDGE_FEATURES)]
# What a fallback model reads (every signal but e5's): answers it is sure of skip e5, the slowest.
FAST_FEATURES = tuple(f for f in FEATURES if f not in e5.E5_FEATURES)
KNOWN_EXTRA = extra_signals()


def select(X: np.ndarray, wanted, names=FEATURES) -> np.ndarray:
    """The columns `wanted` of a matrix whose columns are `names` (default: all of FEATURES):
    models name their signals, so one calibrated before a signal existed keeps working."""
    names = list(names)
    return X[:, [names.index(n) for n in wanted]]


@dataclass
class Pairing:
    """One answer (a text of the batch) against one question."""
    answer: int
    question_text: str
    question_vector: np.ndarray
    references: list[Encoded]
    reference_kinds: list[str]
    matches: list[ConceptMatch]
    rubric_drafted: bool = False


def feature_matrix(batch: TextBatch, pairings: list[Pairing]) -> np.ndarray:
    """The FEATURES of each pairing, one row each, e5's and the answer judge's missing (NaN)
    until `add_e5` and `add_judge` fill them. Pairings that share a question are compared with its references together: one matrix
    product per reference for all of their answers."""
    parts = TextParts.of(batch)
    X = np.zeros((len(pairings), len(FEATURES)))
    groups: dict[tuple, list[int]] = {}
    for k, p in enumerate(pairings):
        groups.setdefault((p.question_text, tuple(r.text for r in p.references)), []).append(k)
    for ks in groups.values():
        X[ks, :len(MINILM_FEATURES)] = _group_features(batch, parts, [pairings[k] for k in ks])
    X[:, len(MINILM_FEATURES):] = np.nan
    return X


def _group(batch: TextBatch, parts: TextParts, pairings: list[Pairing]) -> Group:
    """What every family reads of answers sharing a question: built once per group."""
    first = pairings[0]
    answers = [p.answer for p in pairings]
    refs = references(first.references)
    answer_vectors = np.stack([batch.encoded[t].vector for t in answers])
    cos = answer_vectors @ np.stack([r.vector for r in refs]).T                 # (answers, references)
    cos_q = answer_vectors @ first.question_vector
    return Group(batch, parts, pairings, answers, refs, list(first.reference_kinds), cos.astype(np.float64),
                 cos_q.astype(np.float64), set(content_stems(first.question_text)))


def _group_features(batch: TextBatch, parts: TextParts, pairings: list[Pairing]) -> np.ndarray:
    g = _group(batch, parts, pairings)
    columns = {}
    for family_columns in group_columns().values():
        columns.update(family_columns(g))
    return np.column_stack([columns[f] for f in MINILM_FEATURES])


def extra_features(items, names, X, vectors, embedder, memory=None, cohort=None) -> np.ndarray:
    """Columns for model features beyond the standard FEATURES (the hook in `Grader.featurize`):
    the answer memory's, and the cohort's (missing, NaN, without a cohort: the answers are graded alone)."""
    unknown = [n for n in names if n not in MEMORY_FEATURES and n not in COHORT_FEATURES]
    if unknown:
        raise GraderError(f"the model uses unknown signals {', '.join(unknown)}; it needs a newer grader")
    out = np.zeros((len(items), len(names)))
    if any(n in MEMORY_FEATURES for n in names):
        if memory is None:
            raise GraderError("this model uses an answer memory; load it from its directory with --model DIR")
        cols = memory.features(embedder, items)
        for j, n in enumerate(names):
            if n in MEMORY_FEATURES:
                out[:, j] = cols[:, MEMORY_FEATURES.index(n)]
    if any(n in COHORT_FEATURES for n in names):
        if cohort is None:
            cols = np.full((len(items), len(COHORT_FEATURES)), np.nan)
        else:
            cols = cohort.columns([question_key(q) for q, _ in items], vectors, X[:, FEATURES.index("cos_max")],
                                  X[:, FEATURES.index("log_words")])
        for j, n in enumerate(names):
            if n in COHORT_FEATURES:
                out[:, j] = cols[:, COHORT_FEATURES.index(n)]
    return out
