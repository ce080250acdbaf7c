"""A file written by `grader batch`, read back for review: each gradable row as an `Answer` with
its question, the machine's label and confidence and the concepts it missed."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

from grader.bank.questions import Question, question_key
from grader.errors import GraderError
from grader.workflows.formats import GRADER_PREFIX, detect_format, read_rows, restore_formula
from grader.workflows.rows import ColumnMap, missing_column, question_for

# The columns `grader batch` adds (batch.job.GRADER_COLUMNS; repeated so that reading a graded
# file does not import the batch job).
GRADER_BASES = ("score", "label", "confidence", "matched_concepts", "missed_concepts", "contradicted_concepts",
                "feedback", "status", "message", "scaled_score")


@dataclass
class Answer:
    row: int                  # data row number in the file, from 1
    question: Question
    qkey: str                 # question_key: the same question across files and runs
    text: str
    label: str                # the machine's
    confidence: float
    score: float
    missed: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """The answer's identity beside its row number: a decision applies only to the same text."""
        return answer_digest(self.text)


def answer_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass
class GradedFile:
    path: str
    fmt: str
    answers: list[Answer]
    rows: list[dict]          # every row as read, error rows included
    names: dict[str, str]     # grader column -> its name in this file (`label` or `grader_label`, ...)
    columns: ColumnMap
    skipped: int = 0          # rows batch could not grade (status=error)

    def questions(self) -> dict[str, Question]:
        return {a.qkey: a.question for a in self.answers}


def grader_names(header) -> dict[str, str]:
    """Where batch put each of its columns: `label`, or `grader_label` when the input had a
    `label` of its own (batch prefixes until the name is free, so the most prefixed one is its)."""
    names = {}
    for base in GRADER_BASES:
        name, found = base, None
        while name in header:
            found = name
            name = GRADER_PREFIX + name
        if found is not None:
            names[base] = found
    return names


def _concepts(value) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    return [c.strip() for c in str(value or "").split(";") if c.strip()]


def load_graded(path: str, bank, columns: ColumnMap | None = None, fmt: str | None = None) -> GradedFile:
    """Read a graded CSV/JSONL file; a problem is a one-line GraderError naming the row and field."""
    if path == "-":
        raise GraderError("a review needs a graded file, not stdin (decisions are kept beside it)")
    fmt = fmt or detect_format(path)
    rows = [row for chunk in read_rows(path, fmt) for row in chunk]
    header: dict = {}
    for row in rows:
        header.update(dict.fromkeys(row))
    names = grader_names(header)
    for needed in ("label", "confidence", "status"):
        if needed not in names:
            raise GraderError(f"{path}: no '{needed}' column; review reads the output of `grader batch` "
                              f"(columns: {', '.join(map(str, header))})")
    columns = (columns or ColumnMap()).resolve(list(header), path)
    if columns.answer not in header:
        raise missing_column(columns.answer, list(header), path, "--answer-column")
    answers, skipped, made = [], 0, {}
    for i, row in enumerate(rows, 1):
        where = f"{path}: row {i}"
        if str(row.get(names["status"], "")).strip() != "ok":
            skipped += 1          # batch could not grade it: nothing to review
            continue
        q, error = question_for(row, columns, bank, made)
        if error:
            raise GraderError(f"{where}: {error}; give the --bank the file was graded with")
        label = str(row.get(names["label"], "") or "").strip()
        if not label:
            raise GraderError(f"{where}: empty '{names['label']}'")
        conf = _number(row.get(names["confidence"]), f"{where}: '{names['confidence']}'", 0.0, 1.0)
        score = _number(row.get(names["score"], 0) if "score" in names else 0, f"{where}: '{names.get('score')}'")
        answer = row.get(columns.answer)
        text = "" if answer is None else str(answer)
        answers.append(Answer(i, q, question_key(q), restore_formula(text) if fmt == "csv" else text, label, conf,
                              score, _concepts(row.get(names.get("missed_concepts", ""), "")),
                              _concepts(row.get(names.get("matched_concepts", ""), ""))))
    if not answers:
        raise GraderError(f"{path}: no graded answers to review ({skipped} rows could not be graded)")
    return GradedFile(str(Path(path)), fmt, answers, rows, names, columns, skipped)


def _number(value, where: str, lo: float | None = None, hi: float | None = None) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise GraderError(f"{where} is {value!r}, not a number") from None
    if not math.isfinite(x) or (lo is not None and x < lo) or (hi is not None and x > hi):
        raise GraderError(f"{where} is {value!r}, outside {lo:g}..{hi:g}" if lo is not None
                          else f"{where} is {value!r}, not a finite number")
    return x
