"""Cohort signals, the ridge estimator, and models that use them through calibrate, batch, eval and grade."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from grader.cli import main
from grader.signals.cohort import COHORT_FEATURES, COHORT_MIN, cohort_columns
from grader.errors import DataError
from grader.model.classifier import GradingModel

from test_calibrate import _fixture_rows, _write_jsonl


def test_cohort_columns_match_a_direct_computation():
    rng = np.random.default_rng(1)
    keys = ["a"] * 7 + ["b"] * (COHORT_MIN - 1) + ["c"] * 6
    V = rng.normal(size=(len(keys), 8))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    cos, n_words = rng.uniform(0, 1, len(keys)), rng.uniform(0, 4, len(keys))
    got = cohort_columns(keys, V, cos, n_words)
    for key in ("a", "c"):
        rows = [i for i, k in enumerate(keys) if k == key]
        for i in rows:
            others = [j for j in rows if j != i]
            assert got[i, 0] == pytest.approx(np.mean(V[others] @ V[i]))
            assert got[i, 1] == pytest.approx((cos[i] - cos[rows].mean()) / cos[rows].std())
            assert got[i, 2] == pytest.approx((n_words[i] - n_words[rows].mean()) / n_words[rows].std())
    small = [i for i, k in enumerate(keys) if k == "b"]
    assert np.isnan(got[small]).all()     # too few answers to that question: no cohort
    assert got.shape == (len(keys), len(COHORT_FEATURES))


def test_ridge_model_predicts_like_sklearn_and_round_trips():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 4))
    t = np.clip(0.5 + 0.25 * X[:, 0] - 0.1 * X[:, 1] + 0.1 * rng.normal(size=240), 0, 1)
    labels = tuple(str(i) for i in range(6))
    y = [labels[int(round(v * 5))] for v in t]
    X[:5, 3] = np.nan                     # missing signals count as average
    m = GradingModel(labels=labels, features=("a", "b", "c", "d"), estimator="ridge").fit(X, y, target=t)
    Z = np.nan_to_num((X - m.mean_) / m.scale_)
    assert np.allclose(m.predict_grade(X), np.clip(m._sklearn_.predict(Z), 0, 1))
    assert isinstance(m._sklearn_, Ridge)
    proba = m.predict_proba(X)
    assert proba.shape == (240, 6) and np.allclose(proba.sum(axis=1), 1)
    # The most probable label is the one nearest to the regressed grade.
    assert (proba.argmax(axis=1) == np.round(m.predict_grade(X) * 5)).mean() > 0.95
    again = GradingModel.from_dict(json.loads(json.dumps(m.to_dict())))
    assert np.array_equal(again.predict_proba(X), proba)
    assert np.array_equal(again.predict_grade(X), m.predict_grade(X))

    bad = m.to_dict()
    bad["folds"][0]["estimator"]["errors"][0][0] = 7
    with pytest.raises(DataError, match="errors"):
        GradingModel.from_dict(bad)
    bad = m.to_dict()
    bad["folds"][0]["estimator"]["type"] = "boosting"
    with pytest.raises(DataError, match="estimator"):
        GradingModel.from_dict(bad)


def test_features_of_two_embedders_never_mix(grader):
    """Rotating every vector leaves cosines alone, so a grader on a rotated copy of the model must
    give the same signals; cached reference vectors of the other model would not."""
    from grader.core.embedding import CachedEmbedder, Encoded
    from grader.grading import Grader

    rng = np.random.default_rng(0)
    R, _ = np.linalg.qr(rng.normal(size=(384, 384)))
    base = grader.embedder.backend

    class Rotated:
        name = "rotated-for-test"

        def encode_full(self, texts, batch_size=32):
            return [Encoded(e.text, e.vector @ R, e.tokens @ R, e.offsets, e.truncated, self.name)
                    for e in base.encode_full(texts, batch_size)]

        def encode_vectors(self, texts, batch_size=32):
            return base.encode_vectors(texts, batch_size) @ R

    q = grader.resolve("q004-035")
    items = [(q, "Dropout zeroes random units during training so they cannot co-adapt."),
             (q, "It is a way to make the network bigger.")]
    X_plain, _ = grader.featurize(items)
    rotated = Grader(grader.bank, grader.rubrics, grader.model, embedder=CachedEmbedder(Rotated()))
    X_rot, _ = rotated.featurize(items)
    assert np.allclose(X_plain, X_rot, atol=1e-4, equal_nan=True)   # e5 signals skipped alike


@pytest.fixture(scope="module")
def cohort_model(tmp_path_factory):
    from click.testing import CliRunner

    folder = tmp_path_factory.mktemp("cohort")
    data = _write_jsonl(folder / "strict.jsonl", _fixture_rows())
    out = folder / "model"
    res = CliRunner().invoke(main, ["calibrate", str(data), "-o", str(out), "--cv", "3", "--cohort", "--no-memory",
                                    "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    return data, out, json.loads(res.output)


def test_calibrate_with_cohort_writes_a_model_that_uses_it(cohort_model):
    _, out, summary = cohort_model
    saved = json.loads((out / "model.json").read_text())
    assert saved["features"][-len(COHORT_FEATURES):] == list(COHORT_FEATURES)
    assert saved["fallback"]["features"] == saved["features"][:-len(COHORT_FEATURES)]   # for lone answers
    assert saved["metadata"]["options"]["cohort"] is True
    assert not (out / "answer_memory.json").exists()
    m = summary["cv"]["metrics"]
    assert m["calibrated"]["n"] == summary["rows"]
    assert m["calibrated"]["accuracy"] > m["default"]["accuracy"]
    assert m["calibrated"]["brier"] < m["default"]["brier"]


def test_batch_gathers_the_cohort_and_reads_stdin_too(cohort_model, tmp_path, runner):
    data, out, _ = cohort_model
    rows = [json.loads(l) for l in data.read_text().splitlines()]
    src = tmp_path / "in.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["question_id", "answer"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    res = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "out.jsonl"), "--model", str(out), "-q"])
    assert res.exit_code == 0, res.output
    from_file = [json.loads(l) for l in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["answer"] for r in from_file] == [r["answer"] for r in rows]
    assert all(r["status"] == "ok" for r in from_file)

    res = runner.invoke(main, ["batch", "-", "-o", "-", "--model", str(out), "-q"], input=src.read_text())
    assert res.exit_code == 0, res.output
    from_stdin = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [float(r["score"]) for r in from_stdin] == [r["score"] for r in from_file]
    assert not list(tmp_path.glob(".grader-stdin-*"))

    # Graded alone, an answer has no cohort: still graded, but not the same as among its classmates.
    alone = []
    for r in rows[:8]:
        res = runner.invoke(main, ["grade", "-q", r["question_id"], "-a", r["answer"], "--model", str(out), "--json"])
        assert res.exit_code == 0, res.output
        alone.append(json.loads(res.output)["score"])
    assert all(0 <= s <= 1 for s in alone)
    assert not np.allclose(alone, [float(r["score"]) for r in from_file[:8]])

    res = runner.invoke(main, ["eval", str(data), "--model", str(out), "--json", "--quiet"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["metrics"]["n"] == len(rows)


def test_a_grader_is_reusable_after_a_batch_with_a_cohort(cohort_model, tmp_path):
    """The cohort is an argument, never state: after a batch graded with one, grade() on the same
    Grader gives what a fresh Grader gives."""
    from grader.grading import Grader
    from grader.workflows.batch.job import BatchJob

    data, out, _ = cohort_model
    used = Grader.from_paths(model_path=out)
    BatchJob(used).run(str(data), str(tmp_path / "graded.jsonl"))
    assert not hasattr(used, "cohort")
    rows = [json.loads(l) for l in data.read_text().splitlines()][:6]
    fresh = Grader.from_paths(model_path=out)
    for r in rows:
        assert used.grade(r["question_id"], r["answer"]) == fresh.grade(r["question_id"], r["answer"])
