"""Answers to one question grouped by meaning: agglomerative clustering (average linkage, cosine
distance) of their sentence vectors cut at a distance threshold, so the number of groups follows
the answers rather than being fixed in advance.

Grouping is deterministic: identical answers (after case and space folding) always share a group,
the distinct texts are clustered in sorted order (so the file's row order does not matter), and
agglomerative clustering has no random start."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering

# Cosine distance at which two groups stop merging (average linkage). On real graded answers
# (eval/bench_review.py) 0.5 needed the fewest decisions of 0.15-1.0: about 28 per 100 answers to
# reach 95% agreement, against 38 at 0.25 (chosen on that benchmark: RESULTS.md says so).
DEFAULT_THRESHOLD = 0.5


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def cluster(vectors: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """A group number per row of `vectors` (numbered by first appearance, so equal input gives
    equal output)."""
    n = len(vectors)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1:
        return np.zeros(1, dtype=int)
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, metric="cosine",
                                    linkage="average")
    raw = model.fit_predict(np.asarray(vectors, dtype=np.float64))
    order = {}
    return np.array([order.setdefault(g, len(order)) for g in raw])


@dataclass
class Group:
    """Answers of one question that say much the same thing. `members` are indexes into the
    answers list the groups were made from, least confident first; `representative` is the member
    closest to the group's centroid."""

    question_key: str
    number: int                 # within its question, from 1
    members: list[int]
    representative: int

    @property
    def key(self) -> str:
        return f"{self.question_key}:{self.number}"


def group_answers(answers, vectors: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> list[Group]:
    """Groups of `answers` (objects with .qkey, .text, .confidence) per question, numbered within
    each question in the order of their first row. `vectors` holds one row per answer."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    by_question: dict[str, list[int]] = {}
    for i, a in enumerate(answers):
        by_question.setdefault(a.qkey, []).append(i)
    groups = []
    for qkey, idx in by_question.items():
        texts = sorted({normalise(answers[i].text) for i in idx})
        # A folded text stands for its rows with the vector of the least of their raw texts, so
        # which of them comes first in the file does not matter.
        first = {}
        for i in sorted(idx, key=lambda i: (answers[i].text, i)):
            first.setdefault(normalise(answers[i].text), i)
        ids = cluster(vectors[[first[t] for t in texts]], threshold)
        of_text = dict(zip(texts, ids))
        members: dict[int, list[int]] = {}
        for i in idx:
            members.setdefault(int(of_text[normalise(answers[i].text)]), []).append(i)
        for number, (_, ms) in enumerate(sorted(members.items(), key=lambda kv: kv[1][0]), 1):
            centroid = vectors[ms].mean(axis=0)
            rep = max(ms, key=lambda i: (float(vectors[i] @ centroid), -i))
            ordered = sorted(ms, key=lambda i: (answers[i].confidence, i))
            groups.append(Group(qkey, number, ordered, rep))
    return groups


def label_counts(group: Group, answers, among=None) -> Counter:
    return Counter(answers[i].label for i in (group.members if among is None else among))


def priority(members, answers) -> float:
    """The expected number of labels a decision on these answers would fix: the chance that the
    machine is wrong, summed over them (low confidence and large groups first)."""
    return float(sum(1.0 - answers[i].confidence for i in members))
