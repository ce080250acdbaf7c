"""Answer memory signals (`grader calibrate`): for a question that has graded answers, the grades
of the most similar graded answers of that question. Stored as JSON beside model.json."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from grader.bank.questions import question_key
from grader.errors import DataError, read_whole
from grader.settings import MAX_MEMORY_BYTES
from grader.signals.registry import register_extra

MEMORY_FEATURES = ("memory_score", "memory_nearest", "memory_max_sim", "memory_question_mean", "memory_count")
MEMORY_FILE = "answer_memory.json"
MEMORY_FORMAT = "grader-answer-memory/1"
MEMORY_K = 5              # nearest graded answers averaged
MEMORY_TEMPERATURE = 0.05  # softmax temperature over their similarities
MEMORY_DROPOUT = 0.25      # share of training questions shown without memory, so unseen ones are handled
# A question without graded answers gets these values (not NaN: the model's scaler needs finite
# numbers); -1 lies outside every memory signal's range, so trees split it off cleanly.
MEMORY_MISSING = (-1.0, -1.0, -1.0, -1.0, 0.0)

register_extra("memory", MEMORY_FEATURES)


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
    def from_data(cls, data, rows=None) -> "AnswerMemory":
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
            d = json.loads(read_whole(path, MAX_MEMORY_BYTES, "answer memory"))
        except FileNotFoundError:
            raise DataError(path, "", "answer memory file not found") from None
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:   # JSONDecodeError is a ValueError
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


def memory_path_for(model_path) -> Path | None:
    if not model_path:
        return None
    p = Path(model_path)
    p = p if p.is_dir() else p.parent
    return p / MEMORY_FILE
