"""`grader review` (decide grades a group at a time; decisions kept beside the file) and
`grader regrade` (regrade only the questions whose rubric, references or model changed)."""

from __future__ import annotations

import json
import sys

import click

from grader.cli.app import bank_option, friendly_errors, json_option, main, model_option

_column_options = [
    click.option("--answer-column", default="answer", show_default=True, help="Column with the answer."),
    click.option("--question-id-column", default="question_id", show_default=True,
                 help="Column with a bank question id."),
    click.option("--question-column", default="question", show_default=True, help="Column with the question text."),
    click.option("--reference-column", default="reference_answer", show_default=True,
                 help="Column with the reference answer; further ones are COLUMN_2, COLUMN_3, ..."),
]


def column_options(func):
    for option in reversed(_column_options):
        func = option(func)
    return func


def _read_key(prompt: str) -> str:
    """One key in a terminal; one line (its first character) from a pipe. '' at end of input."""
    click.echo(prompt, nl=False)
    if sys.stdin.isatty():
        key = click.getchar()
        click.echo(key if key.isprintable() else "")
        if key in ("\x03", "\x04"):
            raise KeyboardInterrupt
        return key.lower()
    line = sys.stdin.readline()
    click.echo("")
    return line.strip()[:1].lower() if line else "q"


@main.command()
@click.argument("graded_path", metavar="GRADED", type=click.Path())
@click.option("--export", "export_path", type=click.Path(),
              help="Write the decisions as labelled data for `grader calibrate` (.csv or .jsonl) and stop.")
@click.option("--remember", "remember_dir", type=click.Path(),
              help="With --model (a model calibrated with the answer memory): write a copy of it to this new "
                   "directory whose memory also holds the decided answers, and stop. No refit.")
@click.option("--rubrics", "rubrics_dir", type=click.Path(file_okay=False),
              help="Directory for rubric synonyms you accept (filled with a copy of the rubrics first; "
                   "use it later as --rubrics DIR). Without it no synonyms are proposed.")
@click.option("--question", "question_id", help="Review only this question id.")
@click.option("--threshold", type=click.FloatRange(0.01, 1.99), default=None,
              help="Cosine distance within which answers are grouped (default 0.5; lower: smaller, purer groups).")
@bank_option
@model_option
@column_options
@json_option
@friendly_errors
def review(graded_path, export_path, remember_dir, rubrics_dir, question_id, threshold, bank_dir, model_path, answer_column,
           question_id_column, question_column, reference_column, as_json):
    """Review a file graded by `grader batch`: similar answers in groups, one decision per group.

    Groups come most-useful first: those where the machine is least sure, summed over their
    answers. A key labels every undecided answer of the group; `s` splits one answer off to
    decide it alone. Each decision is saved at once in GRADED.review.sqlite3 (the graded file is
    never changed), so you can stop (q, Ctrl-C) and continue later.

    \b
    Keys: c correct, p partial, i incorrect (or 1, 2, 3), s split one off, n next group,
          u undo the last decision, q quit.
    \b
    Examples:
      grader review graded.csv
      grader review graded.csv --rubrics my-rubrics/
      grader review graded.csv --json > groups.json
      grader review graded.csv --export labels.csv && grader calibrate labels.csv -o my-model
      grader review graded.csv --model my-model --remember my-model-2 && grader batch more.csv --model my-model-2
    """
    from grader.workflows.review.grouping import DEFAULT_THRESHOLD
    from grader.workflows.review.session import Options, Review
    from grader.workflows.rows import ColumnMap

    columns = ColumnMap(answer_column, question_id_column, question_column, reference_column)
    options = Options(bank_dir, rubrics_dir, model_path, threshold or DEFAULT_THRESHOLD, question_id)
    if export_path:
        r = Review.open(graded_path, options, columns, grouped=False)
        try:
            n = r.export(export_path)
        finally:
            r.close()
        click.echo(f"wrote {n} labelled answers to {export_path}", err=True)
        return
    if remember_dir:
        if not model_path:
            raise click.UsageError("--remember needs --model (the calibrated model to copy)")
        r = Review.open(graded_path, options, columns, grouped=False)
        try:
            done = r.remember(model_path, remember_dir)
        finally:
            r.close()
        if as_json:
            click.echo(json.dumps(done, indent=1))
        else:
            click.echo(f"wrote {done['model']}: {done['added']} decided answers added to its answer memory, "
                       f"{done['replaced']} regraded; {done['remembered']} remembered in all", err=True)
        return
    r = Review.open(graded_path, options, columns)
    try:
        if as_json:
            click.echo(json.dumps(r.summary(), indent=1, ensure_ascii=False))
            return
        if r.changed_since():
            click.echo(f"note: {graded_path} changed since this review began; decisions apply to rows whose "
                       "answer is unchanged", err=True)
        _session(r)
    finally:
        r.close()


def _session(r):
    click.echo(r.render_progress())
    focus = None      # after a split, the rest of the same group comes next
    try:
        while True:
            queue = r.queue()
            if not queue:
                click.echo("Every answer is decided.")
                break
            g = focus if focus in queue else queue[0]
            focus = None
            done = len(r.groups) - len(queue)
            click.echo("")
            click.echo(r.render_group(g, done + 1, len(r.groups)))
            undecided = r.undecided(g)
            key = _read_key(r.key_help(len(undecided)) + " > ")
            if key in r.keys:
                members = r.decide_group(g, r.keys[key])
                click.echo(f"{len(members)} answers marked {r.keys[key]}.")
                _suggest(r, members, r.keys[key])
            elif key == "s":
                n = click.prompt("answer number", type=click.IntRange(1, len(undecided)))
                label = r.keys.get(_read_key(f"label for row {r.answers[undecided[n - 1]].row} > "))
                if label is None:
                    click.echo("no label given; nothing changed.")
                    continue
                r.decide_one(undecided[n - 1], label)
                focus = g
                click.echo(f"row {r.answers[undecided[n - 1]].row} marked {label}.")
                _suggest(r, [undecided[n - 1]], label)
            elif key == "n":
                r.skip(g)
            elif key == "u":
                click.echo(f"undone: {r.undo()} answers back to undecided.")
            elif key in ("q", ""):
                break
            else:
                click.echo("unknown key; " + r.key_help(len(undecided)))
    except (KeyboardInterrupt, EOFError, click.Abort):
        click.echo("\nInterrupted.")
    click.echo(r.render_progress())


def _suggest(r, members, label):
    for s in r.suggestions_for(members, label):
        answer = _read_key(r.render_suggestion(s) + " > ")
        path = r.answer_suggestion(s, answer == "y")
        click.echo(f"added to {path}." if path else "rejected.")


@main.command()
@click.argument("graded_path", metavar="GRADED", type=click.Path())
@click.option("--input", "input_path", type=click.Path(),
              help="The file GRADED was graded from (default: GRADED's own input columns).")
@click.option("--output", "-o", "output_path", type=click.Path(), help="Where to write the regraded file.")
@click.option("--record", is_flag=True,
              help="Only record the fingerprints of the given --bank/--rubrics/--model as those GRADED was graded with.")
@bank_option
@click.option("--rubrics", "rubrics_dir", type=click.Path(), help="Rubric directory (default: BANK/rubrics, or bundled).")
@model_option
@column_options
@json_option
@friendly_errors
def regrade(graded_path, input_path, output_path, record, bank_dir, rubrics_dir, model_path, answer_column,
            question_id_column, question_column, reference_column, as_json):
    """Regrade only the questions whose rubric, references or model changed since GRADED was
    graded, write the whole file to -o, and list the answers whose label moved.

    What GRADED was graded with is read from GRADED.review.sqlite3: recorded when a review of it
    begins, by `--record`, and for every file regrade writes.

    \b
    Examples:
      grader regrade graded.csv --record                      # once, before changing anything
      grader regrade graded.csv --input answers.csv --rubrics my-rubrics/ -o regraded.csv
      grader regrade graded.csv --model my-model -o regraded.csv --json
    """
    from grader.errors import GraderError
    from grader.grading import Grader
    from grader.workflows.review.graded import load_graded
    from grader.workflows.review.regrade import record_fingerprints, regrade as run_regrade, require_fingerprints
    from grader.workflows.rows import ColumnMap

    columns = ColumnMap(answer_column, question_id_column, question_column, reference_column)
    if not record and not output_path:
        raise GraderError("give -o FILE for the regraded file (or --record to record fingerprints only)")
    if not record:
        require_fingerprints(graded_path)      # before the model loads
    grader = Grader.from_paths(bank_dir, rubrics_dir, model_path)
    if record:
        n = record_fingerprints(load_graded(graded_path, grader.bank, columns), grader, model_path)
        click.echo(f"recorded the fingerprints of {n} questions for {graded_path}", err=True)
        return
    report = run_regrade(graded_path, grader, model_path, output_path, input_path, columns)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=1, ensure_ascii=False))
        return
    click.echo(f"{len(report.changed)} of {report.questions} questions changed; {report.rows_regraded} answers "
               f"regraded; {len(report.moved)} labels moved; wrote {report.output}")
    for m in report.moved:
        text = " ".join(m.answer.split())
        click.echo(f"  row {m.row}  {m.question_id}  {m.before} -> {m.after}  {text[:80]}")
