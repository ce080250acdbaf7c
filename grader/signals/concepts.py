"""Finding a rubric's concepts in an answer: word forms, misspellings, paraphrase and negation.

A concept is matched lexically when every word of one of its phrases occurs, as the same stem or
within a small edit distance, inside a short window of the answer; or semantically when a span of
the answer (pooled from the answer's token vectors) is close to the phrase's embedding. A match
inside a negated clause, or next to the antonym of one of the phrase's words, contradicts the
concept instead of covering it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cdist

from grader.core.embedding import Encoded
from grader.core.pooling import TextBatch
from grader.bank.rubrics import Concept, Rubric
from grader.core.text import ANTONYMS, NEGATIONS, SAME_SIDE, STOPWORDS, clauses, is_negation, stem, word_spans

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
    swapped: str = ""                                  # a variant: the word its antonym replaced

    @property
    def swapped_side(self) -> set:
        """Stems of the replaced word and of the words on its side (SAME_SIDE)."""
        return {stem(w) for w in (self.swapped, *SAME_SIDE.get(self.swapped, ())) if w}

    @classmethod
    def of(cls, text: str, column: int = -1, flips: bool = True, swapped: str = "") -> "_Phrase":
        ws = [w for w, _, _ in word_spans(text)]
        content = [w for w in ws if w not in STOPWORDS]
        share = [stem(w) for w in content]
        return cls(text, ws, content or ws, share if len(share) >= 2 else [], any(w in NEGATIONS for w in ws),
                   column, [cls.of(v, flips=False, swapped=w) for v, w in _antonym_variants(ws)] if flips
                   else [], swapped)


@dataclass
class _PreparedRubric:
    """A rubric's phrases prepared for matching many answers at once. Phrases are numbered in
    concept order ("flat"); their antonym variants follow them in the columns of `needs`."""
    rubric: Rubric
    phrases: list[list[_Phrase]]     # per concept
    vectors: np.ndarray              # one row per distinct phrase text
    looked_up: _PhraseWords          # the content words of every phrase and variant
    flat: list[_Phrase]
    concept_starts: np.ndarray       # where each concept's phrases start in `flat`
    variants: list[list[tuple[int, _Phrase]]]   # per concept: (column in `needs`, variant), in scan order
    needs: np.ndarray                # (looked_up, flat + variants): 1 where the phrase has the word
    need_counts: np.ndarray          # distinct content words per column (0: never matches lexically)
    share_stems: list[str]
    shares: np.ndarray               # (share_stems, flat): times the stem is in the phrase's share
    share_lengths: np.ndarray        # len(share) per phrase; 0 for no partial matching

    @classmethod
    def of(cls, rubric: Rubric, texts: list[str], vectors: np.ndarray) -> "_PreparedRubric":
        column = {t: i for i, t in enumerate(texts)}
        phrases = [[_Phrase.of(p, column[p]) for p in c.all_phrases] for c in rubric.concepts]
        flat = [p for ps in phrases for p in ps]
        variants, at = [], len(flat)
        for ps in phrases:
            variants.append([])
            for p in ps:
                for v in p.flipped:
                    variants[-1].append((at, v))
                    at += 1
        looked_up = list(dict.fromkeys(w for p in flat for v in (p, *p.flipped) for w in v.content))
        word_row = {w: i for i, w in enumerate(looked_up)}
        needs = np.zeros((len(looked_up), at), np.float32)
        for k, p in enumerate(flat + [v for vs in variants for _, v in vs]):
            needs[[word_row[w] for w in set(p.content)], k] = 1.0
        share_stems = list(dict.fromkeys(s for p in flat for s in p.share))
        stem_row = {s: i for i, s in enumerate(share_stems)}
        shares = np.zeros((len(share_stems), len(flat)))
        for k, p in enumerate(flat):
            for s in p.share:
                shares[stem_row[s], k] += 1
        return cls(rubric, phrases, vectors, _PhraseWords.of(looked_up), flat,
                   np.cumsum([0] + [len(ps) for ps in phrases[:-1]]).astype(np.int64), variants,
                   needs, needs.sum(axis=0), share_stems, shares,
                   np.array([len(p.share) for p in flat], dtype=np.float64))


class ConceptMatcher:
    def __init__(self, embedder, semantic_threshold: float = SEMANTIC_THRESHOLD):
        self.embedder = embedder
        self.semantic_threshold = semantic_threshold
        self._prepared: dict[int, _PreparedRubric] = {}

    def _prepare(self, rubrics: list[Rubric]) -> None:
        """Prepare the rubrics not seen yet; their phrase embeddings come in one lookup."""
        todo = list({id(r): r for r in rubrics if self._prepared_for(r) is None}.values())
        if not todo:
            return
        texts = [list(dict.fromkeys(p for c in r.concepts for p in c.all_phrases)) for r in todo]
        every = list(dict.fromkeys(t for ts in texts for t in ts))
        row = {t: i for i, t in enumerate(every)}
        vectors = self.embedder.encode(every, persist=True)
        for rubric, ts in zip(todo, texts):
            self._prepared[id(rubric)] = _PreparedRubric.of(rubric, ts, vectors[[row[t] for t in ts]])

    def _prepared_for(self, rubric: Rubric) -> _PreparedRubric | None:
        prepared = self._prepared.get(id(rubric))
        return prepared if prepared is not None and prepared.rubric is rubric else None

    def match(self, answer: Encoded, rubric: Rubric) -> list[ConceptMatch]:
        return self.match_many(TextBatch([answer]), [(0, rubric)])[0]

    def match_many(self, batch: TextBatch, pairs: list[tuple[int, Rubric]]) -> list[list[ConceptMatch]]:
        """Concept matches for each (text of the batch, rubric) pair. Windows of all texts are
        pooled at once; the texts graded against one rubric are matched with its phrases together."""
        windows = batch.windows()
        self._prepare([rubric for _, rubric in pairs])
        by_rubric: dict[int, list[int]] = {}
        for k, (_, rubric) in enumerate(pairs):
            by_rubric.setdefault(id(rubric), []).append(k)
        out: list = [None] * len(pairs)
        for ks in by_rubric.values():
            texts = list(dict.fromkeys(pairs[k][0] for k in ks))
            matches = self._match_group(batch, windows, texts, self._prepared[id(pairs[ks[0]][1])])
            for k in ks:
                out[k] = matches[pairs[k][0]]
        return out

    def _match_group(self, batch: TextBatch, windows, texts: list[int], prepared: _PreparedRubric):
        """Each text's matches: every (text, phrase) pair is scored at once (1 for a lexical match,
        else the better of its partial and semantic evidence), and only the concepts that reach the
        threshold, or whose antonym variants could occur, are looked at one by one."""
        concepts = prepared.rubric.concepts
        n_flat = len(prepared.flat)
        if not n_flat:
            return {t: [ConceptMatch(c, 0.0, "missed") for c in concepts] for t in texts}
        lexicon = _GroupLexicon(batch, texts, prepared.looked_up)
        # Phrases and variants whose every content word occurs somewhere in the text: the only
        # ones that can match lexically, so the only ones whose word positions are looked up.
        candidate = ((lexicon.present @ prepared.needs) == prepared.need_counts) & (prepared.need_counts > 0)
        indexes: dict[int, _AnswerIndex] = {}

        def index(r: int) -> _AnswerIndex:
            if r not in indexes:
                indexes[r] = _AnswerIndex(lexicon, batch.words_of(texts[r])[0])
            return indexes[r]

        found = np.zeros((len(texts), n_flat), dtype=bool)
        hits = {}
        for r, p in zip(*(a.tolist() for a in np.nonzero(candidate[:, :n_flat]))):
            hit = _lexical_find(prepared.flat[p], index(r))
            if hit:
                found[r, p] = True
                hits[r, p] = hit
        # Most words of a multi-word phrase: evidence for the signal, not a match.
        other = np.full((len(texts), n_flat), -np.inf)
        if prepared.share_stems:
            counts = lexicon.stem_presence(prepared.share_stems) @ prepared.shares
            partial = counts / np.maximum(prepared.share_lengths, 1)
            other = np.where(counts > 0, partial * (self.semantic_threshold - 0.01), -np.inf)
        semantic, best_window = self._semantic(windows, texts, prepared)
        if semantic is not None:
            other = np.maximum(other, semantic)
        score = np.where(found, 1.0, other)
        concept_score = np.maximum(np.maximum.reduceat(score, prepared.concept_starts, axis=1), 0.0)
        variant_columns = candidate[:, n_flat:]
        out = {}

        def answer_stems(r):
            return set(batch.words_of(texts[r])[1])

        for r, t in enumerate(texts):
            text = batch.encoded[t].text
            spans = batch.spans[t]
            clause_spans = word_starts = None
            row = []
            for c, (concept, s) in enumerate(zip(concepts, concept_score[r].tolist())):
                reversed_at = None
                if s < 1.0:
                    for column, variant in prepared.variants[c]:
                        # An answer that also uses the swapped-out word talks about both sides
                        # ("kept during training ... at test time every unit is used"): no denial.
                        if variant_columns[r, column - n_flat] and not variant.swapped_side & answer_stems(r):
                            hit = _lexical_find(variant, index(r))
                            if hit:
                                reversed_at = (spans[hit[1]][1], spans[hit[2]][2])
                                break
                if reversed_at:
                    # The phrase with a word swapped for its antonym: "increases overfitting" for
                    # "reduces overfitting".
                    row.append(ConceptMatch(concept, 1.0, "contradicted", text[reversed_at[0]:reversed_at[1]],
                                            "antonym"))
                elif s >= self.semantic_threshold:
                    first = int(prepared.concept_starts[c])
                    best = max(
                        (1.0, hits[r, p][0], spans[hits[r, p][1]][1], spans[hits[r, p][2]][2], phrase.text, n)
                        if found[r, p] else (s, "semantic", int(windows.starts[best_window[r, p]]),
                                             int(windows.ends[best_window[r, p]]), phrase.text, n)
                        for n, phrase in enumerate(prepared.phrases[c]) for p in [first + n] if score[r, p] == s)
                    _, how, start, end, _, n = best
                    if clause_spans is None:
                        clause_spans, word_starts = clauses(text), [b for _, b, _ in spans]
                    contradicted = _contradicts(text, start, end, prepared.phrases[c][n], clause_spans, spans,
                                                word_starts)
                    row.append(ConceptMatch(concept, s, "contradicted" if contradicted else "matched",
                                            text[start:end], how))
                else:
                    row.append(ConceptMatch(concept, s, "missed"))
            out[t] = row
        return out

    @staticmethod
    def _semantic(windows, texts: list[int], prepared: _PreparedRubric):
        """Per text and phrase, the best cosine of a window of the text to the phrase (-inf for a
        text without windows), and that window's row in `windows` (the first such, as argmax picks)."""
        rows = [r for r, t in enumerate(texts) if windows.bounds[t + 1] > windows.bounds[t]]
        if not rows or not prepared.vectors.shape[0]:
            return None, None
        text_ids = np.array([texts[r] for r in rows])
        sims = windows.similarities(text_ids, prepared.vectors)          # (windows, phrase texts)
        counts = windows.bounds[text_ids + 1] - windows.bounds[text_ids]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        top = np.maximum.reduceat(sims, starts, axis=0)                             # (texts, phrase texts)
        at_top = np.where(sims == np.repeat(top, counts, axis=0), np.arange(len(sims))[:, None], len(sims))
        window = np.minimum.reduceat(at_top, starts, axis=0) - starts[:, None] + windows.bounds[text_ids][:, None]
        columns = [p.column for p in prepared.flat]
        semantic = np.full((len(texts), len(columns)), -np.inf)
        semantic[rows] = top[:, columns]
        best_window = np.full((len(texts), len(columns)), -1, dtype=np.int64)
        best_window[rows] = window[:, columns]
        return semantic, best_window


def _antonym_variants(ws: list[str]) -> list[tuple[str, str]]:
    """The phrase with one word at a time swapped for its antonym, with the word swapped out."""
    return [(" ".join(ws[:i] + [ANTONYMS[w]] + ws[i + 1:]), w) for i, w in enumerate(ws) if w in ANTONYMS]


@dataclass
class _PhraseWords:
    """The words a rubric's phrases look up, with what fuzzy and stem matching compare of them."""
    words: list[str]
    limit: np.ndarray          # (words, 1) edits allowed
    first: np.ndarray          # code of the first letter
    lengths: np.ndarray
    stem_ids: dict[str, int]   # each distinct stem's number
    stems: np.ndarray          # stem number of each word

    @classmethod
    def of(cls, words: list[str]) -> "_PhraseWords":
        stem_ids: dict[str, int] = {}
        stems = np.array([stem_ids.setdefault(stem(w), len(stem_ids)) for w in words], dtype=np.int64)
        return cls(words, np.array([_max_edits(w) for w in words], dtype=np.int64)[:, None],
                   np.array([ord(w[0]) for w in words], dtype=np.int64), np.array([len(w) for w in words]),
                   stem_ids, stems)


class _GroupLexicon:
    """Which words of a group of answers (those graded against one rubric) each phrase word
    matches: the same stem or word ("lexical"), or a bounded misspelling with the same first
    letter ("fuzzy"). All pairs are compared at once, so a word repeated across the group's
    answers is compared once."""

    def __init__(self, batch: TextBatch, texts: list[int], phrase_words: "_PhraseWords"):
        per_text = [batch.words_of(t) for t in texts]
        stem_of = {w: s for ws, ss in per_text for w, s in zip(ws, ss)}
        self.vocabulary: dict[str, int] = {w: i for i, w in enumerate(stem_of)}
        self.stems = list(stem_of.values())
        self.hits: dict[str, list[tuple[int, str]]] = {w: [] for w in phrase_words.words}
        self.occurs = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)   # text has the word
        self.occurs[np.repeat(np.arange(len(texts)), [len(ws) for ws, _ in per_text]),
                    [self.vocabulary[w] for ws, _ in per_text for w in ws]] = 1.0
        # Per text, the phrase words that occur in it at all, as 0/1.
        self.present = np.zeros((len(texts), len(phrase_words.words)), dtype=np.float32)
        if not phrase_words.words or not self.stems:
            return
        words = list(self.vocabulary)
        limit = phrase_words.limit
        distance = cdist(phrase_words.words, words, scorer=Levenshtein.distance, score_cutoff=2, dtype=np.int32)
        fuzzy = ((distance <= limit) & (limit > 0)
                 & (phrase_words.first[:, None] == np.array([ord(w[0]) for w in words]))
                 & (np.abs(phrase_words.lengths[:, None] - np.array([len(w) for w in words])) <= limit))
        stem_ids = dict(phrase_words.stem_ids)
        vocabulary_stems = np.array([stem_ids.setdefault(s, len(stem_ids)) for s in self.stems])
        lexical = phrase_words.stems[:, None] == vocabulary_stems
        for row, w in enumerate(phrase_words.words):
            if w in self.vocabulary:
                lexical[row, self.vocabulary[w]] = True
        found = lexical | fuzzy
        for row, column in zip(*np.nonzero(found)):
            self.hits[phrase_words.words[row]].append((int(column), "lexical" if lexical[row, column] else "fuzzy"))
        self.present = (self.occurs @ found.T.astype(np.float32) > 0).astype(np.float32)

    def stem_presence(self, stems: list[str]) -> np.ndarray:
        """(texts, stems): 1 where some word of the text has the stem."""
        column = {s: i for i, s in enumerate(stems)}
        has = np.zeros((len(self.stems), len(stems)), dtype=np.float32)
        pairs = [(v, column[s]) for v, s in enumerate(self.stems) if s in column]
        if pairs:
            has[tuple(zip(*pairs))] = 1.0
        return (self.occurs @ has > 0).astype(np.float64)


class _AnswerIndex:
    """Where each phrase word occurs in one answer, from its group's lexicon; memoised because
    rubrics repeat words across phrases."""

    def __init__(self, lexicon: _GroupLexicon, answer_words: list[str]):
        self.lexicon = lexicon
        self.words = answer_words
        self.at: dict[int, list[int]] | None = None     # built on the first lookup
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
    if not phrase.content:
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


def _contradicts(text: str, start: int, end: int, phrase: _Phrase, clause_spans, spans, word_starts) -> bool:
    """Whether the match text[start:end] (whole words) is negated or reversed in its clause. `spans`
    are the text's (word, start, end), `word_starts` their starts."""
    clause = next((c for c in clause_spans if c.start <= start < c.end + 1), None)
    lo = clause.start if clause else max(0, start - 60)
    # Negation reaches the few words before the match in the same clause, and the match itself:
    # "it does not randomly drop neurons" negates the match; "X does not help, and Y drops
    # neurons" does not.
    first, at = bisect_left(word_starts, lo), bisect_left(word_starts, start)
    if first and spans[first - 1][2] > lo:
        # The scope starts inside a word (the fallback scope): its tail is a word of its own.
        before = [w for w, _, _ in word_spans(text[lo:start])][-NEGATION_REACH:]
    else:
        before = [w for w, _, _ in spans[max(first, at - NEGATION_REACH):at]]
    inside = [w for w, _, e in spans[at:bisect_right(word_starts, end)] if e <= end]
    negated = sum(1 for w in before + inside if is_negation(w))
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
