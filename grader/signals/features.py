"""The signals that compare one answer with a question's references and rubric."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress

import numpy as np

from grader.bank.questions import question_key
from grader.errors import GraderError
from grader.signals.cohort import COHORT_FEATURES
from grader.signals.concepts import ConceptMatch
from grader.signals.memory import MEMORY_FEATURES
from grader.signals.registry import extra_signals, matrix_signals, register
from grader.core.embedding import Encoded
from grader.core.pooling import TextBatch, concatenated_ranges
from grader.core.semantic import E5_FEATURES, e5_signals
from grader.core.text import ANTONYMS, STOPWORDS, content_stems, is_negation, sentences, stem, words

_MINILM = (
    "cos_max", "cos_mean", "cos_short", "ref_recall", "answer_precision", "worst_sentence",
    "rubric_coverage", "rubric_matched", "required_matched", "contradicted",
    "negation_mismatch", "reversal",
    "lex_recall", "lex_precision", "question_copy", "cos_question", "cos_gain_over_question",
    "log_words", "length_ratio", "stopword_ratio", "comma_density", "short_reference", "rubric_drafted",
    "token_recall", "token_precision",
)
register("minilm", {n: i for i, n in enumerate(_MINILM)})
register("e5", {n: len(_MINILM) + i for i, n in enumerate(E5_FEATURES)})
FEATURES = matrix_signals()   # e5 last: a model whose fallback lacks them can skip them for answers it is sure of
MINILM_FEATURES = FEATURES[:-len(E5_FEATURES)]
KNOWN_EXTRA = extra_signals()


def select(X: np.ndarray, wanted, names=FEATURES) -> np.ndarray:
    """The columns `wanted` of a matrix whose columns are `names` (default: all of FEATURES):
    models name their signals, so one calibrated before a signal existed keeps working."""
    names = list(names)
    return X[:, [names.index(n) for n in wanted]]


@dataclass
class TextParts:
    """The pieces of each text of a batch that the signals compare: its sentences (pooled; a text
    without any falls back to its whole vector) and its content tokens (normalised, with the stem
    of each token's word). Rows of each are grouped by text; `*_bounds[t]` is where text t starts."""
    sentence_vectors: np.ndarray
    sentence_bounds: np.ndarray
    sentence_spans: list            # per text: its Spans (empty for the fallback)
    token_vectors: np.ndarray
    token_stems: np.ndarray
    token_bounds: np.ndarray

    @classmethod
    def of(cls, batch: TextBatch) -> "TextParts":
        spans = [sentences(e.text) for e in batch.encoded]
        text_ids = np.repeat(np.arange(len(batch)), [len(s) for s in spans])
        flat = [x for s in spans for x in s]
        vectors, ok = batch.span_vectors(text_ids, [x.start for x in flat], [x.end for x in flat])
        # A text none of whose sentences holds a token (all cut off) falls back to its own vector,
        # which sits after the sentence rows in `pool`.
        pool = np.vstack([vectors, np.stack([e.vector for e in batch.encoded]).astype(np.float32)])
        take, kept, bounds, at = [], [], [0], 0
        for t, text_spans in enumerate(spans):
            mine = [k for k in range(at, at + len(text_spans)) if ok[k]]
            kept.append([text_spans[k - at] for k in mine])
            take.extend(mine or [len(vectors) + t])
            bounds.append(len(take))
            at += len(text_spans)
        tokens, stems, token_bounds = batch.content_tokens()
        return cls(pool[np.array(take, dtype=np.int64)], np.array(bounds), kept, tokens, stems, token_bounds)

    def sentences_of(self, t: int) -> np.ndarray:
        return self.sentence_vectors[self.sentence_bounds[t]:self.sentence_bounds[t + 1]]

    def tokens_of(self, t: int):
        lo, hi = self.token_bounds[t], self.token_bounds[t + 1]
        return self.token_vectors[lo:hi], self.token_stems[lo:hi]


@dataclass
class _Reference:
    vector: np.ndarray
    text: str
    sentence_vectors: np.ndarray
    sentence_spans: list
    stems: set
    n_words: int
    token_vectors: np.ndarray
    token_stems: np.ndarray


_REFERENCE_CACHE: dict[tuple[str, str], _Reference] = {}


def _references(refs: list[Encoded]) -> list[_Reference]:
    """What the signals need of each reference: computed once per text and embedding model."""
    todo = list({(r.model, r.text): r for r in refs if (r.model, r.text) not in _REFERENCE_CACHE}.values())
    if todo:
        if len(_REFERENCE_CACHE) > 20_000:
            _REFERENCE_CACHE.clear()
        parts = TextParts.of(TextBatch(todo))
        for t, r in enumerate(todo):
            tokens, stems = parts.tokens_of(t)
            _REFERENCE_CACHE[(r.model, r.text)] = _Reference(
                r.vector, r.text, parts.sentences_of(t), parts.sentence_spans[t], set(content_stems(r.text)),
                len(words(r.text)), tokens, stems)
    return [_REFERENCE_CACHE[(r.model, r.text)] for r in refs]


NEGATION_SCOPE = 5   # words after a negation cue that it can scope over


@dataclass(frozen=True)
class _SentenceFacts:
    """What the reversal and negation checks compare of a sentence, computed once per text."""
    stems: frozenset          # stems of its words that are not stopwords
    negated: tuple            # per negation cue: the stems of the content words it scopes over
    antonyms: tuple           # (stem of a word, stem of its antonym), in word order


@lru_cache(maxsize=1024)
def _sentence_facts(text: str) -> _SentenceFacts:
    ws = words(text)
    negated = tuple(tuple(stem(v) for v in ws[i + 1:i + 1 + NEGATION_SCOPE] if v not in STOPWORDS)
                    for i, w in enumerate(ws) if is_negation(w))
    return _SentenceFacts(frozenset(stem(w) for w in ws if w not in STOPWORDS), negated,
                          tuple((stem(w), stem(ANTONYMS[w])) for w in ws if w in ANTONYMS))


def _negations_about(sentence: _SentenceFacts, other: _SentenceFacts) -> int:
    """The negation cues of `sentence` that deny something `other` talks about: the first content
    word after the cue, or half of those in its scope, occur in `other` (a cue with nothing after
    it counts). "...set to zero so that it doesn't affect the next layer" does not deny "dropout
    drops neurons"; "dropout does not drop neurons" does."""
    def about(scope):
        return (not scope or scope[0] in other.stems
                or 2 * sum(s in other.stems for s in scope) >= len(scope))
    return sum(1 for scope in sentence.negated if about(scope))


@lru_cache(maxsize=1024)
def _all_stems(text: str) -> frozenset:
    return frozenset(stem(w) for w in words(text))


def _reversal(answer_sentence: _SentenceFacts, answer_text: str, reference_sentence: _SentenceFacts,
              reference_text: str) -> bool:
    """An answer sentence that mirrors a reference sentence with one term swapped for its antonym
    or for another term of the same reference ("L2 gives sparse weights" against "L1 gives ...")."""
    only_a = answer_sentence.stems - reference_sentence.stems
    if not only_a or len(only_a) > 3:
        return False
    only_r = reference_sentence.stems - answer_sentence.stems
    if any(anti in only_r and own in only_a for own, anti in answer_sentence.antonyms):
        return True
    # Swapped roles: the answer's extra term is elsewhere in the reference, and the term it
    # replaced is elsewhere in the answer.
    return 0 < len(only_r) <= 3 and only_a <= _all_stems(reference_text) and only_r <= _all_stems(answer_text)


@dataclass
class Pairing:
    """One answer (a text of the batch) against one question."""
    answer: int
    question_text: str
    question_vector: np.ndarray
    references: list[Encoded]
    reference_kinds: list[str]
    matches: list[ConceptMatch]
    rubric_drafted: bool = False


def feature_matrix(batch: TextBatch, pairings: list[Pairing]) -> np.ndarray:
    """The FEATURES of each pairing, one row each, the e5 ones missing (NaN) until `add_e5` fills
    them. Pairings that share a question are compared with its references together: one matrix
    product per reference for all of their answers."""
    parts = TextParts.of(batch)
    X = np.zeros((len(pairings), len(FEATURES)))
    groups: dict[tuple, list[int]] = {}
    for k, p in enumerate(pairings):
        groups.setdefault((p.question_text, tuple(r.text for r in p.references)), []).append(k)
    for ks in groups.values():
        X[ks, :len(MINILM_FEATURES)] = _group_features(batch, parts, [pairings[k] for k in ks])
    X[:, len(MINILM_FEATURES):] = np.nan
    return X


def add_e5(X: np.ndarray, batch: TextBatch, pairings: list[Pairing], e5, rows) -> None:
    """Fill the E5_FEATURES of `rows` of X from `e5` (a `semantic.E5Encoder`): every text through
    the encoder in two calls (its per-call cost is high), then the cosines answer by answer."""
    rows = list(rows)
    if not rows:
        return
    asked = list(dict.fromkeys(t for k in rows for t in (pairings[k].question_text,
                                                         *(r.text for r in pairings[k].references))))
    answers = list(dict.fromkeys(batch.encoded[pairings[k].answer].text for k in rows))
    vectors = dict(zip(asked, e5.vectors(asked, persist=True)))
    vectors.update(zip(answers, e5.vectors(answers)))
    for k in rows:
        p = pairings[k]
        X[k, len(MINILM_FEATURES):] = e5_signals(vectors[p.question_text], [vectors[r.text] for r in p.references],
                                                 vectors[batch.encoded[p.answer].text])


def _sentence_signals(parts: TextParts, answers: list[int], ref: _Reference):
    """Per answer: how well its sentences cover the reference's (recall), how well they are
    covered (precision), its least covered sentence, and each sentence's closest reference one."""
    at = np.asarray(answers, dtype=np.int64)
    rows = concatenated_ranges(parts.sentence_bounds[at], parts.sentence_bounds[at + 1])
    counts = parts.sentence_bounds[at + 1] - parts.sentence_bounds[at]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sims = ref.sentence_vectors @ parts.sentence_vectors[rows].T          # (ref sentences, answer sentences)
    best = sims.max(axis=0)
    recall = np.maximum.reduceat(sims, starts, axis=1).mean(axis=0)
    precision = np.add.reduceat(best, starts) / counts
    worst = np.minimum.reduceat(best, starts)
    return recall, precision, worst, best, sims.argmax(axis=0), starts


def _token_signals(parts: TextParts, answers: list[int], refs: list[_Reference], question_stems: set):
    """Soft word alignment in the style of BERTScore, with question demoting: how well each content
    token of a reference is matched by some token of the answer (recall), and the reverse
    (precision), leaving out words the question already gives away. The best over references."""
    bounds = parts.token_bounds
    at = np.asarray(answers, dtype=np.int64)
    candidates = concatenated_ranges(bounds[at], bounds[at + 1])
    keep = np.array([s not in question_stems for s in parts.token_stems[candidates].tolist()], dtype=bool)
    rows = candidates[keep]
    owner = np.repeat(np.arange(len(answers)), bounds[at + 1] - bounds[at])
    counts = np.bincount(owner[keep], minlength=len(answers))
    has = counts > 0
    # An answer or reference without content tokens aligns with nothing: 0 for that reference.
    recall, precision = np.full(len(answers), -np.inf), np.full(len(answers), -np.inf)
    starts = np.concatenate([[0], np.cumsum(counts[has])[:-1]])
    tokens = parts.token_vectors[rows]
    for ref in refs:
        r_recall, r_precision = np.zeros(len(answers)), np.zeros(len(answers))
        if len(ref.token_stems) and has.any():
            keep = np.array([s not in question_stems for s in ref.token_stems])
            sims = tokens @ ref.token_vectors[keep if keep.any() else slice(None)].T
            r_recall[has] = np.maximum.reduceat(sims, starts, axis=0).mean(axis=1)
            r_precision[has] = np.add.reduceat(sims.max(axis=1), starts) / counts[has]
        recall, precision = np.maximum(recall, r_recall), np.maximum(precision, r_precision)
    return recall, precision


def _group_features(batch: TextBatch, parts: TextParts, pairings: list[Pairing]) -> np.ndarray:
    first = pairings[0]
    answers = [p.answer for p in pairings]
    refs = _references(first.references)
    answer_vectors = np.stack([batch.encoded[t].vector for t in answers])
    cos = answer_vectors @ np.stack([r.vector for r in refs]).T                 # (answers, references)
    short_mask = np.array([k == "short" for k in first.reference_kinds])
    cos_q = answer_vectors @ first.question_vector
    q_stems = set(content_stems(first.question_text))
    ref_len = float(statistics.median([r.n_words for r in refs]))
    all_ref_stems = set().union(*(r.stems for r in refs))
    token_recall, token_precision = _token_signals(parts, answers, refs, q_stems)

    n = len(answers)
    recall, precision, worst = np.zeros(n), np.zeros(n), np.zeros(n)
    neg_mismatch, reversal = np.zeros(n), np.zeros(n)
    for ref in refs:
        r_recall, r_precision, r_worst, best, closest, starts = _sentence_signals(parts, answers, ref)
        recall, precision, worst = np.maximum(recall, r_recall), np.maximum(precision, r_precision), \
            np.maximum(worst, r_worst)
        # Sentences of an answer that align closely with a reference sentence but flip it.
        for j in np.flatnonzero((best >= 0.6) & (closest < len(ref.sentence_spans))).tolist():
            a = int(np.searchsorted(starts, j, side="right")) - 1
            spans = parts.sentence_spans[answers[a]]
            if j - starts[a] >= len(spans):
                continue   # the answer's whole vector standing in for sentences it lacks
            a_facts = _sentence_facts(spans[j - starts[a]].text)
            r_facts = _sentence_facts(ref.sentence_spans[closest[j]].text)
            sim = float(best[j])
            if (_negations_about(a_facts, r_facts) + _negations_about(r_facts, a_facts)) % 2 == 1:
                neg_mismatch[a] = max(neg_mismatch[a], sim)
            if _reversal(a_facts, batch.encoded[answers[a]].text, r_facts, ref.text):
                reversal[a] = max(reversal[a], sim)

    coverage, soft, required_matched, contradicted = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    lex_recall, lex_precision, question_copy = np.zeros(n), np.zeros(n), np.zeros(n)
    n_words, stopwords, commas = np.zeros(n), np.zeros(n), np.zeros(n)
    for a, p in enumerate(pairings):
        answer_words, answer_stems = batch.words_of(p.answer)
        matches = p.matches
        total_weight = sum(m.concept.weight for m in matches) or 1.0
        coverage[a] = sum(m.concept.weight for m in matches if m.status == "matched") / total_weight
        soft[a] = sum(m.concept.weight * m.score for m in matches if m.status == "matched") / total_weight
        required = [m.status == "matched" for m in matches if m.concept.required]
        required_matched[a] = sum(required) / len(required) if required else coverage[a]
        contradicted[a] = sum(m.concept.weight for m in matches if m.status == "contradicted") / total_weight
        lo, hi = batch.word_bounds[p.answer], batch.word_bounds[p.answer + 1]
        a_stems = set(compress(answer_stems, batch.is_content[lo:hi].tolist()))
        lex_recall[a] = max((len(a_stems & r.stems) / len(r.stems) if r.stems else 0.0) for r in refs)
        if a_stems:
            lex_precision[a] = len(a_stems & (all_ref_stems | q_stems)) / len(a_stems)
            question_copy[a] = len(a_stems & q_stems) / len(a_stems)
        n_words[a] = len(answer_words)
        stopwords[a] = np.count_nonzero(batch.is_stopword[lo:hi])
        commas[a] = batch.encoded[p.answer].text.count(",")
    cos, cos_q = cos.astype(np.float64), cos_q.astype(np.float64)
    cos_max = cos.max(axis=1)
    columns = {
        "cos_max": cos_max,
        "cos_mean": cos.mean(axis=1),
        "cos_short": cos[:, short_mask].max(axis=1) if short_mask.any() else cos_max,
        "ref_recall": recall,
        "answer_precision": precision,
        "worst_sentence": worst,
        "rubric_coverage": coverage,
        "rubric_matched": soft,
        "required_matched": required_matched,
        "contradicted": contradicted,
        "negation_mismatch": neg_mismatch,
        "reversal": reversal,
        "lex_recall": lex_recall,
        "lex_precision": lex_precision,
        "question_copy": question_copy,
        "cos_question": cos_q,
        "cos_gain_over_question": cos_max - cos_q,
        "log_words": np.log1p(n_words),
        "length_ratio": np.log((n_words + 1) / (ref_len + 1)),
        "stopword_ratio": stopwords / np.maximum(n_words, 1),
        "comma_density": commas / (n_words + 1),
        "short_reference": np.full(n, float(short_mask.all())),
        # Drafted rubrics match less reliably than reviewed ones; the model learns to lean on them less.
        "rubric_drafted": np.array([float(p.rubric_drafted) for p in pairings]),
        "token_recall": token_recall,
        "token_precision": token_precision,
    }
    return np.column_stack([columns[f] for f in MINILM_FEATURES])


def extra_features(items, names, X, vectors, embedder, memory=None, cohort=None) -> np.ndarray:
    """Columns for model features beyond the standard FEATURES (the hook in `Grader.featurize`):
    the answer memory's, and the cohort's (missing, NaN, without a cohort: the answers are graded alone)."""
    unknown = [n for n in names if n not in MEMORY_FEATURES and n not in COHORT_FEATURES]
    if unknown:
        raise GraderError(f"the model uses unknown signals {', '.join(unknown)}; it needs a newer grader")
    out = np.zeros((len(items), len(names)))
    if any(n in MEMORY_FEATURES for n in names):
        if memory is None:
            raise GraderError("this model uses an answer memory; load it from its directory with --model DIR")
        cols = memory.features(embedder, items)
        for j, n in enumerate(names):
            if n in MEMORY_FEATURES:
                out[:, j] = cols[:, MEMORY_FEATURES.index(n)]
    if any(n in COHORT_FEATURES for n in names):
        if cohort is None:
            cols = np.full((len(items), len(COHORT_FEATURES)), np.nan)
        else:
            cols = cohort.columns([question_key(q) for q, _ in items], vectors, X[:, FEATURES.index("cos_max")],
                                  X[:, FEATURES.index("log_words")])
        for j, n in enumerate(names):
            if n in COHORT_FEATURES:
                out[:, j] = cols[:, COHORT_FEATURES.index(n)]
    return out
