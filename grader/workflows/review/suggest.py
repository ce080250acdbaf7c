"""Rubric synonyms learnt from corrections: when the reviewer marks correct an answer the machine
graded lower for missing a concept, the phrase of that answer closest in meaning to the concept is
proposed as a new synonym of it. Accepted ones are written to a copy of the rubrics in a directory
the reviewer names (the bundled rubrics are never edited)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grader.bank.rubrics import Concept, Rubric
from grader.core.text import STOPWORDS, word_spans
from grader.errors import GraderError
from grader.grading import default_rubrics_dir

# A phrase is proposed only when it is at least this close (cosine) to the concept's phrases:
# below it, the answer's closest words are usually about something else.
MIN_SIMILARITY = 0.45
MAX_WORDS = 4


@dataclass
class Suggestion:
    question_id: str
    concept: str
    phrase: str
    similarity: float
    row: int


def candidate_phrases(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """Runs of 1..max_words words of the answer, as written, that start and end with a content word."""
    spans = word_spans(text)
    out = {}
    for i in range(len(spans)):
        for j in range(i, min(len(spans), i + max_words)):
            first, last = spans[i][0], spans[j][0]
            if first in STOPWORDS or last in STOPWORDS or len(first) < 2 or len(last) < 2:
                continue
            phrase = " ".join(text[spans[i][1]:spans[j][2]].split())
            out.setdefault(phrase.lower(), phrase)
    return list(out.values())


def rubric_file_name(question_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", question_id) + ".yaml"


class RubricSuggester:
    """Proposes synonyms with `grader`'s embedder and rubrics; accepted ones go to `out_dir`."""

    def __init__(self, grader, out_dir):
        self.grader = grader
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise GraderError(f"--rubrics {out_dir}: not a directory")
        if self.out_dir.exists() and os.path.realpath(self.out_dir) == os.path.realpath(default_rubrics_dir()):
            raise GraderError(f"--rubrics {out_dir}: the bundled rubrics are never edited; give another directory "
                              "(it is filled with a copy of them)")

    def propose(self, answer) -> Suggestion | None:
        """The best new synonym in `answer` (a graded Answer) for a concept the machine missed in it."""
        if not answer.missed:
            return None
        rubric = self.grader.rubric_for(answer.question)
        missed = set(answer.missed)
        concepts = sorted((c for c in rubric.concepts if c.name in missed), key=lambda c: (not c.required, -c.weight))
        phrases = candidate_phrases(answer.text)
        if not concepts or not phrases:
            return None
        embedder = self.grader.embedder
        vectors = _unit(embedder.encode(phrases))
        best = None
        for concept in concepts:
            known = {p.lower() for p in concept.all_phrases}
            target = _unit(embedder.encode(concept.all_phrases, persist=True)).mean(axis=0)
            sims = vectors @ (target / (np.linalg.norm(target) or 1.0))
            for k in np.argsort(-sims, kind="stable"):
                if phrases[k].lower() in known:
                    continue
                if sims[k] >= MIN_SIMILARITY and (best is None or sims[k] > best.similarity):
                    best = Suggestion(answer.question.id, concept.name, phrases[k], float(sims[k]), answer.row)
                break
        return best

    def accept(self, suggestion: Suggestion, question) -> Path:
        """Add the phrase to its concept in `out_dir`'s copy of the question's rubric; the directory
        is first filled with the rubrics grading used, so that `--rubrics DIR` grades every question."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if not any(self.out_dir.glob("*.y*ml")):
            for r in self.grader.rubrics.values():
                if r.path and not r.drafted:
                    _write(self.out_dir / rubric_file_name(r.question_id), r)
        rubric = self.grader.rubric_for(question)
        concepts = [Concept(c.name, list(c.phrases) + ([suggestion.phrase] if c.name == suggestion.concept
                                                       and suggestion.phrase not in c.phrases else []),
                            c.weight, c.required) for c in rubric.concepts]
        path = self.out_dir / rubric_file_name(rubric.question_id)
        updated = Rubric(rubric.question_id, concepts, rubric.drafted, str(path))
        _write(path, updated)
        self.grader.rubrics[rubric.question_id] = updated
        return path


def _write(path: Path, rubric: Rubric):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(rubric.to_yaml(), encoding="utf-8")
    tmp.replace(path)


def _unit(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    n = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.where(n > 0, n, 1.0)
