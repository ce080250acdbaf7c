"""Folds, fitting and cross-validation of a model on labelled data (with the answer memory and
cohort columns when asked), and the metrics every system is compared on.

Every metric is reported next to the bundled default model and a plain cosine-similarity
baseline on the same folds; in every fold the answer memory is built from the training fold only."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from grader.errors import GraderError

from grader.model.classifier import GradingModel
from grader.model.metrics import classification_metrics, regression_metrics
from grader.signals.cohort import COHORT_FEATURES, cohort_columns, uses_cohort
from grader.signals.features import FEATURES, select
from grader.signals.memory import MEMORY_DROPOUT, MEMORY_FEATURES, MEMORY_MISSING, memory_features
from grader.workflows.calibration.labels import LabelledData


def make_folds(groups, k: int, y=None, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """K folds in which no group is in both the training and the test part.

    Unique groups per row (unseen answers) are stratified by `y` when given.
    """
    
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

    groups = np.asarray(groups)
    n = len(groups)
    idx = np.arange(n)
    if len(set(groups.tolist())) == n:
        if y is not None and np.bincount(np.asarray(y)).max() >= k:
            counts = np.bincount(np.asarray(y))
            if counts[counts > 0].min() >= k:
                return [(a, b) for a, b in StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, y)]
        return [(a, b) for a, b in KFold(k, shuffle=True, random_state=seed).split(idx)]
    return [(a, b) for a, b in GroupKFold(n_splits=k).split(idx, groups=groups)]


def project_proba(proba: np.ndarray, k: int) -> np.ndarray:
    """Probabilities over J evenly spaced ordered labels, moved onto K evenly spaced classes
    (each label's mass split between the two nearest classes), keeping the expected grade."""
    proba = np.atleast_2d(proba)
    j = proba.shape[1]
    if j == k:
        return proba
    out = np.zeros((len(proba), k))
    for col in range(j):
        pos = col / (j - 1) * (k - 1)
        lo = int(math.floor(pos))
        hi = min(lo + 1, k - 1)
        frac = pos - lo
        out[:, lo] += proba[:, col] * (1 - frac)
        out[:, hi] += proba[:, col] * frac
    return out


def grade_to_proba(t: np.ndarray, k: int) -> np.ndarray:
    """A point grade in [0, 1] as probabilities on K classes (split between the two nearest)."""
    t = np.clip(np.asarray(t, float), 0, 1)
    out = np.zeros((len(t), k))
    pos = t * (k - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, k - 1)
    frac = pos - lo
    out[np.arange(len(t)), lo] += 1 - frac
    out[np.arange(len(t)), hi] += frac
    return out


def all_metrics(proba: np.ndarray, t_pred: np.ndarray, data: LabelledData, rows=None) -> dict:
    rows = np.arange(len(data)) if rows is None else np.asarray(rows)
    lo, hi = data.scheme.user_scale()
    gold = data.gold_on_scale()[rows]
    out = regression_metrics(lo + np.asarray(t_pred) * (hi - lo), gold)
    out.update(classification_metrics(proba, data.y[rows], data.scheme.labels))
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


@dataclass
class Options:
    estimator: str | None = None  # None: chosen by cross-validation (see `candidate_options`)
    memory: bool | None = None    # None: chosen by cross-validation
    cohort: bool = False          # signals from the other answers to the same question (signals.cohort)
    embedder: str | None = None   # embedding backend (default: the bundled model's)
    calibration: str = "sigmoid"
    max_iter: int = 150
    C: float = 1.0
    seed: int = 0


def _model_features(opts: Options) -> tuple[str, ...]:
    return tuple(FEATURES) + (MEMORY_FEATURES if opts.memory else ()) + (COHORT_FEATURES if opts.cohort else ())


def _train_memory_columns(data, rows, emb, opts: Options, rng) -> np.ndarray:
    """Leave-one-out memory signals for training rows, with some questions shown memory-less."""
    keys = [data.keys[i] for i in rows]
    cols = memory_features(keys, emb[rows], keys, emb[rows], data.t[rows], exclude_self=True)
    uniq = sorted(set(keys))
    dropped = {k for k in uniq if rng.random() < MEMORY_DROPOUT}
    mask = np.array([k in dropped for k in keys])
    cols[mask] = MEMORY_MISSING
    return cols


def fit_model(data: LabelledData, X_base: np.ndarray, emb: np.ndarray | None, rows, opts: Options,
              cohort: np.ndarray | None = None):
    """`cohort`: COHORT_FEATURES of every row of `data` (with `opts.cohort`)."""
    rows = np.asarray(rows)
    rng = np.random.default_rng(opts.seed)
    X = X_base[rows]
    if opts.memory:
        X = np.hstack([X, _train_memory_columns(data, rows, emb, opts, rng)])
    if opts.cohort:
        X = np.hstack([X, cohort[rows]])
    y_names = [data.scheme.labels[c] for c in data.y[rows]]
    counts = np.bincount(data.y[rows], minlength=data.scheme.k)
    rarest = int(np.flatnonzero(counts == counts[counts > 0].min())[0])
    if counts[rarest] < 2:
        # The calibration's own folds need two of each class; an outer fold can leave fewer
        # even when the whole file has enough.
        raise GraderError(f"{data.source}: class {data.scheme.labels[rarest]!r} has {counts[rarest]} example in a "
                          "cross-validation training fold, too few to calibrate on; add examples or use fewer "
                          "--cv folds (--cv 1: none)")
    inner = int(max(2, min(5, counts[rarest])))
    groups = np.array([data.keys[i] for i in rows])
    model = GradingModel(labels=data.scheme.labels, features=_model_features(opts), estimator=opts.estimator,
                         C=opts.C, max_iter=opts.max_iter, calibration=opts.calibration, cv=inner)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y_names, groups=groups, target=data.t[rows])
    if opts.cohort:
        # Answers graded alone (or whose question has too small a cohort) get a model of their own:
        # one fitted with cohort signals leans on them and does worse without (eval/mohler.py "lone").
        model.fallback = fit_model(data, X_base, emb, rows, replace(opts, cohort=False))
    return model


def predict(model, data: LabelledData, X_base, emb, train_rows, test_rows,
            cohort: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (scheme classes) and grades in [0, 1] for test rows, memory from train rows."""
    X = X_base[test_rows]
    if any(f in MEMORY_FEATURES for f in model.features):
        keys = [data.keys[i] for i in train_rows]
        mem = memory_features([data.keys[i] for i in test_rows], emb[test_rows], keys, emb[train_rows],
                              data.t[train_rows])
        X = np.hstack([X, mem[:, [MEMORY_FEATURES.index(f) for f in model.features if f in MEMORY_FEATURES]]])
    if uses_cohort(model):
        X = np.hstack([X, cohort[test_rows]])
    proba = model.predict_proba(X)
    return project_proba(proba, data.scheme.k), model.predict_grade(X, proba)


def _cosine_fit(cos_train, t_train):
    A = np.vstack([cos_train, np.ones_like(cos_train)]).T
    coef, *_ = np.linalg.lstsq(A, t_train, rcond=None)
    return coef


@dataclass
class CVResult:
    folds: int
    group_by: str
    systems: dict            # name -> metrics
    oof: dict                # name -> (proba, t_pred) over all rows
    fold_of: np.ndarray

    def to_dict(self) -> dict:
        return {"folds": self.folds, "group_by": self.group_by, "metrics": self.systems}


def featurize_data(grader, data: LabelledData, progress=None, chunk: int = 256):
    """Standard signals (from the bundled-style features), concept matches and answer embeddings."""
    Xs, matches, embs = [], [], []
    items = list(zip(data.questions, data.answers))
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        X, m = grader.featurize(part, all_signals=True)
        Xs.append(X)
        matches.extend(m)
        # Taken while the chunk's answers are still in the embedder's bounded cache.
        embs.append(grader.embedder.encode([a for _, a in part]))
        if progress:
            progress(len(part))
    return np.vstack(Xs), matches, np.vstack(embs)


def data_cohort(data: LabelledData, X_base, emb) -> np.ndarray:
    """COHORT_FEATURES of every row, all rows of a question forming its cohort. Only texts are
    used, so in cross-validation a test fold's cohort may include training answers' texts (in
    grouped folds, a question's answers all lie in one fold anyway)."""
    return cohort_columns(data.keys, emb, X_base[:, FEATURES.index("cos_max")], X_base[:, FEATURES.index("log_words")])


def cross_validate(data: LabelledData, X_base, emb, default_model, k: int, opts: Options,
                   progress=None, cohort: np.ndarray | None = None, X_default=None) -> CVResult:
    """`X_default`: the bundled model's signals when they come from another embedder than X_base."""
    folds = make_folds(data.groups, k, data.y, seed=opts.seed)
    n, K = len(data), data.scheme.k
    oof = {name: (np.zeros((n, K)), np.zeros(n)) for name in ("calibrated", "default", "cosine")}
    fold_of = np.zeros(n, dtype=int)
    X_default = X_base if X_default is None else X_default
    cos = X_default[:, FEATURES.index("cos_max")]
    X_d = select(X_default, default_model.features)
    d_proba = default_model.predict_proba(X_d)
    d_t = default_model.predict_grade(X_d, d_proba)
    for f, (train, test) in enumerate(folds):
        model = fit_model(data, X_base, emb, train, opts, cohort)
        p, t = predict(model, data, X_base, emb, train, test, cohort)
        oof["calibrated"][0][test], oof["calibrated"][1][test] = p, t
        oof["default"][0][test] = project_proba(d_proba[test], K)
        oof["default"][1][test] = d_t[test]
        a, b = _cosine_fit(cos[train], data.t[train])
        ct = np.clip(a * cos[test] + b, 0, 1)
        oof["cosine"][0][test], oof["cosine"][1][test] = grade_to_proba(ct, K), ct
        fold_of[test] = f
        if progress:
            progress(1)
    systems = {name: all_metrics(p, t, data) for name, (p, t) in oof.items()}
    return CVResult(k, data.group_by, systems, oof, fold_of)


def per_question_table(data: LabelledData, t_pred: np.ndarray) -> list[dict]:
    lo, hi = data.scheme.user_scale()
    gold = data.gold_on_scale()
    pred = lo + t_pred * (hi - lo)
    out = []
    for key in dict.fromkeys(data.keys):
        rows = np.array([i for i, kk in enumerate(data.keys) if kk == key])
        m = regression_metrics(pred[rows], gold[rows]) if len(rows) >= 3 else {}
        q = data.questions[rows[0]]
        out.append({"question_id": q.id, "question": q.question, "n": int(len(rows)),
                    "gold_mean": float(gold[rows].mean()), "pred_mean": float(pred[rows].mean()),
                    "pearson": m.get("pearson") if m and m.get("pearson") == m.get("pearson") else None,
                    "mae": float(np.abs(pred[rows] - gold[rows]).mean())})
    return out


def concept_rates(data: LabelledData, matches, limit: int = 20) -> list[dict]:
    """Per rubric concept: how often it is matched in good answers (grade >= 0.75) and in poor ones
    (grade < 0.5); the concepts with the largest gap are the ones that separated answers."""
    stats: dict = {}
    for i, ms in enumerate(matches):
        good, poor = data.t[i] >= 0.75, data.t[i] < 0.5
        for m in ms:
            s = stats.setdefault((data.questions[i].id, m.concept.name), [0, 0, 0, 0])
            if good:
                s[0] += 1
                s[1] += m.status == "matched"
            elif poor:
                s[2] += 1
                s[3] += m.status == "matched"
    rows = []
    for (qid, name), (ng, hg, npoor, hp) in stats.items():
        if ng >= 2 and npoor >= 2:
            rows.append({"question_id": qid, "concept": name, "hit_good": hg / ng, "hit_poor": hp / npoor,
                         "gap": hg / ng - hp / npoor, "n_good": ng, "n_poor": npoor})
    rows.sort(key=lambda r: -r["gap"])
    return rows[:limit]


def permutation_importance(model, X: np.ndarray, t: np.ndarray, seed: int = 0) -> list[tuple[str, float]]:
    """Increase in mean absolute error of the grade when one signal is shuffled (in-sample)."""
    rng = np.random.default_rng(seed)
    base = np.abs(model.predict_grade(X) - t).mean()
    out = []
    for j, name in enumerate(model.features):
        Xp = X.copy()
        Xp[:, j] = X[rng.permutation(len(X)), j]
        out.append((name, float(np.abs(model.predict_grade(Xp) - t).mean() - base)))
    out.sort(key=lambda p: -p[1])
    return out
