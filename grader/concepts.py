"""Finding a rubric's concepts in an answer: word forms, misspellings, paraphrase and negation.

A concept is matched lexically when every word of one of its phrases occurs, as the same stem or
within a small edit distance, inside a short window of the answer; or semantically when a span of
the answer (pooled from the answer's token vectors) is close to the phrase's embedding. A match
inside a negated clause, or next to the antonym of one of the phrase's words, contradicts the
concept instead of covering it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cdist

from .embedding import Encoded
from .pooling import TextBatch
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


@dataclass
class _Phrase:
    """A rubric phrase prepared once: its words, the content words that must all occur, the stems
    that count towards a partial match, and its variants with one word swapped for an antonym."""
    text: str
    words: list[str]
    content: list[str]
    share: list[str]
    negated: bool
    column: int = -1                                   # its column in the rubric's phrase matrix
    flipped: list["_Phrase"] = field(default_factory=list)

    @classmethod
    def of(cls, text: str, column: int = -1, flips: bool = True) -> "_Phrase":
        ws = [w for w, _, _ in word_spans(text)]
        content = [w for w in ws if w not in STOPWORDS]
        share = [stem(w) for w in content]
        return cls(text, ws, content or ws, share if len(share) >= 2 else [], any(w in NEGATIONS for w in ws),
                   column, [cls.of(v, flips=False) for v in _antonym_variants(ws)] if flips else [])


class ConceptMatcher:
    def __init__(self, embedder, semantic_threshold: float = SEMANTIC_THRESHOLD):
        self.embedder = embedder
        self.semantic_threshold = semantic_threshold
        self._phrases: dict[int, tuple] = {}

    def _rubric_phrases(self, rubric: Rubric):
        """Each concept's prepared phrases, the rubric's phrase embeddings and the words lexical
        matching looks up, once per rubric."""
        cached = self._phrases.get(id(rubric))
        if cached is None or cached[0] is not rubric:
            self._prepare([rubric])
            cached = self._phrases[id(rubric)]
        return cached[1:]

    def _prepare(self, rubrics: list[Rubric]) -> None:
        """Prepare the rubrics not seen yet; their phrase embeddings come in one lookup."""
        todo = list({id(r): r for r in rubrics if self._phrases.get(id(r), (None,))[0] is not r}.values())
        if not todo:
            return
        texts = [list(dict.fromkeys(p for c in r.concepts for p in c.all_phrases)) for r in todo]
        every = list(dict.fromkeys(t for ts in texts for t in ts))
        row = {t: i for i, t in enumerate(every)}
        vectors = self.embedder.encode(every, persist=True)
        for rubric, ts in zip(todo, texts):
            column = {t: i for i, t in enumerate(ts)}
            prepared = [[_Phrase.of(p, column[p]) for p in c.all_phrases] for c in rubric.concepts]
            looked_up = list(dict.fromkeys(w for phrases in prepared for p in phrases
                                           for v in (p, *p.flipped) for w in v.content))
            self._phrases[id(rubric)] = (rubric, prepared, vectors[[row[t] for t in ts]], looked_up)

    def match(self, answer: Encoded, rubric: Rubric) -> list[ConceptMatch]:
        return self.match_many(TextBatch([answer]), [(0, rubric)])[0]

    def match_many(self, batch: TextBatch, pairs: list[tuple[int, Rubric]]) -> list[list[ConceptMatch]]:
        """Concept matches for each (text of the batch, rubric) pair. Windows of all texts are
        pooled at once, and compared with a rubric's phrases in one product per rubric."""
        windows = batch.windows()
        self._prepare([rubric for _, rubric in pairs])
        by_rubric: dict[int, list[int]] = {}
        for k, (_, rubric) in enumerate(pairs):
            by_rubric.setdefault(id(rubric), []).append(k)
        semantic: list = [None] * len(pairs)       # per pair and phrase: best similarity, its window's span
        lexicons: list = [None] * len(pairs)       # per pair: its group's word hits and vocabulary
        for ks in by_rubric.values():
            _, matrix, looked_up = self._rubric_phrases(pairs[ks[0]][1])
            lexicon = _GroupLexicon(batch, list(dict.fromkeys(pairs[k][0] for k in ks)), looked_up)
            for k in ks:
                lexicons[k] = lexicon
            texts = [t for t in dict.fromkeys(pairs[k][0] for k in ks) if windows.bounds[t + 1] > windows.bounds[t]]
            if not matrix.shape[0] or not texts:
                continue
            sims = windows.similarities(texts, matrix)                    # (windows, phrases)
            text_ids = np.array(texts)
            counts = windows.bounds[text_ids + 1] - windows.bounds[text_ids]
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            top = np.maximum.reduceat(sims, starts, axis=0)                 # (texts, phrases)
            # The first window of each text that reaches its top similarity, as argmax would pick.
            at_top = np.where(sims == np.repeat(top, counts, axis=0), np.arange(len(sims))[:, None], len(sims))
            window = np.minimum.reduceat(at_top, starts, axis=0) - starts[:, None] + windows.bounds[text_ids][:, None]
            best = dict(zip(texts, zip(top.tolist(), windows.starts[window].tolist(), windows.ends[window].tolist())))
            for k in ks:
                semantic[k] = best.get(pairs[k][0])
        return [self._match_one(batch, t, rubric, semantic[k], lexicons[k]) for k, (t, rubric) in enumerate(pairs)]

    def _match_one(self, batch: TextBatch, t: int, rubric: Rubric, semantic, lexicon):
        text = batch.encoded[t].text
        spans = batch.spans[t]
        index = _AnswerIndex(lexicon, lexicon.present[t], *batch.words_of(t))
        clause_spans = None
        prepared, _, _ = self._rubric_phrases(rubric)
        out = []
        for concept, phrases in zip(rubric.concepts, prepared):
            best: tuple = (0.0, "", -1, -1, "", -1)
            reversed_at = None
            for n, phrase in enumerate(phrases):
                found = _lexical_find(phrase, index)
                if found:
                    how, i, j = found
                    best = max(best, (1.0, how, spans[i][1], spans[j][2], phrase.text, n))
                    continue
                for flipped in phrase.flipped if reversed_at is None else []:
                    found = _lexical_find(flipped, index)
                    if found:
                        reversed_at = (spans[found[1]][1], spans[found[2]][2])
                        break
                if phrase.share:
                    # Most words of a multi-word phrase: evidence for the signal, not a match.
                    partial = sum(map(index.stem_set.__contains__, phrase.share)) / len(phrase.share)
                    if partial:
                        strength = partial * (self.semantic_threshold - 0.01)
                        best = max(best, (strength, "partial", -1, -1, phrase.text, n))
                if semantic is not None:
                    sims, starts, ends = semantic
                    c = phrase.column
                    best = max(best, (sims[c], "semantic", starts[c], ends[c], phrase.text, n))
            score, how, start, end, _, n = best
            if reversed_at and score < 1.0:
                # The phrase with a word swapped for its antonym: "increases overfitting" for
                # "reduces overfitting".
                out.append(ConceptMatch(concept, 1.0, "contradicted", text[reversed_at[0]:reversed_at[1]], "antonym"))
            elif score >= self.semantic_threshold:
                if clause_spans is None:
                    clause_spans = clauses(text)
                status = "contradicted" if _contradicts(text, start, end, phrases[n], clause_spans) else "matched"
                out.append(ConceptMatch(concept, score, status, text[start:end], how))
            else:
                out.append(ConceptMatch(concept, score, "missed"))
        return out


def _antonym_variants(ws: list[str]) -> list[str]:
    """The phrase with one word at a time swapped for its antonym."""
    return [" ".join(ws[:i] + [ANTONYMS[w]] + ws[i + 1:]) for i, w in enumerate(ws) if w in ANTONYMS]


class _GroupLexicon:
    """Which words of a group of answers (those graded against one rubric) each phrase word
    matches: the same stem or word ("lexical"), or a bounded misspelling with the same first
    letter ("fuzzy"). All pairs are compared at once, so a word repeated across the group's
    answers is compared once."""

    def __init__(self, batch: TextBatch, texts: list[int], phrase_words: list[str]):
        per_text = [batch.words_of(t) for t in texts]
        stem_of = {w: s for ws, ss in per_text for w, s in zip(ws, ss)}
        self.vocabulary: dict[str, int] = {w: i for i, w in enumerate(stem_of)}
        stems = list(stem_of.values())
        self.hits: dict[str, list[tuple[int, str]]] = {w: [] for w in phrase_words}
        # Per text, the phrase words that occur in it at all: most phrases miss a word of most
        # answers, and that is settled here for the whole group in one product.
        self.present: dict[int, frozenset[str]] = {t: frozenset() for t in texts}
        if not phrase_words or not stems:
            return
        words = list(self.vocabulary)
        limit = np.array([_max_edits(w) for w in phrase_words])[:, None]
        distance = cdist(phrase_words, words, scorer=Levenshtein.distance, score_cutoff=2, dtype=np.int32)
        first = np.array([w[:1] for w in words])
        lengths = np.array([len(w) for w in words])
        fuzzy = ((distance <= limit) & (limit > 0) & (np.array([w[:1] for w in phrase_words])[:, None] == first)
                 & (np.abs(np.array([len(w) for w in phrase_words])[:, None] - lengths) <= limit))
        stem_ids: dict[str, int] = {}
        vocabulary_stems = np.array([stem_ids.setdefault(s, len(stem_ids)) for s in stems])
        phrase_stems = np.array([stem_ids.setdefault(stem(w), len(stem_ids)) for w in phrase_words])
        lexical = phrase_stems[:, None] == vocabulary_stems
        for row, w in enumerate(phrase_words):
            if w in self.vocabulary:
                lexical[row, self.vocabulary[w]] = True
        found = lexical | fuzzy
        for row, column in zip(*np.nonzero(found)):
            self.hits[phrase_words[row]].append((int(column), "lexical" if lexical[row, column] else "fuzzy"))
        occurs = np.zeros((len(texts), len(words)), dtype=np.float32)
        occurs[np.repeat(np.arange(len(texts)), [len(ws) for ws, _ in per_text]),
               [self.vocabulary[w] for ws, _ in per_text for w in ws]] = 1.0
        rows, columns = np.nonzero(occurs @ found.T.astype(np.float32))
        bounds = np.searchsorted(rows, np.arange(len(texts) + 1)).tolist()
        names = [phrase_words[c] for c in columns.tolist()]
        for row, t in enumerate(texts):
            self.present[t] = frozenset(names[bounds[row]:bounds[row + 1]])


class _AnswerIndex:
    """Where each phrase word occurs in one answer, from its group's lexicon; memoised because
    rubrics repeat words across phrases."""

    def __init__(self, lexicon: _GroupLexicon, present: frozenset[str], answer_words: list[str],
                 answer_stems: list[str]):
        self.lexicon = lexicon
        self.present = present
        self.words = answer_words
        self.at: dict[int, list[int]] | None = None     # built on the first lookup: most answers need none
        self.stem_set = set(answer_stems)
        self._memo: dict[str, list[tuple[int, str]]] = {}

    def positions(self, phrase_word: str) -> list[tuple[int, str]]:
        hit = self._memo.get(phrase_word)
        if hit is None:
            if self.at is None:
                self.at = {}
                for i, w in enumerate(self.words):
                    self.at.setdefault(self.lexicon.vocabulary[w], []).append(i)
            hit = self._memo[phrase_word] = sorted(
                (i, how) for word, how in self.lexicon.hits[phrase_word] for i in self.at.get(word, ()))
        return hit


def _lexical_find(phrase: _Phrase, index: _AnswerIndex):
    """All content words of the phrase within a window of the answer: (how, first, last) or None."""
    if not phrase.content or not index.present.issuperset(phrase.content):
        return None
    found = []
    for w in phrase.content:
        hits = index.positions(w)
        if not hits:
            return None
        found.append(hits)
    window = len(phrase.words) + 2
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


NEGATION_REACH = 5  # words before a match that a negation cue can scope over


def _contradicts(text: str, start: int, end: int, phrase: _Phrase, clause_spans) -> bool:
    clause = next((c for c in clause_spans if c.start <= start < c.end + 1), None)
    lo, hi = (clause.start, clause.end) if clause else (max(0, start - 60), min(len(text), end + 30))
    # Negation reaches the few words before the match in the same clause, and the match itself:
    # "it does not randomly drop neurons" negates the match; "X does not help, and Y drops
    # neurons" does not.
    before = [w for w, s, e in word_spans(text[lo:start])][-NEGATION_REACH:]
    inside = [w for w, _, _ in word_spans(text[start:end])]
    negated = sum(1 for w in before + inside if w in NEGATIONS or w.endswith("n't"))
    if negated % 2 == 1 and not phrase.negated:
        return True
    # An antonym counts only next to the match ("increases overfitting" against "reduces
    # overfitting"), not anywhere in a long clause.
    scope_stems = {stem(w) for w in before[-2:] + inside}
    for w in set(phrase.words):
        anti = ANTONYMS.get(w)
        if anti and stem(anti) in scope_stems and stem(w) not in scope_stems:
            return True
    return False
