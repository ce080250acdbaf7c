"""Embeddings kept on disk between runs, keyed by embedding model and text.

A course's rubric phrases, questions and reference answers are embedded once per machine instead
of once per process: a batch over bank questions otherwise spends its start-up embedding
thousands of short phrases and a few hundred long references. Phrases keep their sentence vector;
questions and references also keep the token vectors and character offsets behind it (about 1.5
KB a token), which span pooling needs. The store is SQLite; arrays are raw float32 / int64 bytes
read back with `numpy.frombuffer` and checked for size, so opening a cache file never executes
code. Rubrics drafted for questions without a rubric file are kept too, as JSON that the caller
validates like a rubric file. A cache that cannot be opened or written is switched off, not an
error: it only ever saves time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import numpy as np

from grader.core.encoded import Encoded
from grader.settings import CACHE_ENV



def default_cache_dir() -> Path | None:
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "none", "0") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "grader"


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


class VectorStore:
    """Vectors of one embedding model in an SQLite file; lookups and writes in bulk."""

    def __init__(self, path: str | Path, model: str, dim: int):
        self.path = Path(path)
        self.model = model
        self.dim = dim
        self._db: sqlite3.Connection | None = None
        self.disabled = False
        self.hits = 0
        self.misses = 0

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and not self.disabled:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, "
                           "vector BLOB NOT NULL, PRIMARY KEY (model, key))")
                db.execute("CREATE TABLE IF NOT EXISTS encoded (model TEXT NOT NULL, key BLOB NOT NULL, "
                           "vector BLOB NOT NULL, tokens BLOB NOT NULL, offsets BLOB NOT NULL, "
                           "truncated INTEGER NOT NULL, PRIMARY KEY (model, key))")
                db.execute("CREATE TABLE IF NOT EXISTS drafts (model TEXT NOT NULL, key BLOB NOT NULL, "
                           "body TEXT NOT NULL, PRIMARY KEY (model, key))")
                self._db = db
            except (sqlite3.Error, OSError):
                self.disabled = True
        return self._db

    def _select(self, db, what: str, texts: list[str]):
        """(text, *columns) of the stored texts among `texts`; `what` is "columns FROM table"."""
        keys = {_key(t): t for t in texts}
        key_list = list(keys)
        for start in range(0, len(key_list), 500):
            chunk = key_list[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, *row in db.execute(f"SELECT key, {what} WHERE model = ? AND key IN ({marks})",
                                        [self.model, *chunk]):
                yield (keys[key], *row)

    def get_many(self, texts: list[str]) -> dict[str, np.ndarray]:
        db = self._connect()
        found: dict[str, np.ndarray] = {}
        if db is None or not texts:
            self.misses += len(texts)
            return found
        try:
            for text, blob in self._select(db, "vector FROM vectors", texts):
                # A blob of the wrong size (a damaged file) is treated as missing and recomputed.
                if isinstance(blob, bytes) and len(blob) == self.dim * 4:
                    found[text] = np.frombuffer(blob, dtype=np.float32)
        except sqlite3.Error:
            self.disabled = True
            found = {}
        self.hits += len(found)
        self.misses += len(texts) - len(found)
        return found

    def get_encoded_many(self, texts: list[str]) -> dict[str, Encoded]:
        """Stored texts with their token vectors and offsets; damaged entries count as missing."""
        db = self._connect()
        found: dict[str, Encoded] = {}
        if db is None or not texts:
            return found
        try:
            for text, *row in self._select(db, "vector, tokens, offsets, truncated FROM encoded", texts):
                enc = self._encoded(text, *row)
                if enc is not None:
                    found[text] = enc
        except sqlite3.Error:
            self.disabled = True
            found = {}
        return found

    def _encoded(self, text, vector, tokens, offsets, truncated) -> Encoded | None:
        if not all(isinstance(b, bytes) for b in (vector, tokens, offsets)) or len(vector) != self.dim * 4:
            return None
        n, rest = divmod(len(tokens), self.dim * 4)
        if rest or len(offsets) != n * 16:
            return None
        spans = np.frombuffer(offsets, dtype=np.int64).reshape(n, 2)
        # Span pooling relies on offsets in order, inside the text.
        if n and ((spans[:, 0] < 0) | (spans[:, 0] > spans[:, 1]) | (spans[:, 1] > len(text))).any() \
                or (np.diff(spans, axis=0) < 0).any():
            return None
        return Encoded(text, np.frombuffer(vector, dtype=np.float32),
                       np.frombuffer(tokens, dtype=np.float32).reshape(n, self.dim), spans,
                       truncated=bool(truncated), model=self.model)

    def put_encoded_many(self, items: list[Encoded]) -> None:
        db = self._connect()
        if db is None or not items:
            return
        rows = [(self.model, _key(e.text), np.asarray(e.vector, dtype=np.float32).tobytes(),
                 np.ascontiguousarray(e.tokens, dtype=np.float32).tobytes(),
                 np.ascontiguousarray(e.offsets, dtype=np.int64).tobytes(), int(e.truncated)) for e in items]
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO encoded (model, key, vector, tokens, offsets, truncated) "
                               "VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error:
            self.disabled = True

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        db = self._connect()
        if db is None or not items:
            return
        rows = [(self.model, _key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in items.items()]
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO vectors (model, key, vector) VALUES (?, ?, ?)", rows)
        except sqlite3.Error:
            self.disabled = True

    def get_draft(self, key: str) -> dict | None:
        """A drafted rubric stored under `key` (as JSON data, for the caller to validate), or None."""
        db = self._connect()
        if db is None:
            return None
        try:
            row = db.execute("SELECT body FROM drafts WHERE model = ? AND key = ?", [self.model, _key(key)]).fetchone()
            return json.loads(row[0]) if row else None
        except (sqlite3.Error, ValueError, TypeError):
            return None

    def put_draft(self, key: str, body: dict) -> None:
        db = self._connect()
        if db is None:
            return
        try:
            with db:
                db.execute("INSERT OR REPLACE INTO drafts (model, key, body) VALUES (?, ?, ?)",
                           [self.model, _key(key), json.dumps(body)])
        except sqlite3.Error:
            self.disabled = True

    def stats(self) -> dict:
        """Vectors stored per model, and the file's size."""
        db = self._connect()
        counts = dict(db.execute("SELECT model, COUNT(*) FROM vectors GROUP BY model").fetchall()) if db else {}
        texts = dict(db.execute("SELECT model, COUNT(*) FROM encoded GROUP BY model").fetchall()) if db else {}
        drafts = dict(db.execute("SELECT model, COUNT(*) FROM drafts GROUP BY model").fetchall()) if db else {}
        size = self.path.stat().st_size if self.path.is_file() else 0
        return {"path": str(self.path), "usable": db is not None, "vectors": counts, "texts_with_tokens": texts,
                "drafted_rubrics": drafts, "bytes": size}

    def clear(self) -> int:
        """Delete everything stored (of all models); returns how many entries there were."""
        db = self._connect()
        if db is None:
            return 0
        with db:
            n = sum(db.execute(f"DELETE FROM {table}").rowcount for table in ("vectors", "encoded", "drafts"))
        db.execute("VACUUM")
        return n

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
