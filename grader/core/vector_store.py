"""Embeddings kept on disk between runs, keyed by embedding model and text.

A course's rubric phrases, questions and reference answers are embedded once per machine instead
of once per process: a batch over bank questions otherwise spends its start-up embedding
thousands of short phrases and a few hundred long references. Phrases keep their sentence vector;
questions and references also keep the token vectors and character offsets behind it (about 1.5
KB a token), which span pooling needs. The store is SQLite; arrays are raw float32 / int64 bytes
read back with `numpy.frombuffer`, so opening a cache file never executes code. Rubrics drafted
for questions without a rubric file are kept too, as JSON that the caller validates like a rubric
file. A cache that cannot be opened is switched off, not an error: it only ever saves time. One
in a folder that cannot be written (a shared, read-only cache) is read and never updated.

Every entry is stored with a checksum (blake2b over its model, key and bytes) and read back only
if the checksum matches, the sizes fit the model's dimension and every number is finite; anything
else is damage, treated as missing (recomputed and written again), never used. Entries of caches
written before checksums existed have none, and are treated the same way: they are recomputed
once (`grader cache warm` does it for a bank), because nothing tells random bytes in them from
vectors. `damage()` counts such entries and `purge_damaged()` deletes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import numpy as np

from grader.core.encoded import Encoded
from grader.errors import GraderError
from grader.settings import CACHE_ENV



def default_cache_dir() -> Path | None:
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "off", "none", "0") else Path(value)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "grader"


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).digest()


def _checksum(model: str, key: bytes, *parts) -> bytes:
    """blake2b over an entry's model, key and contents, each length-prefixed."""
    h = hashlib.blake2b(digest_size=16)
    for part in (model.encode("utf-8", "surrogatepass"), key, *parts):
        if isinstance(part, str):
            part = part.encode("utf-8", "surrogatepass")
        elif isinstance(part, int):
            part = str(part).encode()
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()


def _finite(blob: bytes) -> bool:
    return bool(np.isfinite(np.frombuffer(blob, dtype=np.float32)).all())


# table -> its content columns, in checksum order
_COLUMNS = {"vectors": ("vector",), "encoded": ("vector", "tokens", "offsets", "truncated"), "drafts": ("body",)}


class VectorStore:
    """Vectors of one embedding model in an SQLite file; lookups and writes in bulk."""

    def __init__(self, path: str | Path, model: str, dim: int):
        self.path = Path(path)
        self.model = model
        self.dim = dim
        self._db: sqlite3.Connection | None = None
        self.disabled = False
        self.read_only = False      # its file or folder cannot be written: read, never updated
        self.hits = 0
        self.misses = 0

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None and not self.disabled:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass
            if not (os.access(self.path.parent, os.W_OK) and (not self.path.exists() or os.access(self.path, os.W_OK))):
                self._db = self._open_read_only()
                self.disabled = self._db is None
                return self._db
            try:
                db = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, "
                           "vector BLOB NOT NULL, PRIMARY KEY (model, key))")
                db.execute("CREATE TABLE IF NOT EXISTS encoded (model TEXT NOT NULL, key BLOB NOT NULL, "
                           "vector BLOB NOT NULL, tokens BLOB NOT NULL, offsets BLOB NOT NULL, "
                           "truncated INTEGER NOT NULL, PRIMARY KEY (model, key))")
                db.execute("CREATE TABLE IF NOT EXISTS drafts (model TEXT NOT NULL, key BLOB NOT NULL, "
                           "body TEXT NOT NULL, PRIMARY KEY (model, key))")
                for table in _COLUMNS:   # caches written before checksums: the column is added
                    names = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                    if "checksum" not in names:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN checksum BLOB")
                self._db = db
            except (sqlite3.Error, OSError):
                self.disabled = True
        return self._db

    def _open_read_only(self) -> sqlite3.Connection | None:
        """The file opened for reading only, or None. `immutable`: SQLite would otherwise need to
        create the WAL's shared-memory file beside it, which a read-only folder refuses."""
        if not self.path.is_file():
            return None
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro&immutable=1", uri=True,
                                 check_same_thread=False)
            for table in _COLUMNS:
                db.execute(f"SELECT checksum FROM {table} LIMIT 1").fetchall()
        except sqlite3.Error:
            return None
        self.read_only = True
        return db

    def _writable(self) -> sqlite3.Connection | None:
        db = self._connect()
        return None if self.read_only else db

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
            for text, blob, checksum in self._select(db, "vector, checksum FROM vectors", texts):
                # A damaged entry (checksum, size or a non-finite number) is treated as missing and recomputed.
                if self._vector_ok(_key(text), blob, checksum):
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
            for text, *row in self._select(db, "vector, tokens, offsets, truncated, checksum FROM encoded", texts):
                enc = self._encoded(text, *row)
                if enc is not None:
                    found[text] = enc
        except sqlite3.Error:
            self.disabled = True
            found = {}
        return found

    def _vector_ok(self, key, blob, checksum, model=None, dim=None) -> bool:
        model, dim = model or self.model, dim or self.dim
        return (isinstance(blob, bytes) and isinstance(checksum, bytes) and len(blob) == dim * 4
                and checksum == _checksum(model, key, blob) and _finite(blob))

    def _encoded_ok(self, key, vector, tokens, offsets, truncated, checksum, model=None, dim=None) -> bool:
        model, dim = model or self.model, dim or self.dim
        if not all(isinstance(b, bytes) for b in (vector, tokens, offsets, checksum)) or len(vector) != dim * 4:
            return False
        n, rest = divmod(len(tokens), dim * 4)
        return (not rest and len(offsets) == n * 16 and isinstance(truncated, int)
                and checksum == _checksum(model, key, vector, tokens, offsets, truncated)
                and _finite(vector) and _finite(tokens))

    def _encoded(self, text, vector, tokens, offsets, truncated, checksum) -> Encoded | None:
        if not self._encoded_ok(_key(text), vector, tokens, offsets, truncated, checksum):
            return None
        n = len(tokens) // (self.dim * 4)
        spans = np.frombuffer(offsets, dtype=np.int64).reshape(n, 2)
        # Span pooling relies on offsets in order, inside the text.
        if n and ((spans[:, 0] < 0) | (spans[:, 0] > spans[:, 1]) | (spans[:, 1] > len(text))).any() \
                or (np.diff(spans, axis=0) < 0).any():
            return None
        return Encoded(text, np.frombuffer(vector, dtype=np.float32),
                       np.frombuffer(tokens, dtype=np.float32).reshape(n, self.dim), spans,
                       truncated=bool(truncated), model=self.model)

    def put_encoded_many(self, items: list[Encoded]) -> None:
        db = self._writable()
        if db is None or not items:
            return
        rows = []
        for e in items:
            row = (_key(e.text), np.asarray(e.vector, dtype=np.float32).tobytes(),
                   np.ascontiguousarray(e.tokens, dtype=np.float32).tobytes(),
                   np.ascontiguousarray(e.offsets, dtype=np.int64).tobytes(), int(e.truncated))
            rows.append((self.model, *row, _checksum(self.model, *row)))
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO encoded (model, key, vector, tokens, offsets, truncated, "
                               "checksum) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error:
            self.disabled = True

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        db = self._writable()
        if db is None or not items:
            return
        rows = []
        for t, v in items.items():
            key, blob = _key(t), np.asarray(v, dtype=np.float32).tobytes()
            rows.append((self.model, key, blob, _checksum(self.model, key, blob)))
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO vectors (model, key, vector, checksum) VALUES (?, ?, ?, ?)",
                               rows)
        except sqlite3.Error:
            self.disabled = True

    def get_draft(self, key: str) -> dict | None:
        """A drafted rubric stored under `key` (as JSON data, for the caller to validate), or None."""
        db = self._connect()
        if db is None:
            return None
        try:
            row = db.execute("SELECT body, checksum FROM drafts WHERE model = ? AND key = ?",
                             [self.model, _key(key)]).fetchone()
            if not row or row[1] != _checksum(self.model, _key(key), row[0]):
                return None
            return json.loads(row[0])
        except (sqlite3.Error, ValueError, TypeError):
            return None

    def put_draft(self, key: str, body: dict) -> None:
        db = self._writable()
        if db is None:
            return
        try:
            with db:
                text = json.dumps(body)
                db.execute("INSERT OR REPLACE INTO drafts (model, key, body, checksum) VALUES (?, ?, ?, ?)",
                           [self.model, _key(key), text, _checksum(self.model, _key(key), text)])
        except sqlite3.Error:
            self.disabled = True

    def _damaged_rows(self, db):
        """(table, model, key) of every entry that fails its checks, of any model. A model's
        dimension is taken from this store for its own model, else from the entry's vector."""
        for model, key, blob, checksum in db.execute("SELECT model, key, vector, checksum FROM vectors"):
            dim = self.dim if model == self.model else (len(blob) // 4 if isinstance(blob, bytes) else 0)
            if not dim or not self._vector_ok(key, blob, checksum, model, dim):
                yield "vectors", model, key
        for model, key, *row in db.execute("SELECT model, key, vector, tokens, offsets, truncated, checksum "
                                           "FROM encoded"):
            blob = row[0]
            dim = self.dim if model == self.model else (len(blob) // 4 if isinstance(blob, bytes) else 0)
            if not dim or not self._encoded_ok(key, *row, model=model, dim=dim):
                yield "encoded", model, key
        for model, key, body, checksum in db.execute("SELECT model, key, body, checksum FROM drafts"):
            if not isinstance(body, str) or checksum != _checksum(model, key, body):
                yield "drafts", model, key

    def damage(self) -> int:
        """How many entries fail their checks (and would be recomputed if needed)."""
        db = self._connect()
        if db is None:
            return 0
        try:
            return sum(1 for _ in self._damaged_rows(db))
        except sqlite3.Error:
            return 0

    def purge_damaged(self) -> int:
        """Delete every entry that fails its checks; returns how many there were."""
        db = self._writable()
        if db is None:
            return 0
        try:
            bad = list(self._damaged_rows(db))
            with db:
                for table, model, key in bad:
                    db.execute(f"DELETE FROM {table} WHERE model = ? AND key = ?", [model, key])
        except sqlite3.Error:
            self.disabled = True
            return 0
        return len(bad)

    def stats(self) -> dict:
        """Entries stored per model, how many of them are damaged, and the file's size."""
        db = self._connect()
        try:
            counts = dict(db.execute("SELECT model, COUNT(*) FROM vectors GROUP BY model").fetchall()) if db else {}
            texts = dict(db.execute("SELECT model, COUNT(*) FROM encoded GROUP BY model").fetchall()) if db else {}
            drafts = dict(db.execute("SELECT model, COUNT(*) FROM drafts GROUP BY model").fetchall()) if db else {}
        except sqlite3.Error:
            db, counts, texts, drafts = None, {}, {}, {}
        size = self.path.stat().st_size if self.path.is_file() else 0
        return {"path": str(self.path), "usable": db is not None, "read_only": self.read_only, "vectors": counts, "texts_with_tokens": texts,
                "drafted_rubrics": drafts, "damaged": self.damage() if db else 0, "bytes": size}

    def clear(self) -> int:
        """Delete everything stored (of all models); returns how many entries there were. A
        read-only cache is a GraderError: nothing can be deleted."""
        db = self._connect()
        if self.read_only:
            raise GraderError(f"{self.path}: the cache is read-only (its folder {self.path.parent} or the file "
                              "cannot be written); it was left as it is")
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
