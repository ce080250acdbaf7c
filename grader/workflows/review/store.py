"""Decisions of a review, kept in SQLite beside the graded file (`GRADED.review.sqlite3`), each
committed as it is made so that a review can stop at any moment and continue.

Tables:

* ``decisions``: one row per answer labelled: its row number and the digest of its text (a
  decision applies only while that row holds the same answer), question key, label, whether the
  decision was made on a group or on the answer alone, and ``action`` (the rows one decision wrote
  share it, so a group decision is undone whole). The latest decision on an answer is its label.
* ``fingerprints``: per question, a hash of what its grades depend on (question, references,
  rubric, model), for `grader regrade`.
* ``suggestions``: rubric synonyms proposed from corrections, with the reviewer's answer.
* ``meta``: the graded file's SHA-256 when the review began.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from grader.errors import GraderError

SUFFIX = ".review.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action INTEGER NOT NULL,
    row INTEGER NOT NULL,
    digest TEXT NOT NULL,
    question_key TEXT NOT NULL,
    label TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('group', 'single')),
    made_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_row ON decisions (row, digest, id);
CREATE TABLE IF NOT EXISTS fingerprints (
    question_key TEXT PRIMARY KEY,
    question_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS suggestions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id TEXT NOT NULL,
    concept TEXT NOT NULL,
    phrase TEXT NOT NULL,
    row INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected')),
    made_at TEXT NOT NULL,
    UNIQUE (question_id, concept, phrase)
);
"""


def review_db_path(graded_path) -> Path:
    p = Path(graded_path)
    return p.with_name(p.name + SUFFIX)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ReviewStore:
    def __init__(self, path, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise GraderError(f"{self.path}: no review database (nothing decided yet); review the file first")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise GraderError(f"{self.path}: not a usable review database ({exc}); move it away to start afresh") \
                from None

    def close(self):
        self.db.close()

    def _write(self, sql_rows):
        """Statements committed together: one decision is all in the file or not at all."""
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                for sql, args in sql_rows:
                    self.db.execute(sql, args)
        except sqlite3.DatabaseError as exc:
            raise GraderError(f"{self.path}: cannot save ({exc})") from None

    # --- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str):
        self._write([("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))])

    # --- decisions -------------------------------------------------------------------------

    def record(self, answers, label: str, scope: str) -> int:
        """Label these answers (objects with .row, .digest, .qkey) with one decision; returns its
        action number."""
        action = (self.db.execute("SELECT COALESCE(MAX(action), 0) + 1 FROM decisions").fetchone()[0])
        now = _now()
        self._write([("INSERT INTO decisions (action, row, digest, question_key, label, scope, made_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)", (action, a.row, a.digest, a.qkey, label, scope, now))
                     for a in answers])
        return action

    def undo(self) -> int:
        """Remove the latest decision; the number of answers it had labelled."""
        last = self.db.execute("SELECT MAX(action) FROM decisions").fetchone()[0]
        if last is None:
            return 0
        n = self.db.execute("SELECT COUNT(*) FROM decisions WHERE action = ?", (last,)).fetchone()[0]
        self._write([("DELETE FROM decisions WHERE action = ?", (last,))])
        return n

    def labels(self) -> dict[tuple[int, str], str]:
        """(row, digest) -> the latest label decided for that answer."""
        out = {}
        for row, digest, label in self.db.execute("SELECT row, digest, label FROM decisions ORDER BY id"):
            out[(row, digest)] = label
        return out

    def decision_count(self) -> int:
        return self.db.execute("SELECT COUNT(DISTINCT action) FROM decisions").fetchone()[0]

    # --- fingerprints ----------------------------------------------------------------------

    def fingerprints(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT question_key, fingerprint FROM fingerprints"))

    def set_fingerprints(self, prints: dict[str, tuple[str, str]]):
        """question key -> (question id, fingerprint)."""
        self._write([("INSERT OR REPLACE INTO fingerprints (question_key, question_id, fingerprint) VALUES (?, ?, ?)",
                      (k, qid, fp)) for k, (qid, fp) in prints.items()])

    # --- suggestions -----------------------------------------------------------------------

    def answered_suggestion(self, question_id: str, concept: str, phrase: str) -> str | None:
        row = self.db.execute("SELECT status FROM suggestions WHERE question_id = ? AND concept = ? AND phrase = ?",
                              (question_id, concept, phrase)).fetchone()
        return row[0] if row else None

    def record_suggestion(self, question_id: str, concept: str, phrase: str, row: int, accepted: bool):
        self._write([("INSERT OR REPLACE INTO suggestions (question_id, concept, phrase, row, status, made_at) "
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      (question_id, concept, phrase, row, "accepted" if accepted else "rejected", _now()))])

    def suggestions(self) -> list[dict]:
        cur = self.db.execute("SELECT question_id, concept, phrase, row, status FROM suggestions ORDER BY id")
        return [dict(zip(("question_id", "concept", "phrase", "row", "status"), r)) for r in cur]
