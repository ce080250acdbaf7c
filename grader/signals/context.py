"""What the signal families share: the pieces of each text of a batch (`TextParts`), what they
need of each reference (computed once per text and embedding model), and the per-group context
(`Group`): the answers of a batch that share a question, compared with its references together."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from grader.core.embedding import Encoded
from grader.core.pooling import TextBatch, concatenated_ranges
from grader.core.text import content_stems, sentences, words


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
class Reference:
    vector: np.ndarray
    text: str
    sentence_vectors: np.ndarray
    sentence_spans: list
    stems: set
    n_words: int
    token_vectors: np.ndarray
    token_stems: np.ndarray


_REFERENCE_CACHE: dict[tuple[str, str], Reference] = {}


def references(refs: list[Encoded]) -> list[Reference]:
    """What the signals need of each reference: computed once per text and embedding model."""
    todo = list({(r.model, r.text): r for r in refs if (r.model, r.text) not in _REFERENCE_CACHE}.values())
    if todo:
        if len(_REFERENCE_CACHE) > 20_000:
            _REFERENCE_CACHE.clear()
        parts = TextParts.of(TextBatch(todo))
        for t, r in enumerate(todo):
            tokens, stems = parts.tokens_of(t)
            _REFERENCE_CACHE[(r.model, r.text)] = Reference(
                r.vector, r.text, parts.sentences_of(t), parts.sentence_spans[t], set(content_stems(r.text)),
                len(words(r.text)), tokens, stems)
    return [_REFERENCE_CACHE[(r.model, r.text)] for r in refs]


@dataclass
class SentenceAlignment:
    """The answers' sentences against one reference's, per answer: how well they cover the
    reference's (recall), how well they are covered (precision), the least covered one (worst);
    per answer sentence (rows of all answers, answer a's from `starts[a]`): its best cosine to a
    reference sentence and which one that is."""
    recall: np.ndarray
    precision: np.ndarray
    worst: np.ndarray
    best: np.ndarray
    closest: np.ndarray
    starts: np.ndarray


def align_sentences(parts: TextParts, answers: list[int], ref: Reference) -> SentenceAlignment:
    at = np.asarray(answers, dtype=np.int64)
    rows = concatenated_ranges(parts.sentence_bounds[at], parts.sentence_bounds[at + 1])
    counts = parts.sentence_bounds[at + 1] - parts.sentence_bounds[at]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sims = ref.sentence_vectors @ parts.sentence_vectors[rows].T          # (ref sentences, answer sentences)
    best = sims.max(axis=0)
    recall = np.maximum.reduceat(sims, starts, axis=1).mean(axis=0)
    precision = np.add.reduceat(best, starts) / counts
    worst = np.minimum.reduceat(best, starts)
    return SentenceAlignment(recall, precision, worst, best, sims.argmax(axis=0), starts)


@dataclass
class Group:
    """The answers of a batch that share a question and its references, as every family sees
    them (built once per group by `features.feature_matrix`). `pairings` are `features.Pairing`s,
    one per answer; `cos` is (answers, references) and `cos_question` per answer, in float64."""
    batch: TextBatch
    parts: TextParts
    pairings: list
    answers: list[int]
    refs: list[Reference]
    reference_kinds: list[str]
    cos: np.ndarray
    cos_question: np.ndarray
    question_stems: set

    @property
    def n(self) -> int:
        return len(self.answers)

    @property
    def short_mask(self) -> np.ndarray:
        return np.array([k == "short" for k in self.reference_kinds])

    @cached_property
    def sentence_alignments(self) -> list[SentenceAlignment]:
        """One per reference, computed once for the families that read it (similarity, polarity)."""
        return [align_sentences(self.parts, self.answers, ref) for ref in self.refs]

    @property
    def reference_length(self) -> float:
        """The median length in words of the references."""
        return float(statistics.median([r.n_words for r in self.refs]))


def forget() -> None:
    """Empty the reference memo, as a fresh process has it (benchmarks time cold runs)."""
    _REFERENCE_CACHE.clear()
