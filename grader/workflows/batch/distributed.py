"""`grader batch --engine dask`: one batch job over the workers of a Dask cluster.

The input (a file, a directory or a glob of CSV, JSONL or Parquet files) is cut into partitions of
`partition_rows` rows, read here with the local path's readers (so a broken JSONL line or a ragged
CSV row is the same error row) and sent to the workers as pandas frames. A worker grades a frame
with `frames.grade_frame`, the local path's code, with a Grader it builds once per process from the
bank, rubrics and model paths it is given (the package, with its bundled model, must be installed
on every worker). Graded frames come back here and each is written as one part, atomically: a part
that exists is finished, so `resume=True` grades only the partitions without one. A partition whose
task still fails after `retries` tries is named in a `PartitionsFailed` error once the others are done.

Outputs: a directory is a Parquet dataset (`part-00000.parquet`, ... and the job's manifest,
`_grader_job.json`, which Parquet readers skip); a `.csv`, `.jsonl` or `.parquet` file is assembled
from parts kept in `OUT.parts/` until the last one is done.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import as_completed

from grader.errors import GraderError
from grader.files import atomic_file, write_atomically
from grader.grading import Grader, default_model_path
from grader.model.classifier import GradingModel
from grader.settings import MODEL_ENV
from grader.signals.cohort import uses_cohort
from grader.workflows.batch.frames import frame_of, grade_frame, rows_of
from grader.workflows.batch.job import OUTPUT_COLUMNS, BatchJob, _rarer_collections
from grader.workflows.batch.resume import OutputLock, _input_identity
from grader.workflows.formats import FORMATS, PROBLEM, _JsonNumber, _Writer, detect_format, read_rows
from grader.workflows.paths import refuse_path_collisions
from grader.workflows.rows import ColumnMap

MANIFEST = "_grader_job.json"
INPUT_FORMATS = ("csv", "jsonl", "parquet")
FLOAT_COLUMNS = ("score", "confidence", "scaled_score")
CONCEPT_COLUMNS = ("matched_concepts", "missed_concepts", "contradicted_concepts")


class PartitionsFailed(GraderError):
    """Partitions that failed on every try; the others are written."""


@dataclass
class Partition:
    index: int
    path: str
    fmt: str
    start: int      # its first row in the file, from 0
    stop: int
    whole: bool     # the whole file

    @property
    def name(self) -> str:
        return self.path if self.whole else f"{self.path} rows {self.start + 1}-{self.stop}"


@dataclass
class Plan:
    partitions: list[Partition] = field(default_factory=list)
    columns: dict = field(default_factory=dict)          # file -> its ColumnMap, resolved
    input_columns: list[str] = field(default_factory=list)   # every column of every file, in order
    types: dict = field(default_factory=dict)             # column -> Arrow type, for Parquet-only columns

    @property
    def rows(self) -> int:
        return sum(p.stop - p.start for p in self.partitions)


# --- the workers' side ------------------------------------------------------------------------

_graders: dict = {}
# One task at a time per process: a Grader and its caches are not shared between threads (run
# workers with one thread each and as many processes as cores).
_lock = threading.Lock()


def worker_grader(bank_dir=None, rubrics_dir=None, model_path=None) -> Grader:
    """This process's Grader for these paths, built on first use and kept (with its vector cache)."""
    key = (bank_dir, rubrics_dir, model_path)
    if key not in _graders:
        _graders[key] = Grader.from_paths(bank_dir, rubrics_dir, model_path)
    return _graders[key]


def grade_partition(frame: pd.DataFrame, settings: dict, columns: dict, input_columns: list[str],
                    chunk_size: int = 256) -> pd.DataFrame:
    """The task a worker runs: one partition's input frame to its output frame."""
    with _lock:
        grader = worker_grader(settings.get("bank"), settings.get("rubrics"), settings.get("model"))
        with _rarer_collections():
            return grade_frame(grader, frame, ColumnMap(**columns), input_columns, chunk_size=chunk_size)


# --- inputs ---------------------------------------------------------------------------------------

def input_files(spec: str, fmt: str | None = None) -> list[tuple[str, str]]:
    """(path, format) of each file an INPUT names: a file, a directory (its CSV, JSONL and Parquet
    files, not hidden ones) or a glob pattern, sorted by name."""
    if spec == "-":
        raise GraderError("--engine dask reads files, not stdin; give a file, a directory or a glob")
    if os.path.isdir(spec):
        paths = sorted(str(p) for p in Path(spec).iterdir()
                       if p.is_file() and not p.name.startswith((".", "_"))
                       and (fmt or detect_format(str(p), None)) in INPUT_FORMATS)
        if not paths:
            raise GraderError(f"{spec}: no CSV, JSONL or Parquet files in this directory")
    elif os.path.exists(spec):
        paths = [spec]
    elif glob.has_magic(spec):
        paths = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
        if not paths:
            raise GraderError(f"{spec}: no file matches this pattern")
    else:
        raise GraderError(f"{spec}: file not found")
    return [(p, fmt or detect_format(p)) for p in paths]


def _parquet_file(path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise GraderError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None


def plan_job(files: list[tuple[str, str]], columns: ColumnMap, partition_rows: int) -> Plan:
    """One pass over the inputs, before any work: every file is readable and has the columns the
    job needs (else a one-line error), every column is collected, and each file is cut in partitions."""
    plan = Plan()
    seen: dict = {}
    typed: dict = {}
    for path, fmt in files:
        checker = BatchJob(None, columns)
        if fmt == "parquet":
            pf = _parquet_file(path)
            names = pf.schema_arrow.names
            checker.check_columns(dict.fromkeys(names), path, "csv")
            seen.update(dict.fromkeys(names))
            for f in pf.schema_arrow:
                typed.setdefault(f.name, {})[str(f.type)] = f.type
            counts = _cut(pf.metadata.num_rows, partition_rows)
            if pf.metadata.num_rows == 0:
                raise GraderError(f"{path}: the file has no rows")
        elif fmt in ("csv", "jsonl"):
            counts, keys = [], {}
            for chunk in read_rows(path, fmt, partition_rows):
                if not counts:
                    checker.check_columns(chunk[0], path, fmt)
                counts.append(len(chunk))
                for row in chunk:
                    if not row.keys() <= keys.keys():
                        keys.update(dict.fromkeys(row))
            seen.update(keys)
            for k in keys:
                typed.setdefault(k, {})["text"] = None
        else:
            raise GraderError(f"{path}: cannot read {fmt} input; use CSV, JSONL or Parquet")
        plan.columns[path] = asdict(checker.columns)
        start = 0
        for n in counts:
            plan.partitions.append(Partition(len(plan.partitions), path, fmt, start, start + n, len(counts) == 1))
            start += n
    seen.pop(PROBLEM, None)
    plan.input_columns = list(seen)
    for name, kinds in typed.items():
        if len(kinds) == 1 and "text" not in kinds:
            plan.types[name] = next(iter(kinds.values()))
    return plan


def _cut(n: int, size: int) -> list[int]:
    return [min(size, n - at) for at in range(0, n, size)]


def partition_frames(plan: Plan, skip: set[int]) -> Iterator[tuple[Partition, pd.DataFrame]]:
    """Each partition not in `skip` with its input frame, read in order (one file open at a time)."""
    by_file: dict = {}
    for p in plan.partitions:
        by_file.setdefault(p.path, []).append(p)
    for path, parts in by_file.items():
        if all(p.index in skip for p in parts):
            continue
        fmt = parts[0].fmt
        if fmt == "parquet":
            chunks = _parquet_chunks(path, parts[0].stop - parts[0].start)
        else:
            chunks = (frame_of(rows) for rows in read_rows(path, fmt, parts[0].stop - parts[0].start))
        for p, frame in zip(parts, chunks):
            if p.index not in skip:
                yield p, frame


def _parquet_chunks(path: str, size: int) -> Iterator[pd.DataFrame]:
    """Frames of `size` rows of a Parquet file (batches cut at row groups are joined); a null is
    `pd.NA`, a cell the row does not have."""
    held = []
    for batch in _parquet_file(path).iter_batches(batch_size=size):
        held.append(batch)
        while sum(b.num_rows for b in held) >= size:
            table = pa.Table.from_batches(held)
            yield _as_rows_frame(table.slice(0, size))
            rest = table.slice(size)
            held = rest.to_batches() if rest.num_rows else []
    if held and sum(b.num_rows for b in held):
        yield _as_rows_frame(pa.Table.from_batches(held))


def _as_rows_frame(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas().astype(object)
    return frame.where(frame.notna(), pd.NA)


# --- outputs -----------------------------------------------------------------------------------------

class Output:
    """Where a job's parts go: a Parquet dataset directory, or `OUT.parts/` for one output file."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.fmt = detect_format(path, None)
        self.dataset = self.fmt is None or self.path.is_dir()
        if self.dataset:
            self.fmt = None
        self.folder = self.path if self.dataset else self.path.with_name(self.path.name + ".parts")
        self.manifest = self.folder / MANIFEST

    def part(self, index: int) -> Path:
        return self.folder / f"part-{index:05d}.{'parquet' if self.dataset else 'jsonl'}"

    def ours(self) -> bool:
        """Whether the folder holds nothing but a job's manifest and parts."""
        return all(p.name == MANIFEST or (p.name.startswith("part-") and p.suffix in (".parquet", ".jsonl"))
                   for p in self.folder.iterdir())

    def finished(self, n: int) -> set[int]:
        """The partitions whose part is in place and readable (a part is written whole or not at all;
        one damaged since is graded again)."""
        done = set()
        for i in range(n):
            part = self.part(i)
            if not part.is_file():
                continue
            try:
                if self.dataset:
                    pq.read_metadata(part)
                done.add(i)
            except (OSError, pa.ArrowException):
                pass
        return done


def check_output(out: Output, inputs: list[str]) -> None:
    """A one-line error for an output that would hold an input, or that is a folder of the user's."""
    for path in inputs:
        # Parts written into the input's folder would be read as input by the next run.
        if Path(os.path.abspath(path)).is_relative_to(os.path.abspath(out.folder)):
            raise GraderError(f"-o {out.path}: holds the input {path}; give an output outside the input")
    if out.folder.exists() and not out.folder.is_dir():
        raise GraderError(f"-o {out.path}: {out.folder} is a file, not a directory")
    if out.folder.is_dir() and any(out.folder.iterdir()):
        if not out.ours():
            raise GraderError(f"-o {out.path}: {out.folder} holds files other than a grader batch's parts; "
                              "give an empty or new directory")
    if not out.dataset and not out.path.parent.is_dir():
        raise GraderError(f"-o {out.path}: cannot write (No such file or directory)")


def prepare_output(out: Output, manifest: dict, resume: bool) -> None:
    """Start the output over, or continue it (`resume`) if it was made for the same job."""
    if out.folder.is_dir() and any(out.folder.iterdir()):
        if resume:
            try:
                before = json.loads(out.manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise GraderError(f"{out.manifest}: missing or damaged; remove {out.folder} to start over") from None
            if before != manifest:
                changed = next(k for k in manifest if before.get(k) != manifest[k])
                raise GraderError(f"{out.manifest}: made for another job ({changed} differs: the input, its "
                                  f"partitions or the settings changed); remove {out.folder} to start over")
            return
        for p in out.folder.iterdir():       # an earlier run's parts: this run starts over
            p.unlink()
    out.folder.mkdir(parents=True, exist_ok=True)
    write_atomically(out.manifest, json.dumps(manifest, indent=1))


def _text(value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict, bool)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _number(value):
    return None if value in ("", None) or value is pd.NA else float(value)


def _concepts(value):
    return "; ".join(map(str, value)) if isinstance(value, list) else _text(value)


def dataset_table(frame: pd.DataFrame, names: dict, types: dict) -> pa.Table:
    """A part of a Parquet dataset with one schema for every part: the grader's scores are floats
    (null on error rows), concept lists are joined with "; " as `grader batch -o x.parquet` joins
    them, a Parquet input's column keeps its type and every other column is text."""
    kinds = {names[c]: c for c in names}
    arrays = {}
    for col in frame.columns:
        values = frame[col].tolist()
        kind = kinds.get(col)
        if kind in FLOAT_COLUMNS:
            arrays[col] = pa.array([_number(v) for v in values], type=pa.float64())
        elif kind in CONCEPT_COLUMNS:
            arrays[col] = pa.array([_concepts(v) for v in values], type=pa.string())
        elif kind is None and col in types:
            arrays[col] = pa.array([None if v is pd.NA else v for v in values], type=types[col])
        else:
            arrays[col] = pa.array([_text(v) for v in values], type=pa.string())
    return pa.table(arrays)


def write_part(out: Output, index: int, frame: pd.DataFrame, names: dict, types: dict) -> None:
    if out.dataset:
        table = dataset_table(frame, names, types)
        with atomic_file(out.part(index), binary=True) as f:
            pq.write_table(table, f)
    else:
        with atomic_file(out.part(index), newline="") as f:
            for row in rows_of(frame):
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


def assemble(out: Output, n: int, header: list[str]) -> None:
    """The one output file from its parts, in partition order; then the parts are removed."""
    def lines():
        for i in range(n):
            with open(out.part(i), encoding="utf-8") as f:
                yield from f

    if out.fmt == "csv":
        with atomic_file(out.path, newline="") as f:
            writer = _Writer(f, "csv")
            writer.columns = header
            batch = []
            for line in lines():
                batch.append(json.loads(line, parse_float=_JsonNumber))
                if len(batch) == 1000:
                    writer.write(batch)
                    batch = []
            if batch:
                writer.write(batch)
    elif out.fmt == "jsonl":
        with atomic_file(out.path, newline="") as f:
            f.writelines(lines())
    else:
        joined = out.folder / "all.jsonl.tmp"
        with open(joined, "w", encoding="utf-8", newline="") as f:
            f.writelines(lines())
        tmp = out.folder / "all.parquet.tmp"
        FORMATS[out.fmt].finish(joined, tmp)
        os.replace(tmp, out.path)     # the parts folder is beside the output: one file system
    shutil.rmtree(out.folder)


# --- the job --------------------------------------------------------------------------------------

@dataclass
class DaskSummary:
    rows: int = 0
    errors: int = 0
    labels: Counter = field(default_factory=Counter)
    score_sum: float = 0.0
    scored: int = 0
    partitions: int = 0
    partitions_before: int = 0      # finished by an earlier run, not graded again
    rows_before: int = 0
    failed: list = field(default_factory=list)

    def add(self, rows: list[dict], names: dict):
        for row in rows:
            self.rows += 1
            status = row.get(names["status"])
            if status == "ok":
                self.labels[row.get(names["label"])] += 1
                try:
                    self.score_sum += float(row.get(names["score"]))
                    self.scored += 1
                except (TypeError, ValueError):
                    pass
            else:
                self.errors += 1

    def to_dict(self) -> dict:
        return {"rows": self.rows, "errors": self.errors, "labels": dict(self.labels),
                "mean_score": round(self.score_sum / self.scored, 4) if self.scored else None,
                "partitions": self.partitions, "partitions_resumed": self.partitions_before,
                "rows_resumed": self.rows_before, "failed_partitions": [p.name for p, _ in self.failed]}


def _finished_rows(out: Output, index: int, names: dict) -> list[dict]:
    if out.dataset:
        wanted = [names[c] for c in ("status", "label", "score")]
        return pq.read_table(out.part(index), columns=wanted).to_pylist()
    with open(out.part(index), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class DaskJob:
    """A batch job for a Dask cluster. Built before any cluster is started: the inputs are read
    once, their columns checked and cut in partitions, and the model's kind checked, so bad input is
    a one-line error before any work. `run(client)` grades; see the module's doc."""

    def __init__(self, input_spec: str, output_path: str, columns: ColumnMap | None = None, *, in_fmt=None,
                 bank_dir=None, rubrics_dir=None, model_path=None, partition_rows: int = 2048,
                 chunk_size: int = 256, retries: int = 2):
        columns = columns or ColumnMap()
        model_file = model_path or os.environ.get(MODEL_ENV) or default_model_path()
        self.model = GradingModel.load(model_file)
        if uses_cohort(self.model):
            raise GraderError(f"{model_file}: a model with cohort signals compares each answer with all the "
                              "others of the input; grade with the local engine (without --engine dask)")
        self.files = input_files(input_spec, in_fmt)
        self.output_path = output_path
        self.out = Output(output_path)
        refuse_path_collisions({f"INPUT {p}": p for p, _ in self.files}, {"-o": output_path})
        check_output(self.out, [p for p, _ in self.files])
        self.plan = plan_job(self.files, columns, partition_rows)
        self.settings = {"bank": _absolute(bank_dir), "rubrics": _absolute(rubrics_dir),
                         "model": _absolute(model_path)}
        self.manifest = {"inputs": [_input_identity(p) for p, _ in self.files], "partition_rows": partition_rows,
                         "chunk_size": chunk_size, "partitions": len(self.plan.partitions),
                         "columns": self.plan.columns, "settings": self.settings,
                         "output": self.out.fmt or "parquet dataset"}
        self.names = BatchJob(None, columns).note_columns(self.plan.input_columns)
        self.chunk_size, self.retries = chunk_size, retries

    def run(self, client, resume: bool = False, progress: Callable | None = None) -> DaskSummary:
        """Grade every partition not finished yet on `client`'s cluster. `progress(partitions_done,
        partitions, rows)` is called as parts land; a PartitionsFailed error names the partitions
        that failed on every try, once the others are written."""
        out, plan, names = self.out, self.plan, self.names
        summary = DaskSummary(partitions=len(plan.partitions))
        with OutputLock(self.output_path):
            prepare_output(out, self.manifest, resume)
            done = out.finished(len(plan.partitions)) if resume else set()
            summary.partitions_before = len(done)
            for i in sorted(done):
                summary.add(_finished_rows(out, i, names), names)
            summary.rows_before = summary.rows
            if progress:
                progress(len(done), len(plan.partitions), summary.rows)
            _grade_on_cluster(client, plan, out, done, self.settings, names, self.chunk_size, self.retries,
                              summary, progress)
            if summary.failed:
                first, exc = summary.failed[0]
                more = f" and {len(summary.failed) - 1} more" if len(summary.failed) > 1 else ""
                raise PartitionsFailed(
                    f"partition {first.name}{more} failed after {self.retries + 1} tries ({_short(exc)}); the "
                    f"other {len(plan.partitions) - len(summary.failed)} partitions are in {out.folder}; "
                    f"run again with --resume to grade only the failed ones")
            if not out.dataset:
                graders = [names[c] for c in OUTPUT_COLUMNS]
                if self.model.metadata.get("scale"):
                    graders.append(names["scaled_score"])
                assemble(out, len(plan.partitions), plan.input_columns + graders)
        return summary


def _absolute(path):
    return None if path is None else os.path.abspath(path)


def _grade_on_cluster(client, plan, out, done, settings, names, chunk_size, retries, summary, progress):
    """Submit partitions a few at a time (so that the input is never all in memory here), write each
    part as its task returns, and note the failures."""
    slots = max(2, 2 * sum(client.nthreads().values()))
    todo = partition_frames(plan, done)
    futures = as_completed()
    which = {}

    def submit(n):
        for part, frame in todo:
            future = client.submit(grade_partition, frame, settings, plan.columns[part.path], plan.input_columns,
                                   chunk_size, retries=retries, pure=False, key=f"grade-partition-{part.index}-"
                                   + os.urandom(4).hex())
            which[future.key] = part
            futures.add(future)
            n -= 1
            if n <= 0:
                return

    submit(slots)
    finished = len(done)
    for future in futures:
        part = which.pop(future.key)
        try:
            frame = future.result()
        except Exception as exc:        # the task's own error (or its worker's death), after its retries
            summary.failed.append((part, exc))
        else:
            write_part(out, part.index, frame, names, plan.types)
            rows = rows_of(frame)
            summary.add(rows, names)
            finished += 1
            if progress:
                progress(finished, len(plan.partitions), len(rows))
        future.release()
        submit(1)
    summary.failed.sort(key=lambda item: item[0].index)
