"""Rubric drafting: `RubricDrafter` proposes a rubric from a question's reference answers:
candidate phrases scored by lexical statistics (frequency across references, rarity across the
bank) and by how close the embedding model puts each phrase to the reference answers, diversified
by maximal marginal relevance. The drafts are marked `drafted` (not reviewed)."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np

from grader.bank import rubrics as rubrics_module
from grader.bank.questions import Question
from grader.bank.rubrics import Concept, Rubric
from grader.core import text as text_module
from grader.core.text import NEGATIONS, STOPWORDS, stem, word_spans, words

_ABBREVIATION = re.compile(r"\b([A-Za-z][A-Za-z\- ]{3,60}?)\s*\(([A-Z][A-Za-z0-9\-]{1,9}s?)\)")
# Words that carry no concept and end a phrase: a candidate is split at them. "of" is not among
# them, so "curse of dimensionality" stays whole; it still may not start or end a phrase.
_BREAKERS = (STOPWORDS - {"of"}) | NEGATIONS | frozenset("""
during while through via within without across among per upon because since until unless whether
although though against toward towards despite beyond along around above below like instead rather
even yet still already again always never often sometimes thus hence therefore however e g eg ie
etc i.e e.g us re ll ve d m t use used using uses make makes made allow allows allowing help helps
lets let become becomes get gets called known way well order able later earlier between before
after once whereas including
""".split())
# Modifiers that give a noun its sense ("good minimum", "deep networks") but name nothing alone
# and leave a phrase dangling when they end it.
_MODIFIERS = frozenset("""
good better best new different important various specific particular certain common deep high low
large small early late single multiple local global main key major entire whole overall similar
same several additional extra general typical possible available useful necessary essential
crucial critical significant relevant efficient sufficient simple complex easy hard fast slow
effective expensive cheap powerful robust fewer less greater lower higher larger smaller accurate
appropriate popular noisy black little state-of-the-art
""".split())
_BAD_EDGE = _BREAKERS | frozenset("""
of model models process approach technique techniques method methods cornerstone set sets based
prevent prevents compute computes example typically usually commonly up down out
""".split())
# Nouns too general to be a concept without their modifier ("minimum" of what? which "data"?).
_GENERIC = frozenset("""
minimum maximum value values time times data network networks training input inputs output
outputs result results number numbers problem problems information function functions layer
layers step steps change changes type types part parts size level levels rate rates term terms
form case cases point points amount thing things task tasks system systems issue issues faster
slower ways
""".split())
# Suffixes of adjectives, adverbs and participles: a phrase ending in one is a fragment
# ("tasks with limited", "precise and effective"); the exceptions are nouns.
_DANGLING_SUFFIX = re.compile(r"(?:ly|[^e]ed|ous|ful|ive|able|ible|ic|al|est|'s)$")
_SUFFIX_NOUNS = frozenset("""
anomaly family assembly objective derivative alternative variable variables table logic metric
topic heuristic arithmetic signal interval removal trial tutorial potential material proposal
residual terminal animal manual principal interest request forest contest manifest
""".split())
_BREAK = re.compile(r"[.;:!?\n()\[\],]")
_MODALS = frozenset("can could may might must should will would".split())
_DETERMINERS = frozenset("the a an its their it them this these those each all both our your his her".split())


def _dangling(word: str) -> bool:
    """A word that cannot end a concept name: a function word, a bare modifier or a word with an
    adjective, adverb or participle suffix."""
    if word in _BAD_EDGE or word in _MODIFIERS:
        return True
    return len(word) > 4 and word not in _SUFFIX_NOUNS and bool(_DANGLING_SUFFIX.search(word))


def _acceptable(gram: list[str], surface: str) -> bool:
    if gram[0] in _BAD_EDGE or _dangling(gram[-1]):
        return False
    # Stray letters ("w x b", "th input") are formula symbols or broken contractions, not words.
    if any(len(w) < 3 and w != "of" and not (surface.isupper() and len(surface) > 1) for w in gram):
        return False
    if len(gram) == 1:
        # A lone word must be a term in its own right: an acronym, or a specific noun.
        return surface.isupper() or (gram[0] not in _GENERIC and len(gram[0]) >= 4)
    return gram.count("of") <= 1


def _runs(text: str):
    """(offset, word spans) of the stretches of content words between punctuation and breakers."""
    pos = 0
    for sentence in _BREAK.split(text):
        start = text.find(sentence, pos)
        pos = start + len(sentence)
        run: list[tuple[str, int, int]] = []
        spans = word_spans(sentence)
        for k, span in enumerate(spans):
            # A contraction other than a possessive ("they're") is a pronoun and its verb.
            if span[0] in _BREAKERS or "'" in span[0][:-2] or span[0][0].isdigit() \
                    or _is_verb(span[0], spans[k + 1:k + 2]):
                if run:
                    yield start, run
                run = []
            else:
                run.append(span)
        if run:
            yield start, run


def _is_verb(word: str, following) -> bool:
    """"changes" or "lowering" right before "the"/"it" takes an object: it is the verb of a clause
    ("scheduler changes the rate"), which would glue subject and verb into one phrase."""
    if not following or following[0][0] not in _DETERMINERS:
        return False
    return word.endswith("ing") or (word.endswith("s") and not word.endswith(("ss", "us", "is")))


def _candidate_spans(text: str, max_len: int = 4) -> dict[str, list[tuple[int, int]]]:
    """Candidate key phrases with the character spans where they occur: n-grams of up to
    `max_len` content words (an inner "of" allowed) that start with a content word or a
    modifier and end in a noun-like word, so never a stop-word fragment or a whole clause."""
    # Curly apostrophes would split "don’t" into "don" and "t"; the swap keeps every offset.
    text = text.replace("\u2019", "'")
    out: dict[str, list[tuple[int, int]]] = {}
    for offset, run in _runs(text):
        ws = [w for w, _, _ in run]
        for n in range(1, max_len + 1):
            for i in range(len(ws) - n + 1):
                begin, end = offset + run[i][1], offset + run[i + n - 1][2]
                if _acceptable(ws[i:i + n], text[begin:end]):
                    out.setdefault(" ".join(ws[i:i + n]), []).append((begin, end))
    return out


def _candidates(text: str, max_len: int = 4) -> Counter:
    return Counter({c: len(where) for c, where in _candidate_spans(text, max_len).items()})


def drafting_fingerprint(questions: list[Question]) -> str:
    """What a draft depends on besides its question: the drafting code and the bank it learns
    phrase statistics from. Stored drafts made under another fingerprint are not reused."""
    digest = hashlib.sha1()
    for module in (__file__, rubrics_module.__file__, text_module.__file__):
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
        self.verb_stems_: set[str] = set()
        for q in questions:
            text = " ".join(r.text for r in q.references)
            self.doc_freq_.update({" ".join(stem(w) for w in c.split()) for c in _candidates(text)})
            self.verb_stems_ |= _verb_stems(words(text))
        self.n_docs_ = max(1, len(questions))
        return self

    def _names_a_concept(self, phrase: str, question_stems: set[str]) -> bool:
        """Not mostly words of the question, not a bare verb ("solve", "takes") and not a
        subject glued to its verb ("mode collapse occurs")."""
        ws = phrase.split()
        if 2 * sum(stem(w) in question_stems for w in ws) > len(ws):
            return False
        verbs = getattr(self, "verb_stems_", set())
        last = ws[-1]
        if len(ws) == 1:
            return last.endswith("ing") or stem(last) not in verbs
        return not (last.endswith("s") and not ws[-2].endswith("s") and stem(last) in verbs)

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
            counts.update(spans.keys())                  # presence in several references counts more
            counts.update({c: len(v) for c, v in spans.items()})
            for c, v in spans.items():
                where.setdefault(c, (k_ref, *v[0]))
        if short:
            # A flashcard answer is itself the concept: keep it whole when it is short.
            whole = " ".join(_trim(list(words(refs[0].text))))
            if 0 < len(whole.split()) <= 5:
                counts[whole] += 10
        cands = [c for c in counts if self._names_a_concept(c, question_stems)] or list(counts)
        if not cands:
            cands = [" ".join((_trim(list(words(ref_text))) or list(words(ref_text)))[:4])]
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
        lexical = np.array([math.log1p(counts[c]) * self._idf(c) * (1 + 0.3 * (len(c.split()) - 1)) for c in cands])
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


def _verb_stems(ws: tuple[str, ...]) -> set[str]:
    """Stems of the words seen used as verbs: after a modal ("can overfit") or before an object
    ("reduce the")."""
    out = set()
    for a, b in zip(ws, ws[1:]):
        if a in _MODALS and b not in _BREAKERS:
            out.add(stem(b))
        if b in _DETERMINERS and a not in _BAD_EDGE and not a.endswith("ing"):
            out.add(stem(a))
    return out


def _trim(ws: list[str]) -> list[str]:
    """A short answer without the function words at its edges ("to prevent overfitting")."""
    while ws and ws[0] in _BAD_EDGE:
        ws = ws[1:]
    while ws and _dangling(ws[-1]):
        ws = ws[:-1]
    return ws


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
