"""The `grader` command line. Thin: parses options, calls the library, prints results.

Heavy modules (numpy, onnxruntime, scikit-learn) are imported inside commands so that
`grader --help` and every `--help` answer instantly.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from grader.errors import GraderError, bad_text
from grader.settings import BANK_ENV, MODEL_ENV, RUBRICS_ENV

bank_option = click.option("--bank", "bank_dir", type=click.Path(), envvar=BANK_ENV,
                           help="Question bank directory (default: the bundled bank; env GRADER_BANK).")
rubrics_option = click.option("--rubrics", "rubrics_dir", type=click.Path(), envvar=RUBRICS_ENV,
                              help="Rubric directory (default: BANK/rubrics, or the bundled rubrics).")
model_option = click.option("--model", "model_path", type=click.Path(), envvar=MODEL_ENV,
                            help="Model directory or model.json from `grader calibrate` (default: bundled).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def friendly_errors(func):
    """Turn expected errors into one-line messages and exit code 1: never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except BrokenPipeError:
            # The reader went away (`grader questions list | head`): click's main exits quietly
            # on it, where the OSError branch below would print "Broken pipe".
            raise
        except GraderError as exc:
            raise click.ClickException(_one_line(str(exc))) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(_one_line(f"{getattr(exc, 'filename', '') or ''} {exc}".strip())) from None

    return wrapper


# Every character str.splitlines breaks at: a column name or value quoted in an error may hold one.
_LINE_BREAKS = {c: c.encode("unicode_escape").decode("ascii")
                for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _one_line(message: str) -> str:
    """An error message as one line: line breaks from the user's text shown escaped (`\\n`)."""
    if len(message.splitlines()) <= 1:
        return message
    return "".join(_LINE_BREAKS.get(c, c) for c in message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="grader")
def main():
    """Grade free-text answers to deep-learning interview questions, semantically and without an LLM.

    \b
    Examples:
      grader questions list --topic cnn
      grader grade --question q004-035 --answer "Dropout randomly zeroes units during training."
      grader batch answers.csv -o graded.csv
      grader quiz --topic optimization --count 5
    """


# --- questions -------------------------------------------------------------------------------

@main.group()
def questions():
    """Browse and validate the question bank."""


@questions.command("list")
@bank_option
@click.option("--topic", multiple=True, help="Only these topics (repeatable).")
@click.option("--level", multiple=True, help="Only these levels (repeatable).")
@click.option("--search", "text", help="Only questions whose text contains this (case-insensitive).")
@click.option("--all", "include_all", is_flag=True, help="Include questions that have no reference answer yet.")
@json_option
@friendly_errors
def questions_list(bank_dir, topic, level, text, include_all, as_json):
    """List questions: id, topic, level, number of reference answers and the question.

    Topics and levels, with how many questions each has: `grader questions topics`.

    \b
    Example: grader questions list --topic cnn --level basic
    """
    from grader.bank.questions import load_bank

    bank = load_bank(bank_dir)
    found = bank.filter(topic=topic or None, level=level or None, text=text,
                        with_reference=None if include_all else True)
    if as_json:
        click.echo(json.dumps([_question_dict(q) for q in found], indent=1, ensure_ascii=False))
        return
    click.echo("id\ttopic\tlevel\treferences\tquestion")
    for q in found:
        click.echo(f"{q.id}\t{q.topic}\t{q.level}\t{len(q.references)}\t{q.question}")
    click.echo(f"{len(found)} questions", err=True)


@questions.command("topics")
@bank_option
@click.option("--all", "include_all", is_flag=True, help="Count questions that have no reference answer yet too.")
@json_option
@friendly_errors
def questions_topics(bank_dir, include_all, as_json):
    """List the topics and levels (the values of --topic and --level) with their question counts.

    \b
    Example: grader questions topics --json
    """
    from grader.bank.questions import load_bank

    counts = load_bank(bank_dir).counts(with_reference=None if include_all else True)
    if as_json:
        click.echo(json.dumps(counts, indent=1))
        return
    sections = [[f"{kind:<20}questions"] + [f"{name:<20}{n:>9}" for name, n in counts[kind + "s"].items()]
                for kind in ("topic", "level")]
    click.echo("\n\n".join("\n".join(lines) for lines in sections))


def _question_dict(q):
    return q.to_dict()


@questions.command("show")
@click.argument("question_id")
@bank_option
@json_option
@friendly_errors
def questions_show(question_id, bank_dir, as_json):
    """Show one question with its reference answers.

    \b
    Example: grader questions show q004-001
    """
    from grader.bank.questions import load_bank

    q = load_bank(bank_dir).get(question_id)
    if as_json:
        click.echo(json.dumps(_question_dict(q), indent=1, ensure_ascii=False))
        return
    click.echo(f"{q.id}  [{q.topic}, {q.level}]{'  (question reconstructed)' if q.reconstructed else ''}")
    click.echo(q.question)
    if q.unservable:
        click.echo(f"(not asked by the quiz or the practice page: {q.unservable})")
    if q.model_answer:
        click.echo(f"\nModel answer:\n{q.model_answer}")
    if not q.references:
        click.echo("\n(no reference answer yet: this question is not served or graded)")
    for i, r in enumerate(q.references, 1):
        click.echo(f"\nReference {i} ({r.kind}, from {r.source}):\n{r.text}")
        if r.errata:
            click.echo(f"Erratum: {r.errata}")


@questions.command("validate")
@bank_option
@rubrics_option
@friendly_errors
def questions_validate(bank_dir, rubrics_dir):
    """Check every question and rubric file; print a summary or the first error.

    \b
    Example: grader questions validate --bank my_questions/
    """
    from grader.bank.questions import load_bank
    from grader.grading import default_rubrics_dir
    from grader.bank.rubrics import load_rubrics

    bank = load_bank(bank_dir)
    if rubrics_dir is None:
        # The same directory `grade --bank DIR` reads: DIR/rubrics when there is one.
        own = Path(bank.directory) / "rubrics" if bank.directory and Path(bank.directory).is_dir() else None
        rubrics_dir = own if own and own.is_dir() else (default_rubrics_dir() if bank_dir is None else None)
    rubrics = load_rubrics(rubrics_dir) if rubrics_dir else {}
    unknown = sorted(set(rubrics) - set(bank.questions))
    if unknown:
        raise GraderError(f"{rubrics[unknown[0]].path}: question_id: {unknown[0]!r} is not in the bank")
    with_ref = sum(q.has_reference for q in bank)
    click.echo(f"ok: {len(bank)} questions ({with_ref} with references, "
               f"{sum(len(q.references) for q in bank)} references), {len(rubrics)} rubrics")


# --- grading ---------------------------------------------------------------------------------

def _read_answer(answer: str) -> str:
    """The answer given, or stdin's (`-`), checked to be text: stdin is decoded as strict UTF-8,
    and an argument holding bytes that are not UTF-8 (kept as surrogates by Python) is refused."""
    if answer != "-":
        return _checked_text(answer, "--answer")
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    if isinstance(data, str):
        return _checked_text(data, "--answer - (stdin)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GraderError(f"--answer - (stdin): not UTF-8 text (byte {exc.start}); "
                          "save or pipe the answer as UTF-8") from None


def _checked_text(value: str, what: str) -> str:
    wrong = bad_text(value)
    if wrong:
        raise GraderError(f"{what}: {wrong}; give it as UTF-8")
    return value


@main.command()
@click.option("--question", "-q", required=True,
              help="A bank question id, or the text of your own question (then give --reference).")
@click.option("--answer", "-a", required=True, help="The answer to grade; '-' reads it from stdin.")
@click.option("--reference", "-r", multiple=True, help="Reference answer for a question not in the bank (repeatable).")
@bank_option
@rubrics_option
@model_option
@json_option
@friendly_errors
def grade(question, answer, reference, bank_dir, rubrics_dir, model_path, as_json):
    """Grade one answer: score, label with its probability, and the concepts covered and missed.

    \b
    Examples:
      grader grade -q q004-035 -a "Dropout switches off random neurons while training so the net can't overfit."
      echo "It adds momentum" | grader grade -q q004-031 -a - --json
      grader grade -q "What is a tensor?" -r "A multi-dimensional array of numbers." -a "an n-d array"
    """
    from grader.grading import Grader, user_question

    text = _read_answer(answer)
    _checked_text(question, "--question")
    for ref in reference:
        _checked_text(ref, "--reference")
    grader = Grader.from_paths(bank_dir, rubrics_dir, model_path)
    if reference:
        q = user_question(question, list(reference))
    else:
        if question not in grader.bank:
            raise GraderError(f"{grader.bank.unknown_id_message(question)} "
                              "(to grade your own question, give --reference)")
        q = grader.bank.get(question)
    result = grader.grade(q, text)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=1, ensure_ascii=False))
        return
    click.echo(render_result(result))


def render_result(result) -> str:
    lines = [f"{result.label.upper()}  score {result.score:.2f}  (confidence {result.confidence:.0%})"]
    if result.scaled_score is not None:
        lines[0] += f"  scaled {result.scaled_score:g}"
    labels = list(result.probabilities)   # worst to best
    if result.matched_concepts:
        heading = "mentioned:    " if labels and result.label == labels[0] else "covered:      "
        lines.append("  " + heading + "; ".join(result.matched_concepts))
    if result.contradicted_concepts:
        lines.append("  contradicted: " + "; ".join(result.contradicted_concepts))
    if result.missed_concepts:
        heading = "could add:    " if labels and result.label == labels[-1] else "missed:       "
        lines.append("  " + heading + "; ".join(result.missed_concepts))
    for note in result.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


# --- rubrics ---------------------------------------------------------------------------------

@main.group()
def rubric():
    """Draft rubrics (key concepts per question); `grader questions validate` checks them."""


@rubric.command("draft")
@click.argument("question_id")
@bank_option
@click.option("--output", "-o", type=click.Path(), help="Write the draft here instead of stdout.")
@friendly_errors
def rubric_draft(question_id, bank_dir, output):
    """Print a drafted rubric (YAML) for a question, chosen from its references by the program.

    \b
    Example: grader rubric draft q004-035 > rubrics/q004-035.yaml
    """
    from grader.bank.questions import load_bank
    from grader.core.embedding import get_embedder
    from grader.bank.drafting import RubricDrafter

    bank = load_bank(bank_dir)
    q = bank.get(question_id)
    if not q.has_reference:
        raise GraderError(f"question {question_id} has no reference answer to draft a rubric from")
    draft = RubricDrafter(get_embedder()).fit(list(bank)).draft(q)
    text = draft.to_yaml()
    if output:
        from grader.files import write_atomically

        write_atomically(output, text)
    else:
        click.echo(text, nl=False)


# --- cache -----------------------------------------------------------------------------------

@main.group()
def cache():
    """The on-disk cache of embeddings of rubric phrases, questions and references (env
    GRADER_CACHE_DIR; "off" disables it)."""


def _store():
    from grader.core.embedding import get_embedder

    store = get_embedder().store
    if store is None:
        raise GraderError("the vector cache is off (GRADER_CACHE_DIR=off)")
    return store


@cache.command("info")
@json_option
@friendly_errors
def cache_info(as_json):
    """Where the cache is, how many vectors, texts and drafted rubrics it holds per model, and how
    many entries are damaged (they are never used; `grader cache warm` repairs them)."""
    stats = _store().stats()
    if as_json:
        click.echo(json.dumps(stats, indent=1))
        return
    state = " (read-only: read, never updated)" if stats["read_only"] else ""
    click.echo(f"{stats['path']}: {stats['bytes'] / 1e6:.1f} MB" + (state if stats["usable"] else " (unusable: ignored)"))
    for model, n in sorted(stats["vectors"].items()):
        click.echo(f"  {model}: {n} vectors")
    for model, n in sorted(stats["texts_with_tokens"].items()):
        click.echo(f"  {model}: {n} texts with token vectors")
    for model, n in sorted(stats["drafted_rubrics"].items()):
        click.echo(f"  {model}: {n} drafted rubrics")
    if stats["damaged"]:
        click.echo(f"  {stats['damaged']} damaged entries (never used; `grader cache warm` repairs them)")


@cache.command("warm")
@bank_option
@rubrics_option
@model_option
@friendly_errors
def cache_warm(bank_dir, rubrics_dir, model_path):
    """Embed the bank's rubric phrases, questions and references now, so batches start at once.
    Damaged entries are deleted first (and those of the bank embedded again).

    \b
    Example: grader cache warm --bank my-course/
    """
    from grader.grading import Grader

    grader = Grader.from_paths(bank_dir, rubrics_dir, model_path)
    store = grader.embedder.store
    purged = store.purge_damaged() if store is not None else 0
    if purged:
        click.echo(f"deleted {purged} damaged entries from {store.path}", err=True)
    phrases, texts = grader.warm()
    click.echo(f"{phrases} rubric phrases and {texts} questions and references ready "
               f"({grader.embedder.texts_embedded} embedded now)", err=True)


@cache.command("clear")
@friendly_errors
def cache_clear():
    """Delete the cached vectors and drafted rubrics (they are recomputed when needed)."""
    store = _store()
    click.echo(f"deleted {store.clear()} entries from {store.path}", err=True)
