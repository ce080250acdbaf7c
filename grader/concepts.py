"""Finding a rubric's concepts in an answer: word forms, misspellings, paraphrase and negation.

A concept is matched lexically when every word of one of its phrases occurs, as the same stem or
within a small edit distance, inside a short window of the answer; or semantically when a span of
the answer (pooled from the answer's token vectors) is close to the phrase's embedding. A match
inside a negated clause, or next to the antonym of one of the phrase's words, contradicts the
concept instead of covering it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein

from .embedding import Encoded
from .rubric import Concept, Rubric
from .text import ANTONYMS, NEGATIONS, STOPWORDS, clauses, stem, word_spans

SEMANTIC_THRESHOLD = 0.70


@dataclass
class ConceptMatch:
    concept: Concept
    score: float            # 0..1 strength of the best match (1 = exact or lexical)
    status: str             # matched | missed | contradicted
    evidence: str = ""      # the answer text that matched
    how: str = ""           # lexical | fuzzy | semantic


def _max_edits(word: str) -> int:
    # Bounded so that real words stay apart ("validation" vs "values", "cropping" vs "drops").
    return 0 if len(word) < 6 else 1 if len(word) < 10 else 2


def _word_matches(answer_word: str, answer_stem: str, phrase_word: str, phrase_stem: str) -> str | None:
    if answer_stem == phrase_stem or answer_word == phrase_word:
        return "lexical"
    limit = _max_edits(phrase_word)
    if (limit and answer_word[:1] == phrase_word[:1] and abs(len(answer_word) - len(phrase_word)) <= limit
            and Levenshtein.distance(answer_word, phrase_word, score_cutoff=limit) <= limit):
        return "fuzzy"
    return None


class ConceptMatcher:
    def __init__(self, embedder, semantic_threshold: float = SEMANTIC_THRESHOLD):
        self.embedder = embedder
        self.semantic_threshold = semantic_threshold
        self._phrases: dict[int, tuple[Rubric, list[str], np.ndarray]] = {}

    def _rubric_phrases(self, rubric: Rubric):
        """Phrases of a rubric and their embeddings, computed once per rubric."""
        cached = self._phrases.get(id(rubric))
        if cached is None or cached[0] is not rubric:
            texts = list(dict.fromkeys(p for c in rubric.concepts for p in c.all_phrases))
            cached = (rubric, texts, self.embedder.encode(texts, persist=True))
            self._phrases[id(rubric)] = cached
        return cached[1], cached[2]

    def match(self, answer: Encoded, rubric: Rubric) -> list[ConceptMatch]:
        text = answer.text
        spans = word_spans(text)
        answer_words = [w for w, _, _ in spans]
        answer_stems = [stem(w) for w in answer_words]
        index = _AnswerIndex(answer_words, answer_stems)
        clause_spans = clauses(text)
        phrase_texts, phrase_matrix = self._rubric_phrases(rubric)
        windows = _window_vectors(answer, spans)
        semantic = {}
        if windows is not None and phrase_texts:
            vecs, bounds = windows
            sims = vecs @ phrase_matrix.T                        # (windows, phrases)
            best_window = sims.argmax(axis=0)
            for col, (p, k) in enumerate(zip(phrase_texts, best_window)):
                semantic[p] = (float(sims[k, col]), bounds[k])
        out = []
        for concept in rubric.concepts:
            best: tuple[float, str, int, int, str] = (0.0, "", -1, -1, "")
            reversed_at = None
            for phrase in concept.all_phrases:
                found = _lexical_find(phrase, index)
                if found:
                    how, i, j = found
                    best = max(best, (1.0, how, spans[i][1], spans[j][2], phrase))
                    continue
                for flipped in _antonym_variants(phrase) if reversed_at is None else []:
                    found = _lexical_find(flipped, index)
                    if found:
                        reversed_at = (spans[found[1]][1], spans[found[2]][2])
                        break
                partial = _lexical_share(phrase, index.stem_set)
                if partial:
                    # Most words of a multi-word phrase: evidence for the signal, not a match.
                    best = max(best, (partial * (self.semantic_threshold - 0.01), "partial", -1, -1, phrase))
                if phrase in semantic:
                    sim, (start, end) = semantic[phrase]
                    best = max(best, (sim, "semantic", start, end, phrase))
            score, how, start, end, phrase = best
            if reversed_at and score < 1.0:
                # The phrase with a word swapped for its antonym: "increases overfitting" for
                # "reduces overfitting".
                out.append(ConceptMatch(concept, 1.0, "contradicted", text[reversed_at[0]:reversed_at[1]], "antonym"))
            elif score >= self.semantic_threshold:
                evidence = text[start:end]
                status = "contradicted" if _contradicts(text, start, end, phrase, clause_spans) else "matched"
                out.append(ConceptMatch(concept, score, status, evidence, how))
            else:
                out.append(ConceptMatch(concept, score, "missed"))
        return out


def _antonym_variants(phrase: str) -> list[str]:
    """The phrase with one word at a time swapped for its antonym."""
    ws = [w for w, _, _ in word_spans(phrase)]
    return [" ".join(ws[:i] + [ANTONYMS[w]] + ws[i + 1:]) for i, w in enumerate(ws) if w in ANTONYMS]


def _lexical_share(phrase: str, present: set[str]) -> float:
    content = [stem(w) for w, _, _ in word_spans(phrase) if w not in STOPWORDS]
    if len(content) < 2:
        return 0.0
    return sum(c in present for c in content) / len(content)


class _AnswerIndex:
    """Where each phrase word occurs in one answer (same stem, or a bounded misspelling),
    memoised because rubrics repeat words across phrases."""

    def __init__(self, answer_words: list[str], answer_stems: list[str]):
        self.words, self.stems = answer_words, answer_stems
        self.by_stem: dict[str, list[int]] = {}
        for i, s in enumerate(answer_stems):
            self.by_stem.setdefault(s, []).append(i)
        self.stem_set = set(answer_stems)
        # Fuzzy matches must share the first letter: index the answer's words by it.
        self.by_initial: dict[str, list[int]] = {}
        for i, w in enumerate(answer_words):
            self.by_initial.setdefault(w[:1], []).append(i)
        self._memo: dict[str, list[tuple[int, str]]] = {}

    def positions(self, phrase_word: str) -> list[tuple[int, str]]:
        hit = self._memo.get(phrase_word)
        if hit is None:
            phrase_stem = stem(phrase_word)
            found = {i: "lexical" for i in self.by_stem.get(phrase_stem, [])}
            for i in self.by_initial.get(phrase_word[:1], []):
                w = self.words[i]
                if w == phrase_word:
                    found[i] = "lexical"
                elif i not in found and _word_matches(w, self.stems[i], phrase_word, phrase_stem):
                    found[i] = "fuzzy"
            hit = self._memo[phrase_word] = sorted(found.items())
        return hit


def _lexical_find(phrase: str, index: _AnswerIndex):
    """All content words of the phrase within a window of the answer: (how, first, last) or None."""
    p_words = [w for w, _, _ in word_spans(phrase)]
    content = [w for w in p_words if w not in STOPWORDS] or p_words
    if not content:
        return None
    found = [index.positions(w) for w in content]
    if not all(found):
        return None
    window = len(p_words) + 2
    for i, first in found[0]:
        kinds, last = {first}, i
        for hits in found[1:]:
            near = next(((j, k) for j, k in hits if abs(j - i) <= window), None)
            if near is None:
                break
            kinds.add(near[1])
            last = max(last, near[0])
        else:
            return ("fuzzy" if "fuzzy" in kinds else "lexical"), i, last
    return None


def _window_vectors(answer: Encoded, spans, max_words: int = 5):
    """Embeddings of every 1-5 word window of the answer, pooled from its token vectors."""
    if not spans or len(answer.tokens) == 0:
        return None
    cum = np.vstack([np.zeros((1, answer.tokens.shape[1]), dtype=answer.tokens.dtype),
                     np.cumsum(answer.tokens, axis=0)])
    word_start = np.array([s for _, s, _ in spans])
    word_end = np.array([e for _, _, e in spans])
    # Token index range of each word (words past the truncation point get an empty range).
    t0 = np.searchsorted(answer.offsets[:, 0], word_start, side="left")
    t1 = np.searchsorted(answer.offsets[:, 1], word_end, side="right")
    content = np.array([w not in STOPWORDS for w, _, _ in spans])
    n = len(spans)
    first, last = [], []
    for size in range(1, max_words + 1):
        i = np.arange(n - size + 1)
        if size == 1:
            i = i[content[i]]
        first.append(i)
        last.append(i + size - 1)
    first, last = np.concatenate(first), np.concatenate(last)
    lo, hi = t0[first], t1[last]
    keep = hi > lo
    first, last, lo, hi = first[keep], last[keep], lo[keep], hi[keep]
    if not len(lo):
        return None
    v = (cum[hi] - cum[lo]) / (hi - lo)[:, None]
    v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-12
    return v, list(zip(word_start[first].tolist(), word_end[last].tolist()))


NEGATION_REACH = 5  # words before a match that a negation cue can scope over


def _contradicts(text: str, start: int, end: int, phrase: str, clause_spans) -> bool:
    clause = next((c for c in clause_spans if c.start <= start < c.end + 1), None)
    lo, hi = (clause.start, clause.end) if clause else (max(0, start - 60), min(len(text), end + 30))
    # Negation reaches the few words before the match in the same clause, and the match itself:
    # "it does not randomly drop neurons" negates the match; "X does not help, and Y drops
    # neurons" does not.
    before = [w for w, s, e in word_spans(text[lo:start])][-NEGATION_REACH:]
    inside = [w for w, _, _ in word_spans(text[start:end])]
    phrase_words = {w for w, _, _ in word_spans(phrase)}
    negated_in_phrase = any(w in NEGATIONS for w in phrase_words)
    negated = sum(1 for w in before + inside if w in NEGATIONS or w.endswith("n't"))
    if negated % 2 == 1 and not negated_in_phrase:
        return True
    # An antonym counts only next to the match ("increases overfitting" against "reduces
    # overfitting"), not anywhere in a long clause.
    scope_stems = {stem(w) for w in before[-2:] + inside}
    for w in phrase_words:
        anti = ANTONYMS.get(w)
        if anti and stem(anti) in scope_stems and stem(w) not in scope_stems:
            return True
    return False
