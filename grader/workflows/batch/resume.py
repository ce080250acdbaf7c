"""Resuming an interrupted batch: the files a job writes beside its output (`OUT.part`, the
checkpoint), what a checkpoint records of its input, and where a resumed run starts."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import itertools
import json
import os
from pathlib import Path

from grader.errors import GraderError
from grader.workflows.formats import _allow_long_fields


def batch_outputs(output_path: str) -> dict:
    """Every file a batch job writing `output_path` writes, by description (none for stdout)."""
    if output_path in (None, "-"):
        return {}
    final = Path(output_path)
    return {"-o": output_path, "the partial output": final.with_name(final.name + ".part"),
            "the checkpoint": final.with_name(final.name + ".checkpoint.json"),
            "the Parquet temporary file": final.with_name(final.name + ".tmp"),
            "the lock": final.with_name(final.name + ".lock")}


class OutputLock:
    """An exclusive lock (flock) on `OUT.lock` for as long as a job writes OUT: a second job with
    the same output stops at once with an error instead of writing into the same `.part`. The
    lock file is removed when the job ends; one left by a killed job holds no lock."""

    def __init__(self, output_path: str):
        self.output = output_path
        self.path = Path(output_path).with_name(Path(output_path).name + ".lock")
        self.fd = None

    def __enter__(self):
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise GraderError(f"{self.output}: cannot write ({exc.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise GraderError(f"{self.output}: another grader batch is writing this output "
                                  f"now (locked: {self.path}); wait for it or choose another -o") from None
            try:       # the file may have been removed by the job that held it: lock the one in place
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)

    def __exit__(self, *exc):
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None


def _input_identity(input_path: str) -> dict:
    """What a checkpoint records of its input, so that a resumed run continues the same file."""
    if input_path == "-":
        return {"input": "-"}
    path = Path(input_path).resolve()
    if not path.is_file():       # a FIFO or device can be read only once: no hash
        return {"input": str(path), "input_bytes": None}
    digest = hashlib.sha256()
    with open(path, "rb") as f:     # streamed: inputs can be large
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"input": str(path), "input_bytes": path.stat().st_size, "input_sha256": digest.hexdigest()}


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
        same_file = state.get("input") == source["input"]
        raise GraderError(f"{checkpoint}: made for " + (f"{source['input']} before it changed (its content hash "
                          f"differs)" if same_file else f"another input ({state.get('input')})")
                          + f", not {source['input']} as it is now; delete it and {part.name} to start over")
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


def finished_rows(part: Path, fmt: str, rows: int):
    """The first `rows` rows of an interrupted run's .part file, as dicts (streamed)."""
    with open(part, encoding="utf-8", newline="") as f:
        if fmt == "csv":
            _allow_long_fields()
            yield from itertools.islice(csv.DictReader(f), rows)
        else:
            yield from map(json.loads, itertools.islice(f, rows))
