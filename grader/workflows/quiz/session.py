"""The practice quiz: which questions to ask, grading and remembering answers, spaced repetition.

Questions come back on an FSRS schedule (the `fsrs` library) driven by the graded result:
incorrect -> Again, partial -> Hard, correct -> Good (Easy when the grader is very sure),
a revealed reference -> Again (a lapse). A learner's override re-schedules the card as if the
override had been the grade. Nothing here prints; `grader.cli_quiz` does the talking.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fsrs import Card, Rating, Scheduler

from grader.bank.questions import Bank, Question
from grader.errors import GraderError
from grader.files import write_atomically
from grader.workflows.formats import neutralise_formula
from grader.workflows.quiz.store import LABELS, AnswerRow, QuizStore, iso, parse_iso, utcnow

EASY_CONFIDENCE = 0.85   # a correct answer the grader is this sure of, with this score, rates Easy
EASY_SCORE = 0.85
EXPORT_COLUMNS = ["question_id", "question", "reference_answer", "answer", "label"]
LABEL_ALIASES = {"c": "correct", "right": "correct", "p": "partial", "i": "incorrect", "wrong": "incorrect",
                 "x": "incorrect"}


def normalise_label(text: str) -> str:
    label = (text or "").strip().lower()
    label = LABEL_ALIASES.get(label, label)
    if label not in LABELS:
        raise GraderError(f"unknown label {text!r}; use one of {', '.join(LABELS)}")
    return label


def rating_for(label: str, confidence: float | None = None, score: float | None = None) -> Rating:
    """The FSRS rating a graded answer earns."""
    if label == "correct":
        if confidence is not None and score is not None and confidence >= EASY_CONFIDENCE and score >= EASY_SCORE:
            return Rating.Easy
        return Rating.Good
    if label == "partial":
        return Rating.Hard
    return Rating.Again


def first_reference(question: Question):
    """The reference to show and export: the first full one, else the first (None if none)."""
    for r in question.references:
        if r.kind == "full":
            return r
    return question.references[0] if question.references else None


def reference_text(question: Question) -> str:
    """The text of `first_reference`, "" when the question has none."""
    r = first_reference(question)
    return r.text if r is not None else ""


# --- choosing questions ----------------------------------------------------------------------

@dataclass
class Plan:
    questions: list[Question]
    due: int = 0            # how many of `questions` are due reviews
    new: int = 0            # ... never seen before
    ahead: int = 0          # ... seen, not due yet (served because of --ids or --ahead)
    next_due: str | None = None   # earliest due time of a matching card not served, if any


def plan_quiz(bank: Bank, store: QuizStore, *, topic=None, level=None, ids=None, count: int | None = 10,
              seed: int | None = None, ahead: bool = False, now: datetime | None = None) -> Plan:
    """The questions to ask, due reviews first (most overdue first), then new ones (shuffled).

    With `ids` exactly those questions are asked, in the order given. With `ahead`, questions
    not due yet follow (soonest first). `count` of 0 or None means no limit.
    """
    now = now or utcnow()
    if ids:
        # Ids typed in another case name the same question: asked once.
        chosen = list({q.id: q for q in map(bank.get, ids)}.values())
        empty = [q.id for q in chosen if not q.has_reference]
        if empty:
            raise GraderError(f"question {empty[0]} has no reference answer yet, so it cannot be quizzed")
        marked = [q for q in chosen if not q.servable]
        if marked:
            raise GraderError(f"question {marked[0].id} is not asked in quizzes ({marked[0].unservable}); "
                              f"`grader grade -q {marked[0].id}` still grades an answer to it")
        chosen = [q for q in chosen if (not topic or q.topic in _set(topic)) and (not level or q.level in _set(level))]
    else:
        chosen = [q for q in bank.filter(topic=topic or None, level=level or None, with_reference=True) if q.servable]
    cards = store.cards()
    for qid, row in cards.items():     # a damaged card stops here, before the first question
        _card_from(row.card, store.path, qid)
    stamp = iso(now)
    due, new, later = [], [], []
    for q in chosen:
        card = cards.get(q.id)
        if card is None:
            new.append(q)
        elif card.due <= stamp:
            due.append((card.due, q))
        else:
            later.append((card.due, q))
    if ids:
        kinds = {q.id: "new" for q in new} | {q.id: "due" for _, q in due} | {q.id: "ahead" for _, q in later}
        questions = chosen
    else:
        due.sort(key=lambda t: t[0])
        later.sort(key=lambda t: t[0])
        random.Random(seed).shuffle(new)
        questions = [q for _, q in due] + new + ([q for _, q in later] if ahead else [])
        kinds = {q.id: "due" for _, q in due} | {q.id: "new" for q in new} | {q.id: "ahead" for _, q in later}
    if count:
        questions = questions[:count]
    served = Counter(kinds[q.id] for q in questions)
    served_ids = {q.id for q in questions}
    pending = [d for d, q in later if q.id not in served_ids]
    return Plan(questions, served["due"], served["new"], served["ahead"], min(pending) if pending else None)


def _set(value):
    return {value} if isinstance(value, str) else set(value)


# --- a session -------------------------------------------------------------------------------

@dataclass
class Outcome:
    question: Question
    action: str                      # graded | revealed | skipped
    answer_id: int | None = None
    result: object | None = None     # GradeResult when graded
    due: datetime | None = None      # when the question comes back
    override: str | None = None

    @property
    def label(self) -> str | None:
        if self.override:
            return self.override
        return self.result.label if self.result is not None else None


class QuizSession:
    """Grades answers, stores them and moves their cards; remembers this session's outcomes."""

    def __init__(self, grader, store: QuizStore, scheduler: Scheduler | None = None, clock=utcnow):
        self.grader = grader
        self.store = store
        self.scheduler = scheduler or Scheduler()
        self.clock = clock
        self.outcomes: list[Outcome] = []

    def _card(self, question_id: str) -> Card:
        row = self.store.card(question_id)
        return _card_from(row.card, self.store.path, question_id) if row else Card()

    def _review(self, question_id: str, rating: Rating, when: datetime) -> tuple[str, Card]:
        before = self._card(question_id)
        after, _ = self.scheduler.review_card(before, rating, review_datetime=when)
        return json.dumps(before.to_dict()), after

    def grade(self, question: Question, text: str) -> Outcome:
        """Grade an answer, then store it and its re-scheduled card in one transaction."""
        result = self.grader.grade(question, text)
        when = self.clock()
        rating = rating_for(result.label, result.confidence, result.score)
        before, card = self._review(question.id, rating, when)
        answer_id = self.store.record(
            question_id=question.id, topic=question.topic, level=question.level, kind="graded",
            answer=text, label=result.label, score=result.score, confidence=result.confidence,
            matched=result.matched_concepts, missed=result.missed_concepts,
            contradicted=result.contradicted_concepts, rating=int(rating), card_before=before,
            card=json.dumps(card.to_dict()), due=card.due, created_at=when)
        outcome = Outcome(question, "graded", answer_id, result, card.due)
        self.outcomes.append(outcome)
        return outcome

    def reveal(self, question: Question) -> Outcome:
        """Show-the-answer without grading: stored, and a lapse (Again) for the schedule."""
        when = self.clock()
        before, card = self._review(question.id, Rating.Again, when)
        answer_id = self.store.record(
            question_id=question.id, topic=question.topic, level=question.level, kind="revealed",
            rating=int(Rating.Again), card_before=before, card=json.dumps(card.to_dict()), due=card.due,
            created_at=when)
        outcome = Outcome(question, "revealed", answer_id, None, card.due)
        self.outcomes.append(outcome)
        return outcome

    def skip(self, question: Question) -> Outcome:
        """Nothing stored: a skipped question keeps its schedule (a new one stays new)."""
        outcome = Outcome(question, "skipped")
        self.outcomes.append(outcome)
        return outcome

    def override(self, answer_id: int, label: str) -> tuple[AnswerRow, datetime | None]:
        row, due = override_answer(self.store, answer_id, label, self.scheduler, self.clock())
        for o in self.outcomes:
            if o.answer_id == answer_id:
                o.override = row.override_label
                o.due = due or o.due
        return row, due

    def summary(self) -> dict:
        return summarize(self.outcomes)


def _card_from(data: dict, path, question_id: str) -> Card:
    """An FSRS card from its stored JSON; a damaged one is a one-line error naming the database."""
    try:
        card = Card.from_dict(data)
        card.due.isoformat()
        return card
    except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise GraderError(f"{path}: damaged quiz database (card of {question_id!r}: {exc!r})") from None


def override_answer(store: QuizStore, answer_id: int, label: str, scheduler: Scheduler | None = None,
                    now: datetime | None = None) -> tuple[AnswerRow, datetime | None]:
    """Store the learner's label for an answer. If it is the question's latest answer, the card is
    re-scheduled as if the override had been the grade; returns the row and the new due time."""
    label = normalise_label(label)
    row = store.answer(answer_id)
    card_json, due, rating = None, None, None
    if row.kind == "graded" and row.card_before and store.last_answer_id(row.question_id) == answer_id:
        scheduler = scheduler or Scheduler()
        before = _card_from(json.loads(row.card_before), store.path, row.question_id)
        rating = rating_for(label, row.confidence if label == row.label else None,
                            row.score if label == row.label else None)
        card, _ = scheduler.review_card(before, rating, review_datetime=parse_iso(row.created_at))
        card_json, due = json.dumps(card.to_dict()), card.due
    return store.set_override(answer_id, label, card=card_json, due=due,
                              rating=None if rating is None else int(rating), at=now), due


def _weak_concepts(rows, top: int | None = 10) -> list[dict]:
    """Concepts most often missed or contradicted, with the questions they belong to."""
    missed, contradicted, where = Counter(), Counter(), defaultdict(set)
    for qid, miss, contra in rows:
        for name in miss:
            missed[name] += 1
            where[name].add(qid)
        for name in contra:
            contradicted[name] += 1
            where[name].add(qid)
    total = missed + contradicted
    ranked = sorted(total, key=lambda n: (-total[n], -contradicted[n], n))
    if top:
        ranked = ranked[:top]
    return [{"concept": n, "count": total[n], "missed": missed[n], "contradicted": contradicted[n],
             "questions": sorted(where[n])} for n in ranked]


def summarize(outcomes: list[Outcome]) -> dict:
    """Per topic: answered, mean score, labels, revealed, skipped; weakest concepts of the session."""
    topics: dict[str, dict] = {}
    concept_rows = []
    for o in outcomes:
        t = topics.setdefault(o.question.topic, {"answered": 0, "score_sum": 0.0, "labels": Counter(),
                                                 "revealed": 0, "skipped": 0})
        if o.action == "graded":
            t["answered"] += 1
            t["score_sum"] += o.result.score
            t["labels"][o.label] += 1
            if o.label != "correct":
                concept_rows.append((o.question.id, o.result.missed_concepts, o.result.contradicted_concepts))
        elif o.action == "revealed":
            t["revealed"] += 1
        else:
            t["skipped"] += 1
    per_topic = {}
    for name in sorted(topics):
        t = topics[name]
        per_topic[name] = {"answered": t["answered"],
                           "mean_score": round(t["score_sum"] / t["answered"], 4) if t["answered"] else None,
                           "labels": dict(t["labels"]), "revealed": t["revealed"], "skipped": t["skipped"]}
    graded = [o for o in outcomes if o.action == "graded"]
    return {
        "asked": len(outcomes),
        "answered": len(graded),
        "revealed": sum(o.action == "revealed" for o in outcomes),
        "skipped": sum(o.action == "skipped" for o in outcomes),
        "overrides": sum(o.override is not None for o in outcomes),
        "mean_score": round(sum(o.result.score for o in graded) / len(graded), 4) if graded else None,
        "topics": per_topic,
        "weakest_concepts": _weak_concepts(concept_rows, top=5),
    }


# --- progress and export ---------------------------------------------------------------------

def progress(store: QuizStore, bank: Bank | None = None, now: datetime | None = None, top: int = 10) -> dict:
    """Progress per topic over the whole history, and the concepts most often missed."""
    now = now or utcnow()
    stamp = iso(now)
    topics: dict[str, dict] = defaultdict(lambda: {"questions": 0, "seen": 0, "due": 0, "answered": 0,
                                                   "score_sum": 0.0, "labels": Counter(), "revealed": 0,
                                                   "overrides": 0})
    topic_of = {}
    if bank is not None:
        for q in bank:
            if q.servable:      # what a quiz can ask
                topics[q.topic]["questions"] += 1
                topic_of[q.id] = q.topic
    rows = store.answers()
    for r in rows:
        topic_of.setdefault(r.question_id, r.topic or "unknown")
    for qid, card in store.cards().items():
        t = topics[topic_of.get(qid, "unknown")]
        t["seen"] += 1
        t["due"] += card.due <= stamp
    concept_rows, override_moves = [], Counter()
    for r in rows:
        t = topics[topic_of[r.question_id]]
        if r.kind == "revealed":
            t["revealed"] += 1
            continue
        t["answered"] += 1
        t["score_sum"] += r.score or 0.0
        t["labels"][r.effective_label] += 1
        if r.override_label:
            t["overrides"] += 1
            override_moves[f"{r.label}->{r.override_label}"] += 1
        if r.effective_label != "correct":
            concept_rows.append((r.question_id, r.missed_concepts, r.contradicted_concepts))
    per_topic = {}
    for name in sorted(topics):
        t = topics[name]
        per_topic[name] = {"questions": t["questions"], "seen": t["seen"], "due": t["due"],
                           "answered": t["answered"],
                           "mean_score": round(t["score_sum"] / t["answered"], 4) if t["answered"] else None,
                           "labels": {l: t["labels"][l] for l in LABELS if t["labels"][l]},
                           "revealed": t["revealed"], "overrides": t["overrides"]}
    graded = [r for r in rows if r.kind == "graded"]
    cards = store.cards()
    upcoming = [c.due for c in cards.values() if c.due > stamp]
    return {
        "db": str(store.path),
        "answered": len(graded),
        "revealed": len(rows) - len(graded),
        "mean_score": round(sum(r.score or 0.0 for r in graded) / len(graded), 4) if graded else None,
        "seen": len(cards),
        "due_now": sum(c.due <= stamp for c in cards.values()),
        "next_due": min(upcoming) if upcoming else None,
        "overrides": sum(override_moves.values()),
        "override_changes": dict(override_moves),
        "topics": per_topic,
        "weakest_concepts": _weak_concepts(concept_rows, top=top),
    }


def export_labels(store: QuizStore, bank: Bank, output: str, only_overrides: bool = False) -> dict:
    """Write graded answers as labelled data (the `grader calibrate` CSV): question_id, question,
    reference_answer, answer, label (the override if any, else the grader's). Empty answers and
    answers to questions no longer in the bank are left out. `output` '-' returns the text."""
    kept, dropped = [], Counter()
    for r in store.answers(kind="graded", only_overrides=only_overrides):
        if not r.answer.strip():
            dropped["empty answer"] += 1
            continue
        if r.question_id not in bank or not bank.get(r.question_id).has_reference:
            dropped["question not in the bank"] += 1
            continue
        q = bank.get(r.question_id)
        kept.append({"question_id": q.id, "question": q.question, "reference_answer": reference_text(q),
                     "answer": r.answer, "label": r.effective_label})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    # A spreadsheet would run an answer starting with = + - @ (or their full-width forms) as a formula.
    writer.writerows({k: neutralise_formula(v) for k, v in row.items()} for row in kept)
    text = buf.getvalue()
    report = {"rows": len(kept), "overrides": sum(1 for _ in store.answers(kind="graded", only_overrides=True)),
              "dropped": dict(dropped), "output": output}
    if output == "-":
        report["text"] = text
        return report
    path = Path(output)
    if path.is_dir():
        raise GraderError(f"{output}: is a directory; give a file name")
    write_atomically(path, text)
    return report
