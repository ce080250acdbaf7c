import json

import numpy as np
import pytest

from grader.cli import main
from grader.errors import DataError
from grader.model.classifier import GradingModel


def _data(seed=0, n=300):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    s = X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.5, size=n)
    y = np.where(s < -0.5, "incorrect", np.where(s < 0.5, "partial", "correct"))
    return X, y


@pytest.mark.parametrize("estimator, calibration", [("logistic", "sigmoid"), ("boosting", "sigmoid"),
                                                    ("logistic", "isotonic")])
def test_json_prediction_equals_sklearn_and_round_trips(tmp_path, estimator, calibration):
    X, y = _data()
    m = GradingModel(features=("a", "b", "c", "d"), estimator=estimator, calibration=calibration, max_iter=30)
    m.fit(X, y)
    Z = (X - m.mean_) / m.scale_
    np.testing.assert_allclose(m.predict_proba(X), m._sklearn_.predict_proba(Z), atol=1e-6)
    m.save(tmp_path / "model.json")
    loaded = GradingModel.load(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(X), m.predict_proba(X), atol=1e-9)
    assert loaded.labels == m.labels and loaded.features == m.features


def test_boosting_with_missing_signals_predicts_like_sklearn(tmp_path):
    """A signal that is either missing or uninformative makes sklearn split "every value left,
    missing right" (threshold +inf), which must survive the JSON round trip."""
    rng = np.random.default_rng(0)
    X, y = _data(n=600)
    missing = rng.random(len(X)) < 0.3
    X[:, 2] = rng.integers(0, 2, len(X))
    X[missing, 2] = np.nan
    y = np.where(missing & (rng.random(len(X)) < 0.7), "correct", y)
    m = GradingModel(features=("a", "b", "c", "d"), estimator="boosting", max_iter=30).fit(X, y)
    Z = (X - m.mean_) / m.scale_
    np.testing.assert_allclose(m.predict_proba(X), m._sklearn_.predict_proba(Z), atol=1e-6)
    m.save(tmp_path / "model.json")
    np.testing.assert_allclose(GradingModel.load(tmp_path).predict_proba(X), m._sklearn_.predict_proba(Z), atol=1e-6)


def _saved(tmp_path):
    X, y = _data()
    m = GradingModel(features=("a", "b", "c", "d"), estimator="boosting", max_iter=10).fit(X, y)
    m.save(tmp_path / "model.json")
    return json.loads((tmp_path / "model.json").read_text())


@pytest.mark.parametrize("tamper, key", [
    (lambda d: d.update(format="pickle"), "format"),
    (lambda d: d["scaler"].update(mean=[1, 2]), "scaler.mean"),
    (lambda d: d["folds"][0]["estimator"]["trees"][0][0].update(left=[99999] * len(
        d["folds"][0]["estimator"]["trees"][0][0]["left"])), "left"),
    (lambda d: d["folds"][0]["calibrators"].pop(), "calibrators"),
    (lambda d: d["folds"][0]["estimator"]["trees"][0][0].update(left=[0] * len(
        d["folds"][0]["estimator"]["trees"][0][0]["left"])), "do not form a tree"),
    (lambda d: d["scaler"].update(scale=["__import__('os')"] * 4), "scaler.scale"),
])
def test_tampered_model_fails_safely(tmp_path, tamper, key):
    d = _saved(tmp_path)
    tamper(d)
    (tmp_path / "model.json").write_text(json.dumps(d))
    with pytest.raises(DataError) as err:
        GradingModel.load(tmp_path / "model.json")
    assert key in str(err.value)


def test_tampered_model_via_cli_is_one_line_error(tmp_path, runner):
    (tmp_path / "model.json").write_text("\x80\x04\x95 not json")
    out = runner.invoke(main, ["grade", "-q", "q004-035", "-a", "x", "--model", str(tmp_path)])
    assert out.exit_code == 1 and "model.json" in out.output and "Traceback" not in out.output


def test_bundled_model_loads_and_matches_the_feature_list():
    from grader.signals.features import FEATURES
    from grader.grading import default_model_path

    from grader.signals.features import FAST_FEATURES

    m = GradingModel.load(default_model_path())
    assert m.features == FEATURES
    assert m.fallback.features == FAST_FEATURES   # every signal but e5's: the cascade's fast tier
    assert m.labels == ("incorrect", "partial", "correct")
    assert {"trained_on", "semantic_judge", "versions"} <= set(m.metadata)
    from grader.core.judge import get_judge

    assert m.metadata["answer_judge"] == get_judge().name, "the judge changed: retrain the model (eval/train.py)"


def test_a_model_calibrated_before_the_e5_signals_still_grades(tmp_path, runner):
    """Models name their signals: one without the e5 ones is fed the signals it knows."""
    from grader.grading import default_model_path

    d = json.loads(default_model_path().read_text())
    (tmp_path / "model.json").write_text(json.dumps(d["fallback"] | {"format": d["format"]}))
    out = runner.invoke(main, ["grade", "-q", "q004-035", "-a", "It drops random neurons while training.",
                               "--model", str(tmp_path), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["label"] in ("incorrect", "partial", "correct")


def test_model_made_for_other_signals_is_a_one_line_error(tmp_path, runner):
    from grader.grading import default_model_path

    d = json.loads(default_model_path().read_text())
    # Two of e5's signals renamed: the fallback (every signal but e5's) stays a valid part of the model.
    first_e5 = d["features"].index("e5_cos_max")
    d["features"][first_e5:first_e5 + 2] = ["retired_signal_a", "retired_signal_b"]
    (tmp_path / "model.json").write_text(json.dumps(d))
    out = runner.invoke(main, ["grade", "-q", "q004-035", "-a", "x", "--model", str(tmp_path)])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "calibrate it again" in out.output and str(tmp_path) in out.output and "retired_signal_a" in out.output
