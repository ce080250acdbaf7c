"""Span pooling over many texts at once.

The texts of a batch are laid end to end: their token vectors stacked, their character offsets
shifted onto one increasing axis, so that the spans of a whole batch (sentences, windows of words)
are pooled by a handful of array operations instead of a few dozen per text. Grading time beyond
the forward pass was mostly that per-text overhead.

Windows of words are only ever compared with rubric phrases, so their vectors are never built:
a window's similarity to a phrase is its token sum projected on the phrase (a difference of two
prefix sums of the tokens' projections) over the length of that sum (from a prefix sum of the
text's token Gram matrix).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix

from grader.core.embedding import DIM
from grader.core.encoded import Encoded, normalise as _normalise
from grader.core.text import STOPWORDS, stem, word_spans

WINDOW_WORDS = 5   # the longest window of words matched against a rubric phrase


def concatenated_ranges(lo, hi) -> np.ndarray:
    """The rows lo[k]..hi[k]-1 of every k, end to end, without a call per range."""
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    lengths = hi - lo
    return np.repeat(lo - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())


class TextBatch:
    """Encoded texts laid end to end, with their words."""

    def __init__(self, encoded: list[Encoded]):
        self.encoded = encoded
        dim = encoded[0].tokens.shape[1] if encoded else DIM
        n_tokens = np.array([len(e.offsets) for e in encoded], dtype=np.int64)
        self.token_bounds = np.concatenate([[0], np.cumsum(n_tokens)])
        # Each text starts one character past the end of the one before: spans never straddle two.
        self.char_base = np.concatenate([[0], np.cumsum([len(e.text) + 1 for e in encoded])[:-1]]).astype(np.int64)
        token_text = np.repeat(np.arange(len(encoded)), n_tokens)
        offsets = (np.concatenate([e.offsets for e in encoded]) if n_tokens.sum() else np.zeros((0, 2), np.int64))
        self.token_starts = offsets[:, 0] + self.char_base[token_text]
        self.token_ends = offsets[:, 1] + self.char_base[token_text]
        self.tokens = (np.concatenate([e.tokens for e in encoded if len(e.offsets)]).astype(np.float32, copy=False)
                       if n_tokens.sum() else np.zeros((0, dim), np.float32))

        spans = [word_spans(e.text) for e in encoded]
        self.words = [w for s in spans for w, _, _ in s]
        self.stems = [stem(w) for w in self.words]
        self.is_stopword = np.array([w in STOPWORDS for w in self.words], dtype=bool)
        # Content words as the signals count them: not stopwords, longer than a letter.
        self.is_content = ~self.is_stopword & (np.array([len(w) for w in self.words], dtype=np.int64) > 1)
        n_words = np.array([len(s) for s in spans], dtype=np.int64)
        self.word_bounds = np.concatenate([[0], np.cumsum(n_words)])
        self.word_text = np.repeat(np.arange(len(encoded)), n_words)
        self.word_pos = np.arange(len(self.words)) - self.word_bounds[self.word_text]
        self.word_starts = np.array([s for sp in spans for _, s, _ in sp], dtype=np.int64)   # within its text
        self.word_ends = np.array([e for sp in spans for _, _, e in sp], dtype=np.int64)
        self.spans = spans

    def __len__(self):
        return len(self.encoded)

    def words_of(self, t: int) -> tuple[list[str], list[str]]:
        """The words of text t (lowercased, as `text.words` gives them) and their stems."""
        lo, hi = self.word_bounds[t], self.word_bounds[t + 1]
        return self.words[lo:hi], self.stems[lo:hi]

    def token_ranges(self, text_ids, starts, ends):
        """Token rows [lo, hi) lying wholly inside each character span starts..ends of its text."""
        base = self.char_base[text_ids]
        lo = np.searchsorted(self.token_starts, np.asarray(starts) + base, side="left")
        hi = np.searchsorted(self.token_ends, np.asarray(ends) + base, side="right")
        return lo, hi

    def span_vectors(self, text_ids, starts, ends):
        """Pooled vectors of character spans, and which spans held any token."""
        text_ids = np.asarray(text_ids, dtype=np.int64)
        lo, hi = self.token_ranges(text_ids, starts, ends)
        ok = hi > lo
        vectors = np.zeros((len(lo), self.tokens.shape[1]), np.float32)
        if ok.any():
            # Means over [lo, hi) of every span at once: a sparse averaging matrix times the tokens.
            lo, hi = lo[ok], hi[ok]
            lengths = hi - lo
            indptr = np.concatenate([[0], np.cumsum(lengths)])
            columns = np.arange(indptr[-1]) - np.repeat(indptr[:-1] - lo, lengths)
            weights = np.repeat(1.0 / lengths, lengths).astype(np.float32)
            means = csr_matrix((weights, columns, indptr), shape=(len(lo), len(self.tokens))) @ self.tokens
            vectors[ok] = _normalise(np.asarray(means))
        return vectors, ok

    def windows(self, max_words: int = WINDOW_WORDS) -> "Windows":
        """Every run of 1..max_words words of every text (single words only if not stopwords).
        Rows are grouped by text, and within a text ordered by length and then position."""
        n_words = self.word_bounds[1:] - self.word_bounds[:-1]
        content = ~self.is_stopword
        word_idx = np.arange(len(self.words))
        firsts, sizes = [], []
        for k in range(1, max_words + 1):
            ok = self.word_pos + k <= n_words[self.word_text]
            if k == 1:
                ok &= content
            firsts.append(word_idx[ok])
            sizes.append(np.full(int(ok.sum()), k))
        first, size = np.concatenate(firsts), np.concatenate(sizes)
        last = first + size - 1
        text = self.word_text[first]
        order = np.lexsort((first, size, text))
        first, last, text = first[order], last[order], text[order]
        lo, hi = self.token_ranges(text, self.word_starts[first], self.word_ends[last])
        keep = hi > lo
        first, last, text, lo, hi = first[keep], last[keep], text[keep], lo[keep], hi[keep]
        return Windows(self, text, lo, hi, self.word_starts[first], self.word_ends[last],
                       np.searchsorted(text, np.arange(len(self) + 1), side="left"))

    def content_tokens(self):
        """Normalised vectors of the tokens that belong to content words (not stopwords, longer
        than a letter), with the stem of each token's word and row bounds per text."""
        word_starts = self.word_starts + self.char_base[self.word_text]
        word_ends = self.word_ends + self.char_base[self.word_text]
        at = np.searchsorted(word_starts, self.token_starts, side="right") - 1
        if not self.words:
            return np.zeros((0, self.tokens.shape[1]), np.float32), np.array([], dtype=object), \
                np.zeros(len(self) + 1, np.int64)
        word = np.maximum(at, 0)
        keep = np.flatnonzero((at >= 0) & (self.token_ends <= word_ends[word]) & self.is_content[word])
        stems = np.array([self.stems[i] for i in at[keep].tolist()], dtype=object)
        vectors = _normalise(self.tokens[keep]).astype(np.float32, copy=False)
        bounds = np.searchsorted(keep, self.token_bounds, side="left")
        return vectors, stems, bounds


class Windows:
    """Windows of words of a batch's texts: token rows [lo, hi) and characters [start, end) of each,
    grouped by text (`bounds[t]` is where text t's rows start)."""

    def __init__(self, batch: TextBatch, text, lo, hi, starts, ends, bounds):
        self.batch, self.text, self.lo, self.hi = batch, text, lo, hi
        self.starts, self.ends, self.bounds = starts, ends, bounds
        self.norms = self._sum_norms()

    def _sum_norms(self) -> np.ndarray:
        """Length of each window's token sum, from a 2-D prefix sum of its text's token Gram matrix.
        Texts of similar token counts are padded to one width and go through one product together."""
        tb = self.batch.token_bounds
        tokens = self.batch.tokens
        n_tokens = tb[1:] - tb[:-1]
        norms = np.zeros(len(self.lo))
        texts = np.flatnonzero(self.bounds[1:] > self.bounds[:-1])
        texts = texts[np.argsort(n_tokens[texts], kind="stable")]
        start = 0
        while start < len(texts):
            width = int(n_tokens[texts[start]])
            # Padding up to a quarter wasted, and at most ~4M Gram entries held at once.
            end = int(np.searchsorted(n_tokens[texts], max(width * 5 // 4, width + 4), side="right"))
            end = min(end, start + max(1, (1 << 22) // max(1, int(n_tokens[texts[end - 1]])) ** 2))
            group = texts[start:end]
            width = int(n_tokens[group[-1]])
            at = np.arange(width)
            present = at < n_tokens[group][:, None]
            padded = np.zeros((len(group), width, tokens.shape[1]), np.float32)
            padded[present] = tokens[(tb[group][:, None] + at)[present]]
            prefix = np.zeros((len(group), width + 1, width + 1))
            prefix[:, 1:, 1:] = (padded @ padded.transpose(0, 2, 1)).cumsum(axis=1, dtype=np.float64).cumsum(axis=2)
            counts = self.bounds[group + 1] - self.bounds[group]
            member = np.repeat(np.arange(len(group)), counts)
            rows = np.arange(counts.sum()) + np.repeat(self.bounds[group] - np.cumsum(counts) + counts, counts)
            lo, hi = self.lo[rows] - tb[group][member], self.hi[rows] - tb[group][member]
            square = (prefix[member, hi, hi] - prefix[member, lo, hi] - prefix[member, hi, lo]
                      + prefix[member, lo, lo])
            norms[rows] = np.sqrt(np.maximum(square, 0.0))
            start = end
        return norms

    def similarities(self, texts: list[int], phrases: np.ndarray) -> np.ndarray:
        """Cosine of every window of the given texts (rows in that order) to every phrase vector."""
        tb = self.batch.token_bounds
        idx = np.asarray(texts, dtype=np.int64)
        token_rows = concatenated_ranges(tb[idx], tb[idx + 1])
        # Prefix sums of the tokens' projections on the phrases, over these texts laid end to end.
        projected = np.zeros((len(token_rows) + 1, phrases.shape[0]))
        projected[1:] = np.cumsum(self.batch.tokens[token_rows] @ phrases.T, axis=0, dtype=np.float64)
        n_tokens = tb[idx + 1] - tb[idx]
        rows = concatenated_ranges(self.bounds[idx], self.bounds[idx + 1])
        # From a window's token rows in the batch to its rows in `projected`.
        shift = np.repeat(np.cumsum(n_tokens) - n_tokens - tb[idx], self.bounds[idx + 1] - self.bounds[idx])
        sums = projected[self.hi[rows] + shift] - projected[self.lo[rows] + shift]
        return (sums / (self.norms[rows] + (self.hi[rows] - self.lo[rows]) * 1e-12)[:, None]).astype(np.float32)
