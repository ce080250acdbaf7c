"""Rubrics: the key concepts of a question, with phrases, weights and what full credit requires.

`draft_rubric` proposes one from the reference answers: candidate phrases scored by lexical
statistics (frequency across references, rarity across the bank) and by how close the embedding
model puts each phrase to the reference answers, diversified by maximal marginal relevance.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from .bank import Question
from . import text as text_module
from .errors import DataError
from .text import NEGATIONS, STOPWORDS, stem, word_spans, words

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
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(path, "", "not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise DataError(path, "", f"invalid YAML ({getattr(exc, 'problem', exc)})") from None
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


# --- drafting -----------------------------------------------------------------------------

_ABBREVIATION = re.compile(r"\b([A-Za-z][A-Za-z\- ]{3,60}?)\s*\(([A-Z][A-Za-z0-9\-]{1,9}s?)\)")
_BAD_EDGE = STOPWORDS | NEGATIONS | {"e", "g", "eg", "ie", "etc", "like", "use", "used", "using", "make",
                                     "makes", "allow", "allows", "help", "helps", "way", "called", "known",
                                     "well", "example", "thus", "therefore", "e.g", "i.e", "often", "up", "down",
                                     "out", "allowing", "model", "models", "deep", "highly", "between", "prevent",
                                     "prevents", "computes", "compute", "important", "different", "various",
                                     "specific", "particular", "certain", "new", "good", "better", "typically",
                                     "usually", "commonly", "common", "process", "approach", "technique",
                                     "techniques", "method", "methods", "cornerstone", "set", "sets", "based"}


_BREAK = re.compile(r"[.;:!?\n()\[\],]")


def _candidate_spans(text: str, max_len: int = 3) -> dict[str, list[tuple[int, int]]]:
    """Candidate key phrases (1-3 word n-grams not starting or ending in a function word) with
    the character spans where they occur."""
    out: dict[str, list[tuple[int, int]]] = {}
    pos = 0
    for sentence in _BREAK.split(text):
        start = text.find(sentence, pos)
        pos = start + len(sentence)
        spans = word_spans(sentence)
        ws = [w for w, _, _ in spans]
        for n in range(1, max_len + 1):
            for i in range(len(ws) - n + 1):
                gram = ws[i:i + n]
                if gram[0] in _BAD_EDGE or gram[-1] in _BAD_EDGE or any(w in NEGATIONS for w in gram):
                    continue
                if n == 1 and (len(gram[0]) < 4 and not gram[0].isupper()):
                    continue
                if any(w.isdigit() for w in gram):
                    continue
                out.setdefault(" ".join(gram), []).append((start + spans[i][1], start + spans[i + n - 1][2]))
    return out


def _candidates(text: str, max_len: int = 3) -> Counter:
    return Counter({c: len(where) for c, where in _candidate_spans(text, max_len).items()})


def drafting_fingerprint(questions: list[Question]) -> str:
    """What a draft depends on besides its question: the drafting code and the bank it learns
    phrase statistics from. Stored drafts made under another fingerprint are not reused."""
    digest = hashlib.sha1()
    for module in (__file__, text_module.__file__):
        digest.update(Path(module).read_bytes())
    for q in questions:
        digest.update("\x00".join(r.text for r in q.references).encode("utf-8") + b"\x01")
    return digest.hexdigest()


class RubricDrafter:
    """Drafts rubrics; `fit` learns document frequencies of phrases over a bank."""

    def __init__(self, embedder, diversity: float = 0.6):
        self.embedder = embedder
        self.diversity = diversity

    def fit(self, questions: list[Question]) -> "RubricDrafter":
        self.doc_freq_: Counter = Counter()
        for q in questions:
            text = " ".join(r.text for r in q.references)
            self.doc_freq_.update({" ".join(stem(w) for w in c.split()) for c in _candidates(text)})
        self.n_docs_ = max(1, len(questions))
        return self

    def _idf(self, phrase: str) -> float:
        key = " ".join(stem(w) for w in phrase.split())
        df = getattr(self, "doc_freq_", Counter()).get(key, 0)
        # Damped: a concept common across the bank ("overfitting") can still be key here.
        return math.sqrt(math.log((1 + getattr(self, "n_docs_", 1)) / (1 + df)) + 1)

    def draft(self, question: Question) -> Rubric:
        refs = question.references
        if not refs:
            return Rubric(question.id, [], drafted=True)
        short = all(r.kind == "short" for r in refs)
        ref_text = "\n".join(r.text for r in refs)
        n_words = np.median([len(words(r.text)) for r in refs])
        k = (1 if n_words <= 4 else 2) if short else int(np.clip(round(n_words / 25), 3, 7))

        question_stems = {stem(w) for w in words(question.question)}
        encoded = self.embedder.encode_full([r.text for r in refs], persist=True)
        counts: Counter = Counter()
        where: dict[str, tuple[int, int, int]] = {}
        for k_ref, r in enumerate(refs):
            spans = _candidate_spans(r.text)
            counts.update(set(spans))                    # presence in several references counts more
            counts.update({c: len(v) for c, v in spans.items()})
            for c, v in spans.items():
                where.setdefault(c, (k_ref, *v[0]))
        if short:
            # A flashcard answer is itself the concept: keep it whole when it is short.
            whole = " ".join(words(refs[0].text))
            if 0 < len(whole.split()) <= 5:
                counts[whole] += 10
        cands = [c for c in counts if not all(stem(w) in question_stems for w in c.split())] or list(counts)
        if not cands:
            cands = [" ".join(words(ref_text)[:4])]
        cands = sorted(cands, key=lambda c: -counts[c])[:60]

        # Each candidate's vector is pooled from the reference's own token vectors: no extra
        # model call per candidate. The few that cover no token go through the model together.
        vecs = [encoded[where[c][0]].span(where[c][1], where[c][2]) if c in where else None for c in cands]
        unpooled = [c for c, v in zip(cands, vecs) if v is None]
        if unpooled:
            fresh = iter(self.embedder.encode(unpooled))
            vecs = [next(fresh) if v is None else v for v in vecs]
        vecs = np.stack(vecs)
        ref_vecs = np.stack([e.vector for e in encoded])
        semantic = (vecs @ ref_vecs.T).max(axis=1)
        lexical = np.array([math.log1p(counts[c]) * self._idf(c) * (1 + 0.15 * (len(c.split()) - 1)) for c in cands])
        lexical = lexical / (lexical.max() + 1e-9)
        relevance = 0.5 * semantic + 0.5 * lexical

        chosen: list[int] = []
        while len(chosen) < min(k, len(cands)):
            if chosen:
                redundancy = (vecs @ vecs[chosen].T).max(axis=1)
                overlap = np.array([_stem_overlap(c, [cands[j] for j in chosen]) for c in cands])
                mmr = (1 - self.diversity) * relevance - self.diversity * np.maximum(redundancy, overlap)
            else:
                mmr = relevance.copy()
            mmr[chosen] = -np.inf
            chosen.append(int(np.argmax(mmr)))

        abbreviations = _abbreviations(ref_text)
        concepts = []
        for j in chosen:
            name = cands[j]
            phrases = [p for p in _expansions(name, abbreviations) if p != name]
            concepts.append(Concept(name, phrases, weight=float(relevance[j]), required=False))
        total = sum(c.weight for c in concepts) or 1.0
        for c in concepts:
            c.weight = round(c.weight / total, 3)
        concepts[0].required = True
        return Rubric(question.id, concepts, drafted=True)


def _stem_overlap(phrase: str, others: list[str]) -> float:
    a = {stem(w) for w in phrase.split()}
    best = 0.0
    for o in others:
        b = {stem(w) for w in o.split()}
        best = max(best, len(a & b) / len(a | b))
    return best


def _abbreviations(text: str) -> dict[str, str]:
    """'Rectified Linear Unit (ReLU)' -> {'relu': 'rectified linear unit', and the reverse}."""
    pairs = {}
    for long, short in _ABBREVIATION.findall(text):
        letters = short.rstrip("s").lower()
        long_words = words(long)
        # The long form is the last len(abbreviation) words whose initials spell it.
        tail = long_words[-len(letters):] if len(letters) <= len(long_words) else long_words
        if "".join(w[0] for w in tail) == letters:
            pairs[short.lower()] = " ".join(tail)
            pairs[" ".join(tail)] = short.lower()
    return pairs


def _expansions(name: str, abbreviations: dict[str, str]) -> list[str]:
    out = []
    for key, value in abbreviations.items():
        if key == name or (len(key.split()) > 1 and key in name):
            out.append(name.replace(key, value))
    return list(dict.fromkeys(out))
