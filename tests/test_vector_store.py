"""The on-disk vector cache: same grades cold and warm, and a damaged cache only costs time."""

import sqlite3

import numpy as np
import pytest

from grader.core.embedding import DIM, CachedEmbedder, get_embedder
from grader.grading import Grader
from grader.core.vector_store import VectorStore

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
    # The question and its references come back with their token vectors: only the answer is new.
    assert warm_grader.embedder.texts_embedded == 1
    assert warm.to_dict() == cold.to_dict()


@pytest.mark.parametrize("damage", [None, "UPDATE drafts SET body = '{\"concepts\": 3}'", "UPDATE drafts SET body = 'x'"])
def test_drafted_rubrics_are_stored_and_reused(grader, tmp_path, damage):
    from grader.grading import user_question

    question = user_question("What does a learning-rate schedule do?",
                             ["It lowers the learning rate as training goes on, so that steps shrink near a minimum "
                              "and the loss settles instead of bouncing around."])
    path = tmp_path / "vectors.sqlite3"
    first = fresh_grader(grader, VectorStore(path, get_embedder().name, DIM))
    drafted = first.grade(question, ANSWER)
    assert first._drafter is not None
    if damage:
        with sqlite3.connect(path) as db:
            db.execute(damage)
    again = fresh_grader(grader, VectorStore(path, get_embedder().name, DIM))
    assert again.grade(question, ANSWER).to_dict() == drafted.to_dict()
    assert again.rubric_for(question).to_dict() == first.rubric_for(question).to_dict()
    # Reused without learning the bank's phrase statistics again, unless the entry was damaged.
    assert (again._drafter is None) == (damage is None)


def test_vectors_are_kept_per_model(tmp_path):
    path = tmp_path / "v.sqlite3"
    VectorStore(path, "model-a", 3).put_many({"text": np.array([1, 2, 3], dtype=np.float32)})
    assert VectorStore(path, "model-b", 3).get_many(["text"]) == {}
    got = VectorStore(path, "model-a", 3).get_many(["text", "other"])
    assert list(got) == ["text"] and got["text"].tolist() == [1, 2, 3]


@pytest.mark.parametrize("damage", [
    "UPDATE encoded SET tokens = x'00'",                                  # not whole token vectors
    "UPDATE encoded SET offsets = zeroblob(length(offsets))",             # fine: offsets of (0, 0)
    "UPDATE encoded SET offsets = substr(offsets, 1, length(offsets) - 8)",   # one number short
])
def test_damaged_entries_are_recomputed(grader, tmp_path, damage):
    path = tmp_path / "vectors.sqlite3"
    store = VectorStore(path, get_embedder().name, DIM)
    expected = fresh_grader(grader, store).grade("q004-035", ANSWER)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE vectors SET vector = x'00'")
        db.execute(damage)
    store = VectorStore(path, get_embedder().name, DIM)
    again = fresh_grader(grader, store)
    result = again.grade("q004-035", ANSWER)
    assert store.hits == 0
    if "zeroblob" not in damage:
        assert result.to_dict() == expected.to_dict()
        assert again.embedder.texts_embedded > 1     # the question and references were embedded again


def test_stored_offsets_outside_the_text_are_refused(tmp_path):
    from grader.core.embedding import Encoded

    store = VectorStore(tmp_path / "v.sqlite3", "m", 2)
    good = Encoded("ab cd", np.ones(2, np.float32), np.ones((2, 2), np.float32), np.array([[0, 2], [3, 5]]), model="m")
    bad = Encoded("xy", np.ones(2, np.float32), np.ones((1, 2), np.float32), np.array([[0, 9]]), model="m")
    unordered = Encoded("ab cd!", np.ones(2, np.float32), np.ones((2, 2), np.float32), np.array([[3, 5], [0, 2]]),
                        model="m")
    store.put_encoded_many([good, bad, unordered])
    got = VectorStore(tmp_path / "v.sqlite3", "m", 2).get_encoded_many(["ab cd", "xy", "ab cd!"])
    assert list(got) == ["ab cd"]
    assert got["ab cd"].offsets.tolist() == [[0, 2], [3, 5]] and got["ab cd"].tokens.shape == (2, 2)


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
    assert "rubric phrases and 2 questions and references ready" in out.output
    info = json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)
    assert info["usable"] and info["vectors"][get_embedder().name] > 0
    assert info["texts_with_tokens"][get_embedder().name] >= 2
    assert info["drafted_rubrics"][get_embedder().name] >= 1     # my-1 has no rubric file
    out = runner.invoke(main, ["cache", "clear"])
    assert out.exit_code == 0 and "deleted" in out.output
    info = json.loads(runner.invoke(main, ["cache", "info", "--json"]).output)
    assert info["vectors"] == {} and info["texts_with_tokens"] == {} and info["drafted_rubrics"] == {}
