"""Labelled data for `grader calibrate` and `grader eval`: label schemes (ordered labels, or
numeric scores on a scale binned into classes) and the loading and checking of a labelled file
(the batch formats plus a label or score column)."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

import numpy as np

from grader.bank.questions import Bank, question_key
from grader.errors import GraderError
from grader.settings import MAX_ANSWER_CHARS
from grader.workflows.formats import read_rows, restore_formula
from grader.workflows.rows import ColumnMap, find_column, missing_column, question_for

DEFAULT_LABEL_SETS = (("incorrect", "partial", "correct"), ("incorrect", "correct"))


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
        answer = "" if answer is None else restore_formula(str(answer))
        if not answer.strip():
            skipped += 1   # an empty answer is graded as the worst label by rule, never by the model
            continue
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
