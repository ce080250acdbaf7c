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

import functools
import json
import math
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


_ANSWER_COLUMNS = ("id", "question_id", "topic", "level", "kind", "answer", "label", "score", "confidence",
                   "matched_concepts", "missed_concepts", "contradicted_concepts", "override_label",
                   "overridden_at", "rating", "card_before", "created_at")


def _guarded(method):
    """SQLite errors of a damaged or read-only database become one-line errors naming the file."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None
    return wrapper


class QuizStore:
    """A SQLite database of quiz answers and cards. Use as a context manager, or call close()."""

    def __init__(self, path: str | Path | None = None, readonly: bool = False):
        """`readonly`: for commands that only read (history, stats, export-labels): the file is
        opened with SQLite's read-only mode, nothing is created or migrated, and a database that
        does not exist yet reads as empty."""
        self.path = Path(path) if path else default_db_path()
        self.readonly = readonly
        if self.path.is_dir():
            raise GraderError(f"{self.path}: is a directory; --db needs a database file path")
        try:
            if readonly and not self.path.exists():
                self.conn = sqlite3.connect(":memory:")
            elif readonly:
                self.conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.conn = sqlite3.connect(str(self.path), timeout=10)
        except (OSError, sqlite3.Error) as exc:
            raise GraderError(f"{self.path}: cannot open the quiz database ({exc})") from None
        self.conn.row_factory = sqlite3.Row
        try:
            if readonly and not self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                self.conn.close()          # an empty file: read it as an empty database, in memory
                self.conn = sqlite3.connect(":memory:")
                self.conn.row_factory = sqlite3.Row
            with self.conn:
                version = self.conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise GraderError(f"{self.path}: made by a newer grader (schema {version}); upgrade grader")
                tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not readonly or not tables:
                    self.conn.executescript(_SCHEMA)
                    self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                elif not {"answers", "cards"} <= tables:
                    raise GraderError(f"{self.path}: not a quiz database (no answers or cards table)")
                self._check_columns()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise GraderError(f"{self.path}: not a quiz database ({exc})") from None
        except GraderError:
            self.conn.close()
            raise

    def _check_columns(self):
        for table, needed in (("answers", _ANSWER_COLUMNS), ("cards", ("question_id", "card", "due", "updated_at"))):
            have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
            missing = [c for c in needed if c not in have]
            if missing:
                raise GraderError(f"{self.path}: not a quiz database (table {table} has no column {missing[0]})")

    def _damaged(self, exc) -> GraderError:
        if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
            return GraderError(f"{self.path}: the quiz database is read-only ({exc})")
        return GraderError(f"{self.path}: damaged quiz database ({exc})")

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- writes ------------------------------------------------------------------------------

    @_guarded
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

    @_guarded
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

    @_guarded
    def answer(self, answer_id: int) -> AnswerRow:
        # SQLite integers are 64-bit: a larger id is no answer, where binding it would overflow.
        if isinstance(answer_id, bool) or not isinstance(answer_id, int) or not 0 < answer_id < 1 << 63:
            raise GraderError(f"no answer #{answer_id} in {self.path}")
        found = self.conn.execute("SELECT * FROM answers WHERE id = ?", (answer_id,)).fetchone()
        if found is None:
            raise GraderError(f"no answer #{answer_id} in {self.path}")
        return _answer_row(found, self.path)

    @_guarded
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
        return [_answer_row(r, self.path) for r in self.conn.execute(sql, args)]

    @_guarded
    def last_answer_id(self, question_id: str) -> int | None:
        found = self.conn.execute("SELECT MAX(id) FROM answers WHERE question_id = ?", (question_id,)).fetchone()
        return found[0]

    @_guarded
    def card(self, question_id: str) -> CardRow | None:
        found = self.conn.execute("SELECT * FROM cards WHERE question_id = ?", (question_id,)).fetchone()
        return _card_row(found, self.path) if found else None

    @_guarded
    def cards(self) -> dict[str, CardRow]:
        return {r["question_id"]: _card_row(r, self.path) for r in self.conn.execute("SELECT * FROM cards ORDER BY due")}

    @_guarded
    def due(self, now: datetime | None = None) -> list[CardRow]:
        """Cards due at `now`, most overdue first."""
        rows = self.conn.execute("SELECT * FROM cards WHERE due <= ? ORDER BY due", (iso(now or utcnow()),))
        return [_card_row(r, self.path) for r in rows]


class _Damaged(ValueError):
    pass


def _text(value, column, optional=False):
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _Damaged(f"{column} is {type(value).__name__}, not text")
    return value


def _number(value, column):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Damaged(f"{column} is not a finite number")
    return float(value)


def _names(value, column):
    items = json.loads(_text(value, column, optional=True) or "[]")
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise _Damaged(f"{column} is not a JSON list of names")
    return items


def _stamp(value, column, optional=False):
    value = _text(value, column, optional)
    if value is not None:
        parse_iso(value)
    return value


def _answer_row(r: sqlite3.Row, path=None) -> AnswerRow:
    try:
        if not isinstance(r["id"], int):
            raise _Damaged("id is not an integer")
        label, override = _text(r["label"], "label", True), _text(r["override_label"], "override_label", True)
        for column, value in (("label", label), ("override_label", override)):
            if value is not None and value not in LABELS:
                raise _Damaged(f"{column} {value!r} is not one of {', '.join(LABELS)}")
        kind = _text(r["kind"], "kind")
        if kind not in ("graded", "revealed") or (kind == "graded" and label is None):
            raise _Damaged(f"kind {kind!r} with label {label!r}")
        rating = r["rating"]
        if rating is not None and (isinstance(rating, bool) or not isinstance(rating, int)):
            raise _Damaged("rating is not an integer")
        card_before = _text(r["card_before"], "card_before", True)
        if card_before is not None and not isinstance(json.loads(card_before), dict):
            raise _Damaged("card_before is not a JSON object")
        return AnswerRow(
            id=r["id"], question_id=_text(r["question_id"], "question_id"), topic=_text(r["topic"], "topic"),
            level=_text(r["level"], "level"), kind=kind, answer=_text(r["answer"], "answer"), label=label,
            score=_number(r["score"], "score"), confidence=_number(r["confidence"], "confidence"),
            matched_concepts=_names(r["matched_concepts"], "matched_concepts"),
            missed_concepts=_names(r["missed_concepts"], "missed_concepts"),
            contradicted_concepts=_names(r["contradicted_concepts"], "contradicted_concepts"),
            override_label=override, overridden_at=_stamp(r["overridden_at"], "overridden_at", True), rating=rating,
            card_before=card_before, created_at=_stamp(r["created_at"], "created_at"))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise GraderError(f"{path}: damaged quiz database (answer #{r['id']}: {exc})") from None


def _card_row(r: sqlite3.Row, path=None) -> CardRow:
    try:
        card = json.loads(_text(r["card"], "card"))
        if not isinstance(card, dict):
            raise _Damaged("card is not a JSON object")
        return CardRow(_text(r["question_id"], "question_id"), card, _stamp(r["due"], "due"),
                       _text(r["updated_at"], "updated_at"))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise GraderError(f"{path}: damaged quiz database (card of {r['question_id']!r}: {exc})") from None
