"""Batch grading of a CSV or JSONL file: streamed in chunks, every row kept in order.

Output goes to `OUTPUT.part` as it is produced, with a checkpoint beside it recording how many
input rows are done; the finished file is renamed into place, so an interrupted run never leaves
a file that looks complete, and `resume=True` continues from the checkpoint.
"""

from __future__ import annotations

import gc
import json
import os
import re
import stat
import sys
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from contextlib import ExitStack
from typing import Iterator

from grader.errors import GraderError
from grader.files import spooled, write_atomically
from grader.settings import MAX_ANSWER_CHARS
from grader.signals.cohort import CohortStats, uses_cohort
from grader.bank.questions import question_key
from grader.workflows.formats import (FORMATS, GRADER_PREFIX, PROBLEM, _Writer, detect_format, input_columns,
                                      output_format, read_rows)
from grader.workflows.paths import refuse_path_collisions, refuse_unwritable_outputs
from grader.workflows.rows import COLUMN_OPTIONS, ColumnMap, missing_column, question_for
from grader.workflows.batch.resume import OutputLock, _input_identity, _resume_point, batch_outputs, finished_rows

OUTPUT_COLUMNS = ["score", "label", "confidence", "matched_concepts", "missed_concepts",
                  "contradicted_concepts", "feedback", "status", "message"]

# Every column the grader adds to a row (scaled_score with a numeric-scale model).
GRADER_COLUMNS = (*OUTPUT_COLUMNS, "scaled_score")


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
        self._input_keys: dict = {}     # every column name of the input rows so far, in order
        self._names = {col: col for col in GRADER_COLUMNS}   # the output name of each grader column
        self._shown = None      # the input as messages name it (not the spooled copy read)
        self.finished = 0       # rows graded and checkpointed, an interrupted run's included

    def _note_keys(self, row: dict):
        """Take in a row's column names: a grader column that the input has too is written as
        `grader_<name>` from this row on (`grader_grader_<name>` if that is taken as well)."""
        if row.keys() <= self._input_keys.keys():
            return
        self._input_keys.update((k, None) for k in row if k != PROBLEM)
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
        self.finished = 0
        in_fmt = in_fmt or detect_format(input_path)
        out_fmt = output_format(output_path, out_fmt, in_fmt)
        # Before anything is written: `batch IN -o IN` would truncate its own input.
        refuse_path_collisions({"INPUT": input_path}, batch_outputs(output_path))
        refuse_unwritable_outputs({"-o": output_path})
        if output_path == "-":
            return self._run(input_path, output_path, in_fmt, out_fmt, resume, summary)
        with OutputLock(output_path):     # one job at a time writes OUT.part
            return self._run(input_path, output_path, in_fmt, out_fmt, resume, summary)

    def _run(self, input_path, output_path, in_fmt, out_fmt, resume, summary) -> BatchSummary:
        to_stdout = output_path == "-"
        final = None if to_stdout else Path(output_path)
        part_fmt = FORMATS[out_fmt].part
        part = None if to_stdout else final.with_name(final.name + ".part")
        checkpoint = None if to_stdout else final.with_name(final.name + ".checkpoint.json")
        done = 0
        source = _input_identity(input_path)
        if resume and not to_stdout and checkpoint.exists() and part.exists():
            done = _resume_point(checkpoint, part, part_fmt, source)
            summary.resumed_from = self.finished = done
        cohort, header = None, None
        needs_pass = uses_cohort(self.grader.model) or part_fmt == "csv"
        self._shown = "<stdin>" if input_path == "-" else input_path
        with ExitStack() as stack:
            # Reading a file twice (its UTF-8 check, a first pass) reads a FIFO's writer's data
            # once, then waits for another writer forever; stdin is read twice only for a first pass.
            if _read_once(input_path) or (input_path == "-" and needs_pass):
                stream = sys.stdin.buffer if input_path == "-" else stack.enter_context(open(input_path, "rb"))
                input_path = stack.enter_context(spooled(stream, final))
            if input_path != "-":
                # Every input column, for a CSV header that holds each row's columns and for grader
                # columns named alike on every row (`grader_label` on all rows if any row has `label`).
                self._note_keys(dict.fromkeys(input_columns(input_path, in_fmt, name=self._shown)))
                if part_fmt == "csv":
                    header = self._output_header()
            if done:
                self._count_finished(part, part_fmt, done, summary)
            if uses_cohort(self.grader.model):   # this file's answers, never a previous job's
                t = time.perf_counter()
                cohort = self.gather_cohort(input_path, in_fmt)
                summary.seconds["cohort"] += time.perf_counter() - t
            return self._write(input_path, output_path, in_fmt, out_fmt, done, summary, cohort, header,
                               checkpoint, source)

    def _count_finished(self, part: Path, fmt: str, done: int, summary: BatchSummary):
        """Count the rows an interrupted run finished into the summary, so that it tells of every
        row of the output, not only of those graded now. The grader's column of a name is the last
        of its `grader_` forms in the row: its columns follow the input's."""
        def last(row, col):
            names = [k for k in row if re.fullmatch(f"(?:{GRADER_PREFIX})*{col}", k)]
            return row[names[-1]] if names else None

        for number, row in enumerate(finished_rows(part, fmt, done), 1):
            status = last(row, "status")
            if status == "error":
                summary.errors += 1
            elif status == "ok":
                summary.labels[last(row, "label")] += 1
                try:
                    summary.score_sum += float(last(row, "score"))
                    summary.scored += 1
                except (TypeError, ValueError):
                    pass
            if self.keep_records:
                self._record_finished(number, row, status, last)

    def _record_finished(self, number: int, row: dict, status, last) -> None:
        """A report record of a row an interrupted run finished, read back from its output, so
        that the report of a resumed run covers every row."""
        qid = str(row.get(self.columns.question_id) or "")
        answer = str(row.get(self.columns.answer) or "")[:300]
        if status != "ok":
            self.records.append({"status": "error", "row": number, "question_id": qid, "answer": answer,
                                 "message": str(last(row, "message") or "")})
            return
        # The row's input columns are intact in the output: resolved again, it names its question
        # as the live run did (an own question by the id made from its text).
        question, _ = self.question_for(row)
        try:
            score, confidence = float(last(row, "score")), float(last(row, "confidence"))
        except (TypeError, ValueError):
            return
        self.records.append({"status": "ok", "question_id": question.id if question else qid,
                             "question": question.question if question else "", "answer": answer,
                             "score": score, "label": last(row, "label"), "confidence": confidence})

    def _output_header(self) -> list[str]:
        """The CSV header: every input column, then the grader's columns as named for this input."""
        graders = [self._names[col] for col in OUTPUT_COLUMNS]
        if self.grader.model.metadata.get("scale"):
            graders.append(self._names["scaled_score"])
        return list(self._input_keys) + graders

    def _write(self, input_path, output_path, in_fmt, out_fmt, done, summary, cohort, header, checkpoint, source):
        to_stdout = output_path == "-"
        final = None if to_stdout else Path(output_path)
        part_fmt = FORMATS[out_fmt].part
        part = None if to_stdout else final.with_name(final.name + ".part")
        try:
            writer = (_Writer(sys.stdout, out_fmt) if to_stdout
                      else _Writer.to_file(part, part_fmt, append=done > 0, columns=header))
            if to_stdout:
                writer.columns = header
        except OSError as exc:
            raise GraderError(f"{output_path}: cannot write ({exc.strerror})") from None

        seen, nothing_graded = 0, False
        with _rarer_collections():
            try:
                for first, rows, resolved in self._chunks_embedded_by_window(input_path, in_fmt, done, summary):
                    seen = first + len(rows)
                    t = time.perf_counter()
                    out_rows = self._grade_chunk(rows, resolved, summary, first, cohort)
                    summary.seconds["grading"] += time.perf_counter() - t
                    t = time.perf_counter()
                    writer.write(out_rows)
                    summary.seconds["writing"] += time.perf_counter() - t
                    if checkpoint:
                        # Replaced whole: a checkpoint cut short by a full disk or a kill would
                        # make the finished rows impossible to resume.
                        write_atomically(checkpoint, json.dumps({"rows_done": seen, **source}))
                    self.finished = seen
                    if self.progress:
                        self.progress(len(rows))
                seen = max(seen, done)
            except (GraderError, KeyboardInterrupt):
                # Bad input found, or Ctrl-C, before a single row was graded: nothing to resume from.
                nothing_graded = self.finished == 0
                raise
            finally:
                if not to_stdout:
                    writer.close()
                    if nothing_graded:
                        part.unlink(missing_ok=True)
        summary.rows = seen
        if not to_stdout:
            finish = FORMATS[out_fmt].finish
            if finish is not None:
                tmp = final.with_name(final.name + ".tmp")
                finish(part, tmp)
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
            for rows in _short_tail_joined(read_rows(input_path, in_fmt, window, name=self._shown), window):
                if not checked:
                    self._check_columns(rows[0], self._shown or input_path, in_fmt)
                    checked = True
                first = seen
                seen += len(rows)
                # Rows done by an interrupted run still name the output columns as they did then.
                for row in rows[:max(0, done - first)]:
                    self._note_keys(row)
                if seen <= done:
                    continue
                rows, first = rows[max(0, done - first):], max(first, done)
                resolved = self._embed_window(rows, summary, own_size)
                for at in range(0, len(rows), self.chunk_size):
                    yield first + at, rows[at:at + self.chunk_size], resolved[at:at + self.chunk_size]
        finally:
            embedder.cache_size = own_size

    def _embed_window(self, rows: list[dict], summary: BatchSummary, own_size: int) -> list[tuple]:
        """`question_for` of each row, with the gradable rows' texts through the model together
        (the caller puts the embedder's cache size back to `own_size` when it is done)."""
        t = time.perf_counter()
        resolved = [self.question_for(row) for row in rows]
        items = self._gradable(rows, resolved)
        # The cache grows to hold the window's texts until its last chunk is graded, not
        # beyond: the previous window's answers make room before the model runs.
        self.grader.embedder.cache_size = max(own_size, sum(map(len, self.grader.texts_of(items))))
        self.grader.embed(items)
        summary.seconds["embedding"] += time.perf_counter() - t
        return resolved

    def grade_rows(self, rows: list[dict], first_row: int = 0, summary: BatchSummary | None = None,
                   cohort=None) -> list[dict]:
        """The output rows of `rows` (input rows as a reader gives them, from input row number
        `first_row`), graded as `run` grades a file: windows of `window_size` rows through the
        model together, then chunks of `chunk_size`; bad rows are error rows. Columns must have
        been checked (`check_columns`); names of grader columns follow the keys noted so far."""
        summary = summary if summary is not None else BatchSummary()
        own_size = self.grader.embedder.cache_size
        window = max(self.chunk_size, self.window_size)
        out = []
        try:
            for start in range(0, len(rows), window):
                block = rows[start:start + window]
                resolved = self._embed_window(block, summary, own_size)
                for at in range(0, len(block), self.chunk_size):
                    out += self._grade_chunk(block[at:at + self.chunk_size], resolved[at:at + self.chunk_size],
                                             summary, first_row + start + at, cohort)
        finally:
            self.grader.embedder.cache_size = own_size
        summary.rows += len(rows)
        return out

    def _gradable(self, rows: list[dict], resolved: list[tuple]) -> list[tuple]:
        """(question, answer cut as grading cuts it) for the rows that will be graded; `resolved`
        is `question_for` of each row."""
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
        stats = CohortStats()
        checked = False
        for chunk in read_rows(input_path, in_fmt, self.chunk_size, name=self._shown):
            if not checked:
                self._check_columns(chunk[0], self._shown or input_path, in_fmt)
                checked = True
            items = self._gradable(chunk, [self.question_for(row) for row in chunk])
            if items:
                stats.add_answers(self.grader.embedder, [question_key(q) for q, _ in items], items)
        return stats

    def check_columns(self, first_row: dict, source, fmt):
        """Resolve the column names against an input's first row (or header), or raise a
        GraderError naming the file and the option to give."""
        self._check_columns(first_row, source, fmt)

    def note_columns(self, names):
        """Take in an input's column names, so that grader columns named like one of them are
        written as `grader_<name>`; the output name of each grader column after that."""
        self._note_keys(dict.fromkeys(names))
        return dict(self._names)

    def _check_columns(self, first_row: dict, source, fmt):
        if PROBLEM in first_row and fmt == "jsonl":
            return      # a line that could not be read (an error row) says nothing of the others
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
                     first_row: int = 0, cohort=None) -> list[dict]:
        """The chunk's output rows; `first_row` is the input row number (from 0) of its first row.

        An output row is the input row, every column kept with its name and value, followed by the
        grader's columns (`GRADER_COLUMNS`). A grader column whose name the input already has
        (a labelled file's `label` or `score`, say) is written as `grader_<name>`, so that the
        input's value is never overwritten; the name is fixed from the first input row that has
        the column on, and `--resume` names them as the interrupted run did."""
        todo, positions, out = [], [], []
        for i, (row, (q, error)) in enumerate(zip(chunk, resolved)):
            self._note_keys(row)
            out.append(({k: v for k, v in row.items() if k != PROBLEM}, self._names))
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
            results = self.grader.grade_many(todo, cohort=cohort)
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


def _read_once(path: str) -> bool:
    """Whether the input is a FIFO (a named pipe, `<(command)`), which can be read only once."""
    try:
        return path != "-" and stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False        # a missing file is named as such when it is opened
