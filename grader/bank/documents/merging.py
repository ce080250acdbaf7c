"""One question per thing asked: items of the documents (and questions of an existing bank)
that ask the same thing in other words become one question whose references are all their
answers. "Same" is measured: equal normalised text, else the embedding model's cosine between
the question texts above QUESTION_THRESHOLD; an answer whose page lost its question joins a
question when its cosine with one of that question's references is above ANSWER_THRESHOLD.
Both thresholds were chosen on the five seed documents (eval/import_docs.py, RESULTS.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from grader.bank.documents.shapes import Item
from grader.bank.questions import Question, Reference

QUESTION_THRESHOLD = 0.87
ANSWER_THRESHOLD = 0.85


def normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


@dataclass
class Member:
    """An item of a document, with where it came from and the question text it is known by."""
    file: str
    item: Item
    question: str            # the page's, or one written from the answer ("" if none could be)
    reconstructed: bool = False

    @property
    def label(self) -> str:
        return f"{self.file}#{self.item.number}"


@dataclass
class Group:
    """A question being built: an existing bank question or the first item that asked it."""
    question: str
    members: list[Member] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    vectors: list[np.ndarray] = field(default_factory=list)      # of the question texts pages wrote
    guessed: list[tuple[str, np.ndarray]] = field(default_factory=list)   # (file, vector) of texts written from answers
    answer_vectors: list[np.ndarray] = field(default_factory=list)
    existing: Question | None = None
    reconstructed: bool = False
    scores: list[float] = field(default_factory=list)           # similarity at each merge

    @property
    def files(self) -> set[str]:
        return {m.file for m in self.members}


class Merger:
    """Adds members one by one, each to the group it asks the same as, or to a new group."""

    def __init__(self, embedder, question_threshold=QUESTION_THRESHOLD, answer_threshold=ANSWER_THRESHOLD):
        self.embedder = embedder
        self.question_threshold = question_threshold
        self.answer_threshold = answer_threshold
        self.groups: list[Group] = []

    def seed(self, questions: list[Question]) -> None:
        """The questions of an existing bank, which new items are merged into first."""
        vectors = self._encode([q.question for q in questions])
        answers = self._encode([r.text for q in questions for r in q.references])
        k = 0
        for q, vec in zip(questions, vectors):
            group = Group(q.question, references=list(q.references), keys={normalised(q.question)},
                          vectors=[vec], existing=q, reconstructed=q.reconstructed)
            group.answer_vectors = list(answers[k:k + len(q.references)])
            k += len(q.references)
            self.groups.append(group)

    def add_all(self, members: list[Member]) -> None:
        questions = self._encode([m.question or " " for m in members])
        answers = self._encode([m.item.answers[0][0] if m.item.answers else " " for m in members])
        for member, q_vec, a_vec in zip(members, questions, answers):
            self.add(member, q_vec if member.question else None, a_vec if member.item.answers else None)

    def add(self, member: Member, q_vec, a_vec) -> Group:
        group, score = self._match(member, q_vec, a_vec)
        if group is None:
            group = Group(member.question, reconstructed=member.reconstructed)
            self.groups.append(group)
        else:
            group.scores.append(score)
            if group.existing is None and group.reconstructed and member.question and not member.reconstructed:
                group.question, group.reconstructed = member.question, False
        group.members.append(member)
        if member.question and member.reconstructed:
            group.guessed.append((member.file, q_vec))
        elif member.question:
            group.keys.add(normalised(member.question))
            group.vectors.append(q_vec)
        self._add_references(group, member, a_vec)
        return group

    def _add_references(self, group: Group, member: Member, a_vec) -> None:
        for k, (text, kind) in enumerate(member.item.answers):
            if any(same_text(text, r.text) for r in group.references):
                continue        # the same answer imported again (or pasted twice) is one reference
            group.references.append(Reference(text, member.file, member.item.number, kind))
            if k == 0 and a_vec is not None:
                group.answer_vectors.append(a_vec)

    def _match(self, member: Member, q_vec, a_vec) -> tuple[Group | None, float]:
        """The group the member asks the same as, and the similarity that decided it."""
        key = normalised(member.question) if member.question else None
        for group in self.groups:
            if key and key in group.keys:
                return group, 1.0
        best, best_margin, best_score = None, 0.0, 0.0
        for group in self.groups:
            margin, score = self._similarity(member, group, q_vec, a_vec)
            if margin >= best_margin:
                best, best_margin, best_score = group, margin, score
        return best, best_score

    def _similarity(self, member: Member, group: Group, q_vec, a_vec) -> tuple[float, float]:
        """(margin above its threshold of the best measure, that measure's cosine); the margin
        is negative when the group asks something else."""
        found = [(-1.0, 0.0)]
        vectors = self._comparable(member, group) if q_vec is not None else []
        if vectors:
            score = max(float(v @ q_vec) for v in vectors)
            found.append((score - self.question_threshold, score))
        if a_vec is not None and group.answer_vectors and member.reconstructed:
            score = max(float(v @ a_vec) for v in group.answer_vectors)
            found.append((score - self.answer_threshold, score))
        return max(found)

    @staticmethod
    def _comparable(member: Member, group: Group) -> list[np.ndarray]:
        """The group's question vectors the member's question may be compared with. Two questions
        a page words differently are different questions ("... too high?", "... too low?"), and
        two texts written from answers of one page ("What is Adam?" twice) say nothing about
        whether the page asked the same thing twice."""
        if member.reconstructed:
            return group.vectors + [v for f, v in group.guessed if f != member.file]
        if member.file in group.files:
            return []
        return group.vectors + [v for _, v in group.guessed]

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        return list(self.embedder.encode(texts)) if texts else []
