"""Batch grading of a pandas DataFrame: the per-partition work of `grader batch --engine dask`.

`grade_frame` takes a frame of input rows and returns the frame of output rows, graded by the same
`BatchJob` code as a local `grader batch` (windows through the model, chunks, error rows). A frame
holds any Python value in object columns (a JSONL list, a number written as text), and a cell a row
does not have is `pd.NA`, which no reader produces: so a row without a key (a JSONL line) stays
different from one whose value is null, as the local path tells them apart.
"""

from __future__ import annotations

import pandas as pd

from grader.workflows.batch.job import GRADER_COLUMNS, OUTPUT_COLUMNS, BatchJob, BatchSummary
from grader.workflows.formats import PROBLEM
from grader.workflows.rows import ColumnMap


def frame_of(rows: list[dict], columns: list[str] | None = None) -> pd.DataFrame:
    """A frame of row dicts: one object column per key (`columns`, else every key in order of
    first appearance), `pd.NA` where a row lacks the key."""
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    return pd.DataFrame({c: pd.Series([row.get(c, pd.NA) for row in rows], dtype=object) for c in columns},
                        index=pd.RangeIndex(len(rows)))


def rows_of(frame: pd.DataFrame) -> list[dict]:
    """The frame's rows as dicts of Python values, without the cells that are `pd.NA`, None or NaN
    of a typed column (a Parquet null: absent, as an empty CSV cell would be empty)."""
    cols = [str(c) for c in frame.columns]
    typed = [frame[c].dtype != object for c in frame.columns]
    rows = []
    for values in frame.itertuples(index=False, name=None):
        rows.append({c: (v.item() if hasattr(v, "item") else v) for c, v, t in zip(cols, values, typed)
                     if v is not pd.NA and not (t and pd.isna(v))})
    return rows


def grade_frame(grader, frame: pd.DataFrame, columns: ColumnMap | None = None, input_columns=None,
                chunk_size: int = 256, window_size: int = 2048, first_row: int = 0) -> pd.DataFrame:
    """The output frame of an input frame: every input column, in order, then the grader's
    (`score`, `label`, ... as `grader_<name>` when the input has that name; `input_columns`, every
    column of the whole input, fixes the names so that all partitions of one input agree). Row
    order is kept; a bad row is an error row. `columns` should be resolved against the input
    (`BatchJob.check_columns`)."""
    job = BatchJob(grader, columns, chunk_size=chunk_size, window_size=window_size)
    job.note_columns([c for c in (input_columns if input_columns is not None else frame.columns) if c != PROBLEM])
    out = job.grade_rows(rows_of(frame), first_row, BatchSummary())
    names = job._names      # as the rows were named (a row's own key noted late renames later rows only)
    graders = [names[c] for c in OUTPUT_COLUMNS]
    if grader.model.metadata.get("scale"):
        graders.append(names["scaled_score"])
    keys = list(job._input_keys)
    extra = list(dict.fromkeys(k for row in out for k in row if k not in keys and k not in graders))
    return frame_of(out, keys + graders + extra)


__all__ = ["GRADER_COLUMNS", "frame_of", "grade_frame", "rows_of"]
