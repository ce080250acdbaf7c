"""What every format shares: the bank as plain records, validation of imported records, the
`grader` JSON block (the fields a platform has no place for), HTML <-> text, and writing an
imported bank as YAML, atomically."""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import yaml

from grader.bank.questions import TOPICS, Question, _parse_question, _parse_reference, load_bank
from grader.bank.rubrics import Rubric, load_rubrics, parse_rubric
from grader.errors import DataError, GraderError, read_whole
from grader.files import atomic_directory, write_atomically
from grader.settings import MAX_BANK_FILE_BYTES

DEFAULT_TOPIC = "fundamentals"
DEFAULT_LEVEL = "intermediate"


@dataclass
class Imported:
    """Questions and rubrics read from a file, validated as the YAML bank is; `notes` says what
    was skipped or defaulted."""
    questions: list[Question]
    rubrics: dict[str, Rubric]
    notes: list[str] = field(default_factory=list)
    skipped: int = 0

    def summary(self, path, fmt) -> dict:
        return {"input": str(path), "format": fmt, "questions": len(self.questions),
                "with_references": sum(q.has_reference for q in self.questions),
                "references": sum(len(q.references) for q in self.questions),
                "rubrics": len(self.rubrics), "skipped": self.skipped, "notes": self.notes}


def read_text(path) -> str:
    try:
        return read_whole(path, MAX_BANK_FILE_BYTES, "bank file to import")
    except UnicodeDecodeError:
        raise DataError(path, "", "not UTF-8 text") from None


# --- the grader block: what a format has no field for ---------------------------------------

def reference_record(r) -> dict:
    out = {"text": r.text, "kind": r.kind}
    if r.source_file:
        out["source"] = {"file": r.source_file, "number": r.source_number}
    if r.errata:
        out["errata"] = r.errata
    return out


# Optional question texts carried by the grader block (and the YAML bank), written only when set.
OPTIONAL_TEXTS = ("model_answer", "unservable")


def optional_texts(source) -> dict:
    """The optional texts of a Question (attributes) or of a grader block (keys) that are set."""
    get = source.get if isinstance(source, dict) else lambda k: getattr(source, k, "")
    return {k: get(k) for k in OPTIONAL_TEXTS if get(k)}


def rubric_record(rubric: Rubric | None) -> dict | None:
    if rubric is None:
        return None
    d = rubric.to_dict()
    return {"reviewed": d["reviewed"], "concepts": d["concepts"]}


def grader_block(q: Question, rubric: Rubric | None, with_id=False) -> dict:
    block = {"id": q.id} if with_id else {}
    block.update({"level": q.level, "reconstructed": q.reconstructed, **optional_texts(q),
                  "references": [reference_record(r) for r in q.references]})
    if rubric is not None:
        block["rubric"] = rubric_record(rubric)
    return block


def parse_block(text: str, path, where) -> dict:
    try:
        block = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DataError(path, where, f"the grader JSON block is not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(block, dict):
        raise DataError(path, where, "the grader JSON block must be an object")
    return block


# --- validation ------------------------------------------------------------------------------

def auto_id(question: str, taken: set[str]) -> str:
    base = "imp-" + hashlib.sha1(" ".join(question.split()).encode()).hexdigest()[:8]
    qid, n = base, 2
    while qid in taken:
        qid, n = f"{base}-{n}", n + 1
    return qid


def build(records: list[tuple[str, dict, object]], path, skipped: dict | None = None,
          notes: list[str] = ()) -> Imported:
    """Validate raw records (where, question mapping as in the YAML bank, rubric mapping or None)
    into questions and rubrics; a problem is a DataError naming `where` (a line or an element).
    `skipped`: how many entries of each kind the format's reader passed over; `notes`: its remarks."""
    questions, rubrics, seen = [], {}, {}
    for where, raw, rubric_raw in records:
        try:
            q = _parse_question(raw, path, "question")
        except DataError as exc:
            key = re.sub(r"^questions\[[^\]]*\]\.|^question\.", "", exc.key)
            raise DataError(path, f"{where}: {key}", exc.problem) from None
        if q.id in seen:
            raise DataError(path, f"{where}: id", f"duplicate id {q.id!r} (also at {seen[q.id]})")
        seen[q.id] = where
        questions.append(q)
        if rubric_raw is not None:
            if isinstance(rubric_raw, list):
                rubric_raw = {"concepts": rubric_raw}
            if not isinstance(rubric_raw, dict):
                raise DataError(path, f"{where}: rubric", "expected an object with concepts")
            try:
                rubrics[q.id] = parse_rubric({**rubric_raw, "question_id": q.id}, path)
            except DataError as exc:
                raise DataError(path, f"{where}: rubric.{exc.key}", exc.problem) from None
    if not questions:
        raise DataError(path, "", "no questions found")
    imported = Imported(questions, rubrics)
    skipped = skipped or {}
    imported.skipped = sum(skipped.values())
    if skipped:
        imported.notes.append("skipped question types (no free-text answer): "
                              + ", ".join(f"{k or '?'} {v}" for k, v in sorted(skipped.items())))
    imported.notes.extend(notes)
    return imported


def check_references(raw_refs, path, where) -> list:
    """References of a grader block, validated (so that a bad one names the place)."""
    if not isinstance(raw_refs, list):
        raise DataError(path, f"{where}: references", "expected a list")
    for i, r in enumerate(raw_refs):
        _parse_reference(r, path, f"{where}: references[{i}]")
    return raw_refs


def topic_of(category: str | None, notes: list[str], where: str) -> str:
    """A platform category's last part when it is a topic; otherwise the default topic (noted)."""
    if not category:
        return DEFAULT_TOPIC
    last = category.strip().rstrip("/").split("/")[-1].strip()
    folded = last.casefold().replace(" ", "-")
    if folded in TOPICS:
        return folded
    note = f"category {last!r} is not a topic ({', '.join(TOPICS)}): its questions go under {DEFAULT_TOPIC}"
    if note not in notes:
        notes.append(note)
    return DEFAULT_TOPIC


def short_or_full(text: str) -> str:
    """The kind `user_question` gives a reference: a few words are a flashcard-style answer."""
    return "short" if len(text.split()) <= 8 else "full"


# --- HTML <-> text ---------------------------------------------------------------------------

def text_to_html(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "<br>\n")


class _Text(HTMLParser):
    _BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._BREAKS and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(re.sub(r"[ \t\r\n]+", " ", data) if "\n" in data or "\r" in data else data)


def html_to_text(fragment: str) -> str:
    """The text of an HTML fragment: line breaks for <br>, paragraphs and list items ("- ")."""
    if "<" not in fragment and "&" not in fragment:
        return fragment.strip()
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    out = "\n".join(line for line in lines if line)
    return out.strip()


# --- writing an imported bank ----------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    style = "|" if "\n" in value and not re.search(r"[ \t]\n|[ \t]$", value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def question_mapping(q: Question) -> dict:
    refs = []
    for r in q.references:
        ref = {"text": r.text}
        if r.source_file:
            ref["source"] = {"file": r.source_file, "number": r.source_number}
        ref["kind"] = r.kind
        if r.errata:
            ref["errata"] = r.errata
        refs.append(ref)
    return {"id": q.id, "question": q.question, "topic": q.topic, "level": q.level,
            "reconstructed": q.reconstructed, **optional_texts(q), "references": refs}


def bank_files(questions: list[Question], rubrics: dict[str, Rubric]) -> dict[str, str]:
    """Relative path -> YAML text: <topic>.yaml per topic, rubrics/<id>.yaml per rubric (the
    layout `--bank DIR` reads, rubrics in DIR/rubrics)."""
    files = {}
    for topic in TOPICS:
        chosen = [question_mapping(q) for q in questions if q.topic == topic]
        if chosen:
            head = f"# Question bank, topic: {topic}. Imported by `grader bank import`. Format: questions/README.md\n"
            files[f"{topic}.yaml"] = head + yaml.dump({"questions": chosen}, Dumper=_Dumper, sort_keys=False,
                                                      allow_unicode=True, width=100)
    for qid, rubric in rubrics.items():
        name = re.sub(r"[^A-Za-z0-9._-]", "_", qid)
        files[f"rubrics/{name}.yaml"] = yaml.dump(rubric.to_dict(), Dumper=_Dumper, sort_keys=False,
                                                  allow_unicode=True, width=100)
    return files


def write_bank(imported: Imported, out_dir, force=False, input_path=None) -> Path:
    """Write the bank to `out_dir` through a temporary directory beside it, checked with
    `load_bank` and `load_rubrics` before it is renamed into place. An existing `out_dir` is
    replaced only with `force`, and never when it holds the input file."""
    out = Path(out_dir)
    if out.exists() or out.is_symlink():
        if not force:
            raise GraderError(f"{out}: already exists; give --force to replace it")
        if not out.is_dir() or out.is_symlink():
            raise GraderError(f"{out}: exists and is not a directory; not replaced")
        if input_path is not None and _inside(Path(input_path), out):
            raise GraderError(f"{out}: holds the input file {input_path}; choose another output directory")
    with atomic_directory(out, own=None) as tmp:
        for rel, text in bank_files(imported.questions, imported.rubrics).items():
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        bank = load_bank(tmp)
        rubrics = load_rubrics(tmp / "rubrics")
        if len(bank) != len(imported.questions) or set(rubrics) - set(bank.questions):
            raise GraderError(f"{out}: the written bank does not read back whole (internal error)")
    return out


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


def write_file_atomically(data: bytes, target, force=False) -> Path:
    target = Path(target)
    if target.exists() and not force:
        raise GraderError(f"{target}: already exists; give --force to replace it")
    if target.is_dir():
        raise GraderError(f"{target}: is a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, data)
    return target

