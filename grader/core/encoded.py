"""One text through a MiniLM model: its sentence vector, token vectors and their offsets. The
unit that the embedder, the on-disk store and span pooling exchange."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Encoded:
    """One text through the model: its embedding, token vectors and their character offsets."""

    text: str
    vector: np.ndarray          # (dim,), L2-normalised mean of token vectors
    tokens: np.ndarray          # (n_tokens, dim), unnormalised, special tokens removed
    offsets: np.ndarray         # (n_tokens, 2) character offsets into text
    truncated: bool = False
    model: str = ""             # the backend that made it: vectors of two models never mix

    def span(self, start: int, end: int) -> np.ndarray | None:
        """Normalised mean of the token vectors that fall inside text[start:end]."""
        if len(self.offsets) == 0:
            return None
        mask = (self.offsets[:, 0] >= start) & (self.offsets[:, 1] <= end)
        if not mask.any():
            return None
        v = self.tokens[mask].mean(axis=0)
        return v / (np.linalg.norm(v) + 1e-12)


def normalise(matrix: np.ndarray) -> np.ndarray:
    return matrix / (np.linalg.norm(matrix, axis=-1, keepdims=True) + 1e-12)
