"""Calibration on the user's own labelled answers, and evaluation against them.

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

import hashlib
import json
import math
import platform
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .cohort import COHORT_FEATURES, CohortStats, cohort_columns
from .errors import DataError, GraderError
from .features import FEATURES, select

MEMORY_FEATURES = ("memory_score", "memory_nearest", "memory_max_sim", "memory_question_mean", "memory_count")
MEMORY_FILE = "answer_memory.json"
MEMORY_FORMAT = "grader-answer-memory/1"
MEMORY_K = 5              # nearest graded answers averaged
MEMORY_TEMPERATURE = 0.05  # softmax temperature over their similarities
MEMORY_DROPOUT = 0.25      # share of training questions shown without memory, so unseen ones are handled
# A question without graded answers gets these values (not NaN: the model's scaler needs finite
# numbers); -1 lies outside every memory signal's range, so trees split it off cleanly.
MEMORY_MISSING = (-1.0, -1.0, -1.0, -1.0, 0.0)
DEFAULT_LABEL_SETS = (("incorrect", "partial", "correct"), ("incorrect", "correct"))


# --- label schemes ---------------------------------------------------------------------------

@dataclass
class LabelScheme:
    """Ordered classes (worst to best) and, for numeric scores, the scale they sit on."""

    labels: tuple[str, ...]
    scale: tuple[float, float] | None = None   # numeric scores: (lo, hi)

    @property
    def kind(self) -> str:
        return "score" if self.scale else "label"

    @property
    def k(self) -> int:
        return len(self.labels)

    def user_scale(self) -> tuple[float, float]:
        """Where regression metrics are measured: the score scale, or [0, 1] for categories."""
        return self.scale or (0.0, 1.0)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "labels": list(self.labels),
                "scale": list(self.scale) if self.scale else None}

    @classmethod
    def of_model(cls, metadata: dict) -> "LabelScheme | None":
        """The scheme a model was calibrated on (`grader calibrate` stores it), or None for a model
        that does not record one, such as the bundled model."""
        stored = metadata.get("label_scheme")
        labels = stored.get("labels") if isinstance(stored, dict) else None
        if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) for x in labels)):
            return None
        scale = stored.get("scale") or metadata.get("scale")
        if not (isinstance(scale, list) and len(scale) == 2 and all(isinstance(x, (int, float)) for x in scale)):
            scale = None
        return cls(tuple(labels), (float(scale[0]), float(scale[1])) if scale else None)

    @classmethod
    def for_scale(cls, lo: float, hi: float, bins: int | None = None) -> "LabelScheme":
        if bins is None:
            span = hi - lo
            bins = int(round(span)) + 1 if float(span).is_integer() and 2 <= span <= 10 else 5
        if bins < 2:
            raise GraderError("--bins must be at least 2")
        centres = np.linspace(lo, hi, bins)
        return cls(tuple(f"{c:g}" for c in centres), (float(lo), float(hi)))

    def normalise(self, value) -> float:
        """A gold value (label name or score) as a grade in [0, 1]."""
        if self.scale:
            lo, hi = self.scale
            return (float(value) - lo) / (hi - lo)
        return self.labels.index(value) / (self.k - 1)

    def class_of(self, t: float) -> int:
        return int(min(self.k - 1, math.floor(t * (self.k - 1) + 0.5 + 1e-9)))


def parse_scale(text: str) -> tuple[float, float]:
    m = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s*[:,]\s*([+-]?\d+(?:\.\d+)?)\s*", text or "")
    if not m:
        raise GraderError(f"--scale {text!r}: expected LO:HI, e.g. 0:5")
    lo, hi = float(m.group(1)), float(m.group(2))
    if not hi > lo:
        raise GraderError(f"--scale {text!r}: the top of the scale must be above the bottom")
    return lo, hi


def parse_labels(text: str) -> tuple[str, ...]:
    labels = tuple(x.strip() for x in (text or "").split(",") if x.strip())
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise GraderError(f"--labels {text!r}: expected at least two distinct labels, worst to best, e.g. bad,ok,good")
    return labels


# --- labelled data ---------------------------------------------------------------------------

@dataclass
class LabelledData:
    questions: list            # Question per row
    answers: list[str]
    gold: list                 # the user's value: label name or score
    t: np.ndarray              # gold as a grade in [0, 1]
    y: np.ndarray              # class index in scheme.labels
    keys: list[str]            # question key (hash of question text and references)
    groups: np.ndarray         # CV group per row
    scheme: LabelScheme
    source: str
    sha256: str
    group_by: str = "question"
    skipped_empty: int = 0

    def __len__(self):
        return len(self.answers)

    def gold_on_scale(self) -> np.ndarray:
        lo, hi = self.scheme.user_scale()
        return lo + self.t * (hi - lo)


def question_key(q) -> str:
    """Identifies a question across files and runs: its text and references, hashed."""
    text = " ".join(q.question.lower().split()) + "\n" + "\n".join(" ".join(r.text.split()) for r in q.references)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_labelled(grader, path: str, columns=None, *, labels: tuple[str, ...] | None = None,
                  scale: tuple[float, float] | None = None, bins: int | None = None,
                  label_column: str = "label", score_column: str = "score", group_by: str = "question",
                  group_column: str | None = None, group_regex: str | None = None,
                  fmt: str | None = None, stored: LabelScheme | None = None) -> LabelledData:
    """Read and validate a labelled CSV/JSONL file; every problem is a one-line GraderError.

    `grader` may be just the Bank that rows' question ids refer to, so that a file is checked
    before the embedding model loads. `stored` is the scheme of the model the data is evaluated
    with (`LabelScheme.of_model`): its scale, or its labels, serve when neither `scale` nor
    `labels` is given. Column names match the file's in any case when only one header cell does."""
    from .bank import Bank
    from .batch import ColumnMap, find_column, missing_column, question_for, read_rows

    bank = grader if isinstance(grader, Bank) else grader.bank

    rows = [r for chunk in read_rows(path, fmt) for r in chunk]
    if not rows:
        raise GraderError(f"{path}: no rows")
    first = rows[0]
    columns = (columns or ColumnMap()).resolve(first, path)
    made = {}
    if columns.answer not in first:
        raise missing_column(columns.answer, first, path, "--answer-column")
    label_column = find_column(label_column, first, path, "--label-column") or label_column
    score_column = find_column(score_column, first, path, "--score-column") or score_column
    use_score = scale is not None or (label_column not in first and score_column in first)
    value_column = score_column if use_score else label_column
    if value_column not in first:
        raise GraderError(f"{path}: no '{label_column}' or '{score_column}' column to learn from "
                          f"(columns: {', '.join(first)}); name it with --label-column or --score-column")
    if use_score and scale is None and stored is not None and stored.scale:
        scale, bins = stored.scale, bins or stored.k
    if use_score and scale is None:
        raise GraderError(f"{path}: '{score_column}' holds numeric scores; give their scale with --scale LO:HI, e.g. 0:5")
    if group_by in ("column", "assignment") and not group_column:
        raise GraderError(f"--group-by {group_by} needs --group-column NAME")
    if group_column:
        group_column = find_column(group_column, first, path, "--group-column") or group_column
    if group_column and group_column not in first:
        raise GraderError(f"{path}: no group column '{group_column}' (columns: {', '.join(first)})")
    pattern = None
    if group_regex:
        try:
            pattern = re.compile(group_regex)
        except re.error as exc:
            raise GraderError(f"--group-regex {group_regex!r}: {exc}") from None

    if use_score:
        scheme = LabelScheme.for_scale(*scale, bins=bins)
    elif labels:
        scheme = LabelScheme(tuple(labels))
    else:
        present = {str(r.get(label_column, "")).strip() for r in rows} - {""}
        scheme = None
        own = [stored.labels] if stored is not None and not stored.scale else []
        for candidate in own + list(DEFAULT_LABEL_SETS):
            if present <= set(candidate):
                scheme = LabelScheme(candidate)
                break
        if scheme is None:
            odd = sorted(present - set(DEFAULT_LABEL_SETS[0]))
            raise GraderError(f"{path}: unknown label {odd[0]!r}; expected incorrect/partial/correct, or give your "
                              f"ordered set with --labels worst,...,best")

    qs, answers, gold, ts, keys, groups = [], [], [], [], [], []
    skipped = 0
    for i, row in enumerate(rows, 1):
        where = f"{path}: row {i}"
        if "_parse_error" in row:
            raise GraderError(f"{path}: {row['_parse_error']}")
        raw = row.get(value_column)
        raw = "" if raw is None else str(raw).strip()
        if raw == "":
            raise GraderError(f"{where}: empty '{value_column}'")
        if use_score:
            try:
                value = float(raw)
            except ValueError:
                raise GraderError(f"{where}: score {raw!r} is not a number") from None
            lo, hi = scheme.scale
            if not (math.isfinite(value) and lo - 1e-9 <= value <= hi + 1e-9):
                raise GraderError(f"{where}: score {raw} is off the scale {lo:g}:{hi:g}")
            value = min(max(value, lo), hi)
        else:
            if raw not in scheme.labels:
                raise GraderError(f"{where}: unknown label {raw!r}; expected one of {', '.join(scheme.labels)}")
            value = raw
        q, error = question_for(row, columns, bank, made)
        if error:
            raise GraderError(f"{where}: {error}")
        answer = row.get(columns.answer)
        answer = "" if answer is None else str(answer)
        if not answer.strip():
            skipped += 1   # an empty answer is graded as the worst label by rule, never by the model
            continue
        from .settings import MAX_ANSWER_CHARS

        qs.append(q)
        answers.append(answer[:MAX_ANSWER_CHARS])
        gold.append(value)
        ts.append(scheme.normalise(value))
        key = question_key(q)
        keys.append(key)
        if group_by == "answer":
            groups.append(f"row{i}")
        elif group_column:
            g = str(row.get(group_column, "") or "").strip()
            if pattern:
                m = pattern.search(g)
                if not m:
                    raise GraderError(f"{where}: {group_column} {g!r} does not match --group-regex {group_regex!r}")
                g = m.group(1) if m.groups() else m.group(0)
            groups.append(g)
        else:
            groups.append(key)
    if not answers:
        raise GraderError(f"{path}: no non-empty answers to learn from")
    t = np.clip(np.array(ts, dtype=float), 0.0, 1.0)
    y = np.array([scheme.class_of(v) for v in t])
    kind = "answer" if group_by == "answer" else ("column" if group_column else "question")
    return LabelledData(qs, answers, gold, t, y, keys, np.array(groups), scheme, str(path),
                        file_sha256(path) if path != "-" else "", kind, skipped)


def check_counts(data: LabelledData, folds: int):
    """Clear errors for too few examples per class or groups for the folds asked for."""
    counts = np.bincount(data.y, minlength=data.scheme.k)
    present = [i for i in range(data.scheme.k) if counts[i]]
    if len(present) < 2:
        raise GraderError(f"{data.source}: all answers have the same label ({data.scheme.labels[present[0]]}); "
                          "calibration needs at least two")
    need = max(folds, 2)
    for i in present:
        if counts[i] < need:
            raise GraderError(f"{data.source}: class {data.scheme.labels[i]!r} has {counts[i]} example(s), fewer than "
                              f"the {need} folds asked for; add examples, use fewer --cv folds or fewer --bins")
    if folds > 1:
        n_groups = len(set(data.groups))
        if n_groups < folds:
            raise GraderError(f"{data.source}: only {n_groups} {data.group_by} group(s) for --cv {folds}; "
                              f"use --cv {max(2, n_groups)} or --group-by answer")


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


# --- answer memory ---------------------------------------------------------------------------

def memory_features(query_keys, query_emb, mem_keys, mem_emb, mem_t, exclude_self: bool = False) -> np.ndarray:
    """MEMORY_FEATURES for each query from the graded answers of the same question.

    With `exclude_self`, queries are the memory rows themselves and each leaves itself out.
    MEMORY_MISSING where the question has no (other) graded answer.
    """
    out = np.tile(np.array(MEMORY_MISSING, dtype=float), (len(query_keys), 1))
    mem_keys = np.asarray(mem_keys)
    by_key: dict[str, np.ndarray] = {}
    for key in set(mem_keys.tolist()):
        by_key[key] = np.flatnonzero(mem_keys == key)
    for i, key in enumerate(query_keys):
        rows = by_key.get(key)
        if rows is None:
            continue
        if exclude_self:
            rows = rows[rows != i]
        if len(rows) == 0:
            continue
        sims = mem_emb[rows] @ query_emb[i]
        grades = mem_t[rows]
        top = np.argsort(-sims)[:MEMORY_K]
        s = sims[top]
        w = np.exp((s - s.max()) / MEMORY_TEMPERATURE)
        out[i] = (float(w @ grades[top] / w.sum()), float(grades[top[0]]), float(s[0]),
                  float(grades.mean()), math.log1p(len(rows)))
    return out


class AnswerMemory:
    """Graded answers per question key, stored as JSON beside model.json."""

    def __init__(self, entries: dict | None = None):
        self.entries = entries or {}   # key -> {"question_id", "question", "answers": [[text, grade], ...]}
        self._emb = None

    @classmethod
    def from_data(cls, data: LabelledData, rows=None) -> "AnswerMemory":
        rows = range(len(data)) if rows is None else rows
        entries: dict = {}
        for i in rows:
            q = data.questions[i]
            e = entries.setdefault(data.keys[i], {"question_id": q.id, "question": q.question, "answers": []})
            e["answers"].append([data.answers[i], round(float(data.t[i]), 6)])
        return cls(entries)

    def to_dict(self) -> dict:
        return {"format": MEMORY_FORMAT, "questions": self.entries}

    def save(self, path):
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=0), encoding="utf-8")

    @classmethod
    def load(cls, path) -> "AnswerMemory":
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(path, "", "answer memory file not found") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(path, "", f"not a JSON answer memory ({exc.__class__.__name__})") from None
        if not isinstance(d, dict) or d.get("format") != MEMORY_FORMAT or not isinstance(d.get("questions"), dict):
            raise DataError(path, "format", f"not an answer memory file (expected format {MEMORY_FORMAT!r})")
        for key, e in d["questions"].items():
            ok = (isinstance(e, dict) and isinstance(e.get("answers"), list) and all(
                isinstance(a, list) and len(a) == 2 and isinstance(a[0], str) and isinstance(a[1], (int, float))
                and not isinstance(a[1], bool) and math.isfinite(a[1]) and 0 <= a[1] <= 1 for a in e["answers"]))
            if not ok:
                raise DataError(path, f"questions.{key}", "expected answers as [text, grade in 0..1] pairs")
        return cls(d["questions"])

    def _flat(self, embedder):
        if self._emb is None:
            keys, texts, grades = [], [], []
            for key, e in self.entries.items():
                for text, grade in e["answers"]:
                    keys.append(key)
                    texts.append(text)
                    grades.append(float(grade))
            emb = embedder.encode(texts) if texts else np.zeros((0, 1))
            self._emb = (keys, emb, np.array(grades, dtype=float))
        return self._emb

    def features(self, embedder, items) -> np.ndarray:
        keys, emb, grades = self._flat(embedder)
        answers = [a for _, a in items]
        q_emb = embedder.encode(answers) if answers else np.zeros((0, 1))
        return memory_features([question_key(q) for q, _ in items], q_emb, keys, emb, grades)


def extra_features(grader, items, names, X, vectors) -> np.ndarray:
    """Columns for model features beyond the standard FEATURES (the hook in `Grader.featurize`):
    the answer memory's, and the cohort's (missing when the grader has no cohort gathered)."""
    unknown = [n for n in names if n not in MEMORY_FEATURES and n not in COHORT_FEATURES]
    if unknown:
        raise GraderError(f"the model uses unknown signals {', '.join(unknown)}; it needs a newer grader")
    out = np.zeros((len(items), len(names)))
    if any(n in MEMORY_FEATURES for n in names):
        memory = getattr(grader, "memory", None)
        if memory is None:
            raise GraderError("this model uses an answer memory; load it from its directory with --model DIR")
        cols = memory.features(grader.embedder, items)
        for j, n in enumerate(names):
            if n in MEMORY_FEATURES:
                out[:, j] = cols[:, MEMORY_FEATURES.index(n)]
    if any(n in COHORT_FEATURES for n in names):
        cohort = getattr(grader, "cohort", None)
        if cohort is None:
            cols = np.full((len(items), len(COHORT_FEATURES)), np.nan)
        else:
            cols = cohort.columns([question_key(q) for q, _ in items], vectors, X[:, FEATURES.index("cos_max")],
                                  X[:, FEATURES.index("log_words")])
        for j, n in enumerate(names):
            if n in COHORT_FEATURES:
                out[:, j] = cols[:, COHORT_FEATURES.index(n)]
    return out


def gather_cohort(grader, items, progress=None, chunk: int = 256) -> CohortStats:
    """The cohort of (question, answer) pairs that are about to be graded together."""
    stats = CohortStats()
    for start in range(0, len(items), chunk):
        part = items[start:start + chunk]
        stats.add_answers(grader.embedder, [question_key(q) for q, _ in part], part)
        if progress:
            progress(len(part))
    return stats


def uses_cohort(model) -> bool:
    return any(f in COHORT_FEATURES for f in model.features)


def memory_path_for(model_path) -> Path | None:
    if not model_path:
        return None
    p = Path(model_path)
    p = p if p.is_dir() else p.parent
    return p / MEMORY_FILE


# --- fitting and scoring ---------------------------------------------------------------------

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
    from .metrics import classification_metrics, regression_metrics

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
    cohort: bool = False          # signals from the other answers to the same question (grader.cohort)
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
    from .model import GradingModel

    rows = np.asarray(rows)
    rng = np.random.default_rng(opts.seed)
    X = X_base[rows]
    if opts.memory:
        X = np.hstack([X, _train_memory_columns(data, rows, emb, opts, rng)])
    if opts.cohort:
        X = np.hstack([X, cohort[rows]])
    y_names = [data.scheme.labels[c] for c in data.y[rows]]
    counts = np.bincount(data.y[rows])
    inner = int(max(2, min(5, counts[counts > 0].min())))
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
    from .metrics import regression_metrics

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
    from .embedding import get_embedder
    from .grading import Grader

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
        "warnings": calibration_warnings(data, result),
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


def save_run(run: CalibrationRun, out_dir) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GraderError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    run.model.save(out / "model.json")
    if run.memory is not None:
        run.memory.save(out / MEMORY_FILE)
    from .report import write_calibration_report

    write_calibration_report(run, out / "report.html")
    return out


def evaluate(grader, data: LabelledData, progress=None) -> tuple[dict, np.ndarray, np.ndarray, list]:
    """Metrics of the grader's model (with its answer memory, if any) on labelled data; no training."""
    proba_all, t_all, matches = [], [], []
    items = list(zip(data.questions, data.answers))
    if uses_cohort(grader.model):
        grader.cohort = gather_cohort(grader, items)   # this data's answers, not a previous job's
    for start in range(0, len(items), 256):
        part = items[start:start + 256]
        X, m = grader.featurize(part)
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
