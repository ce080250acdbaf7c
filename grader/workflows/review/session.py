"""A review of a graded file: its answers grouped, the queue of groups still to decide (most
expected corrections first), decisions on a group or on one answer, undo, the JSON summary, the
export of decisions as labelled data for `grader calibrate`, and the text the terminal shows."""

from __future__ import annotations

import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from grader.bank.questions import load_bank, question_key
from grader.errors import GraderError
from grader.files import atomic_directory
from grader.grading import Grader
from grader.model.classifier import GradingModel
from grader.signals.memory import MEMORY_FEATURES, MEMORY_FILE, AnswerMemory, memory_path_for
from grader.workflows.calibration.labels import DEFAULT_LABEL_SETS, LabelScheme, file_sha256
from grader.workflows.calibration.run import MODEL_FILES
from grader.workflows.formats import _Writer, output_format
from grader.workflows.paths import refuse_path_collisions, refuse_unwritable_outputs
from grader.workflows.review.graded import GradedFile, load_graded
from grader.workflows.review.grouping import DEFAULT_THRESHOLD, Group, group_answers, priority
from grader.workflows.review.regrade import model_file, record_fingerprints
from grader.workflows.review.store import ReviewStore, review_db_path
from grader.workflows.review.suggest import RubricSuggester, Suggestion

# Every member is listed (up to this many), so that any of them can be split off.
SHOWN_MEMBERS = 200


def label_keys(labels) -> dict[str, str]:
    """Key -> label: first letters when they tell the labels apart (c/p/i), and 1..k always."""
    keys = {str(i): label for i, label in enumerate(labels, 1)}
    firsts = [label[:1].lower() for label in labels]
    if len(set(firsts)) == len(firsts) and not any(f.isdigit() or f in "snuq?" for f in firsts):
        keys.update(zip(firsts, labels))
    return keys


@dataclass
class Options:
    bank_dir: str | None = None
    rubrics_dir: str | None = None       # read if it holds rubrics; accepted synonyms are written there
    model_path: str | None = None
    threshold: float = DEFAULT_THRESHOLD
    question: str | None = None          # only this question id


def rubrics_to_read(rubrics_dir) -> str | None:
    """The review's --rubrics DIR is where accepted synonyms go: its rubrics are read once it holds
    some; until then grading's own (the bank's, or the bundled ones) are."""
    if rubrics_dir and Path(rubrics_dir).is_dir() and any(Path(rubrics_dir).glob("*.y*ml")):
        return rubrics_dir
    return None


class Review:
    def __init__(self, graded: GradedFile, store: ReviewStore, labels: tuple[str, ...], grader=None,
                 groups: list[Group] | None = None, suggester: RubricSuggester | None = None):
        self.graded, self.store, self.labels = graded, store, tuple(labels)
        self.grader, self.groups, self.suggester = grader, groups or [], suggester
        self.answers = graded.answers
        self.keys = label_keys(self.labels)
        self.skipped: set[str] = set()       # groups passed over in this sitting
        self.bank = None          # the bank the file's question ids were resolved in (set by `open`)
        self.refresh()

    @classmethod
    def open(cls, graded_path: str, options: Options, columns=None, grouped: bool = True) -> "Review":
        """Read the graded file and its review database; with `grouped`, load the grader and group
        the answers (not needed to export decisions)."""
        # The file is read and checked before any model loads: a bad file fails at once.
        bank = load_bank(options.bank_dir)
        graded = load_graded(graded_path, bank, columns)
        if options.question:
            wanted = options.question.casefold()
            graded.answers = [a for a in graded.answers if a.question.id.casefold() == wanted]
            if not graded.answers:
                raise GraderError(f"{graded_path}: no graded answers to question {options.question}")
        grader = None
        if grouped:
            grader = Grader.from_paths(options.bank_dir, rubrics_to_read(options.rubrics_dir), options.model_path)
        store = ReviewStore(review_db_path(graded_path), create=grouped)
        if grouped and store.get_meta("graded_sha256") is None:
            store.set_meta("graded_sha256", file_sha256(graded_path))
        scheme = LabelScheme.of_model(grader.model.metadata) if grader is not None else None
        labels = scheme.labels if scheme is not None and not scheme.scale else _labels_of(graded)
        groups, suggester = None, None
        if grouped:
            if not store.fingerprints():
                record_fingerprints(graded, grader, options.model_path)
            vectors = grader.embedder.encode([a.text for a in graded.answers])
            groups = group_answers(graded.answers, vectors, options.threshold)
            if options.rubrics_dir:
                suggester = RubricSuggester(grader, options.rubrics_dir)
        review = cls(graded, store, labels, grader, groups, suggester)
        review.bank = bank
        return review

    def close(self):
        self.store.close()

    # --- state -----------------------------------------------------------------------------

    def refresh(self):
        self._decided = self.store.labels()

    def decided(self, i: int) -> str | None:
        a = self.answers[i]
        return self._decided.get((a.row, a.digest))

    def undecided(self, group: Group) -> list[int]:
        return [i for i in group.members if self.decided(i) is None]

    def queue(self) -> list[Group]:
        """Groups with undecided answers, those where a decision is expected to fix the most labels
        first (ties: larger, then file order); groups passed over in this sitting go last."""
        pending = [g for g in self.groups if self.undecided(g)]
        return sorted(pending, key=lambda g: (g.key in self.skipped, -round(priority(self.undecided(g), self.answers), 9),
                                              -len(self.undecided(g)), self.answers[g.members[0]].row))

    def changed_since(self) -> bool:
        """Whether the graded file changed since the review began (decisions still apply to rows
        whose answer is the same text)."""
        return self.store.get_meta("graded_sha256") != file_sha256(self.graded.path)

    # --- decisions -------------------------------------------------------------------------

    def decide_group(self, group: Group, label: str) -> list[int]:
        """Label every undecided member of the group; returns them."""
        members = self.undecided(group)
        self._check(label)
        if members:
            self.store.record([self.answers[i] for i in members], label, "group")
            self.refresh()
        return members

    def decide_one(self, i: int, label: str):
        self._check(label)
        self.store.record([self.answers[i]], label, "single")
        self.refresh()

    def undo(self) -> int:
        n = self.store.undo()
        self.refresh()
        return n

    def skip(self, group: Group):
        self.skipped.add(group.key)

    def _check(self, label: str):
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r}")

    # --- rubric suggestions ----------------------------------------------------------------

    def suggestions_for(self, members: list[int], label: str) -> list[Suggestion]:
        """At most one new synonym per decision: from the least confident answer marked with the top
        label that the machine graded lower for missing a concept, never one answered before."""
        if self.suggester is None or label != self.labels[-1]:
            return []
        for i in members:
            a = self.answers[i]
            if a.label == label or not a.missed:
                continue
            s = self.suggester.propose(a)
            if s is not None and self.store.answered_suggestion(s.question_id, s.concept, s.phrase) is None:
                return [s]
        return []

    def answer_suggestion(self, s: Suggestion, accepted: bool) -> Path | None:
        path = None
        if accepted:
            question = next(a.question for a in self.answers if a.row == s.row)
            path = self.suggester.accept(s, question)
        self.store.record_suggestion(s.question_id, s.concept, s.phrase, s.row, accepted)
        return path

    # --- summaries -------------------------------------------------------------------------

    def progress(self) -> dict:
        decided = [i for i in range(len(self.answers)) if self.decided(i) is not None]
        agree = sum(self.decided(i) == self.answers[i].label for i in decided)
        return {"answers": len(self.answers), "decided": len(decided), "decisions": self.store.decision_count(),
                "groups": len(self.groups), "groups_pending": sum(1 for g in self.groups if self.undecided(g)),
                "machine_agreed": agree, "skipped_rows": self.graded.skipped}

    def summary(self) -> dict:
        """Everything `--json` prints: progress, and per question its groups in queue order."""
        order = {g.key: n for n, g in enumerate(self.queue())}
        questions: dict[str, dict] = {}
        for g in sorted(self.groups, key=lambda g: (order.get(g.key, len(order)), g.key)):
            a0 = self.answers[g.representative]
            q = questions.setdefault(g.question_key, {"question_id": a0.question.id, "question": a0.question.question,
                                                     "answers": 0, "groups": []})
            q["answers"] += len(g.members)
            q["groups"].append(self.group_dict(g, order.get(g.key)))
        return {"file": self.graded.path, "database": str(self.store.path), "labels": list(self.labels),
                **self.progress(), "questions": list(questions.values()),
                "suggestions": self.store.suggestions()}

    def group_dict(self, g: Group, queue_position: int | None) -> dict:
        undecided = self.undecided(g)
        return {"group": g.number, "size": len(g.members), "undecided": len(undecided),
                "queue_position": None if queue_position is None else queue_position + 1,
                "priority": round(priority(undecided, self.answers), 4),
                "representative": {"row": self.answers[g.representative].row,
                                   "answer": self.answers[g.representative].text},
                "machine_labels": dict(Counter(self.answers[i].label for i in g.members)),
                "mean_confidence": round(sum(self.answers[i].confidence for i in g.members) / len(g.members), 4),
                "decided": dict(Counter(self.decided(i) for i in g.members if self.decided(i) is not None)),
                "rows": [self.answers[i].row for i in g.members]}

    # --- export ----------------------------------------------------------------------------

    def export(self, path: str) -> int:
        """The decided answers as labelled data in the format `grader calibrate` reads (a bank id,
        or the question with its references, the answer and the label); returns the row count."""
        refuse_path_collisions({"GRADED": self.graded.path, "the review database": str(self.store.path)},
                               {"--export": path})
        refuse_unwritable_outputs({"--export": path})
        fmt = output_format(path, None, "csv")
        if fmt not in ("csv", "jsonl"):
            raise GraderError(f"--export {path}: write .csv or .jsonl (the formats `grader calibrate` reads)")
        rows = []
        for i, a in enumerate(self.answers):
            label = self.decided(i)
            if label is None:
                continue
            q = a.question
            # A bank question is named by its id (calibrate takes its references from the bank);
            # any other is written with its references.
            in_bank = self.bank is not None and q.id in self.bank and self.bank.get(q.id) is q
            row = {"question_id": q.id, "question": q.question}
            refs = [] if in_bank else [r.text for r in q.references]
            row["reference_answer"] = refs[0] if refs else ""
            for k, ref in enumerate(refs[1:], 2):
                row[f"reference_answer_{k}"] = ref
            row.update({"answer": a.text, "label": label})
            rows.append(row)
        header: dict = {}
        for r in rows:
            header.update(dict.fromkeys(r))
        final = Path(path)
        part = final.with_name(final.name + ".part")
        writer = _Writer.to_file(part, fmt, append=False, columns=list(header) or
                                 ["question_id", "question", "reference_answer", "answer", "label"])
        try:
            if rows:
                writer.write(rows)
            elif fmt == "csv":
                writer.handle.write(",".join(writer.columns) + "\n")
        finally:
            writer.close()
        part.replace(final)
        return len(rows)

    def remember(self, model_path: str, out_dir: str) -> dict:
        """A copy of the calibrated model at `model_path` in `out_dir`, whose answer memory also
        holds the decided answers (a decision replaces the grade of the same answer already
        remembered): grading with it learns from the corrections without a refit. Only a model
        calibrated with the answer memory can; its calibration report is not copied, as it no
        longer describes the model's memory."""
        model = GradingModel.load(model_path)
        source = model_file(model_path)
        if not any(f in MEMORY_FEATURES for f in model.features):
            raise GraderError(f"--model {model_path}: this model has no answer memory to add decisions to "
                              "(calibrate with --memory, or export the decisions and calibrate again)")
        memory = AnswerMemory.load(memory_path_for(source))
        out = Path(out_dir)
        refuse_path_collisions({"--model": str(source.parent), "GRADED": self.graded.path},
                               {"--remember": str(out)})
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise GraderError(f"--remember {out_dir}: exists and is not an empty directory; name a new one")
        scheme = LabelScheme.of_model(model.metadata) or LabelScheme(self.labels)
        added = replaced = 0
        positions: dict[str, dict[str, int]] = {}    # question key -> answer text -> its place in memory
        for i, a in enumerate(self.answers):
            label = self.decided(i)
            if label is None:
                continue
            try:
                grade = round(float(scheme.normalise(label)), 6)
                if not 0 <= grade <= 1:
                    raise ValueError
            except ValueError:
                raise GraderError(f"{self.graded.path}: row {a.row}: label {label!r} is not one of the "
                                  f"model's ({', '.join(scheme.labels)})") from None
            key = question_key(a.question)
            entry = memory.entries.setdefault(key, {
                "question_id": a.question.id, "question": a.question.question, "answers": []})
            known = positions.setdefault(key, {text: k for k, (text, _) in enumerate(entry["answers"])})
            if a.text in known:
                entry["answers"][known[a.text]][1] = grade
                replaced += 1
            else:
                known[a.text] = len(entry["answers"])
                entry["answers"].append([a.text, grade])
                added += 1
        with atomic_directory(out, own=MODEL_FILES) as new:
            model.save(new / "model.json")
            memory.save(new / MEMORY_FILE)
        return {"model": str(out), "added": added, "replaced": replaced,
                "remembered": sum(len(e["answers"]) for e in memory.entries.values())}

    # --- what the terminal shows -----------------------------------------------------------

    def render_group(self, g: Group, position: int, total: int, width: int = 100) -> str:
        undecided = self.undecided(g)
        rep = self.answers[g.representative]
        labels = Counter(self.answers[i].label for i in undecided)
        machine = " · ".join(f"{label} {labels[label]}" for label in reversed(self.labels) if labels[label])
        mean = sum(self.answers[i].confidence for i in undecided) / len(undecided)
        lines = [f"── group {position} of {total} · {rep.question.id} · {_answers(len(g.members))}"
                 + (f" ({len(undecided)} undecided)" if len(undecided) != len(g.members) else "") + " ──",
                 _clip(rep.question.question, width),
                 f"machine: {machine} · mean confidence {mean:.0%}",
                 f"representative (row {rep.row}):"]
        lines += ["  " + line for line in textwrap.wrap(_one_line(rep.text) or "(empty answer)", width - 2)[:6]]
        lines.append("answers, least confident first:")
        for n, i in enumerate(undecided[:SHOWN_MEMBERS], 1):
            a = self.answers[i]
            lines.append(f"  {n:>2}. row {a.row:<5} {a.label} {a.confidence:.0%}  "
                         + _clip(_one_line(a.text) or "(empty)", width - 30))
        if len(undecided) > SHOWN_MEMBERS:
            lines.append(f"      (+{len(undecided) - SHOWN_MEMBERS} more)")
        return "\n".join(lines)

    def key_help(self, n_undecided: int) -> str:
        by_label = {}
        for k, label in self.keys.items():
            if label not in by_label or by_label[label].isdigit():
                by_label[label] = k
        named = "  ".join(f"[{k}] {label}" for label, k in reversed(list(by_label.items())))
        return f"{named} (all {n_undecided})  [s] split one off  [n] next  [u] undo  [q] quit"

    def render_progress(self) -> str:
        p = self.progress()
        return (f"{p['decided']} of {p['answers']} answers decided with {p['decisions']} decisions; "
                f"{p['groups_pending']} of {p['groups']} groups to go. Decisions are saved in {self.store.path}.")

    @staticmethod
    def render_suggestion(s: Suggestion) -> str:
        return (f"rubric suggestion for {s.question_id}: add \"{s.phrase}\" as a synonym of "
                f"\"{s.concept}\" (similarity {s.similarity:.2f})? [y/n]")


def _labels_of(graded: GradedFile) -> tuple[str, ...]:
    """The bundled model's labels, or (a file graded by a model of other labels, read without it)
    the file's own in sorted order."""
    present = {a.label for a in graded.answers}
    return DEFAULT_LABEL_SETS[0] if present <= set(DEFAULT_LABEL_SETS[0]) else tuple(sorted(present))


def _answers(n: int) -> str:
    return f"{n} answer" + ("" if n == 1 else "s")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"
