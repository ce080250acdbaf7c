"""Tokens, stems, sentences and negation cues: the lexical side of grading."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

# PyStemmer: the Snowball English stemmer compiled from its C sources, the same stems as the
# pure-Python snowballstemmer and about 100 times faster; a fresh process stems every word it meets.
_STEMMER = Stemmer.Stemmer("english")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-']*|\d+(?:\.\d+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")
_CLAUSE_BREAK = re.compile(r",\s+|\s+(?:but|whereas|while|however|although)\s+|\s*\(|\)\s*|\s+-\s+")

STOPWORDS = frozenset("""
a an the and or but if then else of to in on at by for with from as into onto over under about
is are was were be been being am do does did doing have has had having can could may might must
shall should will would it its it's this that these those there here which who whom whose what
when where why how i me my we our you your he she they them their his her so than too very just
also such more most other some any each both all few many much own same only s t one two
""".split())

# Cues that flip the statement they scope over. Contrast words ("instead", "rather", "without")
# are left out: "ReLU instead of sigmoid" or "without non-linearity the net is linear" are
# correct statements, not denials.
NEGATIONS = frozenset("""
not no never none nobody nothing neither nor cannot can't cant don't dont doesn't doesnt didn't
didnt isn't isnt aren't arent wasn't wasnt won't wont shouldn't wouldn't couldn't
""".split())


def is_negation(word: str) -> bool:
    """A cue that flips what it scopes over: a listed word, or any contraction in n't."""
    return word in NEGATIONS or word.endswith("n't")


# Pairs whose swap reverses a statement about deep learning: used to spot contradictions of a
# reference sentence that otherwise looks just like it.
ANTONYMS = {
    "increase": "decrease", "increases": "decreases", "higher": "lower", "high": "low",
    "larger": "smaller", "large": "small", "more": "less", "faster": "slower", "fast": "slow",
    "overfitting": "underfitting", "overfit": "underfit", "vanishing": "exploding",
    "sparse": "dense", "always": "never", "before": "after", "reduce": "increase",
    "reduces": "increases", "prevent": "cause", "prevents": "causes", "improve": "worsen",
    "improves": "worsens", "linear": "nonlinear", "supervised": "unsupervised",
    "training": "inference", "input": "output", "forward": "backward", "maximum": "minimum",
    "max": "min", "positive": "negative", "easier": "harder", "stable": "unstable", "shallow": "deep",
    "bias": "variance", "add": "remove", "adds": "removes", "encoder": "decoder",
    "generator": "discriminator", "convex": "nonconvex", "deterministic": "stochastic",
}
ANTONYMS.update({v: k for k, v in list(ANTONYMS.items())})
# Words on the same side of such a pair: an answer that says "at test time" speaks of inference, so
# "kept during training" in it denies nothing about inference.
SAME_SIDE = {"inference": ("test", "testing", "evaluation", "prediction", "deployment"),
             "training": ("train", "learning", "fitting")}


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    return _STEMMER.stemWord(word.lower().replace("-", ""))


@lru_cache(maxsize=1024)
def words(text: str) -> tuple[str, ...]:
    return tuple([m[0].lower() for m in _WORD.finditer(text)])


@lru_cache(maxsize=1024)
def word_spans(text: str) -> tuple[tuple[str, int, int], ...]:
    return tuple([(m[0].lower(), m.start(), m.end()) for m in _WORD.finditer(text)])


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1]


@dataclass(frozen=True)
class Span:
    text: str
    start: int
    end: int


@lru_cache(maxsize=1024)
def sentences(text: str) -> tuple[Span, ...]:
    """Memoised: an answer's sentences serve both its signals and its concepts' negation scope."""
    return tuple(_sentences(text))


def _sentences(text: str) -> list[Span]:
    spans, pos = [], 0
    for piece in _SENTENCE_END.split(text):
        start = text.find(piece, pos)
        if piece.strip() and start >= 0:
            lead = len(piece) - len(piece.lstrip())
            s = start + lead
            spans.append(Span(piece.strip(), s, s + len(piece.strip())))
            pos = start + len(piece)
    return spans or ([Span(text.strip(), 0, len(text.strip()))] if text.strip() else [])


def clauses(text: str) -> list[Span]:
    """Sentences further split at commas and contrast words: the unit negation scopes over."""
    out = []
    for sent in sentences(text):
        pos = 0
        for piece in _CLAUSE_BREAK.split(sent.text):
            if not piece or not piece.strip():
                continue
            start = sent.text.find(piece, pos)
            if start < 0:
                continue
            pos = start + len(piece)
            if _WORD.search(piece):
                out.append(Span(piece.strip(), sent.start + start, sent.start + start + len(piece.strip())))
    return out
