"""The question bank: YAML files of questions with reference answers, validated on load."""

from __future__ import annotations

import difflib
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader.errors import DataError, GraderError, read_whole
from grader.settings import BANK_ENV, MAX_BANK_FILE_BYTES

TOPICS = (
    "fundamentals", "optimization", "regularization", "cnn", "rnn", "transformers",
    "generative", "training", "deployment", "applications", "learning-paradigms",
)
LEVELS = ("basic", "intermediate", "advanced")
REFERENCE_KINDS = ("full", "short")


@dataclass(frozen=True)
class Reference:
    text: str
    source_file: str = ""
    source_number: int | str | None = None
    kind: str = "full"
    # A factual error of the source text, shown next to it; the text itself stays as the source
    # has it, since grading compares answers with it.
    errata: str = ""

    @property
    def source(self) -> str:
        return f"{self.source_file}#{self.source_number}" if self.source_file else "user"


@dataclass
class Question:
    id: str
    question: str
    topic: str = "fundamentals"
    level: str = "intermediate"
    references: list[Reference] = field(default_factory=list)
    reconstructed: bool = False
    path: str = ""
    # Shown to learners before the references; never graded against (grading uses references only).
    model_answer: str = ""
    # Why the quiz and the practice page must not ask this question (empty: they may); it can
    # still be graded when named explicitly.
    unservable: str = ""

    @property
    def has_reference(self) -> bool:
        return bool(self.references)

    @property
    def servable(self) -> bool:
        """May the quiz and the practice page ask it: it has a reference and is not marked."""
        return self.has_reference and not self.unservable

    def to_dict(self) -> dict:
        """The question as `grader questions show --json` and the API's /v1/questions print it."""
        return {"id": self.id, "question": self.question, "topic": self.topic, "level": self.level,
                "reconstructed": self.reconstructed, "model_answer": self.model_answer,
                "unservable": self.unservable,
                "references": [{"text": r.text, "source": r.source, "kind": r.kind, "errata": r.errata}
                               for r in self.references]}


def package_data(name: str) -> Path:
    """A folder shipped inside the package (bank, rubrics), found the way an installed wheel has it."""
    from importlib.resources import files

    return Path(str(files("grader").joinpath("data", name)))


def default_bank_dir() -> Path:
    env = os.environ.get(BANK_ENV)
    if env:
        return Path(env)
    return package_data("questions")


def _require(mapping, key, path, where, kind=str):
    if key not in mapping:
        raise DataError(path, f"{where}.{key}", "missing required key")
    value = mapping[key]
    if not isinstance(value, kind):
        raise DataError(path, f"{where}.{key}", f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _parse_reference(raw, path, where) -> Reference:
    if isinstance(raw, str):
        raw = {"text": raw}
    if not isinstance(raw, dict):
        raise DataError(path, where, "a reference must be a mapping with 'text'")
    text = _require(raw, "text", path, where).strip()
    if not text:
        raise DataError(path, f"{where}.text", "reference text is empty")
    source = raw.get("source") or {}
    if not isinstance(source, dict):
        raise DataError(path, f"{where}.source", "expected a mapping {file, number}")
    kind = raw.get("kind", "full")
    if kind not in REFERENCE_KINDS:
        raise DataError(path, f"{where}.kind", f"must be one of {', '.join(REFERENCE_KINDS)}, got {kind!r}")
    errata = _optional_text(raw, "errata", path, where)
    return Reference(text=text, source_file=str(source.get("file", "")), source_number=source.get("number"),
                     kind=kind, errata=errata)


def _optional_text(raw, key, path, where) -> str:
    """An optional text key: absent is "", present must be a non-empty string."""
    if key not in raw or raw[key] is None:
        return ""
    value = raw[key]
    if not isinstance(value, str):
        raise DataError(path, f"{where}.{key}", f"expected text, got {type(value).__name__}")
    if not value.strip():
        raise DataError(path, f"{where}.{key}", "is empty; leave the key out instead")
    return " ".join(value.split())


def _parse_question(raw, path, where) -> Question:
    if not isinstance(raw, dict):
        raise DataError(path, where, "a question must be a mapping")
    qid = _require(raw, "id", path, where).strip()
    if not qid:
        raise DataError(path, f"{where}.id", "id is empty")
    where = f"questions[{qid}]"
    text = _require(raw, "question", path, where).strip()
    if not text:
        raise DataError(path, f"{where}.question", "question text is empty")
    topic = raw.get("topic", "fundamentals")
    if topic not in TOPICS:
        raise DataError(path, f"{where}.topic", f"unknown topic {topic!r}; allowed: {', '.join(TOPICS)}")
    level = raw.get("level", "intermediate")
    if level not in LEVELS:
        raise DataError(path, f"{where}.level", f"unknown level {level!r}; allowed: {', '.join(LEVELS)}")
    refs_raw = raw.get("references", [])
    if refs_raw is None:
        refs_raw = []
    if not isinstance(refs_raw, list):
        raise DataError(path, f"{where}.references", "expected a list")
    refs = [_parse_reference(r, path, f"{where}.references[{i}]") for i, r in enumerate(refs_raw)]
    reconstructed = raw.get("reconstructed", False)
    if not isinstance(reconstructed, bool):
        raise DataError(path, f"{where}.reconstructed", "expected true or false")
    return Question(qid, text, topic, level, refs, reconstructed, str(path),
                    model_answer=_optional_text(raw, "model_answer", path, where),
                    unservable=_optional_text(raw, "unservable", path, where))


class Bank:
    """All questions of a bank directory, by id, in file order."""

    def __init__(self, questions: list[Question], directory: Path | None = None):
        self.directory = directory
        self.questions: dict[str, Question] = {}
        for q in questions:
            if q.id in self.questions:
                raise DataError(q.path, f"questions[{q.id}].id",
                                f"duplicate id (also in {self.questions[q.id].path})")
            self.questions[q.id] = q
        self._by_folded: dict[str, list[str]] = {}
        for qid in self.questions:
            self._by_folded.setdefault(qid.casefold(), []).append(qid)

    def __len__(self):
        return len(self.questions)

    def __iter__(self):
        return iter(self.questions.values())

    def __contains__(self, qid):
        return self.resolve(qid) is not None

    def resolve(self, qid: str) -> str | None:
        """The bank's id for `qid`: itself, or the one id equal to it but for case (people type
        Q004-035 for q004-035); None when there is no such id, or several."""
        if qid in self.questions:
            return qid
        same = self._by_folded.get(str(qid).casefold(), [])
        return same[0] if len(same) == 1 else None

    def get(self, qid: str) -> Question:
        found = self.resolve(qid)
        if found is not None:
            return self.questions[found]
        raise GraderError(self.unknown_id_message(qid))

    def unknown_id_message(self, qid: str) -> str:
        folded = self._by_folded
        same = folded.get(str(qid).casefold(), [])
        if len(same) > 1:
            return f"question id {qid!r} matches {', '.join(same)} but for case; give the exact id"
        close = difflib.get_close_matches(str(qid).casefold(), folded, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(folded[c][0] for c in close)}?" if close else ""
        return f"unknown question id {qid!r} in bank {self.directory}{hint}"

    def counts(self, with_reference: bool | None = True) -> dict[str, dict[str, int]]:
        """Questions per topic and per level, every allowed value listed (0 when absent)."""
        chosen = [q for q in self if with_reference is None or q.has_reference == with_reference]
        topics, levels = Counter(q.topic for q in chosen), Counter(q.level for q in chosen)
        return {"topics": {t: topics[t] for t in TOPICS}, "levels": {lv: levels[lv] for lv in LEVELS}}

    def filter(self, topic=None, level=None, text=None, ids=None, with_reference=None) -> list[Question]:
        check_topics_and_levels(topic, level)
        out = []
        for q in self:
            if topic and q.topic not in _as_set(topic):
                continue
            if level and q.level not in _as_set(level):
                continue
            if ids and q.id not in _as_set(ids):
                continue
            if text and text.lower() not in q.question.lower():
                continue
            if with_reference is not None and q.has_reference != with_reference:
                continue
            out.append(q)
        return out


def _as_set(value):
    return {value} if isinstance(value, str) else set(value)


def check_topics_and_levels(topic=None, level=None) -> None:
    """A one-line error naming the allowed values, for a --topic or --level that no question can
    have: filtering by it would silently list nothing."""
    for name, given, allowed in (("topic", topic, TOPICS), ("level", level, LEVELS)):
        for value in sorted(_as_set(given or ())):
            if value not in allowed:
                raise GraderError(f"unknown {name} {value!r}; choose from: {', '.join(allowed)}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml's safe loader, refusing a key given twice in one mapping (where yaml keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:
                continue
            if repeated:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, key, line):
        self.key, self.line = key, line


def load_yaml(path: Path, limit: int, what: str):
    """A YAML file read whole (at most `limit` bytes) and safely; a problem is a DataError naming
    the file and the line: not UTF-8, invalid, nested too deeply, or a key given twice."""
    try:
        return yaml.load(read_whole(path, limit, what), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError:
        raise DataError(path, "", "not UTF-8 text") from None
    except _DuplicateKey as exc:
        raise DataError(path, f"line {exc.line}", f"key {exc.key!r} appears twice in one mapping") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}" if mark else ""
        raise DataError(path, at, f"invalid YAML ({getattr(exc, 'problem', exc)})") from None
    except RecursionError:
        raise DataError(path, "", "invalid YAML (nested too deeply)") from None


def load_questions_file(path: Path) -> list[Question]:
    data = load_yaml(path, MAX_BANK_FILE_BYTES, "question bank file")
    if isinstance(data, dict) and "questions" in data:
        items = data["questions"]
    elif isinstance(data, dict) and "id" in data:
        items = [data]
    else:
        raise DataError(path, "questions", "expected a top-level 'questions:' list")
    if not isinstance(items, list):
        raise DataError(path, "questions", "expected a list")
    return [_parse_question(raw, path, f"questions[{i}]") for i, raw in enumerate(items)]


def load_bank(directory: str | Path | None = None) -> Bank:
    directory = Path(directory) if directory else default_bank_dir()
    if not directory.exists():
        raise GraderError(f"{directory}: question bank directory not found")
    if directory.is_file():
        files = [directory]
    else:
        files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))
    questions = []
    for f in files:
        questions.extend(load_questions_file(f))
    return Bank(questions, directory)


def user_question(question: str, references: list[str], qid: str | None = None) -> Question:
    """A question that is not in the bank, graded from the reference answers the user gives."""
    refs = [r.strip() for r in references if r and r.strip()]
    if not question or not question.strip():
        raise GraderError("the question text is empty")
    if not refs:
        raise GraderError("a question that is not in the bank needs at least one non-empty --reference")
    digest = hashlib.sha1("\n".join([question.strip(), *refs]).encode()).hexdigest()[:10]
    # A reference of a few words is a flashcard-style answer: grade it as a short reference.
    return Question(qid or f"user-{digest}", question.strip(),
                    references=[Reference(r, kind="short" if len(r.split()) <= 8 else "full") for r in refs])


def question_key(q) -> str:
    """Identifies a question across files and runs: its text and references, hashed."""
    text = " ".join(q.question.lower().split()) + "\n" + "\n".join(" ".join(r.text.split()) for r in q.references)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
