"""Row formats: one registry of the file formats that batch, calibrate and eval read and write.

A format has a name, the file extensions that select it, a reader (None: output only) and the
format its rows are streamed in while a job runs (`part`), with an optional `finish` that turns
the finished stream into the final file (Parquet is streamed as JSONL, then converted). The CLI's
`--input-format` / `--output-format` choices come from here (`readable_formats`, `writable_formats`).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from grader.errors import GraderError, bad_text, repaired_text

# An output column named like an input one is written as grader_<name> (batch.job).
GRADER_PREFIX = "grader_"

# The key a reader puts on a row it could not read whole (a broken JSONL line, a ragged CSV row,
# text that is not valid Unicode): the message, naming the line and field. It is not a column:
# batch writes the row as an error row with this message, calibrate stops on it.
PROBLEM = "_parse_error"
# The fields of a CSV row beyond its header, kept (comma-joined) in this column.
EXTRA_FIELDS = "_extra_fields"

# With the full-width forms, which spreadsheets (Excel with East Asian input) also run as formulas.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def neutralise_formula(value):
    """Prefix a quote to text a spreadsheet would run as a formula; plain numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value.strip()):
        return "'" + value
    return value


def restore_formula(value: str) -> str:
    """Undo `neutralise_formula` on text read back from a file the grader wrote (a labelled file
    from `export-labels` or `batch`), so the quote it added never reaches a model."""
    if value.startswith("'") and value[1:].startswith(_FORMULA_START) and not _NUMBER.match(value[1:].strip()):
        return value[1:]
    return value


def _not_text(path: str, head: bytes, fmt: str | None, shown: str | None = None) -> str | None:
    """What a binary file given as rows is, and how to proceed; None when it is none of these.
    The file is `path`, named `shown` in the message."""
    shown = shown or path
    what = (fmt or "csv").upper() if fmt in (None, "csv", "jsonl") else "CSV or JSONL"
    if head.startswith(b"PAR1"):
        named = "" if fmt == "parquet" else f", not {what}"
        return (f"{shown} is a Parquet file{named}: Parquet input is not supported; export it as CSV or "
                "JSONL (e.g. pandas.read_parquet(path).to_csv(...))")
    if head.startswith(b"PK\x03\x04"):
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                excel = any(n.startswith("xl/") for n in z.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            excel = False
        if not excel:
            return f"{shown} is a zip archive, not {what}: unpack it and give the {what} file inside"
        return (f"{shown} is an Excel workbook, not {what}: save it as CSV (File > Save As > CSV UTF-8) "
                "or export it")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return (f"{shown} is an Excel workbook (old .xls format), not {what}: save it as CSV "
                "(File > Save As > CSV UTF-8) or export it")
    return None


def _open_text(path: str, fmt: str | None = None, name: str | None = None):
    """A text stream over the input, and its name for messages (`name`, else the path: a spooled
    copy of stdin or a FIFO is named as the input it copies); the file is checked to be UTF-8
    first (streaming, so a large file is never held in memory) so a bad encoding stops the job
    before any output."""
    if path == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="strict", newline=""), "<stdin>"
    shown = name or path
    p = Path(path)
    if not p.exists():
        raise GraderError(f"{shown}: file not found")
    if p.is_dir():
        raise GraderError(f"{shown}: is a directory, not a file")
    try:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        offset = 0
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                if offset == 0 and (binary := _not_text(path, chunk[:8], fmt, shown)) is not None:
                    raise GraderError(binary)
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise GraderError(f"{shown}: not UTF-8 text (byte {offset + exc.start}); "
                                      "save the file as UTF-8") from None
                offset += len(chunk)
        decoder.decode(b"", final=True)
        return open(p, encoding="utf-8-sig", errors="strict", newline=""), shown
    except UnicodeDecodeError:
        raise GraderError(f"{shown}: not UTF-8 text (truncated character at the end)") from None
    except OSError as exc:
        raise GraderError(f"{shown}: cannot read ({exc.strerror})") from None


def _allow_long_fields():
    # The csv module refuses fields over 128 KB; an absurdly long answer is a row to truncate
    # and grade with a note, not a reason to stop the whole job.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


def _read_csv(stream, source, chunk_size):
    _allow_long_fields()
    lines = _Lines(stream)
    reader = csv.DictReader(lines)
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
    lines.clear()
    chunk, seen, line = [], 0, reader.line_num
    first_values: set[str] = set()     # of the first column: a line inside a field that starts with one is a row
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            first = row.get(header[0])
            if isinstance(first, str) and "\n" not in first and len(first_values) < 100_000:
                first_values.add(first)
            swallowed = _swallowed_rows(row, len(header)) if line > start else []
            if swallowed and (not _well_quoted(lines.text()) or any(f[0] in first_values for f in swallowed)):
                # A quote left open runs on to the next quote in the file (or its end): the rows
                # between vanish into one field. A real multi-line answer is quoted as CSV quotes
                # it, and its lines do not start like the file's rows (a quote that happens to
                # close before a comma further down, `5"` for inches, would pass the first test).
                raise GraderError(f"{source}: line {start}: a quote opened in this row does not close where its "
                                  f"field ends, so the {line - start} lines after it would be read as one "
                                  f"field; fix the quote")
            # A quoted field that closes before its end ("a" b) is read as `a b`: the text the
            # user wrote would be changed without a word, so the row is kept as an error row.
            misquoted = '"' in lines.text() and not _well_quoted(lines.text())
            lines.clear()
            extra = row.pop(None, None)
            row = {k: ("" if v is None else v) for k, v in row.items()}
            if misquoted:
                row[PROBLEM] = (f"line {start}: a quoted field closes before the field ends (as in \"a\" b), "
                                "so its text cannot be read as written; quote the whole field and double the "
                                "quotes inside it")
            elif extra:
                # Never cut silently: the extra fields are kept, and the row is an error row.
                row[EXTRA_FIELDS] = ",".join(extra)
                row[PROBLEM] = (f"line {start}: {len(header) + len(extra)} fields where the header has "
                                f"{len(header)} (an unquoted comma?); the extra ones are in {EXTRA_FIELDS}")
            chunk.append(row)
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


class _Lines:
    """The lines of a stream as a csv reader takes them, kept until `clear()`: the text of the
    record just read."""

    def __init__(self, stream):
        self._lines, self._next = [], iter(stream).__next__

    def __iter__(self):
        return self

    def __next__(self):
        line = self._next()
        self._lines.append(line)
        return line

    def text(self) -> str:
        return "".join(self._lines)

    def clear(self):
        self._lines.clear()


def _well_quoted(record: str) -> bool:
    """Whether the text of a record is strict CSV: every quoted field closes, and closes just
    before a comma or the end of its line (the lenient reader reads on past both)."""
    try:
        for _ in csv.reader(io.StringIO(record, newline=""), strict=True):
            pass
    except csv.Error:
        return False
    return True


def _swallowed_rows(row: dict, width: int) -> list[list[str]]:
    """The lines inside fields of this record that read as whole rows of `width` fields."""
    found = []
    for value in row.values():
        if isinstance(value, str) and "\n" in value and width > 1:
            for text in value.splitlines()[1:]:
                fields = next(csv.reader([text]), [])
                if len(fields) == width:
                    found.append(fields)
    return found


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
            if _SURROGATE_ESCAPE.search(line):     # the only way a UTF-8 file holds one
                obj = _valid_text(obj, lineno)
        except ValueError as exc:
            # A broken line is still a row: it comes out as an error row, in place.
            obj = {PROBLEM: f"line {lineno}: invalid JSON ({exc})"}
        chunk.append(obj)
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
    if seen == 0:
        raise GraderError(f"{source}: the file is empty")


def _valid_text(obj: dict, lineno: int) -> dict:
    """The row, or (when a key or a string in it holds a lone surrogate: JSON `"\\ud800"`, which
    no UTF-8 file can hold) the row with those replaced by U+FFFD and a PROBLEM naming the field."""
    problem = None

    def clean(value, field):
        nonlocal problem
        if isinstance(value, str):
            wrong = bad_text(value, decoded=False)
            if wrong is None:
                return value
            problem = problem or f"line {lineno}: '{repaired_text(field)}' is {wrong}"
            return repaired_text(value)
        if isinstance(value, list):
            return [clean(v, field) for v in value]
        if isinstance(value, dict):
            return {clean(k, field): clean(v, field) for k, v in value.items()}
        return value

    out = {}
    for key, value in obj.items():
        if bad_text(key) and problem is None:
            problem = f"line {lineno}: a field name ('{repaired_text(key)}') is {bad_text(key, decoded=False)}"
        out[repaired_text(key)] = clean(value, key)
    if problem:
        out[PROBLEM] = problem
    return out


def input_columns(path: str, fmt: str, name: str | None = None) -> list[str]:
    """Every column of the input's rows, in order of first appearance (a CSV header, then the
    extra-fields column if a row is ragged; the union of JSONL keys): one streaming pass that reads
    and grades nothing, so that a CSV output's header holds every column of every row."""
    seen: dict = {}
    for chunk in read_rows(path, fmt, 4096, name):
        for row in chunk:
            if len(row) != len(seen) or not row.keys() <= seen.keys():
                seen.update(dict.fromkeys(row))
    seen.pop(PROBLEM, None)
    return list(seen)


class _Writer:
    def __init__(self, handle, fmt: str, columns: list[str] | None = None):
        self.handle, self.fmt = handle, fmt
        self.columns = columns            # the rows' keys, in output order
        self.header_written = columns is not None
        self._header_read = False         # columns are a resumed file's header cells, neutralised

    @classmethod
    def to_file(cls, path: Path, fmt: str, append: bool, columns: list[str] | None = None) -> "_Writer":
        """A writer of `path`; `columns` (CSV) are the header to write, else the first row's keys."""
        given = columns
        columns = None
        if fmt == "csv" and append:
            # The header of the interrupted run fixes the column order.
            with open(path, encoding="utf-8", newline="") as f:
                columns = next(csv.reader(f), None)
        writer = cls(open(path, "a" if append else "w", encoding="utf-8", newline=""), fmt, columns)
        writer.header_written = append
        writer._header_read = columns is not None
        if not append and given is not None:
            writer.columns = list(given)
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


@dataclass(frozen=True)
class RowFormat:
    name: str
    extensions: tuple[str, ...]
    read: Callable | None = None       # (text stream, source name, chunk size) -> chunks of row dicts
    part: str = ""                     # the format rows are streamed in: this one, or another finished into it
    finish: Callable | None = None     # (streamed file, final file): the conversion at the end


FORMATS: dict[str, RowFormat] = {f.name: f for f in (
    RowFormat("csv", (".csv",), _read_csv, "csv"),
    RowFormat("jsonl", (".jsonl", ".ndjson", ".json"), _read_jsonl, "jsonl"),
    RowFormat("parquet", (".parquet", ".pq"), None, "jsonl", _jsonl_to_parquet),
)}


def readable_formats() -> list[str]:
    return [f.name for f in FORMATS.values() if f.read is not None]


def writable_formats() -> list[str]:
    return list(FORMATS)


def _or_list(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else items[0]


def detect_format(path: str, default: str | None = "csv") -> str | None:
    suffix = Path(path).suffix.lower() if path != "-" else ""
    return next((f.name for f in FORMATS.values() if suffix in f.extensions), default)


def output_format(output_path: str, out_fmt: str | None, in_fmt: str) -> str:
    """The format to write `output_path` in: the one given, else by extension, else (no extension)
    the input's. An extension that names no format is an error, not CSV in a .xlsx."""
    if out_fmt is None and output_path != "-":
        suffix = Path(output_path).suffix
        out_fmt = detect_format(output_path, default=None if suffix else in_fmt)
        if out_fmt is None:
            raise GraderError(f"{output_path}: unknown output format '{suffix}'; name it "
                              f"{_or_list([f.extensions[0] for f in FORMATS.values()])}, or give --output-format")
    out_fmt = out_fmt or "csv"
    if out_fmt not in FORMATS:
        raise GraderError(f"{output_path}: unknown output format {out_fmt}")
    return out_fmt


def read_rows(path: str, fmt: str | None = None, chunk_size: int = 512,
              name: str | None = None) -> Iterator[list[dict]]:
    """Yield lists of row dicts (all values str, or list for JSONL reference_answers); messages
    name the file `name` if given."""
    fmt = fmt or detect_format(path)
    stream, source = _open_text(path, fmt, name)
    try:
        spec = FORMATS.get(fmt)
        if spec is None or spec.read is None:
            raise GraderError(f"{source}: cannot read {fmt} input; use "
                              f"{_or_list([n.upper() for n in readable_formats()])}")
        yield from spec.read(stream, source, chunk_size)
    except UnicodeDecodeError as exc:
        raise GraderError(f"{source}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    finally:
        stream.close()
