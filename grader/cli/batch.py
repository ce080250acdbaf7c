"""`grader batch`: grade a CSV/JSONL file of answers."""

from __future__ import annotations

import json
import sys

import click

from grader.cli.app import bank_option, friendly_errors, main, model_option, rubrics_option
from grader.errors import GraderError
from grader.workflows.formats import readable_formats, writable_formats


@main.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(allow_dash=True))
@click.option("--output", "-o", "output_path", default="-", show_default=True, type=click.Path(allow_dash=True),
              help="Output file: .csv, .jsonl or .parquet by extension; '-' for stdout.")
@click.option("--input-format", type=click.Choice(readable_formats()), help="Input format (default: by extension, else CSV).")
@click.option("--output-format", type=click.Choice(writable_formats()), help="Output format (default: by extension).")
@click.option("--answer-column", default="answer", show_default=True, help="Column with the answer.")
@click.option("--question-id-column", default="question_id", show_default=True, help="Column with a bank question id.")
@click.option("--question-column", default="question", show_default=True, help="Column with the question text.")
@click.option("--reference-column", default="reference_answer", show_default=True,
              help="Column with the reference answer; further ones are COLUMN_2, COLUMN_3, ...")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its checkpoint.")
@click.option("--report", "report_path", type=click.Path(), help="Also write a self-contained HTML report here.")
@click.option("--chunk-size", default=256, show_default=True, type=click.IntRange(1, 100_000),
              help="Rows read and graded at a time.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr.")
@click.option("--json-summary", is_flag=True, help="Print the end-of-run summary as JSON on stderr.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="dask: grade partitions on a Dask cluster; INPUT may be a directory or glob of CSV, JSONL "
                   "or Parquet files, -o a directory (a Parquet dataset) or one .csv/.jsonl/.parquet file.")
@click.option("--scheduler", metavar="ADDRESS", help="With --engine dask: the scheduler to use "
              "(tcp://host:8786); without it a local cluster is started.")
@click.option("--workers", type=click.IntRange(1, 1024), help="With --engine dask and no --scheduler: worker "
              "processes of the local cluster, one thread each  [default: number of CPUs]")
@click.option("--partition-rows", default=2048, show_default=True, type=click.IntRange(1, 10_000_000),
              help="With --engine dask: rows per partition (one task, one output part); a multiple of --chunk-size.")
@click.option("--retries", default=2, show_default=True, type=click.IntRange(0, 100),
              help="With --engine dask: tries again a partition whose task failed this many times.")
@bank_option
@rubrics_option
@model_option
@friendly_errors
def batch(input_path, output_path, input_format, output_format, answer_column, question_id_column, question_column,
          reference_column, resume, report_path, chunk_size, quiet, json_summary, engine, scheduler, workers,
          partition_rows, retries, bank_dir, rubrics_dir, model_path):
    """Grade every row of a CSV or JSONL file of answers, keeping every row in input order.

    Each row needs an `answer` and either a bank `question_id` or a `question` with a
    `reference_answer` (more in `reference_answer_2`, ...; in JSONL `reference_answers` may be a
    list). Other columns pass through. A bad row gets status=error and a message; it never stops
    the job. Output is written to OUTPUT.part and renamed when complete.

    \b
    Examples:
      grader batch answers.csv -o graded.csv --report report.html
      cat answers.jsonl | grader batch - --input-format jsonl -o - > graded.csv
      grader batch big.csv -o graded.parquet --resume
      grader batch 'answers/*.parquet' --engine dask --workers 4 -o graded/
      grader batch answers/ --engine dask --scheduler tcp://10.0.0.5:8786 -o graded/ --resume
    """
    from pathlib import Path

    columns_given = (answer_column, question_id_column, question_column, reference_column)
    if engine == "dask":
        return _batch_dask(input_path, output_path, input_format, output_format, columns_given, resume, report_path,
                           chunk_size, quiet, json_summary, scheduler, workers, partition_rows, retries,
                           bank_dir, rubrics_dir, model_path)
    if scheduler or workers:
        raise GraderError(f"{'--scheduler' if scheduler else '--workers'} needs --engine dask")

    from grader.workflows.batch.job import BatchJob
    from grader.workflows.rows import ColumnMap
    from grader.workflows.batch.resume import batch_outputs
    from grader.workflows.paths import refuse_path_collisions, refuse_unwritable_outputs
    from grader.grading import Grader

    if resume and output_path == "-":
        raise GraderError("--resume needs an output file, not stdout")
    model_file = None
    if model_path:
        model_file = Path(model_path) / "model.json" if Path(model_path).is_dir() else model_path
    # Before any work: an output that is the input, the model or another output would be overwritten.
    refuse_path_collisions({"INPUT": input_path, "--model": model_file},
                           {**batch_outputs(output_path), "--report": report_path})
    # Before any grading: an output that cannot be written would fail only at the end.
    refuse_unwritable_outputs({"-o": output_path, "--report": report_path})
    if input_path == "-" and sys.stdin.isatty():
        raise GraderError("reading answers from stdin, but stdin is a terminal; pipe a file or give a path")
    grader = Grader.from_paths(bank_dir, rubrics_dir, model_path)
    columns = ColumnMap(answer_column, question_id_column, question_column, reference_column)
    show_progress = not quiet and sys.stderr.isatty()
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(unit=" rows", file=sys.stderr, dynamic_ncols=True)
    job = BatchJob(grader, columns, chunk_size=chunk_size, progress=bar.update if bar is not None else None)
    job.keep_records = bool(report_path)
    try:
        summary = job.run(input_path, output_path, input_format, output_format, resume=resume)
    except KeyboardInterrupt:
        raise GraderError(_interrupted(job.finished, output_path)) from None
    finally:
        if bar is not None:
            bar.close()
    if report_path:
        from grader.workflows.batch.report import write_batch_report

        write_batch_report(job.records, summary, report_path)
    if json_summary:
        click.echo(json.dumps(summary.to_dict()), err=True)
    elif not quiet:
        s = summary.to_dict()
        labels = ", ".join(f"{k} {v}" for k, v in sorted(s["labels"].items())) or "none"
        mean = "n/a" if s["mean_score"] is None else f"{s['mean_score']:.3f}"
        click.echo(f"{s['rows']} rows, {s['errors']} errors; labels: {labels}; mean score {mean}; "
                   f"slowest step: {s['slowest_step']} ({s['seconds'].get(s['slowest_step'], 0):.1f}s)", err=True)


def _interrupted(finished: int, output_path: str) -> str:
    """What Ctrl-C leaves: rows to continue from with --resume, or nothing."""
    rows = f"{finished} finished row{'s' if finished != 1 else ''}"
    if output_path == "-":
        return f"interrupted; {rows} written to stdout (--resume needs an output file: -o FILE)"
    if not finished:
        return "interrupted before any row was finished; no output was written, run it again to start over"
    return f"interrupted; the {rows} are kept in {output_path}.part, continue with --resume"


def _batch_dask(input_path, output_path, input_format, output_format, columns_given, resume, report_path, chunk_size,
                quiet, json_summary, scheduler, workers, partition_rows, retries, bank_dir, rubrics_dir, model_path):
    """`grader batch --engine dask`: the job on a cluster (grader.workflows.batch.distributed)."""
    if output_path == "-":
        raise GraderError("--engine dask needs -o: a directory (a Parquet dataset) or a .csv, .jsonl or .parquet file")
    if report_path:
        raise GraderError("--report is not available with --engine dask; make it with the local engine")
    if output_format:
        raise GraderError("--output-format is not used with --engine dask: -o DIR is a Parquet dataset, "
                          "-o FILE.csv/.jsonl/.parquet one file")
    if scheduler and workers:
        raise GraderError("give --scheduler (a running cluster) or --workers (a local one), not both")
    if partition_rows % chunk_size:
        # Rows are graded a chunk at a time and a chunk's rows are graded together: partitions cut
        # at chunk boundaries grade every row as the local engine does.
        raise GraderError(f"--partition-rows {partition_rows} is not a multiple of --chunk-size {chunk_size}; "
                          "give one that is, so that rows are graded in the same chunks as by the local engine")
    import logging
    import os

    from grader.workflows.batch.distributed import DaskJob
    from grader.workflows.rows import ColumnMap

    # Bad input is an error before a cluster starts.
    job = DaskJob(input_path, output_path, ColumnMap(*columns_given), in_fmt=input_format, bank_dir=bank_dir,
                  rubrics_dir=rubrics_dir, model_path=model_path, partition_rows=partition_rows,
                  chunk_size=chunk_size, retries=retries)
    bar = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit=" rows", file=sys.stderr, dynamic_ncols=True)

    def progress(done, total, rows):
        if bar is not None:
            bar.set_description(f"{done}/{total} partitions", refresh=False)
            bar.update(rows)

    from distributed import Client, LocalCluster

    cluster = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise GraderError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        else:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                   processes=True, dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        with client:
            summary = job.run(client, resume=resume, progress=progress)
    except KeyboardInterrupt:
        raise GraderError(f"interrupted; the finished partitions are kept, continue with --resume -o {output_path}") \
            from None
    finally:
        if bar is not None:
            bar.close()
        if cluster is not None:
            cluster.close()
    s = summary.to_dict()
    if json_summary:
        click.echo(json.dumps(s), err=True)
    elif not quiet:
        labels = ", ".join(f"{k} {v}" for k, v in sorted(s["labels"].items())) or "none"
        mean = "n/a" if s["mean_score"] is None else f"{s['mean_score']:.3f}"
        before = f" ({s['partitions_resumed']} finished before)" if s["partitions_resumed"] else ""
        click.echo(f"{s['rows']} rows, {s['errors']} errors; labels: {labels}; mean score {mean}; "
                   f"{s['partitions']} partitions{before}", err=True)
