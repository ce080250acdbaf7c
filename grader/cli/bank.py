"""`grader bank export` and `grader bank import`: the bank in and out of learning-platform formats."""

from __future__ import annotations

import json
from pathlib import Path

import click

from grader.cli.app import bank_option, friendly_errors, json_option, main, rubrics_option

EXPORT_FORMATS = ("moodle-xml", "gift", "qti", "anki", "csv")
IMPORT_FORMATS = ("moodle-xml", "gift", "csv")
# grader.bank.documents.SHAPES, repeated so that `grader --help` does not import the library.
DOC_SHAPES = ("numbered", "headings", "answer-blocks", "simple-detailed", "flashcards", "table")


@main.group()
def bank():
    """Export the bank to Moodle XML, GIFT, QTI 3.0, Anki or CSV; import Moodle XML, GIFT or CSV,
    or question/answer documents (import-docs)."""


@bank.command("export")
@click.option("--format", "fmt", required=True, type=click.Choice(EXPORT_FORMATS), help="The file format.")
@click.option("--output", "-o", required=True, type=click.Path(), help="The file to write.")
@bank_option
@rubrics_option
@click.option("--topic", multiple=True, help="Only these topics (repeatable).")
@click.option("--level", multiple=True, help="Only these levels (repeatable).")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@json_option
@friendly_errors
def bank_export(fmt, output, bank_dir, rubrics_dir, topic, level, force, as_json):
    """Write the bank's questions (all, or those of --topic/--level) with their references and
    rubrics to one file. What each format holds: README, "Bank formats".

    \b
    Examples:
      grader bank export --format moodle-xml -o course.xml --topic cnn
      grader bank export --format anki -o deep-learning.apkg
    """
    from grader.bank.interchange import export_bank, write_file_atomically
    from grader.bank.questions import load_bank
    from grader.bank.rubrics import load_rubrics
    from grader.grading import default_rubrics_dir

    questions = load_bank(bank_dir)
    if rubrics_dir is None:
        own = Path(questions.directory) / "rubrics" if questions.directory and Path(questions.directory).is_dir() \
            else None
        rubrics_dir = own if own and own.is_dir() else (default_rubrics_dir() if bank_dir is None else None)
    rubrics = load_rubrics(rubrics_dir) if rubrics_dir else {}
    chosen = questions.filter(topic=topic or None, level=level or None)
    data = export_bank(fmt, chosen, {q.id: rubrics[q.id] for q in chosen if q.id in rubrics})
    write_file_atomically(data, output, force=force)
    summary = {"output": str(output), "format": fmt, "questions": len(chosen),
               "references": sum(len(q.references) for q in chosen),
               "rubrics": sum(q.id in rubrics for q in chosen), "bytes": len(data)}
    if as_json:
        click.echo(json.dumps(summary, indent=1))
        return
    click.echo(f"wrote {output}: {summary['questions']} questions, {summary['references']} references, "
               f"{summary['rubrics']} rubrics ({fmt})", err=True)


@bank.command("import")
@click.argument("input_file", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(IMPORT_FORMATS),
              help="The file format (default: by extension .xml/.gift/.csv, else by content).")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False),
              help="The bank directory to write: <topic>.yaml files and rubrics/<id>.yaml.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists (never when it holds INPUT_FILE).")
@json_option
@friendly_errors
def bank_import(input_file, fmt, output, force, as_json):
    """Read questions, references and rubrics from a Moodle XML, GIFT or CSV file and write them
    as a bank directory for --bank. Nothing is written when any question is invalid.

    \b
    Examples:
      grader bank import course.xml -o my_bank/
      grader bank import questions.csv -o my_bank/ --force --json
    """
    from grader.bank.interchange import detect_format, import_bank, write_bank

    fmt = fmt or detect_format(input_file)
    imported = import_bank(input_file, fmt)
    write_bank(imported, output, force=force, input_path=input_file)
    summary = {**imported.summary(input_file, fmt), "output": str(output)}
    if as_json:
        click.echo(json.dumps(summary, indent=1, ensure_ascii=False))
        return
    for note in imported.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {output}: {summary['questions']} questions ({summary['with_references']} with references, "
               f"{summary['references']} references), {summary['rubrics']} rubrics from {input_file}", err=True)


@bank.command("import-docs")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(),
              help="The bank directory to write: <topic>.yaml files and rubrics/<id>.yaml.")
@click.option("--bank", "bank_dir", type=click.Path(file_okay=False),
              help="An existing bank directory to merge into (its questions, and rubrics from its rubrics/).")
@click.option("--shape", type=click.Choice(DOC_SHAPES),
              help="Read every file in this shape (default: found per document).")
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists (never when it holds an input).")
@json_option
@friendly_errors
def bank_import_docs(files, output, bank_dir, shape, force, as_json):
    """Build a bank from question/answer documents (Markdown, HTML or plain text): numbered Q&A,
    questions as headings, "Answer:" or "Q:/A:" blocks, flashcards, "Simple:/Detailed:" answers
    and tables of questions. The same question asked in other words is merged into one, its
    answers kept as references; answered questions get drafted (not reviewed) rubrics.

    \b
    Examples:
      grader bank import-docs faq.md notes.html -o my_bank/
      grader bank import-docs cards.txt -o merged/ --bank my_bank/ --json
    """
    from grader.bank.documents import import_documents
    from grader.bank.interchange import Imported, write_bank
    from grader.bank.questions import load_bank
    from grader.bank.rubrics import load_rubrics

    _refuse_output_holding_inputs(output, [*files, *([bank_dir] if bank_dir else [])])
    existing = load_bank(bank_dir) if bank_dir else None
    rubrics_dir = Path(bank_dir) / "rubrics" if bank_dir else None
    existing_rubrics = load_rubrics(rubrics_dir) if rubrics_dir and rubrics_dir.is_dir() else {}
    questions, rubrics, report = import_documents(files, existing, existing_rubrics, shape=shape)
    write_bank(Imported(questions, rubrics), output, force=force)
    summary = {**report.to_dict(questions), "output": str(output)}
    if as_json:
        click.echo(json.dumps(summary, indent=1, ensure_ascii=False))
        return
    for doc in summary["documents"]:
        click.echo(f"{doc['file']}: {doc['shape']}, {doc['questions']} questions ({doc['answered']} answered, "
                   f"{doc['questions_lost']} without their question)", err=True)
    click.echo(f"wrote {output}: {summary['questions']} questions ({summary['with_references']} with references, "
               f"{summary['references']} references; {summary['new']} new, {len(summary['updated'])} updated, "
               f"{len(summary['merged'])} merged from several items), {summary['rubrics_drafted']} rubrics drafted",
               err=True)
    if summary["lost_questions"]:
        click.echo(f"note: {len(summary['lost_questions'])} answers lost their question on the page; they are "
                   f"marked unservable until you write it (grep 'unservable' in {output})", err=True)


def _refuse_output_holding_inputs(output, inputs) -> None:
    """Never write over an input: OUTPUT may not be an input, nor hold one, nor lie in the bank read."""
    from grader.errors import GraderError

    out = Path(output).resolve()
    for given in inputs:
        path = Path(given).resolve()
        if path == out or out in path.parents or (path.is_dir() and path in out.parents):
            raise GraderError(f"{output}: is or holds the input {given}; choose another output directory")
