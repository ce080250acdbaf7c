"""Issue 18, item 8: a damaged vector cache is never used. Each entry carries a checksum, its
numbers must be finite and its sizes fit the model; anything else is recomputed and rewritten;
`cache info` counts the damage and `cache warm` repairs it."""

import json
import sqlite3

import numpy as np
import pytest

from grader.cli import main
from grader.core.embedding import DIM, CachedEmbedder, get_embedder
from grader.core.vector_store import VectorStore
from grader.grading import Grader
from faults_helpers import immutable, mutable, one_line_error  # noqa: E402

ANSWER = "Dropout randomly switches off neurons while training, so the network cannot rely on any one of them."


def _fresh(grader, path):
    store = VectorStore(path, get_embedder().name, DIM)
    return Grader(grader.bank, grader.rubrics, grader.model, CachedEmbedder(get_embedder().backend, store=store)), store


def _garbage(db, table, column, kind):
    """Overwrite `column` of every row of `table` with bytes of the same size: random, or NaN."""
    rng = np.random.default_rng(0)
    for rowid, blob in db.execute(f"SELECT rowid, {column} FROM {table}").fetchall():
        n = len(blob) // 4
        if kind == "random":
            new = rng.normal(size=n).astype(np.float32).tobytes()
        else:
            arr = np.frombuffer(blob, dtype=np.float32).copy()
            arr[0] = np.nan
            new = arr.tobytes()
        db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", [new, rowid])


@pytest.mark.parametrize("table,column", [("vectors", "vector"), ("encoded", "vector"), ("encoded", "tokens")])
@pytest.mark.parametrize("kind", ["random", "nan"])
def test_same_size_garbage_is_recomputed_not_used(grader, tmp_path, table, column, kind):
    path = tmp_path / "vectors.sqlite3"
    cold, _ = _fresh(grader, path)
    expected = cold.grade("q004-035", ANSWER).to_dict()
    with sqlite3.connect(path) as db:
        _garbage(db, table, column, kind)
    warm, store = _fresh(grader, path)
    assert warm.grade("q004-035", ANSWER).to_dict() == expected
    assert warm.embedder.texts_embedded > 1          # the damaged entries were embedded again
    # ... and written back whole: a third run finds them all intact
    assert VectorStore(path, get_embedder().name, DIM).damage() == 0


def test_entry_moved_to_another_key_is_refused(tmp_path):
    path = tmp_path / "v.sqlite3"
    store = VectorStore(path, "m", 3)
    store.put_many({"a": np.array([1, 2, 3], np.float32), "b": np.array([4, 5, 6], np.float32)})
    with sqlite3.connect(path) as db:
        a = db.execute("SELECT vector, checksum FROM vectors WHERE key = (SELECT key FROM vectors LIMIT 1)").fetchone()
        db.execute("UPDATE vectors SET vector = ?, checksum = ?", a)
    got = VectorStore(path, "m", 3).get_many(["a", "b"])
    assert len(got) == 1


def test_cache_written_before_checksums_is_migrated(tmp_path):
    """An old cache (no checksum column) opens; its entries are recomputed, never trusted."""
    path = tmp_path / "v.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE vectors (model TEXT NOT NULL, key BLOB NOT NULL, vector BLOB NOT NULL, "
                   "PRIMARY KEY (model, key))")
        import hashlib
        db.execute("INSERT INTO vectors VALUES ('m', ?, ?)",
                   [hashlib.sha1(b"a").digest(), np.array([1, 2, 3], np.float32).tobytes()])
    store = VectorStore(path, "m", 3)
    assert store.get_many(["a"]) == {}
    assert store.damage() == 1
    store.put_many({"a": np.array([1, 2, 3], np.float32)})
    assert VectorStore(path, "m", 3).get_many(["a"])["a"].tolist() == [1, 2, 3]
    assert store.damage() == 0


def test_cache_info_reports_damage_and_warm_repairs_it(tmp_path, runner, monkeypatch):
    import grader.core.embedding as embedding
    import grader.core.semantic as semantic

    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / "mine.yaml").write_text(
        "questions:\n  - id: my-1\n    question: What is a tensor?\n    topic: fundamentals\n    level: basic\n"
        "    references: ['A tensor is a multi-dimensional array of numbers, generalising vectors and matrices.']\n",
        encoding="utf-8")
    cache = tmp_path / "cache"
    monkeypatch.setenv("GRADER_CACHE_DIR", str(cache))
    monkeypatch.setattr(embedding, "_LOADED", {})
    monkeypatch.setattr(semantic, "_LOADED", {})
    assert runner.invoke(main, ["cache", "warm", "--bank", str(bank)]).exit_code == 0
    info = json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)
    assert info["damaged"] == 0
    with sqlite3.connect(cache / "vectors.sqlite3") as db:
        db.execute("UPDATE vectors SET vector = zeroblob(length(vector)) WHERE rowid IN "
                   "(SELECT rowid FROM vectors LIMIT 3)")
        db.execute("UPDATE encoded SET checksum = x'00'")
        n_encoded = db.execute("SELECT COUNT(*) FROM encoded").fetchone()[0]
    info = json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)
    assert info["damaged"] == 3 + n_encoded
    out = runner.invoke(main, ["cache", "info"])
    assert f"{3 + n_encoded} damaged entries" in out.output and "cache warm" in out.output
    monkeypatch.setattr(embedding, "_LOADED", {})      # a new process: nothing held in memory
    monkeypatch.setattr(semantic, "_LOADED", {})
    out = runner.invoke(main, ["cache", "warm", "--bank", str(bank)])
    assert out.exit_code == 0 and f"deleted {3 + n_encoded} damaged entries" in out.output
    info = json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)
    assert info["damaged"] == 0
    assert info["texts_with_tokens"][get_embedder().name] >= 2      # the bank's texts are back


def test_a_read_only_cache_folder_is_used_and_said_to_be_read_only(grader, tmp_path, runner, monkeypatch):
    import grader.core.embedding as embedding
    import grader.core.semantic as semantic

    folder = tmp_path / "cache"
    path = folder / "vectors.sqlite3"
    cold, store = _fresh(grader, path)
    expected = cold.grade("q004-035", ANSWER).to_dict()
    store.close()
    before = sorted(p.name for p in folder.iterdir())
    immutable(path, folder)
    try:
        warm, store = _fresh(grader, path)
        assert warm.grade("q004-035", ANSWER).to_dict() == expected
        assert store.hits > 0             # read, though it cannot be written
        monkeypatch.setenv("GRADER_CACHE_DIR", str(folder))
        monkeypatch.setattr(embedding, "_LOADED", {})
        monkeypatch.setattr(semantic, "_LOADED", {})
        info = runner.invoke(main, ["cache", "info"])
        assert info.exit_code == 0 and "read-only" in info.output and "unusable" not in info.output, info.output
        cleared = runner.invoke(main, ["cache", "clear"])
        one_line_error(cleared, str(folder), "read-only")
        assert "deleted" not in cleared.output
    finally:
        mutable(path, folder)
    assert sorted(p.name for p in folder.iterdir()) == before
