"""The on-disk vector cache: same grades cold and warm, and a damaged cache only costs time."""

import sqlite3

import numpy as np
import pytest

from grader.embedding import DIM, CachedEmbedder, get_embedder
from grader.grading import Grader
from grader.vector_store import VectorStore

ANSWER = "Dropout randomly switches off neurons while training, so the network cannot rely on any one of them."


def fresh_grader(grader, store):
    embedder = CachedEmbedder(get_embedder().backend, store=store)
    return Grader(grader.bank, grader.rubrics, grader.model, embedder)


def test_warm_cache_grades_exactly_like_cold(grader, tmp_path):
    path = tmp_path / "vectors.sqlite3"
    cold_store = VectorStore(path, get_embedder().name, DIM)
    cold = fresh_grader(grader, cold_store).grade("q004-035", ANSWER)
    assert cold_store.misses > 0 and cold_store.hits == 0

    warm_store = VectorStore(path, get_embedder().name, DIM)
    warm_grader = fresh_grader(grader, warm_store)
    warm = warm_grader.grade("q004-035", ANSWER)
    assert warm_store.hits == cold_store.misses and warm_store.misses == 0
    assert warm.to_dict() == cold.to_dict()


def test_vectors_are_kept_per_model(tmp_path):
    path = tmp_path / "v.sqlite3"
    VectorStore(path, "model-a", 3).put_many({"text": np.array([1, 2, 3], dtype=np.float32)})
    assert VectorStore(path, "model-b", 3).get_many(["text"]) == {}
    got = VectorStore(path, "model-a", 3).get_many(["text", "other"])
    assert list(got) == ["text"] and got["text"].tolist() == [1, 2, 3]


def test_damaged_entries_are_recomputed(grader, tmp_path):
    path = tmp_path / "vectors.sqlite3"
    store = VectorStore(path, get_embedder().name, DIM)
    expected = fresh_grader(grader, store).grade("q004-035", ANSWER)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE vectors SET vector = x'00'")
    store = VectorStore(path, get_embedder().name, DIM)
    assert fresh_grader(grader, store).grade("q004-035", ANSWER).to_dict() == expected.to_dict()
    assert store.hits == 0


@pytest.mark.parametrize("content", [b"this is not an sqlite database" * 100, None])
def test_unusable_cache_file_does_not_stop_grading(grader, tmp_path, content):
    path = tmp_path / "vectors.sqlite3"
    if content is None:
        path.mkdir()                 # a directory where the file should be
    else:
        path.write_bytes(content)
    store = VectorStore(path, get_embedder().name, DIM)
    result = fresh_grader(grader, store).grade("q004-035", ANSWER)
    assert result.label in grader.model.labels
    assert store.disabled


def test_cache_commands(tmp_path, runner):
    import json

    from grader.cli import main

    (tmp_path / "mine.yaml").write_text(
        "questions:\n  - id: my-1\n    question: What is a tensor?\n    topic: fundamentals\n    level: basic\n"
        "    references: ['A tensor is a multi-dimensional array of numbers, generalising vectors and matrices.']\n",
        encoding="utf-8")
    out = runner.invoke(main, ["cache", "warm", "--bank", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert "rubric phrases ready" in out.output
    info = json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)
    assert info["usable"] and info["vectors"][get_embedder().name] > 0
    out = runner.invoke(main, ["cache", "clear"])
    assert out.exit_code == 0 and "deleted" in out.output
    info = json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)
    assert info["vectors"] == {}
