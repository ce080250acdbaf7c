"""Rubrics: the key concepts of a question, with phrases, weights and what full credit requires;
read from YAML files (`load_rubrics`). `drafting.RubricDrafter` proposes one from the reference
answers when a question has none."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader.bank.questions import load_yaml
from grader.errors import DataError
from grader.settings import MAX_RUBRIC_FILE_BYTES

RUBRICS_ENV = "GRADER_RUBRICS"


@dataclass
class Concept:
    name: str
    phrases: list[str]
    weight: float = 1.0
    required: bool = False

    @property
    def all_phrases(self) -> list[str]:
        return list(dict.fromkeys([self.name, *self.phrases]))


@dataclass
class Rubric:
    question_id: str
    concepts: list[Concept] = field(default_factory=list)
    drafted: bool = False       # True when made by the program and not reviewed
    path: str = ""

    def to_dict(self) -> dict:
        return {
            "question_id": self.question_id,
            "reviewed": not self.drafted,
            "concepts": [
                {"name": c.name, "phrases": c.phrases, "weight": round(float(c.weight), 3), "required": c.required}
                for c in self.concepts
            ],
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)


def parse_rubric(data, path) -> Rubric:
    if not isinstance(data, dict):
        raise DataError(path, "", "expected a mapping with question_id and concepts")
    qid = data.get("question_id")
    if not isinstance(qid, str) or not qid.strip():
        raise DataError(path, "question_id", "missing or empty")
    raw = data.get("concepts")
    if not isinstance(raw, list) or not raw:
        raise DataError(path, "concepts", "expected a non-empty list")
    concepts = []
    for i, c in enumerate(raw):
        where = f"concepts[{i}]"
        if not isinstance(c, dict):
            raise DataError(path, where, "expected a mapping with name, phrases, weight, required")
        name = c.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DataError(path, f"{where}.name", "missing or empty")
        phrases = c.get("phrases", [])
        if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise DataError(path, f"{where}.phrases", "expected a list of non-empty strings")
        weight = c.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise DataError(path, f"{where}.weight", f"expected a positive number, got {weight!r}")
        required = c.get("required", False)
        if not isinstance(required, bool):
            raise DataError(path, f"{where}.required", "expected true or false")
        concepts.append(Concept(name.strip(), [p.strip() for p in phrases], float(weight), required))
    reviewed = data.get("reviewed", True)
    return Rubric(qid.strip(), concepts, drafted=not reviewed, path=str(path))


def load_rubric_file(path: Path) -> Rubric:
    data = load_yaml(Path(path), MAX_RUBRIC_FILE_BYTES, "rubric file")
    return parse_rubric(data, path)


def load_rubrics(directory: Path | None) -> dict[str, Rubric]:
    if directory is None or not Path(directory).is_dir():
        return {}
    rubrics = {}
    for p in sorted(Path(directory).glob("*.y*ml")):
        r = load_rubric_file(p)
        if r.question_id in rubrics:
            raise DataError(p, "question_id", f"duplicate rubric for {r.question_id} (also {rubrics[r.question_id].path})")
        rubrics[r.question_id] = r
    return rubrics
