"""Input rows to questions: the columns a file uses (`ColumnMap`, matched in any case), and the
question each row is graded against (a bank id, or the row's own question and references)."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from grader.bank.questions import user_question
from grader.errors import GraderError

# The options that rename each column, for errors that tell what to give.
COLUMN_OPTIONS = {"answer": "--answer-column", "question_id": "--question-id-column",
                  "question": "--question-column", "reference": "--reference-column"}


@dataclass
class ColumnMap:
    answer: str = "answer"
    question_id: str = "question_id"
    question: str = "question"
    reference: str = "reference_answer"

    def resolve(self, header, source) -> "ColumnMap":
        """These columns as the file spells them: `Answer` is taken for `answer` when it is the
        only cell equal to it but for case."""
        return ColumnMap(**{name: find_column(getattr(self, name), header, source, option) or getattr(self, name)
                            for name, option in COLUMN_OPTIONS.items()})


def find_column(name: str, header, source, option: str) -> str | None:
    """`name` itself if the header has it, else the one header cell equal to it but for case;
    None if there is none. Several such cells are an error naming them and `option`."""
    if name in header:
        return name
    same = [h for h in header if isinstance(h, str) and h.casefold() == name.casefold()]
    if len(same) > 1:
        raise GraderError(f"{source}: columns {', '.join(repr(h) for h in same)} all match '{name}'; "
                          f"choose one with {option} {same[0]}")
    return same[0] if same else None


def missing_column(name: str, header, source, option: str) -> GraderError:
    """The error for a required column the header lacks, with the closest header cell as the
    option to give."""
    cells = {h.casefold(): h for h in header if isinstance(h, str)}
    close = [cells[c] for c in difflib.get_close_matches(name.casefold(), cells, n=1, cutoff=0.6)]
    hint = f"; if it is '{close[0]}', give {option} {close[0]}" if close else f"; name yours with {option} NAME"
    listed = ", ".join(h for h in header if isinstance(h, str))
    return GraderError(f"{source}: missing required column '{name}' (columns: {listed}){hint}")


def question_for(row: dict, columns: ColumnMap, bank, made: dict | None = None):
    """(the question to grade a row against, None), or (None, an error message). A row names a
    `bank` id, or carries its own question and references; `made` keeps the questions built
    from rows, so that rows repeating a question share one."""
    c = columns
    if "_parse_error" in row:
        return None, row["_parse_error"]
    wrong = not_text(row, c)
    if wrong:
        return None, wrong
    qid = str(row.get(c.question_id, "") or "").strip()
    refs = row.get("reference_answers")
    if isinstance(refs, str):
        refs = [refs]
    refs = [str(r) for r in (refs or []) if r is not None and str(r).strip()]
    first = str(row.get(c.reference, "") or "").strip()
    extra = [str(row[k]).strip() for k in sorted(row, key=_ref_order)
             if k.startswith(c.reference + "_") and row[k] not in (None, "") and str(row[k]).strip()]
    refs = ([first] if first else []) + extra + refs
    if qid and bank is not None and qid in bank and not refs:
        q = bank.get(qid)
        if not q.has_reference:
            return None, f"question {qid} has no reference answer yet"
        return q, None
    question_text = str(row.get(c.question, "") or "").strip()
    if refs:
        if not question_text and not qid:
            return None, f"no '{c.question}' text for the reference answer"
        key = (qid, question_text, tuple(refs))
        made = {} if made is None else made
        if key not in made:
            made[key] = user_question(question_text or qid, refs, qid or None)
        return made[key], None
    if qid:
        return None, f"unknown question_id {qid!r} (not in the bank, and no reference_answer given)"
    return None, f"no '{c.question_id}', and no '{c.question}' with '{c.reference}'"


def _ref_order(key: str):
    tail = key.rsplit("_", 1)[-1]
    return (0, int(tail)) if tail.isdigit() else (1, key)


def _kind(value) -> str | None:
    """None for a value graded as text: a string, or a number (a JSON number keeps its digits);
    else what it is, for the error message."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} (not a finite number)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a JSON boolean)"
    if value is None:
        return "null"
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def not_text(row: dict, columns: ColumnMap) -> str | None:
    """The error for a row (from JSONL) whose answer, question id, question or reference answers
    are not text, naming the field; None when they all are. A number counts as its text (JSON
    `42` is the answer "42"). A null answer is an error; a null question, question id or
    reference counts as absent, as an empty CSV cell does."""
    c = columns
    if c.answer in row and _kind(row[c.answer]) is not None:
        return f"'{c.answer}' is {_kind(row[c.answer])}, not text"
    for key in row:
        if key in (c.question_id, c.question, c.reference) or key.startswith(c.reference + "_"):
            if row[key] is not None and _kind(row[key]) is not None:
                return f"'{key}' is {_kind(row[key])}, not text"
    refs = row.get("reference_answers")
    if refs is not None and not isinstance(refs, str):
        if not isinstance(refs, list):
            return f"'reference_answers' is {_kind(refs)}, not text or a list of texts"
        for i, ref in enumerate(refs):
            if ref is not None and _kind(ref) is not None:
                return f"'reference_answers' item {i + 1} is {_kind(ref)}, not text"
    return None
