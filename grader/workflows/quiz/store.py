"""The practice quiz's memory: a small SQLite database of answers and spaced-repetition cards.

Two tables, created on open:

* ``answers``: one row per graded answer or revealed reference (``kind`` = ``graded`` or
  ``revealed``): the answer text, the grader's label, score and confidence, the concepts
  matched / missed / contradicted (JSON lists), the learner's ``override_label`` if they
  disagreed, the rating given to the scheduler, the card before the review (JSON, so an
  override can re-schedule), and ``created_at`` (ISO 8601, UTC).
* ``cards``: one row per question seen: the FSRS card as JSON and its ``due`` time (ISO 8601,
  UTC, fixed width so that text order is time order).

Every write is one transaction: an answer and the card it moves are committed together, as soon
as the answer is graded. This module knows nothing about grading or FSRS; `grader.quiz` does.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from grader.errors import GraderError
from grader.settings import DB_ENV

SCHEMA_VERSION = 1
LABELS = ("incorrect", "partial", "correct")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    level TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'graded' CHECK (kind IN ('graded', 'revealed')),
    answer TEXT NOT NULL DEFAULT '',
    label TEXT,
    score REAL,
    confidence REAL,
    matched_concepts TEXT NOT NULL DEFAULT '[]',
    missed_concepts TEXT NOT NULL DEFAULT '[]',
    contradicted_concepts TEXT NOT NULL DEFAULT '[]',
    override_label TEXT,
    overridden_at TEXT,
    rating INTEGER,
    card_before TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_question ON answers (question_id, id);
CREATE TABLE IF NOT EXISTS cards (
    question_id TEXT PRIMARY KEY,
    card TEXT NOT NULL,
    due TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cards_due ON cards (due);
"""


def default_db_path() -> Path:
    """`GRADER_DB` if set, else ``quiz.sqlite3`` in the user's data directory."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("grader")) / "quiz.sqlite3"


def iso(dt: datetime) -> str:
    """A fixed-width UTC timestamp, so that comparing the strings compares the times."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class AnswerRow:
    id: int
    question_id: str
    topic: str
    level: str
    kind: str
    answer: str
    label: str | None
    score: float | None
    confidence: float | None
    matched_concepts: list[str] = field(default_factory=list)
    missed_concepts: list[str] = field(default_factory=list)
    contradicted_concepts: list[str] = field(default_factory=list)
    override_label: str | None = None
    overridden_at: str | None = None
    rating: int | None = None
    card_before: str | None = None
    created_at: str = ""

    @property
    def effective_label(self) -> str | None:
        """The learner's override if they gave one, else the grader's label."""
        return self.override_label or self.label

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("card_before", None)
        d["effective_label"] = self.effective_label
        return d


@dataclass
class CardRow:
    question_id: str
    card: dict
    due: str
    updated_at: str


class QuizStore:
    """A SQLite database of quiz answers and cards. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_db_path()
        if self.path.is_dir():
            raise GraderError(f"{self.path}: is a directory; --db needs a database file path")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path), timeout=10)
        except (OSError, sqlite3.Error) as exc:
            raise GraderError(f"{self.path}: cannot open the quiz database ({exc})") from None
        self.conn.row_factory = sqlite3.Row
        try:
            with self.conn:
                version = self.conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise GraderError(f"{self.path}: made by a newer grader (schema {version}); upgrade grader")
                self.conn.executescript(_SCHEMA)
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise GraderError(f"{self.path}: not a quiz database ({exc})") from None

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- writes ------------------------------------------------------------------------------

    def record(self, *, question_id: str, topic: str = "", level: str = "", kind: str = "graded",
               answer: str = "", label: str | None = None, score: float | None = None,
               confidence: float | None = None, matched=(), missed=(), contradicted=(),
               rating: int | None = None, card_before: str | None = None,
               card: str | None = None, due: datetime | None = None,
               created_at: datetime | None = None) -> int:
        """Insert one answer and (if given) the card it moved, in one transaction; its id."""
        created = iso(created_at or utcnow())
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO answers (question_id, topic, level, kind, answer, label, score, confidence,"
                " matched_concepts, missed_concepts, contradicted_concepts, rating, card_before, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (question_id, topic, level, kind, answer, label, score, confidence,
                 json.dumps(list(matched), ensure_ascii=False), json.dumps(list(missed), ensure_ascii=False),
                 json.dumps(list(contradicted), ensure_ascii=False), rating, card_before, created))
            if card is not None:
                self._put_card(question_id, card, due, created)
            return int(cur.lastrowid)

    def _put_card(self, question_id: str, card: str, due: datetime, updated: str):
        self.conn.execute(
            "INSERT INTO cards (question_id, card, due, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(question_id) DO UPDATE SET card = excluded.card, due = excluded.due,"
            " updated_at = excluded.updated_at",
            (question_id, card, iso(due), updated))

    def set_override(self, answer_id: int, label: str, *, card: str | None = None,
                     due: datetime | None = None, rating: int | None = None,
                     at: datetime | None = None) -> AnswerRow:
        """Store the learner's label for an answer (and, if given, the re-scheduled card and the
        rating that scheduled it)."""
        if label not in LABELS:
            raise GraderError(f"unknown label {label!r}; use one of {', '.join(LABELS)}")
        row = self.answer(answer_id)
        if row.kind != "graded":
            raise GraderError(f"answer #{answer_id} is a revealed reference, not a graded answer")
        when = iso(at or utcnow())
        with self.conn:
            self.conn.execute("UPDATE answers SET override_label = ?, overridden_at = ? WHERE id = ?",
                              (label, when, answer_id))
            if card is not None:
                self._put_card(row.question_id, card, due, when)
                if rating is not None:
                    self.conn.execute("UPDATE answers SET rating = ? WHERE id = ?", (rating, answer_id))
        return self.answer(answer_id)

    # --- reads -------------------------------------------------------------------------------

    def answer(self, answer_id: int) -> AnswerRow:
        # SQLite integers are 64-bit: a larger id is no answer, where binding it would overflow.
        if isinstance(answer_id, bool) or not isinstance(answer_id, int) or not 0 < answer_id < 1 << 63:
            raise GraderError(f"no answer #{answer_id} in {self.path}")
        found = self.conn.execute("SELECT * FROM answers WHERE id = ?", (answer_id,)).fetchone()
        if found is None:
            raise GraderError(f"no answer #{answer_id} in {self.path}")
        return _answer_row(found)

    def answers(self, *, kind: str | None = None, question_id: str | None = None,
                only_overrides: bool = False, limit: int | None = None, newest_first: bool = False
                ) -> list[AnswerRow]:
        sql, args = "SELECT * FROM answers WHERE 1=1", []
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        if question_id:
            sql += " AND question_id = ?"
            args.append(question_id)
        if only_overrides:
            sql += " AND override_label IS NOT NULL"
        sql += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if limit:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [_answer_row(r) for r in self.conn.execute(sql, args)]

    def last_answer_id(self, question_id: str) -> int | None:
        found = self.conn.execute("SELECT MAX(id) FROM answers WHERE question_id = ?", (question_id,)).fetchone()
        return found[0]

    def card(self, question_id: str) -> CardRow | None:
        found = self.conn.execute("SELECT * FROM cards WHERE question_id = ?", (question_id,)).fetchone()
        return _card_row(found) if found else None

    def cards(self) -> dict[str, CardRow]:
        return {r["question_id"]: _card_row(r) for r in self.conn.execute("SELECT * FROM cards ORDER BY due")}

    def due(self, now: datetime | None = None) -> list[CardRow]:
        """Cards due at `now`, most overdue first."""
        rows = self.conn.execute("SELECT * FROM cards WHERE due <= ? ORDER BY due", (iso(now or utcnow()),))
        return [_card_row(r) for r in rows]


def _answer_row(r: sqlite3.Row) -> AnswerRow:
    return AnswerRow(
        id=r["id"], question_id=r["question_id"], topic=r["topic"], level=r["level"], kind=r["kind"],
        answer=r["answer"], label=r["label"], score=r["score"], confidence=r["confidence"],
        matched_concepts=json.loads(r["matched_concepts"] or "[]"),
        missed_concepts=json.loads(r["missed_concepts"] or "[]"),
        contradicted_concepts=json.loads(r["contradicted_concepts"] or "[]"),
        override_label=r["override_label"], overridden_at=r["overridden_at"], rating=r["rating"],
        card_before=r["card_before"], created_at=r["created_at"])


def _card_row(r: sqlite3.Row) -> CardRow:
    return CardRow(r["question_id"], json.loads(r["card"]), r["due"], r["updated_at"])
