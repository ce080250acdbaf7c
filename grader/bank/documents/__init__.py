"""Question banks from the documents people already have: question/answer pages in Markdown,
HTML or plain text (numbered Q&A, questions as headings, "Answer:" blocks, flashcards,
"Simple:/Detailed:" answers, tables of questions), read into bank questions with topic, level
and sources, merged with each other and with an existing bank (one question per thing asked,
every page's answer a reference of it), and given drafted rubrics.

`import_documents` is the library's entry point; `grader bank import-docs` prints and writes
what it returns."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.bank.documents.labels import level_for, question_from_answer, topic_for
from grader.bank.documents.merging import ANSWER_THRESHOLD, QUESTION_THRESHOLD, Group, Member, Merger, normalised
from grader.bank.documents.reading import read_document
from grader.bank.documents.shapes import SHAPES, parse
from grader.bank.drafting import RubricDrafter
from grader.bank.questions import Bank, Question
from grader.bank.rubrics import Rubric
from grader.core.embedding import get_embedder
from grader.errors import DataError

LOST = "the page lost this question (only its answer is there): write the question, then remove this mark"


@dataclass
class ImportReport:
    """What the import read and did, for the command's summary (`--json` prints `to_dict`)."""
    documents: list[dict] = field(default_factory=list)
    merged: list[dict] = field(default_factory=list)
    new: int = 0
    updated: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    drafted: int = 0
    thresholds: dict = field(default_factory=dict)

    def to_dict(self, questions: list[Question]) -> dict:
        return {"documents": self.documents, "questions": len(questions),
                "with_references": sum(q.has_reference for q in questions),
                "references": sum(len(q.references) for q in questions), "new": self.new,
                "updated": self.updated, "merged": self.merged, "lost_questions": self.lost,
                "rubrics_drafted": self.drafted, "thresholds": self.thresholds}


def import_documents(paths, existing: Bank | None = None, existing_rubrics: dict[str, Rubric] | None = None,
                     shape: str | None = None, embedder=None,
                     ) -> tuple[list[Question], dict[str, Rubric], ImportReport]:
    """The questions of the documents at `paths` (merged into those of `existing`, if given),
    the rubrics (existing ones kept, drafted ones for answered questions without one) and a
    report. A document that cannot be read or holds no question is a DataError naming it."""
    if shape is not None and shape not in SHAPES:
        raise DataError("--shape", "", f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")
    report = ImportReport(thresholds={"question": QUESTION_THRESHOLD, "answer": ANSWER_THRESHOLD})
    members = [m for path in paths for m in read_members(Path(path), shape, report)]
    embedder = embedder or get_embedder()
    merger = Merger(embedder)
    merger.seed(list(existing) if existing is not None else [])
    merger.add_all(members)
    questions = _questions(merger.groups, {q.id for q in existing or []}, report)
    rubrics = _rubrics(questions, merger.groups, dict(existing_rubrics or {}), embedder, report)
    return questions, rubrics, report


def read_members(path: Path, shape: str | None, report: ImportReport) -> list[Member]:
    """The items of one document, each with the question text it goes by."""
    found, items = parse(read_document(path), shape)
    items = [item for item in items if item.question or item.answers]
    if not items:
        raise DataError(path, "", "no questions found (shapes read: numbered, headings, \"Answer:\" blocks, "
                                  "flashcards, Simple:/Detailed:, tables of questions)")
    members = []
    for item in items:
        text = item.question or (question_from_answer(item.answers[0][0]) if item.answers else "")
        members.append(Member(path.name, item, text, reconstructed=not item.question))
    report.documents.append({"file": str(path), "shape": found, "questions": len(items),
                             "answered": sum(bool(i.answers) for i in items),
                             "questions_lost": sum(not i.question for i in items),
                             "questions_written_from_answer": sum(m.reconstructed and bool(m.question) for m in members)})
    return members


def _questions(groups: list[Group], taken: set[str], report: ImportReport) -> list[Question]:
    questions = []
    for group in groups:
        if group.existing is not None:
            questions.append(_updated(group, report))
            continue
        q = _new_question(group, taken)
        taken.add(q.id)
        report.new += 1
        if q.unservable:
            report.lost.append(q.id)
        if len(group.members) > 1:
            report.merged.append({"id": q.id, "question": q.question, "members": [m.label for m in group.members],
                                  "similarity": [round(s, 3) for s in group.scores]})
        questions.append(q)
    return questions


def _updated(group: Group, report: ImportReport) -> Question:
    q = group.existing
    if len(group.references) == len(q.references):
        return q
    report.updated.append(q.id)
    report.merged.append({"id": q.id, "question": q.question, "members": ["bank"] + [m.label for m in group.members],
                          "similarity": [round(s, 3) for s in group.scores]})
    return replace(q, references=list(group.references))


def _new_question(group: Group, taken: set[str]) -> Question:
    first = group.members[0]
    answer = group.references[0].text if group.references else ""
    text = group.question or _placeholder(first, answer)
    stated_topic = next((m.item.topic for m in group.members if m.item.topic), "")
    stated_level = next((m.item.level for m in group.members if m.item.level), "")
    return Question(_stable_id(group.question or answer, taken), text,
                    topic=topic_for(stated_topic, group.question, answer),
                    level=level_for(stated_level, group.question),
                    references=list(group.references), reconstructed=group.reconstructed,
                    unservable="" if group.question else LOST)


def _placeholder(member: Member, answer: str) -> str:
    start = " ".join(answer.lstrip("- ").split()[:12])
    return f"(question lost in {member.file}, answer {member.item.number}) What does this explain: {start} ...?"


def _stable_id(text: str, taken: set[str]) -> str:
    """`doc-` and a hash of the question's normalised text (of the answer, when the page lost
    the question): the same document imported again gets the same ids."""
    base = "doc-" + hashlib.sha1(normalised(text).encode("utf-8")).hexdigest()[:10]
    qid, n = base, 2
    while qid in taken:
        qid, n = f"{base}-{n}", n + 1
    return qid


def _rubrics(questions, groups, rubrics: dict[str, Rubric], embedder, report: ImportReport) -> dict[str, Rubric]:
    """Existing rubrics stay, except drafted ones of questions that gained references; every
    other answered question gets a drafted (not reviewed) rubric."""
    changed = {q.id for q, g in zip(questions, groups) if g.existing is not None and q is not g.existing}
    rubrics = {k: r for k, r in rubrics.items() if not (k in changed and r.drafted)}
    todo = [q for q in questions if q.has_reference and q.id not in rubrics]
    if todo:
        drafter = RubricDrafter(embedder).fit(questions)
        for q in todo:
            rubrics[q.id] = drafter.draft(q)
        report.drafted = len(todo)
    return rubrics


__all__ = ["ImportReport", "SHAPES", "import_documents"]
