"""Commands registered on `grader.cli.app.main`: quiz, stats, history, override, export-labels.

The library (`grader.quiz`, `grader.store`) is imported inside the commands, so `--help` stays fast.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import click

from grader.cli.app import bank_option, friendly_errors, json_option, main, model_option, render_result, rubrics_option
from grader.errors import GraderError, bad_text, repaired_text
from grader.settings import DB_ENV

db_option = click.option(
    "--db", "db_path", type=click.Path(dir_okay=False), envvar=DB_ENV,
    help="Quiz database file (default: quiz.sqlite3 in the user data dir; env GRADER_DB).")

COMMANDS_HELP = (":skip  next question (nothing stored)   :reveal  show the model answer (counts as a miss)\n"
                 ":override LABEL  relabel your previous answer (correct/partial/incorrect)   :quit  stop")
LABEL_COLOURS = {"correct": "green", "partial": "yellow", "incorrect": "red"}


def _open_store(db_path, readonly: bool = False):
    from grader.workflows.quiz.store import QuizStore

    return QuizStore(db_path, readonly=readonly)


def _split_ids(ids) -> list[str]:
    return [part.strip() for item in ids for part in item.split(",") if part.strip()]


def _local(stamp: str | None) -> str:
    if not stamp:
        return "-"
    from grader.workflows.quiz.store import parse_iso

    return parse_iso(stamp).astimezone().strftime("%Y-%m-%d %H:%M")


def _in(delta_seconds: float) -> str:
    s = max(0, int(round(delta_seconds)))
    if s < 90:
        return "in 1 minute" if s > 0 else "now"
    if s < 5400:
        return f"in {round(s / 60)} minutes"
    if s < 36 * 3600:
        return f"in {round(s / 3600)} hours"
    days = round(s / 86400)
    return "in 1 day" if days == 1 else f"in {days} days"


def _indent(text: str, prefix: str = "    ") -> str:
    """Indent and wrap to the terminal; list items ("- x") keep a hanging indent."""
    import shutil

    width = max(40, min(shutil.get_terminal_size((100, 24)).columns, 100) - 1)
    out = []
    for line in text.splitlines() or [""]:
        stripped = line.lstrip()
        lead = prefix + line[:len(line) - len(stripped)]
        hang = lead + ("  " if stripped.startswith(("- ", "* ")) else "")
        out.append(textwrap.fill(stripped, width, initial_indent=lead, subsequent_indent=hang,
                                 break_long_words=False, break_on_hyphens=False) if stripped else "")
    return "\n".join(out)


# --- reading answers -------------------------------------------------------------------------

class AnswerReader:
    """Reads one answer at a time. In a terminal an answer may span lines and an empty line ends
    it; from a pipe or file each line is one answer. Returns None at end of input."""

    def __init__(self, stream=None, interactive: bool | None = None):
        self.stream = stream or sys.stdin
        if getattr(self.stream, "errors", None) == "strict" and hasattr(self.stream, "reconfigure"):
            # A byte that is not UTF-8 would end the session in the middle of a line; kept as a
            # surrogate, the answer is stored with it replaced (see `_run`).
            self.stream.reconfigure(errors="surrogateescape")
        if interactive is None:
            try:
                interactive = self.stream.isatty()
            except (AttributeError, ValueError):
                interactive = False
        self.interactive = interactive
        if interactive:
            try:
                import readline  # noqa: F401  (line editing and history for input())
            except ImportError:
                pass

    def read(self, prompt: str = "> ") -> str | None:
        if self.interactive:
            return self._read_terminal(prompt)
        click.echo(prompt, nl=False)
        line = self.stream.readline()
        if not line:
            click.echo()
            return None
        line = line.rstrip("\r\n")
        click.echo(repaired_text(line))
        return line

    def _read_terminal(self, prompt: str) -> str | None:
        try:
            first = input(prompt)
        except EOFError:
            click.echo()
            return None
        if not first.strip() or first.strip().startswith(":"):
            return first
        lines = [first]
        while True:
            try:
                line = input(" " * len(prompt))
            except EOFError:
                break
            if not line.strip():
                break
            lines.append(line)
        return "\n".join(lines)


def _command(entry: str):
    """(':name', argument) for a quiz command, else None for an answer."""
    text = entry.strip()
    if not text.startswith(":") or len(text) < 2 or not text[1].isalpha():
        return None
    name, _, arg = text[1:].partition(" ")
    name = name.lower()
    aliases = {"s": "skip", "next": "skip", "r": "reveal", "show": "reveal", "q": "quit", "exit": "quit",
               "o": "override", "h": "help", "?": "help"}
    return aliases.get(name, name), arg.strip()


# --- quiz ------------------------------------------------------------------------------------

@main.command()
@click.option("--topic", multiple=True, help="Only these topics (repeatable).")
@click.option("--level", multiple=True, help="Only these levels: basic, intermediate, advanced (repeatable).")
@click.option("--count", "-n", type=click.IntRange(min=0), default=10, show_default=True,
              help="Ask at most this many questions (0 = no limit).")
@click.option("--ids", multiple=True, help="Ask exactly these question ids, in this order (comma-separated or repeated).")
@click.option("--seed", type=int, help="Seed for the order of new questions (reproducible sessions).")
@click.option("--ahead", is_flag=True, help="When nothing else is left, also ask questions that are not due yet.")
@db_option
@bank_option
@rubrics_option
@model_option
@friendly_errors
def quiz(topic, level, count, ids, seed, ahead, db_path, bank_dir, rubrics_dir, model_path):
    """Practise: answer questions in your own words, get graded, and see the reference answer.

    Questions that are due for review come first (spaced repetition, FSRS), then new ones in
    random order. Every answer, its grade and the time are saved to the quiz database as soon
    as it is graded, so Ctrl-C or end of input stops cleanly, with a summary, losing nothing.

    \b
    Typing answers:
      in a terminal   an answer may span several lines; an EMPTY LINE ends it.
      piped / file    each input line is one answer (an empty line is an empty answer).
    \b
    Commands (instead of an answer):
      :skip             go to the next question; nothing is stored
      :reveal           show the model answer and reference without grading (counts as a miss)
      :override LABEL   relabel your previous answer: correct, partial or incorrect
      :quit             stop now and show the summary
    \b
    Examples:
      grader quiz --topic optimization --count 5
      grader quiz --ids q004-035 --db /tmp/quiz.sqlite3
      printf 'Dropout zeroes random units while training\\n:skip\\n' | grader quiz -n 2 --seed 1
    """
    from grader.bank.questions import check_topics_and_levels, load_bank
    from grader.workflows.quiz.session import plan_quiz
    from grader.workflows.quiz.store import utcnow

    check_topics_and_levels(topic, level)
    if model_path and not Path(model_path).exists():
        raise GraderError(f"{model_path}: model not found")
    id_list = _split_ids(ids)
    bank = load_bank(bank_dir)
    with _open_store(db_path) as store:
        plan = plan_quiz(bank, store, topic=topic or None, level=level or None, ids=id_list or None,
                         count=count, seed=seed, ahead=ahead)
        if not plan.questions:
            if id_list:
                click.echo("None of those questions match the --topic/--level filters.")
                return
            msg = "Nothing is due and no new questions match."
            if plan.next_due:
                from grader.workflows.quiz.store import parse_iso

                msg += f" Next review {_in((parse_iso(plan.next_due) - utcnow()).total_seconds())}" \
                       f" ({_local(plan.next_due)}); use --ahead to practise now."
            click.echo(msg)
            return
        from grader.workflows.quiz.session import QuizSession

        session = QuizSession(_LazyGrader(bank_dir, rubrics_dir, model_path), store)
        reader = AnswerReader()
        parts = [f"{n} {what}" for n, what in ((plan.due, "due"), (plan.new, "new"), (plan.ahead, "not yet due")) if n]
        click.echo(f"{len(plan.questions)} question(s): {', '.join(parts)}. "
                   + ("End an answer with an empty line. " if reader.interactive else "")
                   + "Commands: :skip :reveal :override LABEL :quit")
        try:
            _run(session, plan.questions, reader)
        except KeyboardInterrupt:
            click.echo("\nInterrupted.")
        finally:
            _print_summary(session.summary(), store)


class _LazyGrader:
    """Loads the model on the first answer to grade: questions show at once, and a session of
    skips and reveals never loads it."""

    def __init__(self, *paths):
        self.paths = paths
        self._grader = None

    def grade(self, question, answer):
        if self._grader is None:
            from grader.grading import Grader

            self._grader = Grader.from_paths(*self.paths)
        return self._grader.grade(question, answer)


def _run(session, questions, reader):
    last_graded = None
    for i, q in enumerate(questions, 1):
        click.echo()
        click.secho(f"[{i}/{len(questions)}] {q.id} ({q.topic}, {q.level})", bold=True)
        click.echo(q.question)
        while True:
            entry = reader.read()
            if entry is None:
                return
            cmd = _command(entry)
            if cmd is None:
                if reader.interactive and not entry.strip():
                    click.echo("(type your answer and end it with an empty line, or :skip, :reveal, :quit)")
                    continue
                if bad_text(entry):
                    click.echo(f"(note: your answer is {bad_text(entry)}; each such byte is kept as \ufffd)")
                    entry = repaired_text(entry)
                outcome = session.grade(q, entry)
                _show_graded(outcome, reader)
                last_graded = outcome.answer_id
                break
            name, arg = cmd
            if name == "skip":
                session.skip(q)
                click.echo("Skipped.")
                break
            if name == "reveal":
                outcome = session.reveal(q)
                _show_answers(q)
                click.echo(f"Counted as a miss; it comes back {_due_text(outcome.due)}.")
                last_graded = None
                break
            if name == "quit":
                return
            if name == "override":
                _override_in_session(session, last_graded, arg)
                continue
            if name == "help":
                click.echo(COMMANDS_HELP)
                continue
            click.echo(f"Unknown command :{name}. {COMMANDS_HELP}")
    if last_graded is not None:
        # A last chance to disagree with the final grade.
        while True:
            entry = reader.read("(Enter to finish, or :override LABEL) ")
            cmd = _command(entry) if entry is not None else None
            if cmd is None or cmd[0] != "override":
                return
            _override_in_session(session, last_graded, cmd[1])


def _override_in_session(session, answer_id, arg):
    if answer_id is None:
        click.echo("Nothing to override: :override relabels the answer graded just before.")
        return
    try:
        row, due = session.override(answer_id, arg)
    except GraderError as exc:
        click.echo(f"Override not saved: {exc}")
        return
    click.echo(f"Answer #{answer_id} {_relabelled(row)}" + (f"; it comes back {_due_text(due)}." if due else "."))


def _relabelled(row) -> str:
    if row.label == row.override_label:
        return f"confirmed as {row.override_label}"
    return f"relabelled {row.label} -> {row.override_label}"


def _due_text(due) -> str:
    from grader.workflows.quiz.store import iso, utcnow

    return f"{_in((due - utcnow()).total_seconds())} ({_local(iso(due))})"


def _show_answers(q):
    """The model answer first, then the source reference with its erratum, if any."""
    from grader.workflows.quiz.session import first_reference

    if q.model_answer:
        click.echo("Model answer:")
        click.echo(_indent(q.model_answer))
    ref = first_reference(q)
    if ref is None:
        return
    click.echo("Reference answer:")
    click.echo(_indent(ref.text))
    if ref.errata:
        click.echo(_indent(f"Erratum: {ref.errata}"))
    others = len(q.references) - 1
    click.echo(_indent(f"(source {ref.source}"
                       + (f"; {others} more: grader questions show {q.id})" if others else ")")))


def _show_graded(outcome, reader):
    result = outcome.result
    text = render_result(result)
    head, _, rest = text.partition("\n")
    click.secho(head, fg=LABEL_COLOURS.get(result.label), bold=True)
    if rest:
        click.echo(rest)
    _show_answers(outcome.question)
    click.echo(f"Saved as answer #{outcome.answer_id}; next review {_due_text(outcome.due)}."
               + (" Disagree? :override correct|partial|incorrect" if reader.interactive else ""))


def _print_summary(summary, store):
    click.echo()
    click.secho("Summary", bold=True)
    line = (f"  {summary['asked']} asked: {summary['answered']} answered, {summary['skipped']} skipped, "
            f"{summary['revealed']} revealed")
    if summary["overrides"]:
        line += f", {summary['overrides']} overridden"
    if summary["mean_score"] is not None:
        line += f"; mean score {summary['mean_score']:.2f}"
    click.echo(line)
    if summary["topics"]:
        click.echo(f"  {'topic':<20} {'answered':>8} {'mean score':>10}")
        for name, t in summary["topics"].items():
            mean = f"{t['mean_score']:.2f}" if t["mean_score"] is not None else "-"
            click.echo(f"  {name:<20} {t['answered']:>8} {mean:>10}")
    if summary["weakest_concepts"]:
        click.echo("  Weakest concepts (most often missed or contradicted):")
        for c in summary["weakest_concepts"]:
            click.echo(f"    {c['concept']} ({c['count']}x; {', '.join(c['questions'])})")
    click.echo(f"  Saved in {store.path}")


# --- stats -----------------------------------------------------------------------------------

@main.command()
@db_option
@bank_option
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many weak concepts to list.")
@json_option
@friendly_errors
def stats(db_path, bank_dir, top, as_json):
    """Show quiz progress per topic and the concepts you miss most often.

    Per topic: questions in the bank, seen, due now, answers, mean score, labels (your override
    when you gave one), revealed references and overrides.

    \b
    Examples:
      grader stats
      grader stats --json --db /tmp/quiz.sqlite3
    """
    from grader.bank.questions import load_bank
    from grader.workflows.quiz.session import progress

    bank = load_bank(bank_dir)
    with _open_store(db_path, readonly=True) as store:
        data = progress(store, bank, top=top)
    if as_json:
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
        return
    mean = f", mean score {data['mean_score']:.2f}" if data["mean_score"] is not None else ""
    click.echo(f"{data['db']}")
    click.echo(f"{data['answered']} answers{mean}; {data['revealed']} revealed; {data['overrides']} overridden; "
               f"{data['seen']} questions seen, {data['due_now']} due now"
               + (f", next review {_local(data['next_due'])}" if data["next_due"] else ""))
    click.echo()
    click.echo(f"{'topic':<20}{'questions':>10}{'seen':>6}{'due':>5}{'answers':>9}{'mean':>6}"
               f"{'correct':>9}{'partial':>9}{'incorrect':>10}{'revealed':>10}{'overrides':>10}")
    for name, t in data["topics"].items():
        m = f"{t['mean_score']:.2f}" if t["mean_score"] is not None else "-"
        lab = t["labels"]
        click.echo(f"{name:<20}{t['questions']:>10}{t['seen']:>6}{t['due']:>5}{t['answered']:>9}{m:>6}"
                   f"{lab.get('correct', 0):>9}{lab.get('partial', 0):>9}{lab.get('incorrect', 0):>10}"
                   f"{t['revealed']:>10}{t['overrides']:>10}")
    if data["weakest_concepts"]:
        click.echo()
        click.echo("Concepts most often missed or contradicted:")
        for c in data["weakest_concepts"]:
            click.echo(f"  {c['count']:>3}x  {c['concept']}  ({', '.join(c['questions'])})")


# --- history ---------------------------------------------------------------------------------

@main.command()
@db_option
@click.option("--limit", "-n", type=click.IntRange(min=0), default=20, show_default=True,
              help="Show the latest N answers (0 = all).")
@click.option("--question", "question_id", help="Only answers to this question id.")
@json_option
@friendly_errors
def history(db_path, limit, question_id, as_json):
    """List your latest quiz answers with their ids (for `grader override`).

    \b
    Examples:
      grader history -n 5
      grader history --question q004-035 --json
    """
    with _open_store(db_path, readonly=True) as store:
        rows = store.answers(question_id=question_id, limit=limit or None, newest_first=True)
    rows.reverse()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=1, ensure_ascii=False))
        return
    for r in rows:
        if r.kind == "revealed":
            label, score = "revealed", "-"
        else:
            label = r.effective_label + ("*" if r.override_label else "")
            score = f"{r.score:.2f}"
        snippet = " ".join(r.answer.split())
        snippet = snippet if len(snippet) <= 60 else snippet[:57] + "..."
        click.echo(f"#{r.id}\t{_local(r.created_at)}\t{r.question_id}\t{label}\t{score}\t{snippet}")
    if not as_json:
        click.echo(f"{len(rows)} answer(s); * = your override", err=True)


# --- override --------------------------------------------------------------------------------

@main.command()
@click.argument("answer_id", type=int)
@click.argument("label")
@db_option
@friendly_errors
def override(answer_id, label, db_path):
    """Disagree with a grade: store your LABEL (correct, partial, incorrect) for an answer.

    The override counts in `grader stats`, goes into `grader export-labels` for calibration,
    and, for a question's latest answer, re-schedules the question. Answer ids are shown after
    each graded answer and by `grader history`.

    \b
    Example: grader override 12 correct
    """
    from grader.workflows.quiz.session import override_answer

    with _open_store(db_path) as store:
        row, due = override_answer(store, answer_id, label)
    msg = f"Answer #{answer_id} ({row.question_id}) {_relabelled(row)}"
    if due:
        msg += f"; next review {_due_text(due)}"
    click.echo(msg)


# --- export-labels ---------------------------------------------------------------------------

@main.command("export-labels")
@click.option("--output", "-o", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="CSV file to write ('-' = stdout).")
@click.option("--only-overrides", is_flag=True, help="Only answers whose grade you overrode.")
@db_option
@bank_option
@friendly_errors
def export_labels_cmd(output, only_overrides, db_path, bank_dir):
    """Export your graded quiz answers as labelled data for `grader calibrate`.

    CSV columns: question_id, question, reference_answer, answer, label. The label is your
    override when you gave one, else the grader's label. Empty answers are left out.

    \b
    Examples:
      grader export-labels -o labels.csv
      grader export-labels --only-overrides -o disagreements.csv
    """
    from grader.bank.questions import load_bank
    from grader.workflows.paths import refuse_path_collisions
    from grader.workflows.quiz.session import export_labels
    from grader.workflows.quiz.store import default_db_path

    # Before the database is opened: writing the CSV over it would lose the whole quiz history.
    refuse_path_collisions({"--db": db_path or default_db_path()}, {"-o": output})
    bank = load_bank(bank_dir)
    with _open_store(db_path, readonly=True) as store:
        report = export_labels(store, bank, output, only_overrides=only_overrides)
    if output == "-":
        click.echo(report["text"], nl=False)
    dropped = "; left out: " + ", ".join(f"{n} {why}" for why, n in report["dropped"].items()) \
        if report["dropped"] else ""
    where = "stdout" if output == "-" else output
    click.echo(f"wrote {report['rows']} row(s) to {where} ({report['overrides']} override(s) in the database)"
               f"{dropped}", err=True)
