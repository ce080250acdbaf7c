"""The calibrated classifier that turns signals into label probabilities, stored as plain JSON.

Training uses scikit-learn (`StandardScaler`, `LogisticRegression`, `CalibratedClassifierCV`);
the learned numbers are then written to JSON and prediction is recomputed from them, so loading a
model file never executes code. `predict_proba` reproduces scikit-learn's to float precision
(checked in the tests).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader.errors import DataError, read_whole
from grader.files import write_atomically
from grader.settings import MAX_MODEL_BYTES

FORMAT = "grader-model/1"
ESTIMATORS = ("boosting", "logistic", "ridge")
RIDGE_ALPHAS = tuple(np.logspace(-2, 3, 20))
RIDGE_ERROR_BINS = 4          # ranges of predicted grade, each with its own held-out errors
RIDGE_ERROR_QUANTILES = 100   # held-out errors kept per range (as quantiles)
DEFAULT_LABELS = ("incorrect", "partial", "correct")


def _expit(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))


@dataclass
class GradingModel:
    """A classifier on standardised signals (multinomial logistic regression or boosted trees) with
    per-class probability calibration fitted on held-out folds (grouped by question when groups are
    given); or ridge regression of the grade, whose label probabilities come from its own held-out
    errors (ordered labels, and numeric scores such as 0-5)."""

    labels: tuple[str, ...] = DEFAULT_LABELS
    features: tuple[str, ...] = ()
    estimator: str = "boosting"      # boosting (gradient-boosted trees), logistic or ridge
    C: float = 1.0                   # logistic: inverse regularisation strength
    max_iter: int = 150              # boosting: number of boosting rounds
    calibration: str = "sigmoid"
    cv: int = 5
    metadata: dict = field(default_factory=dict)
    # A model on a prefix of `features`, for rows whose remaining signals are all missing (NaN):
    # e.g. answers graded without a cohort, for a model calibrated with cohort signals.
    fallback: "GradingModel | None" = None

    def _make_estimator(self):
        if self.estimator == "logistic":
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(C=self.C, max_iter=2000)
        if self.estimator == "boosting":
            from sklearn.ensemble import HistGradientBoostingClassifier

            return HistGradientBoostingClassifier(max_iter=self.max_iter, learning_rate=0.05, max_leaf_nodes=15,
                                                  l2_regularization=1.0, random_state=0)
        raise ValueError(f"unknown estimator {self.estimator!r}")

    def fit(self, X, y, groups=None, target=None) -> "GradingModel":
        """`y` are label names; `target`, optional, the exact grades in [0, 1] (e.g. a 4.5 on a
        0-5 scale), which the ridge estimator regresses on instead of the label positions."""
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.model_selection import GroupKFold, StratifiedKFold

        X = np.asarray(X, dtype=float)
        y = np.asarray(y)
        unknown = set(y) - set(self.labels)
        if unknown:
            raise ValueError(f"labels not in the model's label set: {sorted(unknown)}")
        import warnings

        with warnings.catch_warnings():   # a signal missing on every row (all-NaN column)
            warnings.simplefilter("ignore", RuntimeWarning)
            self.mean_ = np.nan_to_num(np.nanmean(X, axis=0))
            self.scale_ = np.nan_to_num(np.nanstd(X, axis=0))
        self.scale_[self.scale_ == 0] = 1.0
        Z = self._standardise(X)
        y_idx = np.array([self.labels.index(v) for v in y])
        self.inner_folds_ = "grouped"
        splitter = None
        if groups is not None and len(set(groups)) >= self.cv:
            splitter = list(GroupKFold(n_splits=self.cv).split(Z, y_idx, groups))
            # A class whose answers all lie in a few groups can be missing from an inner training
            # fold: boosting then raises, logistic regression gives that class nonsense. Such
            # folds fall back to stratified folds over rows (reported as a calibration warning).
            present = set(y_idx)
            if any(set(y_idx[train]) != present for train, _ in splitter):
                splitter = None
                self.inner_folds_ = "rows"
        else:
            self.inner_folds_ = "rows"
        if splitter is None:
            splitter = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=0)
        if self.estimator == "ridge":
            t = y_idx / (len(self.labels) - 1) if target is None else np.asarray(target, dtype=float)
            self._fit_ridge(Z, t, y_idx, splitter)
            return self
        # ensemble=False: calibrators are fitted on out-of-fold decisions, and one estimator on all
        # rows is kept, which keeps boosted models small.
        clf = CalibratedClassifierCV(self._make_estimator(), method=self.calibration, cv=splitter,
                                     ensemble=self.estimator == "logistic")
        from threadpoolctl import threadpool_limits

        # One OpenMP thread: on a shared 2-core machine, busy-waiting threads of the tree grower
        # can slow boosting down a hundredfold.
        with threadpool_limits(limits=1):
            clf.fit(Z, y_idx)
        self.classes_ = [int(c) for c in clf.classes_]
        folds = []
        for cc in clf.calibrated_classifiers_:
            est = cc.estimator
            calibrators = []
            for cal in cc.calibrators:
                if self.calibration == "sigmoid":
                    calibrators.append({"a": float(cal.a_), "b": float(cal.b_)})
                else:
                    calibrators.append({"x": cal.X_thresholds_.tolist(), "y": cal.y_thresholds_.tolist()})
            folds.append({"estimator": _export_estimator(est), "calibrators": calibrators})
        self._set_folds(folds)
        self._sklearn_ = clf  # kept only in memory, for the equivalence test
        return self

    def _fit_ridge(self, Z, t, y_idx, splitter) -> None:
        from sklearn.linear_model import Ridge, RidgeCV
        from sklearn.model_selection import cross_val_predict

        alpha = float(RidgeCV(alphas=RIDGE_ALPHAS).fit(Z, t).alpha_)
        reg = Ridge(alpha=alpha).fit(Z, t)
        # The spread of held-out errors, not of training ones, so that probabilities are honest.
        splits = splitter if isinstance(splitter, list) else list(splitter.split(Z, y_idx))
        held_out = cross_val_predict(Ridge(alpha=alpha), Z, t, cv=splits)
        held_out = np.clip(held_out, 0, 1)
        residual = t - held_out
        # Label probabilities come from the held-out errors themselves, taken separately for low
        # and high predictions: errors are skewed (a grade cannot pass the top of the scale).
        n_bins = int(min(RIDGE_ERROR_BINS, max(1, len(t) // 100)))
        edges = np.quantile(held_out, np.linspace(0, 1, n_bins + 1)[1:-1]) if n_bins > 1 else np.zeros(0)
        which = np.searchsorted(edges, held_out)
        levels = (np.arange(RIDGE_ERROR_QUANTILES) + 0.5) / RIDGE_ERROR_QUANTILES
        errors = [np.quantile(residual[which == b], levels).tolist() if (which == b).any()
                  else np.quantile(residual, levels).tolist() for b in range(n_bins)]
        self.classes_ = list(range(len(self.labels)))
        self._set_folds([{"estimator": {"type": "ridge", "coef": reg.coef_.tolist(),
                                        "intercept": float(reg.intercept_), "alpha": alpha,
                                        "error_edges": edges.tolist(), "errors": errors},
                          "calibrators": []}])
        self._sklearn_ = reg

    def _set_folds(self, folds: list[dict]) -> None:
        self.folds_ = folds
        # Each fold's trees packed once into flat arrays (kept beside the stored data, not in it),
        # so that prediction walks all trees together.
        self._packed = [_pack_trees(f["estimator"]) if f["estimator"]["type"] == "boosting" else None
                        for f in folds]

    def _fold_proba(self, Z, fold, packed) -> np.ndarray:
        if fold["estimator"]["type"] == "ridge":
            return _error_proba(_decision(fold["estimator"], Z, packed)[:, 0], fold["estimator"], len(self.labels))
        decision = _decision(fold["estimator"], Z, packed)
        n_classes = len(self.classes_)
        proba = np.zeros((Z.shape[0], n_classes))
        cols = range(decision.shape[1])
        for j, cal in zip(cols, fold["calibrators"]):
            f = decision[:, j]
            if "a" in cal:
                p = _expit(-(cal["a"] * f + cal["b"]))
            else:
                p = np.interp(f, cal["x"], cal["y"])
            target = 1 if n_classes == 2 else j
            proba[:, target] = p
        if n_classes == 2:
            proba[:, 0] = 1.0 - proba[:, 1]
        else:
            denom = proba.sum(axis=1, keepdims=True)
            uniform = denom[:, 0] == 0
            proba = np.divide(proba, denom, out=np.full_like(proba, 1.0 / n_classes), where=denom != 0)
            proba[uniform] = 1.0 / n_classes
        proba = np.clip(proba, 0.0, 1.0)
        return proba

    def _standardise(self, X) -> np.ndarray:
        """Standardised signals. A missing signal (NaN, e.g. a cohort signal of a lone answer) stays
        NaN for trees, which learn where to send it, and counts as average for linear models."""
        Z = (np.atleast_2d(np.asarray(X, dtype=float)) - self.mean_) / self.scale_
        return Z if self.estimator == "boosting" else np.nan_to_num(Z, nan=0.0)

    def _fallback_rows(self, X) -> np.ndarray | None:
        if self.fallback is None:
            return None
        rest = np.asarray(X, dtype=float)[:, len(self.fallback.features):]
        rows = np.isnan(rest).all(axis=1)
        return rows if rows.any() else None

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities over `self.labels` (columns in label order)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        lone = self._fallback_rows(X)
        if lone is not None:
            out = np.zeros((len(X), len(self.labels)))
            out[lone] = self.fallback.predict_proba(X[lone][:, :len(self.fallback.features)])
            if (~lone).any():
                out[~lone] = self._own_proba(X[~lone])
            return out
        return self._own_proba(X)

    def _own_proba(self, X) -> np.ndarray:
        Z = self._standardise(X)
        proba = np.mean([self._fold_proba(Z, f, p) for f, p in zip(self.folds_, self._packed)], axis=0)
        full = np.zeros((Z.shape[0], len(self.labels)))
        full[:, self.classes_] = proba
        return full

    def predict(self, X) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(X).argmax(axis=1)]

    def predict_grade(self, X, proba: np.ndarray | None = None) -> np.ndarray:
        """Grade on [0, 1]: the regression itself for ridge (its label probabilities are coarser),
        else the expected grade of the label probabilities (`proba`, if already computed)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        lone = self._fallback_rows(X)
        if lone is not None:
            out = np.zeros(len(X))
            out[lone] = self.fallback.predict_grade(X[lone][:, :len(self.fallback.features)],
                                                    None if proba is None else proba[lone])
            if (~lone).any():
                out[~lone] = self._own_grade(X[~lone], None if proba is None else proba[~lone])
            return out
        return self._own_grade(X, proba)

    def _own_grade(self, X, proba=None) -> np.ndarray:
        if self.estimator == "ridge":
            return np.clip(_decision(self.folds_[0]["estimator"], self._standardise(X), None)[:, 0], 0.0, 1.0)
        return self.score_from_proba(self._own_proba(X) if proba is None else proba)

    def score_from_proba(self, proba: np.ndarray) -> np.ndarray:
        """Expected grade on [0, 1]: labels are ordered worst to best and spaced evenly."""
        steps = np.linspace(0.0, 1.0, len(self.labels))
        return np.atleast_2d(proba) @ steps

    # --- storage --------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "labels": list(self.labels),
            "features": list(self.features),
            "params": {"estimator": self.estimator, "C": self.C, "max_iter": self.max_iter,
                       "calibration": self.calibration, "cv": self.cv},
            "scaler": {"mean": self.mean_.tolist(), "scale": self.scale_.tolist()},
            "classes": self.classes_,
            "folds": self.folds_,
            "metadata": self.metadata,
            **({"fallback": self.fallback.to_dict()} if self.fallback is not None else {}),
        }

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(self.to_dict(), indent=1, sort_keys=False))

    @classmethod
    def from_dict(cls, d: dict, path: str = "<model>") -> "GradingModel":
        def fail(key, problem):
            raise DataError(path, key, problem)

        if not isinstance(d, dict) or d.get("format") != FORMAT:
            fail("format", f"not a grader model file (expected format {FORMAT!r})")
        labels = d.get("labels")
        features = d.get("features")
        if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)):
            fail("labels", "expected a list of at least two label names")
        twice = _first_repeated(labels)
        if twice is not None:
            fail("labels", f"label {twice!r} appears twice; label names must differ")
        if not (isinstance(features, list) and features and all(isinstance(x, str) for x in features)):
            fail("features", "expected a list of feature names")
        n_feat = len(features)
        params = d.get("params") if isinstance(d.get("params"), dict) else fail("params", "expected a mapping")
        calibration = params.get("calibration")
        if calibration not in ("sigmoid", "isotonic"):
            fail("params.calibration", "expected sigmoid or isotonic")
        estimator = params.get("estimator", "logistic")
        if estimator not in ESTIMATORS:
            fail("params.estimator", "expected " + " or ".join(ESTIMATORS))
        if not (_is_number(params.get("C", 1.0)) and params.get("C", 1.0) > 0):
            fail("params.C", "expected a finite positive number")
        for key, default in (("max_iter", 150), ("cv", 5)):
            value = params.get(key, default)
            if not (_is_number(value) and value == int(value) and value >= 1):
                fail(f"params.{key}", "expected a positive whole number")
        _check_metadata(d.get("metadata"), path)
        model = cls(tuple(labels), tuple(features), estimator, float(params.get("C", 1.0)),
                    int(params.get("max_iter", 150)), calibration, int(params.get("cv", 5)),
                    d.get("metadata") if isinstance(d.get("metadata"), dict) else {})
        scaler = d.get("scaler") if isinstance(d.get("scaler"), dict) else fail("scaler", "expected a mapping")
        model.mean_ = _vector(scaler.get("mean"), n_feat, path, "scaler.mean")
        model.scale_ = _vector(scaler.get("scale"), n_feat, path, "scaler.scale")
        if (model.scale_ <= 0).any():
            fail("scaler.scale", "scales must be positive")
        classes = d.get("classes")
        if not (isinstance(classes, list) and classes
                and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(labels) for c in classes)):
            fail("classes", "expected label indices")
        twice = _first_repeated(classes)
        if twice is not None:
            fail("classes", f"label index {twice} appears twice; each class is one label")
        model.classes_ = classes
        folds = d.get("folds")
        if not (isinstance(folds, list) and folds):
            fail("folds", "expected a non-empty list")
        n_out = 1 if len(classes) == 2 else len(classes)
        if estimator == "ridge":
            if classes != list(range(len(labels))):
                fail("classes", "a ridge model covers every label")
            n_out = 0
        for i, fold in enumerate(folds):
            where = f"folds[{i}]"
            if not isinstance(fold, dict):
                fail(where, "expected a mapping")
            _check_estimator(fold.get("estimator"), n_out, n_feat, path, f"{where}.estimator", estimator)
            cals = fold.get("calibrators")
            if not (isinstance(cals, list) and len(cals) == n_out):
                fail(f"{where}.calibrators", f"expected {n_out} calibrators")
            for j, cal in enumerate(cals):
                key = f"{where}.calibrators[{j}]"
                if calibration == "sigmoid":
                    if not (isinstance(cal, dict) and _is_number(cal.get("a")) and _is_number(cal.get("b"))):
                        fail(key, "expected finite numbers a and b")
                else:
                    xs = _vector(cal.get("x") if isinstance(cal, dict) else None, None, path, f"{key}.x")
                    _vector(cal.get("y"), len(xs), path, f"{key}.y")
        model._set_folds(folds)
        if d.get("fallback") is not None:
            fb = cls.from_dict(d["fallback"], f"{path} (fallback)")
            if fb.labels != model.labels or not set(fb.features) < set(model.features):
                fail("fallback", "expected a model with the same labels on fewer of the same features")
            model.fallback = fb
        return model

    @classmethod
    def load(cls, path: str | Path) -> "GradingModel":
        path = Path(path)
        if path.is_dir():
            path = path / "model.json"
        try:
            raw = read_whole(path, MAX_MODEL_BYTES, "model file")
        except FileNotFoundError:
            raise DataError(path, "", "model file not found") from None
        except UnicodeDecodeError:
            raise DataError(path, "", "not UTF-8 JSON") from None
        try:
            d = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"line {exc.lineno}", f"invalid JSON ({exc.msg})") from None
        except RecursionError:
            raise DataError(path, "", "invalid JSON (nested too deeply)") from None
        except ValueError as exc:     # e.g. an integer of thousands of digits
            raise DataError(path, "", f"invalid JSON ({exc})") from None
        return cls.from_dict(d, str(path))


def _is_number(x) -> bool:
    """A finite int or float (not a bool); an int too large for a float is not one."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _first_repeated(values: list):
    """The first value of `values` that appears twice, or None."""
    seen = set()
    for v in values:
        if v in seen:
            return v
        seen.add(v)
    return None


def _check_metadata(metadata, path):
    """The numbers of the metadata that grading computes with: the score scale of a numeric-scale
    model and the semantic judge's logistic model, when present."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise DataError(path, "metadata", "expected a mapping")
    embedder = metadata.get("embedder")
    if embedder is not None and not isinstance(embedder, str):
        raise DataError(path, "metadata.embedder", "expected the name of an embedding backend")
    scale = metadata.get("scale")
    if scale is not None and not (isinstance(scale, list) and len(scale) == 2 and all(_is_number(x) for x in scale)
                                  and scale[0] != scale[1]):
        raise DataError(path, "metadata.scale", "expected two different finite numbers [low, high]")
    judge = metadata.get("semantic_judge")
    if judge is not None and not isinstance(judge, dict):
        raise DataError(path, "metadata.semantic_judge", "expected a mapping")
    if isinstance(judge, dict):
        names = judge.get("features")
        if not (isinstance(names, list) and all(isinstance(x, str) for x in names)):
            raise DataError(path, "metadata.semantic_judge.features", "expected a list of feature names")
        for key in ("mean", "scale", "coef"):
            _vector(judge.get(key), len(names), path, f"metadata.semantic_judge.{key}")
        if not all(x > 0 for x in judge["scale"]):
            raise DataError(path, "metadata.semantic_judge.scale", "scales must be positive")
        if not _is_number(judge.get("intercept")):
            raise DataError(path, "metadata.semantic_judge.intercept", "expected a finite number")


def _vector(values, length, path, key) -> np.ndarray:
    if not (isinstance(values, list) and all(_is_number(v) for v in values)):
        raise DataError(path, key, "expected a list of finite numbers")
    if length is not None and len(values) != length:
        raise DataError(path, key, f"expected {length} numbers, got {len(values)}")
    return np.asarray(values, dtype=float)


def _matrix(values, rows, cols, path, key):
    if not (isinstance(values, list) and len(values) == rows):
        raise DataError(path, key, f"expected {rows} rows")
    return [_vector(r, cols, path, f"{key}[{i}]") for i, r in enumerate(values)]


# --- estimators as data ----------------------------------------------------------------------

_TREE_KEYS = ("feature", "threshold", "left", "right", "leaf", "value", "missing_left")
# Leaves per tree that prediction supports: a tree's reachable leaves are one bit each of a word.
MAX_LEAVES = 64
# sklearn's split "every value left, missing values right" has threshold +inf, which JSON cannot
# hold; the largest float sends every finite value left just the same.
_ALL_LEFT = float(np.finfo(float).max)


def _export_estimator(est) -> dict:
    if hasattr(est, "coef_"):
        return {"type": "logistic", "coef": np.atleast_2d(est.coef_).tolist(),
                "intercept": np.atleast_1d(est.intercept_).tolist()}
    rounds = []
    for trees in est._predictors:
        per_output = []
        for tree in trees:
            n = tree.nodes
            per_output.append({
                "feature": n["feature_idx"].astype(int).tolist(),
                "threshold": [_ALL_LEFT if t == np.inf else float(t) for t in n["num_threshold"]],
                "left": n["left"].astype(int).tolist(), "right": n["right"].astype(int).tolist(),
                "leaf": n["is_leaf"].astype(int).tolist(), "value": n["value"].astype(float).tolist(),
                "missing_left": n["missing_go_to_left"].astype(int).tolist(),
            })
        rounds.append(per_output)
    return {"type": "boosting", "baseline": np.ravel(est._baseline_prediction).tolist(), "trees": rounds}


def _leaf_order(tree: dict) -> tuple[list[int], dict[int, tuple[int, int]]] | None:
    """The tree's leaves from left to right, and for each split node the range of leaf ranks
    under its left child. None if the nodes do not form a tree from node 0."""
    left, right = [int(i) for i in tree["left"]], [int(i) for i in tree["right"]]
    leaves: list[int] = []
    left_range: dict[int, tuple[int, int]] = {}
    seen = set()
    stack: list[tuple[int, bool]] = [(0, False)]
    first_leaf: dict[int, int] = {}
    while stack:
        node, children_done = stack.pop()
        if children_done:
            left_range[node] = (first_leaf[left[node]], first_leaf[right[node]])
            first_leaf[node] = first_leaf[left[node]]
            continue
        if node in seen:
            return None
        seen.add(node)
        if tree["leaf"][node]:
            first_leaf[node] = len(leaves)
            leaves.append(node)
        else:
            stack += [(node, True), (right[node], False), (left[node], False)]
    return leaves, left_range


def _pack_trees(est: dict) -> dict:
    """All trees of a boosted estimator as arrays for QuickScorer-style prediction (Lucchese et al.,
    SIGIR 2015): every split is tested at once, each split sent right clears the bits of the leaves
    left of it, and the leftmost leaf still set is where the row lands. That replaces a walk of
    dependent, row-by-row steps with a few whole-array operations."""
    trees = [(k, t) for per_output in est["trees"] for k, t in enumerate(per_output)]
    orders = [_leaf_order(t) for _, t in trees]
    width = max(1, max(len(splits) for _, splits in orders))
    n_leaves = max(len(leaves) for leaves, _ in orders)
    dtype = next(d for d in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(d).bits >= n_leaves)
    ones = np.iinfo(dtype).max
    # Unused split slots never go right: feature 0 against +inf, missing values left.
    feature = np.zeros((len(trees), width), dtype=np.intp)
    threshold = np.full((len(trees), width), np.inf)
    missing_right = np.zeros((len(trees), width), dtype=bool)
    clears = np.full((len(trees), width), ones, dtype=dtype)
    values = np.zeros((len(trees), n_leaves))
    for i, ((_, tree), (leaves, splits)) in enumerate(zip(trees, orders)):
        for slot, (node, (lo, hi)) in enumerate(splits.items()):
            feature[i, slot] = tree["feature"][node]
            threshold[i, slot] = tree["threshold"][node]
            missing_right[i, slot] = not tree["missing_left"][node]
            clears[i, slot] = ones ^ (((1 << hi) - 1) ^ ((1 << lo) - 1))
        values[i, :len(leaves)] = [tree["value"][n] for n in leaves]
    output = np.zeros((len(trees), len(est["baseline"])))
    output[np.arange(len(trees)), [k for k, _ in trees]] = 1.0
    return {"feature": feature.ravel(), "threshold": threshold.ravel(), "missing_right": missing_right.ravel(),
            "clears": clears.ravel(), "width": width, "values": values, "output": output, "one": dtype(1)}


def _error_proba(raw: np.ndarray, est: dict, k: int) -> np.ndarray:
    """Label probabilities of a regressed grade: the share of its held-out errors (those of
    predictions in the same range) that would land nearest to each of k evenly spaced grades."""
    pred = np.clip(np.asarray(raw, dtype=float), 0, 1)
    errors = np.asarray(est["errors"], dtype=float)                       # (bins, quantiles)
    which = np.searchsorted(np.asarray(est["error_edges"], dtype=float), pred)
    outcomes = np.clip(pred[:, None] + errors[which], 0, 1)                # (rows, quantiles)
    cls = np.rint(outcomes * (k - 1)).astype(int)
    proba = np.zeros((len(pred), k))
    np.add.at(proba, (np.repeat(np.arange(len(pred)), cls.shape[1]), cls.ravel()), 1.0)
    return proba / cls.shape[1]


def _decision(est: dict, Z: np.ndarray, p: dict | None) -> np.ndarray:
    """Raw decision values; `p` is the estimator's packed trees (None for logistic and ridge)."""
    if est["type"] == "ridge":
        return (Z @ np.asarray(est["coef"]) + est["intercept"])[:, None]
    if est["type"] == "logistic":
        return Z @ np.asarray(est["coef"]).T + np.asarray(est["intercept"])
    n_rows, n_trees = len(Z), len(p["values"])
    x = Z[:, p["feature"]]                                   # (rows, trees x split slots)
    right = x > p["threshold"]
    if np.isnan(Z).any():
        right |= np.isnan(x) & p["missing_right"]
    # A split sent right keeps its clearing mask, else all ones (bool - 1 wraps around to all ones).
    kept = p["clears"] | np.subtract(right, p["one"], dtype=p["clears"].dtype)
    reached = np.bitwise_and.reduce(kept.reshape(n_rows, n_trees, p["width"]), axis=2)
    leaf = np.bitwise_count((reached & (~reached + p["one"])) - p["one"])   # lowest bit set
    values = p["values"][np.arange(n_trees), leaf]
    return np.asarray(est["baseline"], dtype=float) + values @ p["output"]


def _check_estimator(est, n_out, n_feat, path, where, kind):
    if not isinstance(est, dict) or est.get("type") != kind:
        raise DataError(path, where, f"expected an estimator of type {kind}")
    if kind == "ridge":
        _vector(est.get("coef"), n_feat, path, f"{where}.coef")
        if not _is_number(est.get("intercept")):
            raise DataError(path, f"{where}.intercept", "expected a finite number")
        edges = _vector(est.get("error_edges"), None, path, f"{where}.error_edges")
        errors = est.get("errors")
        if not (isinstance(errors, list) and len(errors) == len(edges) + 1):
            raise DataError(path, f"{where}.errors", f"expected {len(edges) + 1} lists of held-out errors")
        for b, row in enumerate(errors):
            e = _vector(row, None, path, f"{where}.errors[{b}]")
            if not len(e) or (np.abs(e) > 1).any():
                raise DataError(path, f"{where}.errors[{b}]", "expected errors of grades, within [-1, 1]")
        return
    if est["type"] == "logistic":
        _matrix(est.get("coef"), n_out, n_feat, path, f"{where}.coef")
        _vector(est.get("intercept"), n_out, path, f"{where}.intercept")
        return
    _vector(est.get("baseline"), n_out, path, f"{where}.baseline")
    rounds = est.get("trees")
    if not isinstance(rounds, list) or not rounds:
        raise DataError(path, where + ".trees", "expected a list of boosting rounds")
    for i, per_output in enumerate(rounds):
        if not isinstance(per_output, list) or len(per_output) != n_out:
            raise DataError(path, f"{where}.trees[{i}]", f"expected {n_out} trees")
        for k, tree in enumerate(per_output):
            key = f"{where}.trees[{i}][{k}]"
            if not isinstance(tree, dict):
                raise DataError(path, key, "expected a mapping")
            n = len(tree.get("feature") or [])
            for name in _TREE_KEYS:
                _vector(tree.get(name), n, path, f"{key}.{name}")
            for name, hi in (("feature", n_feat), ("left", n), ("right", n)):
                idx = np.asarray(tree[name])
                if n and ((idx < 0) | (idx >= hi) | (idx != np.round(idx))).any():
                    raise DataError(path, f"{key}.{name}", f"indices must be integers in [0, {hi})")
            if not n:
                raise DataError(path, key, "expected at least one node")
            order = _leaf_order(tree)
            if order is None:
                raise DataError(path, key, "nodes do not form a tree from node 0")
            if len(order[0]) > MAX_LEAVES:
                raise DataError(path, key, f"more than {MAX_LEAVES} leaves")
