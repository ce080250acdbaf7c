"""Batch grading of a CSV or JSONL file: streamed in chunks, every row kept in order.

Output goes to `OUTPUT.part` as it is produced, with a checkpoint beside it recording how many
input rows are done; the finished file is renamed into place, so an interrupted run never leaves
a file that looks complete, and `resume=True` continues from the checkpoint.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import gc
import io
import itertools
import json
import math
import os
import re
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .errors import GraderError

OUTPUT_COLUMNS = ["score", "label", "confidence", "matched_concepts", "missed_concepts",
                  "contradicted_concepts", "feedback", "status", "message"]
# Every column the grader adds to a row (scaled_score with a numeric-scale model).
GRADER_COLUMNS = (*OUTPUT_COLUMNS, "scaled_score")
GRADER_PREFIX = "grader_"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


# The options that rename each column, for errors that tell what to give.
COLUMN_OPTIONS = {"answer": "--answer-column", "question_id": "--question-id-column",
                  "question": "--question-column", "reference": "--reference-column"}


@dataclass
class ColumnMap:
    answer: str = "answer"
    question_id: str = "question_id"
    question: str = "question"
    reference: str = "reference_answer"

    def resolve(self, header, source) -> "ColumnMap":
        """These columns as the file spells them: `Answer` is taken for `answer` when it is the
        only cell equal to it but for case."""
        return ColumnMap(**{name: find_column(getattr(self, name), header, source, option) or getattr(self, name)
                            for name, option in COLUMN_OPTIONS.items()})


def find_column(name: str, header, source, option: str) -> str | None:
    """`name` itself if the header has it, else the one header cell equal to it but for case;
    None if there is none. Several such cells are an error naming them and `option`."""
    if name in header:
        return name
    same = [h for h in header if isinstance(h, str) and h.casefold() == name.casefold()]
    if len(same) > 1:
        raise GraderError(f"{source}: columns {', '.join(repr(h) for h in same)} all match '{name}'; "
                          f"choose one with {option} {same[0]}")
    return same[0] if same else None


def missing_column(name: str, header, source, option: str) -> GraderError:
    """The error for a required column the header lacks, with the closest header cell as the
    option to give."""
    cells = {h.casefold(): h for h in header if isinstance(h, str)}
    close = [cells[c] for c in difflib.get_close_matches(name.casefold(), cells, n=1, cutoff=0.6)]
    hint = f"; if it is '{close[0]}', give {option} {close[0]}" if close else f"; name yours with {option} NAME"
    listed = ", ".join(h for h in header if isinstance(h, str))
    return GraderError(f"{source}: missing required column '{name}' (columns: {listed}){hint}")


@dataclass
class BatchSummary:
    rows: int = 0
    errors: int = 0
    labels: Counter = field(default_factory=Counter)
    score_sum: float = 0.0
    scored: int = 0
    seconds: dict = field(default_factory=lambda: Counter())
    resumed_from: int = 0

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None

    def to_dict(self) -> dict:
        slowest = max(self.seconds, key=self.seconds.get) if self.seconds else None
        return {"rows": self.rows, "errors": self.errors, "labels": dict(self.labels),
                "mean_score": None if self.mean_score is None else round(self.mean_score, 4),
                "seconds": {k: round(v, 2) for k, v in self.seconds.items()}, "slowest_step": slowest,
                "resumed_from_row": self.resumed_from}


def neutralise_formula(value):
    """Prefix a quote to text a spreadsheet would run as a formula; plain numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value.strip()):
        return "'" + value
    return value


def detect_format(path: str, default: str | None = "csv") -> str | None:
    suffix = Path(path).suffix.lower() if path != "-" else ""
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
            ".parquet": "parquet", ".pq": "parquet"}.get(suffix, default)


def _same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: the same once links and `..` are resolved, or (both
    existing) the same file by device and inode, as a hard link is."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_path_collisions(inputs: dict, outputs: dict) -> None:
    """A one-line error when an output path names the same file as an input or as another output
    of the same command; `inputs` and `outputs` map a description (`INPUT`, `--report`) to a path.
    None and `-` (stdin/stdout) are left out. Call it before any work, so nothing is overwritten."""
    ins = [(what, p) for what, p in inputs.items() if p not in (None, "-", "")]
    outs = [(what, p) for what, p in outputs.items() if p not in (None, "-", "")]
    for i, (what, path) in enumerate(outs):
        for other, other_path in ins + outs[:i]:
            if _same_path(path, other_path):
                raise GraderError(f"{what} {path} is the same file as {other} {other_path}; "
                                  "give a different path")


def batch_outputs(output_path: str) -> dict:
    """Every file a batch job writing `output_path` writes, by description (none for stdout)."""
    if output_path in (None, "-"):
        return {}
    final = Path(output_path)
    return {"-o": output_path, "the partial output": final.with_name(final.name + ".part"),
            "the checkpoint": final.with_name(final.name + ".checkpoint.json"),
            "the Parquet temporary file": final.with_name(final.name + ".tmp")}


# --- reading ---------------------------------------------------------------------------------

def _open_text(path: str):
    """A text stream over the input; the file is checked to be UTF-8 first (streaming, so a
    large file is never held in memory) so a bad encoding stops the job before any output."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="strict", newline=""), "<stdin>"
    p = Path(path)
    if not p.exists():
        raise GraderError(f"{path}: file not found")
    if p.is_dir():
        raise GraderError(f"{path}: is a directory, not a file")
    try:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        offset = 0
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise GraderError(f"{path}: not UTF-8 text (byte {offset + exc.start}); "
                                      "save the file as UTF-8") from None
                offset += len(chunk)
        decoder.decode(b"", final=True)
        return open(p, encoding="utf-8-sig", errors="strict", newline=""), path
    except UnicodeDecodeError:
        raise GraderError(f"{path}: not UTF-8 text (truncated character at the end)") from None
    except OSError as exc:
        raise GraderError(f"{path}: cannot read ({exc.strerror})") from None


def read_rows(path: str, fmt: str | None = None, chunk_size: int = 512) -> Iterator[list[dict]]:
    """Yield lists of row dicts (all values str, or list for JSONL reference_answers)."""
    fmt = fmt or detect_format(path)
    stream, source = _open_text(path)
    try:
        if fmt == "csv":
            yield from _read_csv(stream, source, chunk_size)
        elif fmt == "jsonl":
            yield from _read_jsonl(stream, source, chunk_size)
        else:
            raise GraderError(f"{source}: cannot read {fmt} input; use CSV or JSONL")
    except UnicodeDecodeError as exc:
        raise GraderError(f"{source}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    finally:
        stream.close()


def _allow_long_fields():
    # The csv module refuses fields over 128 KB; an absurdly long answer is a row to truncate
    # and grade with a note, not a reason to stop the whole job.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


def _read_csv(stream, source, chunk_size):
    _allow_long_fields()
    reader = csv.DictReader(stream)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise GraderError(f"{source}: not a readable CSV ({exc})") from None
    if not header:
        raise GraderError(f"{source}: the file is empty (no header row)")
    twice = next((name for name, n in Counter(header).items() if n > 1), None)
    if twice is not None:
        # A row is a dict by column name: one of the two columns would vanish from the output.
        raise GraderError(f"{source}: column '{twice}' appears twice in the header; rename one")
    chunk, seen = [], 0
    try:
        for row in reader:
            extra = row.pop(None, None)
            if extra:
                row["_extra_fields"] = ",".join(extra)
            chunk.append({k: ("" if v is None else v) for k, v in row.items()})
            seen += 1
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
    except csv.Error as exc:
        raise GraderError(f"{source}: line {reader.line_num}: malformed CSV ({exc})") from None
    if chunk:
        yield chunk
    if seen == 0:
        raise GraderError(f"{source}: no rows after the header")


class _JsonNumber(float):
    """A JSON number with the digits it was written with: str() of `3.10` is `3.10`, where a float
    would give `3.1`, so an answer written as a number is graded as its text. JSON output and
    arithmetic see a plain float."""

    __slots__ = ("text",)

    def __new__(cls, text: str):
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __str__(self):
        return self.text


def _read_jsonl(stream, source, chunk_size):
    chunk, seen = [], 0
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        seen += 1
        try:
            obj = json.loads(line, parse_float=_JsonNumber)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            # A broken line is still a row: it comes out as an error row, in place.
            obj = {"_parse_error": f"line {lineno}: invalid JSON ({exc})"}
        chunk.append(obj)
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
    if seen == 0:
        raise GraderError(f"{source}: the file is empty")


# --- writing ---------------------------------------------------------------------------------

class _Writer:
    def __init__(self, handle, fmt: str, columns: list[str] | None = None):
        self.handle, self.fmt = handle, fmt
        self.columns = columns            # the rows' keys, in output order
        self.header_written = columns is not None
        self._header_read = False         # columns are a resumed file's header cells, neutralised

    @classmethod
    def to_file(cls, path: Path, fmt: str, append: bool) -> "_Writer":
        columns = None
        if fmt == "csv" and append:
            # The header of the interrupted run fixes the column order.
            with open(path, encoding="utf-8", newline="") as f:
                columns = next(csv.reader(f), None)
        writer = cls(open(path, "a" if append else "w", encoding="utf-8", newline=""), fmt, columns)
        writer.header_written = append
        writer._header_read = columns is not None
        return writer

    def write(self, rows: list[dict]):
        if self.fmt == "csv":
            if self.columns is None:
                self.columns = list(rows[0].keys())
            elif self._header_read:
                self.columns = [_key_of(cell, rows[0]) for cell in self.columns]
                self._header_read = False
            writer = csv.writer(self.handle, lineterminator="\n")
            if not self.header_written:
                # Column names come from the input file, and a spreadsheet runs header cells too.
                writer.writerow([neutralise_formula(c) for c in self.columns])
                self.header_written = True
            writer.writerows([neutralise_formula(_cell(r.get(k))) for k in self.columns] for r in rows)
        else:
            for r in rows:
                self.handle.write(json.dumps(r, ensure_ascii=False) + "\n")
        self.handle.flush()

    def close(self):
        self.handle.close()


def _key_of(header_cell: str, row: dict) -> str:
    """The row key a header cell was written from: the cell itself, or the name it neutralised."""
    if header_cell not in row and header_cell.startswith("'") and neutralise_formula(header_cell[1:]) == header_cell:
        return header_cell[1:]
    return header_cell


def _cell(v):
    if isinstance(v, list):
        return "; ".join(map(str, v))
    if v is None:
        return ""
    return v


def _jsonl_to_parquet(src: Path, dst: Path):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    schema = None
    try:
        for chunk in pd.read_json(src, lines=True, chunksize=5000, dtype=False):
            for col in chunk.columns:
                if col.removeprefix(GRADER_PREFIX * col.count(GRADER_PREFIX)) in (
                        "matched_concepts", "missed_concepts", "contradicted_concepts"):
                    chunk[col] = chunk[col].map(lambda v: "; ".join(v) if isinstance(v, list) else v)
            chunk = chunk.astype({c: "string" for c in chunk.columns if chunk[c].dtype == object})
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                schema = table.schema
                writer = pq.ParquetWriter(dst, schema)
            writer.write_table(table.cast(schema))
    finally:
        if writer:
            writer.close()


# --- the job ---------------------------------------------------------------------------------

def _short_tail_joined(windows: Iterator[list[dict]], size: int) -> Iterator[list[dict]]:
    """The windows as read, except that a last window of under half the size joins the one before.
    Sorted apart, a few hundred rows of every length pad their model batches more than when
    sorted with the rest: the 2,273 Mohler answers padded to 1.06 times their real tokens as a
    2,048-row window and a 225-row one."""
    held = None
    for rows in windows:
        if held is not None and len(rows) < size // 2:   # only the last read is short
            held = held + rows
            continue
        if held is not None:
            yield held
        held = rows
    if held is not None:
        yield held


@contextmanager
def _rarer_collections(young_threshold: int = 50_000):
    """Grading makes many short-lived objects that reference counting frees on its own; the cyclic
    collector's default pass every 700 allocations took 5-7% of a warm job's time beyond the
    model. For the length of the job, the objects already alive (bank, rubrics, model) are left
    out of its passes and young passes come less often."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(before[0], young_threshold), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def question_for(row: dict, columns: ColumnMap, bank, made: dict | None = None):
    """(the question to grade a row against, None), or (None, an error message). A row names a
    `bank` id, or carries its own question and references; `made` keeps the questions built
    from rows, so that rows repeating a question share one."""
    from .grading import user_question

    c = columns
    if "_parse_error" in row:
        return None, row["_parse_error"]
    wrong = not_text(row, c)
    if wrong:
        return None, wrong
    qid = str(row.get(c.question_id, "") or "").strip()
    refs = row.get("reference_answers")
    if isinstance(refs, str):
        refs = [refs]
    refs = [str(r) for r in (refs or []) if r is not None and str(r).strip()]
    first = str(row.get(c.reference, "") or "").strip()
    extra = [str(row[k]).strip() for k in sorted(row, key=_ref_order)
             if k.startswith(c.reference + "_") and row[k] not in (None, "") and str(row[k]).strip()]
    refs = ([first] if first else []) + extra + refs
    if qid and bank is not None and qid in bank and not refs:
        q = bank.get(qid)
        if not q.has_reference:
            return None, f"question {qid} has no reference answer yet"
        return q, None
    question_text = str(row.get(c.question, "") or "").strip()
    if refs:
        if not question_text and not qid:
            return None, f"no '{c.question}' text for the reference answer"
        key = (qid, question_text, tuple(refs))
        made = {} if made is None else made
        if key not in made:
            made[key] = user_question(question_text or qid, refs, qid or None)
        return made[key], None
    if qid:
        return None, f"unknown question_id {qid!r} (not in the bank, and no reference_answer given)"
    return None, f"no '{c.question_id}', and no '{c.question}' with '{c.reference}'"


def _kind(value) -> str | None:
    """None for a value graded as text: a string, or a number (a JSON number keeps its digits);
    else what it is, for the error message."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} (not a finite number)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a JSON boolean)"
    if value is None:
        return "null"
    return {list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def not_text(row: dict, columns: ColumnMap) -> str | None:
    """The error for a row (from JSONL) whose answer, question id, question or reference answers
    are not text, naming the field; None when they all are. A number counts as its text (JSON
    `42` is the answer "42"). A null answer is an error; a null question, question id or
    reference counts as absent, as an empty CSV cell does."""
    c = columns
    if c.answer in row and _kind(row[c.answer]) is not None:
        return f"'{c.answer}' is {_kind(row[c.answer])}, not text"
    for key in row:
        if key in (c.question_id, c.question, c.reference) or key.startswith(c.reference + "_"):
            if row[key] is not None and _kind(row[key]) is not None:
                return f"'{key}' is {_kind(row[key])}, not text"
    refs = row.get("reference_answers")
    if refs is not None and not isinstance(refs, str):
        if not isinstance(refs, list):
            return f"'reference_answers' is {_kind(refs)}, not text or a list of texts"
        for i, ref in enumerate(refs):
            if ref is not None and _kind(ref) is not None:
                return f"'reference_answers' item {i + 1} is {_kind(ref)}, not text"
    return None


class BatchJob:
    """Grades every row of an input file with `grader`, writing rows in input order."""

    def __init__(self, grader, columns: ColumnMap | None = None, chunk_size: int = 256, progress=None,
                 window_size: int = 2048):
        self.grader = grader
        self.columns = columns or ColumnMap()
        self.chunk_size = chunk_size        # rows graded, written and checkpointed together
        self.window_size = window_size      # rows whose texts go through the model together
        self.progress = progress
        self._questions: dict = {}
        self.records: list[dict] = []   # compact per-row results for reports
        self.keep_records = False
        self._input_keys: set = set()   # every column name of the input rows so far
        self._names = {col: col for col in GRADER_COLUMNS}   # the output name of each grader column

    def _note_keys(self, row: dict):
        """Take in a row's column names: a grader column that the input has too is written as
        `grader_<name>` from this row on (`grader_grader_<name>` if that is taken as well)."""
        if row.keys() <= self._input_keys:
            return
        self._input_keys |= row.keys()
        names = {}
        for col in GRADER_COLUMNS:
            name = col
            while name in self._input_keys:
                name = GRADER_PREFIX + name
            names[col] = name
        self._names = names      # a new mapping: rows already built keep theirs

    def question_for(self, row: dict):
        """The question to grade this row against, or an error message."""
        return question_for(row, self.columns, self.grader.bank, self._questions)

    def run(self, input_path: str, output_path: str, in_fmt=None, out_fmt=None, resume=False) -> BatchSummary:
        summary = BatchSummary()
        in_fmt = in_fmt or detect_format(input_path)
        if out_fmt is None and output_path != "-":
            # No extension: the input's format. An extension that names no format: an error, not CSV in a .xlsx.
            suffix = Path(output_path).suffix
            out_fmt = detect_format(output_path, default=None if suffix else in_fmt)
            if out_fmt is None:
                raise GraderError(f"{output_path}: unknown output format '{suffix}'; "
                                  "name it .csv, .jsonl or .parquet, or give --output-format")
        out_fmt = out_fmt or "csv"
        if out_fmt not in ("csv", "jsonl", "parquet"):
            raise GraderError(f"{output_path}: unknown output format {out_fmt}")
        to_stdout = output_path == "-"
        # Before anything is written: `batch IN -o IN` would truncate its own input.
        refuse_path_collisions({"INPUT": input_path}, batch_outputs(output_path))
        final = None if to_stdout else Path(output_path)
        part_fmt = "jsonl" if out_fmt == "parquet" else out_fmt
        part = None if to_stdout else final.with_name(final.name + ".part")
        checkpoint = None if to_stdout else final.with_name(final.name + ".checkpoint.json")
        done = 0
        source = _input_identity(input_path)
        if resume and not to_stdout and checkpoint.exists() and part.exists():
            done = _resume_point(checkpoint, part, part_fmt, source)
            summary.resumed_from = done
        spooled = None
        from .calibration import uses_cohort

        if uses_cohort(self.grader.model):   # this file's answers, never a previous job's
            if input_path == "-":
                # The cohort needs a first pass over the input, and stdin can be read only once.
                spooled = _spool_stdin(final)
                input_path = str(spooled)
            t = time.perf_counter()
            self.grader.cohort = self.gather_cohort(input_path, in_fmt)
            summary.seconds["cohort"] += time.perf_counter() - t
        try:
            writer = _Writer(sys.stdout, out_fmt) if to_stdout else _Writer.to_file(part, part_fmt, append=done > 0)
        except OSError as exc:
            raise GraderError(f"{output_path}: cannot write ({exc.strerror})") from None

        seen, nothing_graded = 0, False
        with _rarer_collections():
            try:
                for first, rows, resolved in self._chunks_embedded_by_window(input_path, in_fmt, done, summary):
                    seen = first + len(rows)
                    t = time.perf_counter()
                    out_rows = self._grade_chunk(rows, resolved, summary, first)
                    summary.seconds["grading"] += time.perf_counter() - t
                    t = time.perf_counter()
                    writer.write(out_rows)
                    summary.seconds["writing"] += time.perf_counter() - t
                    if checkpoint:
                        checkpoint.write_text(json.dumps({"rows_done": seen, **source}))
                    if self.progress:
                        self.progress(len(rows))
                seen = max(seen, done)
            except GraderError:
                # Bad input found before a single row was graded: no partial output to resume from.
                nothing_graded = seen == 0 and done == 0
                raise
            finally:
                if not to_stdout:
                    writer.close()
                    if nothing_graded:
                        part.unlink(missing_ok=True)
                if spooled:
                    spooled.unlink(missing_ok=True)
        summary.rows = seen
        if not to_stdout:
            if out_fmt == "parquet":
                tmp = final.with_name(final.name + ".tmp")
                _jsonl_to_parquet(part, tmp)
                tmp.replace(final)
                part.unlink()
            else:
                part.replace(final)
            checkpoint.unlink(missing_ok=True)
        return summary

    def _chunks_embedded_by_window(self, input_path: str, in_fmt: str, done: int, summary: BatchSummary):
        """(first row number, rows, their questions) for every chunk of rows past `done`. Rows are read a window of
        several chunks at a time, and the window's texts go through the model together: the model
        sorts them by length, and a window pads far less than a chunk (the Mohler answers pad to
        1.03 times their real tokens as one window, 1.20 in chunks of 256)."""
        embedder = self.grader.embedder
        window = max(self.chunk_size, self.window_size)
        own_size = embedder.cache_size
        seen, checked = 0, False
        try:
            for rows in _short_tail_joined(read_rows(input_path, in_fmt, window), window):
                if not checked:
                    self._check_columns(rows[0], input_path, in_fmt)
                    checked = True
                first = seen
                seen += len(rows)
                # Rows done by an interrupted run still name the output columns as they did then.
                for row in rows[:max(0, done - first)]:
                    self._note_keys(row)
                if seen <= done:
                    continue
                rows, first = rows[max(0, done - first):], max(first, done)
                t = time.perf_counter()
                resolved = [self.question_for(row) for row in rows]
                items = self._gradable(rows, resolved)
                # The cache grows to hold the window's texts until its last chunk is graded, not
                # beyond: the previous window's answers make room before the model runs.
                embedder.cache_size = max(own_size, sum(map(len, self.grader.texts_of(items))))
                self.grader.embed(items)
                summary.seconds["embedding"] += time.perf_counter() - t
                for at in range(0, len(rows), self.chunk_size):
                    yield first + at, rows[at:at + self.chunk_size], resolved[at:at + self.chunk_size]
        finally:
            embedder.cache_size = own_size

    def _gradable(self, rows: list[dict], resolved: list[tuple]) -> list[tuple]:
        """(question, answer cut as grading cuts it) for the rows that will be graded; `resolved`
        is `question_for` of each row."""
        from .settings import MAX_ANSWER_CHARS

        items = []
        for row, (q, error) in zip(rows, resolved):
            answer = row.get(self.columns.answer)
            answer = "" if answer is None else str(answer)
            if not error and answer.strip():
                items.append((q, answer[:MAX_ANSWER_CHARS]))
        return items

    def gather_cohort(self, input_path: str, in_fmt: str):
        """Every gradable answer of the input, for a model with cohort signals (one extra pass that
        embeds the answers; only per-question sums are kept)."""
        from .calibration import question_key
        from .cohort import CohortStats

        stats = CohortStats()
        checked = False
        for chunk in read_rows(input_path, in_fmt, self.chunk_size):
            if not checked:
                self._check_columns(chunk[0], input_path, in_fmt)
                checked = True
            items = self._gradable(chunk, [self.question_for(row) for row in chunk])
            if items:
                stats.add_answers(self.grader.embedder, [question_key(q) for q, _ in items], items)
        return stats

    def _check_columns(self, first_row: dict, source, fmt):
        if "_parse_error" in first_row and len(first_row) == 1 and fmt == "jsonl":
            return
        self.columns = c = self.columns.resolve(first_row, source)
        keys = set(first_row)
        if c.answer not in keys:
            raise missing_column(c.answer, first_row, source, COLUMN_OPTIONS["answer"])
        has_refs = c.reference in keys or "reference_answers" in keys
        if c.question_id not in keys and not (c.question in keys and has_refs):
            if fmt == "jsonl":
                return  # JSONL rows may differ; each row is checked on its own
            raise GraderError(f"{source}: needs a '{c.question_id}' column, or '{c.question}' with "
                              f"'{c.reference}' columns (columns: {', '.join(first_row)}); name yours with "
                              f"--question-id-column, or --question-column and --reference-column")

    def _grade_chunk(self, chunk: list[dict], resolved: list[tuple], summary: BatchSummary,
                     first_row: int = 0) -> list[dict]:
        """The chunk's output rows; `first_row` is the input row number (from 0) of its first row.

        An output row is the input row, every column kept with its name and value, followed by the
        grader's columns (`GRADER_COLUMNS`). A grader column whose name the input already has
        (a labelled file's `label` or `score`, say) is written as `grader_<name>`, so that the
        input's value is never overwritten; the name is fixed from the first input row that has
        the column on, and `--resume` names them as the interrupted run did."""
        todo, positions, out = [], [], []
        for i, (row, (q, error)) in enumerate(zip(chunk, resolved)):
            self._note_keys(row)
            out.append((dict(row), self._names))
            answer = row.get(self.columns.answer)
            answer = "" if answer is None else str(answer)
            if error:
                out[i][0].update({out[i][1]["status"]: "error", out[i][1]["message"]: error})
                if self.keep_records:
                    self.records.append({"status": "error", "row": first_row + i + 1,
                                         "question_id": str(row.get(self.columns.question_id, "") or ""),
                                         "answer": answer[:300], "message": error})
                continue
            todo.append((q, answer))
            positions.append(i)
        if todo:
            results = self.grader.grade_many(todo)
            for i, (q, answer), res in zip(positions, todo, results):
                row, names = out[i]
                row.update({names[k]: v for k, v in {
                    "score": res.score, "label": res.label, "confidence": res.confidence,
                    "matched_concepts": res.matched_concepts, "missed_concepts": res.missed_concepts,
                    "contradicted_concepts": res.contradicted_concepts, "feedback": res.feedback,
                    "status": "ok", "message": "; ".join(res.notes),
                }.items()})
                if res.scaled_score is not None:
                    row[names["scaled_score"]] = res.scaled_score
                summary.labels[res.label] += 1
                summary.score_sum += res.score
                summary.scored += 1
                if self.keep_records:
                    self.records.append({"status": "ok", "question_id": q.id, "question": q.question,
                                         "answer": answer[:300], "score": res.score, "label": res.label,
                                         "confidence": res.confidence})
        scaled = bool(self.grader.model.metadata.get("scale"))
        for row, names in out:
            if scaled:
                row.setdefault(names["scaled_score"], "")
            for col in OUTPUT_COLUMNS:
                row.setdefault(names[col], "" if col != "status" else "error")
            if row[names["status"]] == "error":
                summary.errors += 1
        return [row for row, _ in out]


def _spool_stdin(near: Path | None) -> Path:
    import shutil
    import tempfile

    folder = near.parent if near is not None else None
    fd, name = tempfile.mkstemp(prefix=".grader-stdin-", dir=folder)
    with open(fd, "wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out)
    return Path(name)


def _ref_order(key: str):
    tail = key.rsplit("_", 1)[-1]
    return (0, int(tail)) if tail.isdigit() else (1, key)


def _input_identity(input_path: str) -> dict:
    """What a checkpoint records of its input, so that a resumed run continues the same file."""
    if input_path == "-":
        return {"input": "-"}
    path = Path(input_path).resolve()
    return {"input": str(path), "input_bytes": path.stat().st_size if path.is_file() else None}


def _resume_point(checkpoint: Path, part: Path, fmt: str, source: dict) -> int:
    """The rows of an interrupted run that are safely in its .part file, or an error when the
    checkpoint is damaged or was made for another input."""
    try:
        state = json.loads(checkpoint.read_text(encoding="utf-8"))
        rows_done = state["rows_done"]
        if isinstance(rows_done, bool) or not isinstance(rows_done, int) or rows_done < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError, OSError):
        raise GraderError(f"{checkpoint}: damaged checkpoint; delete it and {part.name} to start over") from None
    if {k: state.get(k) for k in source} != source:
        raise GraderError(f"{checkpoint}: made for another input ({state.get('input')}, "
                          f"{state.get('input_bytes')} bytes), not {source['input']} as it is now; "
                          f"delete it and {part.name} to start over")
    # A .part shorter than its checkpoint (cut by hand, or a disk that filled) resumes where it ends.
    return _truncate_to_rows(part, fmt, rows_done)


def _truncate_to_rows(part: Path, fmt: str, rows: int) -> int:
    """Drop anything past the last checkpointed row (a write the interruption cut short), and a
    last record cut short by something else; the number of rows kept. Streams: the .part of a
    long run can be large."""
    size = part.stat().st_size
    with open(part, "rb") as f:
        f.seek(max(0, size - 1))
        ends_whole = f.read(1) in (b"", b"\n")
    if fmt == "csv":
        _allow_long_fields()
        rows += 1                # the header
    tmp = part.with_name(part.name + ".tmp")
    kept = 0
    with open(part, encoding="utf-8", newline="") as src, open(tmp, "w", encoding="utf-8", newline="") as out:
        records = csv.reader(src) if fmt == "csv" else src
        write = csv.writer(out, lineterminator="\n").writerow if fmt == "csv" else out.write
        # A record is whole when another follows it, or when it ends the file with a newline.
        held = None
        for record in itertools.islice(records, rows + 1):
            if held is not None:
                write(held)
                kept += 1
                if kept == rows:
                    held = None
                    break
            held = record
        if held is not None and kept < rows and ends_whole:
            write(held)
            kept += 1
    tmp.replace(part)
    return max(0, kept - 1) if fmt == "csv" else kept
