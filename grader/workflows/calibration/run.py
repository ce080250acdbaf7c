"""Calibration on the user's own labelled answers, and evaluation against them.

`calibrate`, `evaluate` and `save_run`: what the CLI's calibrate and eval commands run.

Labelled data is the batch CSV/JSONL format plus a `label` column (ordered categories) or a
`score` column (numbers on a scale such as 0:5). `calibrate` fits the classifier and its
probability calibration on those labels, with an *answer memory*: for a question that has graded
answers, the grades of the most similar graded answers of that question become signals
(`MEMORY_FEATURES`). Cross-validation is built in, grouped by question (unseen questions), by a
column such as an assignment, or by answer (unseen answers); in every fold the memory is built
from the training fold only. Every metric is reported next to the bundled default model and a
plain cosine-similarity baseline on the same folds.

The library never prints: progress goes through an optional callback.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from grader.core.embedding import get_embedder
from grader.errors import GraderError
from grader.files import atomic_directory
from grader.grading import Grader
from grader.signals.cohort import gather_cohort, uses_cohort
from grader.signals.memory import MEMORY_FILE, AnswerMemory, memory_features
from grader.workflows.calibration.fitting import (CVResult, Options, all_metrics, concept_rates,
                                                  cross_validate, data_cohort, featurize_data, fit_model,
                                                  per_question_table, permutation_importance, project_proba)
from grader.workflows.calibration.labels import LabelledData, check_counts
from grader.workflows.reports import write_calibration_report


@dataclass
class CalibrationRun:
    model: object
    memory: AnswerMemory | None
    cv: CVResult | None
    in_sample: dict
    importance: list
    concepts: list
    per_question: list
    data: LabelledData = field(repr=False, default=None)
    predictions: tuple = field(repr=False, default=None)   # (proba, t) shown in the report


def for_embedder(grader, name: str | None):
    """`grader` itself, or a grader on the same bank and rubrics with another embedding backend."""
    if not name or name == grader.embedder.name:
        return grader
    # Reviewed rubrics only: drafts are redrafted with the new embedder, as they will be when grading.
    reviewed = {k: r for k, r in grader.rubrics.items() if not r.drafted}
    return Grader(grader.bank, reviewed, grader.model, embedder=get_embedder(name))


SMALL_DATA = 200   # rows below which calibration figures are too noisy to trust


def candidate_options(opts: Options, data: LabelledData) -> list[Options]:
    """What `calibrate` tries when the user leaves estimator or memory open: boosted trees and,
    for a numeric scale, ridge regression (the best measured on Mohler); with and without the
    answer memory (it helps new answers to questions it has seen, not new questions)."""
    estimators = [opts.estimator] if opts.estimator else (["ridge", "boosting"] if data.scheme.scale else ["boosting"])
    memories = [opts.memory] if opts.memory is not None else [True, False]
    return [replace(opts, estimator=e, memory=m) for e in estimators for m in memories]


def primary_metric(data: LabelledData) -> str:
    """The figure the choice is made on: Pearson for numeric scores, QWK for labels."""
    return "pearson" if data.scheme.scale else "qwk"


def calibration_warnings(data: LabelledData, result: "CVResult | None") -> list[str]:
    out = []
    if len(data) < SMALL_DATA:
        out.append(f"only {len(data)} labelled answers: cross-validated figures are rough and the model may not "
                   f"beat the bundled one; {SMALL_DATA}+ answers over several questions are advised")
    counts = np.bincount(data.y, minlength=data.scheme.k)
    rare = [data.scheme.labels[i] for i in range(data.scheme.k) if 0 < counts[i] < 0.05 * len(data)]
    if rare:
        out.append(f"few examples of {', '.join(rare)} (under 5% of rows): their probabilities are poorly calibrated")
    if result is not None:
        key = primary_metric(data)
        own, default = result.systems["calibrated"].get(key), result.systems["default"].get(key)
        if own is not None and default is not None and own < default:
            out.append(f"the calibrated model does worse than the bundled default in its own cross-validation "
                       f"({key} {own:.3f} vs {default:.3f}): consider grading with the bundled model")
    return out


def calibrate(grader, data: LabelledData, cv: int = 5, opts: Options | None = None, progress=None) -> CalibrationRun:
    """Cross-validate (when cv > 1), then fit the final model and memory on all rows. Options left
    open (estimator, memory) are chosen by the cross-validated primary metric."""
    opts = opts or Options()
    check_counts(data, cv if cv > 1 else 2)
    own = for_embedder(grader, opts.embedder)
    X_base, matches, emb = featurize_data(own, data, progress=progress)
    # The bundled model is compared on the signals of its own embedder.
    X_default = featurize_data(grader, data)[0] if own is not grader and cv > 1 else None
    cohort = data_cohort(data, X_base, emb) if opts.cohort else None
    result = None
    candidates = candidate_options(opts, data)
    if cv > 1:
        key = primary_metric(data)
        tried = [(o, cross_validate(data, X_base, emb, grader.model, cv, o, cohort=cohort, X_default=X_default))
                 for o in candidates]
        opts, result = max(tried, key=lambda t: t[1].systems["calibrated"].get(key) or -np.inf)
    else:
        opts = candidates[0]
    rows = np.arange(len(data))
    model = fit_model(data, X_base, emb, rows, opts, cohort)
    memory = AnswerMemory.from_data(data) if opts.memory else None
    X_full = X_base
    if opts.memory:
        X_full = np.hstack([X_base, memory_features(data.keys, emb, data.keys, emb, data.t, exclude_self=True)])
    if opts.cohort:
        X_full = np.hstack([X_full, cohort])
    proba = model.predict_proba(X_full)
    t_in = model.predict_grade(X_full, proba)
    in_sample = all_metrics(project_proba(proba, data.scheme.k), t_in, data)
    shown = result.oof["calibrated"] if result else (project_proba(proba, data.scheme.k), t_in)
    importance = permutation_importance(model, X_full, data.t, opts.seed)
    import sklearn

    model.metadata = {
        "embedder": own.embedder.name,
        "trained_on": {"file": Path(data.source).name, "sha256": data.sha256, "rows": len(data),
                       "questions": len(set(data.keys)), "skipped_empty_answers": data.skipped_empty},
        "label_scheme": data.scheme.to_dict(),
        "warnings": calibration_warnings(data, result) + _inner_fold_warnings(model, data),
        "options": {"estimator": opts.estimator, "memory": opts.memory, "cohort": opts.cohort,
                    "calibration": opts.calibration, "cv": cv, "group_by": data.group_by},
        "metrics_cv": result.to_dict() if result else None,
        "metrics_in_sample": in_sample,
        "answer_memory": MEMORY_FILE if opts.memory else None,
        "versions": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                     "numpy": np.__version__, "grader": _grader_version()},
    }
    if data.scheme.scale:
        model.metadata["scale"] = list(data.scheme.scale)
    return CalibrationRun(model, memory, result, in_sample, importance, concept_rates(data, matches),
                          per_question_table(data, shown[1]), data, shown)


def _inner_fold_warnings(model, data: LabelledData) -> list[str]:
    """The fallback `GradingModel.fit` took when a class was missing from a grouped inner fold."""
    if getattr(model, "inner_folds_", "grouped") != "rows" or data.group_by == "answer":
        return []
    return [f"a class is missing from some {data.group_by}-grouped inner folds (its answers lie in too few "
            f"{data.group_by}s), so the probability calibration was fitted on folds over rows: expect it "
            f"to be over-confident on new {data.group_by}s"]


# What a model directory holds: one that holds nothing else is replaced whole by a new calibration.
MODEL_FILES = frozenset({"model.json", MEMORY_FILE, "report.html"})


def check_model_dir(out_dir) -> None:
    """Refuse, before any work, an output that cannot be replaced as a whole: a file, or a folder
    holding anything but a model's files (or the current folder). Its new files would land one
    by one, and a crash between two would leave a model beside the answer memory of another."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GraderError(f"-o {out_dir}: exists and is not a directory")
    if out.is_dir():
        foreign = sorted(e.name for e in out.iterdir() if e.name not in MODEL_FILES)
        if foreign or out.resolve() == Path.cwd().resolve():
            shown = f" ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})" if foreign else ""
            raise GraderError(f"-o {out_dir}: holds more than a model's files{shown}; name a new directory "
                              "or one that holds only model.json, answer_memory.json and report.html")


def save_run(run: CalibrationRun, out_dir) -> Path:
    """Write the model directory: its files land together (a model never beside the answer memory
    of another), or, on an error, the previous directory stays as it was."""
    out = Path(out_dir)
    check_model_dir(out)
    with atomic_directory(out, own=MODEL_FILES) as new:
        run.model.save(new / "model.json")
        if run.memory is not None:
            run.memory.save(new / MEMORY_FILE)
        write_calibration_report(run, new / "report.html")
    return out


def evaluate(grader, data: LabelledData, progress=None) -> tuple[dict, np.ndarray, np.ndarray, list]:
    """Metrics of the grader's model (with its answer memory, if any) on labelled data; no training."""
    proba_all, t_all, matches = [], [], []
    items = list(zip(data.questions, data.answers))
    # This data's answers, passed to each call, never kept on the grader.
    cohort = gather_cohort(grader.embedder, items) if uses_cohort(grader.model) else None
    for start in range(0, len(items), 256):
        part = items[start:start + 256]
        X, m = grader.featurize(part, cohort=cohort)
        p = grader.model.predict_proba(X)
        proba_all.append(project_proba(p, data.scheme.k))
        t_all.append(grader.model.predict_grade(X, p))
        matches.extend(m)
        if progress:
            progress(len(part))
    proba, t = np.vstack(proba_all), np.concatenate(t_all)
    return all_metrics(proba, t, data), proba, t, matches


def _grader_version() -> str:
    try:
        from importlib.metadata import version

        return version("grader")
    except Exception:  # pragma: no cover
        return "unknown"
