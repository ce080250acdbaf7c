"""`grader calibrate` and `grader eval`: fit on your own labelled answers, or measure against them."""

from __future__ import annotations

import json
import sys

import click

from grader.cli.app import bank_option, friendly_errors, json_option, main, model_option, rubrics_option
from grader.errors import GraderError
from grader.workflows.formats import readable_formats


def data_options(func):
    """Options shared by both commands: columns, label scheme and grouping."""
    options = [
        click.argument("data_path", metavar="DATA", type=click.Path(allow_dash=True)),
        click.option("--input-format", type=click.Choice(readable_formats()), help="Input format (default: by extension)."),
        click.option("--answer-column", default="answer", show_default=True, help="Column with the answer."),
        click.option("--question-id-column", default="question_id", show_default=True,
                     help="Column with a bank question id."),
        click.option("--question-column", default="question", show_default=True, help="Column with the question text."),
        click.option("--reference-column", default="reference_answer", show_default=True,
                     help="Column with the reference answer (more in COLUMN_2, ...)."),
        click.option("--label-column", default="label", show_default=True, help="Column with a category label."),
        click.option("--score-column", default="score", show_default=True, help="Column with a numeric score."),
        click.option("--labels", "labels_text", help="The ordered labels, worst to best, e.g. bad,ok,good "
                     "(default: incorrect,partial,correct or incorrect,correct)."),
        click.option("--scale", "scale_text", help="Scores are numbers on this scale, LO:HI, e.g. 0:5."),
        click.option("--bins", type=click.IntRange(2, 20),
                     help="Classes the scale is cut into (default: one per whole point when the scale spans 2-10, else 5)."),
        click.option("--quiet", is_flag=True, help="No progress on stderr."),
    ]
    for opt in reversed(options):
        func = opt(func)
    return func


def _load(bank, data_path, input_format, answer_column, question_id_column, question_column, reference_column,
          label_column, score_column, labels_text, scale_text, bins, group_by="question", group_column=None,
          group_regex=None, stored=None):
    from grader.workflows.rows import ColumnMap
    from grader.workflows.calibration.labels import load_labelled, parse_labels, parse_scale

    if data_path == "-" and sys.stdin.isatty():
        raise GraderError("reading labelled answers from stdin, but stdin is a terminal; pipe a file or give a path")
    if labels_text and scale_text:
        raise GraderError("give either --labels (categories) or --scale (numeric scores), not both")
    return load_labelled(bank, data_path, ColumnMap(answer_column, question_id_column, question_column, reference_column),
                         labels=parse_labels(labels_text) if labels_text else None,
                         scale=parse_scale(scale_text) if scale_text else None, bins=bins,
                         label_column=label_column, score_column=score_column, group_by=group_by,
                         group_column=group_column, group_regex=group_regex, fmt=input_format, stored=stored)


def _progress(quiet, total, unit):
    if quiet or not sys.stderr.isatty():
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)
    return bar, bar.update


def _table(systems: dict) -> str:
    from grader.workflows.reports import METRIC_ORDER, SYSTEM_NAMES, _fmt

    names = list(systems)
    width = max(len(SYSTEM_NAMES.get(n, n)) for n in names) + 2
    lines = ["metric    " + "".join(SYSTEM_NAMES.get(n, n).rjust(width) for n in names)]
    for m in METRIC_ORDER:
        lines.append(m.ljust(10) + "".join(_fmt(systems[n].get(m)).rjust(width) for n in names))
    return "\n".join(lines)


@main.command()
@data_options
@click.option("--output", "-o", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for model.json, answer_memory.json and report.html.")
@click.option("--cv", default=5, show_default=True, type=click.IntRange(1, 100),
              help="Cross-validation folds for the reported figures (1: none).")
@click.option("--group-by", type=click.Choice(["question", "answer", "column", "assignment"]),
              help="Fold grouping: question (unseen questions, the default), answer (unseen answers), or "
                   "column/assignment (the value of --group-column).")
@click.option("--group-column", help="Column whose value groups rows into folds (e.g. an assignment id).")
@click.option("--group-regex", help="Take the group from the column with this regex (first group), e.g. '^(\\d+)\\.'.")
@click.option("--estimator", type=click.Choice(["boosting", "logistic", "ridge"]),
              help="The model under the calibration: boosted trees or logistic regression over the labels, or ridge "
                   "regression of the grade. Default: chosen by cross-validation (boosting; ridge too for --scale).")
@click.option("--memory/--no-memory", default=None,
              help="Learn from similarity to already-graded answers of the same question. "
                   "Default: chosen by cross-validation.")
@click.option("--cohort", is_flag=True,
              help="Also learn from how each answer compares with the other answers to its question graded with it "
                   "(batch and eval gather them first; a lone answer is graded without).")
@click.option("--embedder", metavar="BACKEND",
              help="Embedding backend of the new model: paraphrase-minilm-l3-onnx (the bundled model's, fast) or "
                   "all-minilm-l6-torch (slower to start and to run; agrees better on Mohler).")
@bank_option
@rubrics_option
@json_option
@friendly_errors
def calibrate(data_path, input_format, answer_column, question_id_column, question_column, reference_column,
              label_column, score_column, labels_text, scale_text, bins, quiet, out_dir, cv, group_by, group_column,
              group_regex, estimator, memory, cohort, embedder, bank_dir, rubrics_dir, as_json):
    """Fit the grading model to your own labelled answers and write a model directory.

    DATA is a batch CSV/JSONL file with a `label` column (incorrect/partial/correct, or any
    ordered set given with --labels) or a `score` column (with --scale). The model learns how
    your graders grade, including an answer memory: answers similar to already-graded answers of
    the same question lean towards their grades. Metrics come from cross-validation and are shown
    next to the bundled model and a cosine baseline. Use the result with --model DIR.

    \b
    Examples:
      grader calibrate labelled.csv -o my-model
      grader calibrate mohler.csv -o mohler-model --scale 0:5 --answer-column student_answer \\
          --reference-column desired_answer --score-column score_avg \\
          --group-column id --group-regex '^(\\d+)\\.' --cv 12 \\
          --estimator ridge --cohort --embedder all-minilm-l6-torch
      grader grade -q q004-035 -a "..." --model my-model
    """
    from pathlib import Path

    from grader.workflows.paths import refuse_path_collisions
    from grader.workflows.calibration.fitting import Options
    from grader.workflows.calibration.run import calibrate as run_calibration, check_model_dir, save_run
    from grader.grading import Grader

    # The files written into the output directory must not be the labelled data.
    refuse_path_collisions({"DATA": data_path}, {f"-o {out_dir}/{name}": Path(out_dir) / name
                                                 for name in ("model.json", "answer_memory.json", "report.html")})
    check_model_dir(out_dir)
    grader = Grader.from_paths(bank_dir, rubrics_dir, None)
    if group_by is None:
        group_by = "column" if group_column else "question"
    if group_by in ("question", "answer"):
        group_column = None
    data = _load(grader.bank, data_path, input_format, answer_column, question_id_column, question_column,
                 reference_column, label_column, score_column, labels_text, scale_text, bins, group_by, group_column,
                 group_regex)
    bar, update = _progress(quiet, len(data), " answers")
    try:
        opts = Options(estimator=estimator, memory=memory, cohort=cohort, embedder=embedder)
        run = run_calibration(grader, data, cv=cv, opts=opts, progress=update)
    finally:
        if bar is not None:
            bar.close()
    out = save_run(run, out_dir)
    chosen = run.model.metadata["options"]
    summary = {"model_dir": str(out), "rows": len(data), "questions": len(set(data.keys)),
               "estimator": chosen["estimator"], "memory": chosen["memory"],
               "warnings": run.model.metadata["warnings"],
               "skipped_empty_answers": data.skipped_empty, "label_scheme": data.scheme.to_dict(),
               "cv": run.cv.to_dict() if run.cv else None, "in_sample": run.in_sample,
               "report": str(out / "report.html")}
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    for warning in summary["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    if run.cv:
        click.echo(f"{cv}-fold cross-validation grouped by {data.group_by} ({len(data)} answers, "
                   f"{len(set(data.keys))} questions); estimator {chosen['estimator']}, "
                   f"answer memory {'on' if chosen['memory'] else 'off'}:")
        click.echo(_table(run.cv.systems))
    else:
        click.echo("In-sample (no cross-validation):")
        click.echo(_table({"calibrated": run.in_sample}))
    if not quiet:
        click.echo(f"wrote {out}/model.json and {out}/report.html; use it with --model {out}", err=True)


@main.command("eval")
@data_options
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Also write an HTML report here.")
@bank_option
@rubrics_option
@model_option
@json_option
@friendly_errors
def eval_command(data_path, input_format, answer_column, question_id_column, question_column, reference_column,
                 label_column, score_column, labels_text, scale_text, bins, quiet, report_path, bank_dir, rubrics_dir,
                 model_path, as_json):
    """Measure a model against labelled answers without training: the metrics of `calibrate`.

    \b
    Examples:
      grader eval labelled.csv
      grader eval mohler.csv --scale 0:5 --answer-column student_answer --reference-column desired_answer \\
          --score-column score_avg --model mohler-model --json
    """
    from pathlib import Path

    from grader.bank.questions import load_bank
    from grader.workflows.paths import refuse_path_collisions
    from grader.workflows.calibration.labels import LabelScheme
    from grader.workflows.calibration.fitting import concept_rates, per_question_table
    from grader.workflows.calibration.run import evaluate
    from grader.grading import Grader
    from grader.model.classifier import GradingModel

    model_file = None
    if model_path:
        model_file = Path(model_path) / "model.json" if Path(model_path).is_dir() else model_path
    # Before any work: the report written over the labelled data or the model would destroy it.
    refuse_path_collisions({"DATA": data_path, "--model": model_file}, {"--report": report_path})
    # The file is read and checked, with the labels or scale the model was calibrated on, before
    # the embedding model loads (seconds for a torch one); reading bank and model twice costs less.
    stored = LabelScheme.of_model(GradingModel.load(model_path).metadata) if model_path else None
    data = _load(load_bank(bank_dir), data_path, input_format, answer_column, question_id_column, question_column,
                 reference_column, label_column, score_column, labels_text, scale_text, bins, stored=stored)
    grader = Grader.from_paths(bank_dir, rubrics_dir, model_path)
    bar, update = _progress(quiet, len(data), " answers")
    try:
        metrics, proba, t, matches = evaluate(grader, data, progress=update)
    finally:
        if bar is not None:
            bar.close()
    name = str(model_path) if model_path else "bundled default"
    if report_path:
        from grader.workflows.reports import write_eval_report

        write_eval_report(data, metrics, proba, t, per_question_table(data, t), concept_rates(data, matches),
                          name, report_path)
    if as_json:
        click.echo(json.dumps({"model": name, "rows": len(data), "label_scheme": data.scheme.to_dict(),
                               "metrics": metrics}, indent=1))
        return
    click.echo(f"{name} on {len(data)} answers ({len(set(data.keys))} questions):")
    click.echo(_table({"model": metrics}))
