"""`grader regrade`: after a rubric, reference or model change, regrade only the questions whose
grades could have changed, and list the answers whose label moved.

What a question's grades depend on is summed up in a fingerprint: its text, its references, its
rubric (as loaded, or as drafted when it has no rubric file) and the model files' bytes. The
fingerprints a graded file was made with are kept in its review database: written when a review
of it begins, by `grader regrade --record`, and for the file `grader regrade` writes. Code changes
to the grader itself are not part of the fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.errors import GraderError
from grader.grading import default_model_path
from grader.settings import MODEL_ENV
from grader.signals.memory import memory_path_for
from grader.workflows.batch.job import BatchJob
from grader.workflows.formats import FORMATS, _Writer, output_format, read_rows, restore_formula
from grader.workflows.paths import refuse_path_collisions, refuse_unwritable_outputs
from grader.workflows.review.graded import GradedFile, grader_names, load_graded
from grader.workflows.review.store import ReviewStore, review_db_path


def model_file(model_path) -> Path:
    """The model file grading uses for the `--model` option value (as `Grader` resolves it)."""
    p = Path(model_path or os.environ.get(MODEL_ENV) or default_model_path())
    return p / "model.json" if p.is_dir() else p


def model_fingerprint(model_path) -> str:
    h = hashlib.sha256()
    path = model_file(model_path)
    for p in (path, memory_path_for(path)):
        if p is not None and p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def question_fingerprints(grader, questions: dict, model_hash: str) -> dict[str, tuple[str, str]]:
    """question key -> (question id, fingerprint of what its grades depend on)."""
    out = {}
    for key, q in questions.items():
        rubric = grader.rubric_for(q).to_dict()
        payload = json.dumps([q.question, [r.text for r in q.references], rubric["concepts"], rubric["reviewed"],
                              model_hash], ensure_ascii=False)
        out[key] = (q.id, hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest())
    return out


def record_fingerprints(graded: GradedFile, grader, model_path) -> int:
    """Store, for a graded file, the fingerprints of the settings `grader` holds (those the file is
    taken to have been graded with)."""
    prints = question_fingerprints(grader, graded.questions(), model_fingerprint(model_path))
    store = ReviewStore(review_db_path(graded.path))
    try:
        store.set_fingerprints(prints)
    finally:
        store.close()
    return len(prints)


@dataclass
class Moved:
    row: int
    question_id: str
    answer: str
    before: str
    after: str


@dataclass
class RegradeReport:
    output: str
    questions: int                      # in the file
    changed: list[str] = field(default_factory=list)     # question ids regraded
    rows_regraded: int = 0
    moved: list[Moved] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"output": self.output, "questions": self.questions, "changed_questions": self.changed,
                "rows_regraded": self.rows_regraded, "labels_moved": [asdict(m) for m in self.moved]}


def regrade(graded_path: str, grader, model_path, output_path: str, input_path: str | None = None,
            columns=None, input_format: str | None = None) -> RegradeReport:
    if output_path in (None, "", "-"):
        raise GraderError("-o: regrade writes a file (its fingerprints are kept beside it), not stdout")
    refuse_path_collisions({"GRADED": graded_path, "--input": input_path, "--model": model_file(model_path),
                            "GRADED's review database": review_db_path(graded_path)},
                           {"-o": output_path, "-o's review database": review_db_path(output_path)})
    refuse_unwritable_outputs({"-o": output_path})
    out_fmt = output_format(output_path, None, "csv")
    graded = load_graded(graded_path, grader.bank, columns)
    stored = require_fingerprints(graded_path)
    current = question_fingerprints(grader, graded.questions(), model_fingerprint(model_path))
    changed = {k for k, (_, fp) in current.items() if stored.get(k) != fp}
    inputs = _input_rows(graded, input_path, input_format)
    todo = [a for a in graded.answers if a.qkey in changed]
    report = RegradeReport(str(output_path), len(current), sorted({current[k][0] for k in changed}), len(todo))
    rows = [dict(r) for r in graded.rows]
    if todo:
        for a, new in zip(todo, _grade_rows(grader, graded, [inputs[a.row - 1] for a in todo], output_path)):
            names = grader_names(new)
            for base, name in names.items():
                rows[a.row - 1][graded.names.get(base, base)] = new[name]
            after = str(new.get(names.get("label", "label"), ""))
            if after != a.label:
                report.moved.append(Moved(a.row, a.question.id, a.text, a.label, after))
    _write_rows(rows, output_path, out_fmt)
    out_store = ReviewStore(review_db_path(output_path))
    try:
        out_store.set_fingerprints(current)
    finally:
        out_store.close()
    return report


def require_fingerprints(graded_path) -> dict[str, str]:
    """The fingerprints recorded for a graded file; a one-line error when there are none."""
    db = review_db_path(graded_path)
    stored = {}
    if db.exists():
        store = ReviewStore(db)
        try:
            stored = store.fingerprints()
        finally:
            store.close()
    if not stored:
        raise GraderError(f"{graded_path}: no fingerprints of the rubrics and model it was graded with; record them "
                          f"first with `grader regrade {graded_path} --record` and the --bank/--rubrics/--model "
                          "it was graded with (a review records them when it begins)")
    return stored


def _input_rows(graded: GradedFile, input_path, input_format) -> list[dict]:
    """The rows the graded file was made from: `input_path`'s, checked to line up with the graded
    file, or the graded rows without the grader's columns."""
    if input_path is None:
        dropped = set(graded.names.values())
        csv_text = graded.fmt == "csv"
        return [{k: (restore_formula(v) if csv_text and isinstance(v, str) else v)
                 for k, v in row.items() if k not in dropped} for row in graded.rows]
    rows = [r for chunk in read_rows(input_path, input_format) for r in chunk]
    if len(rows) != len(graded.rows):
        raise GraderError(f"--input {input_path}: {len(rows)} rows, but {graded.path} has {len(graded.rows)}; "
                          "give the file it was graded from")
    col = graded.columns.answer
    for a in graded.answers:
        given = rows[a.row - 1].get(col)
        given = "" if given is None else str(given)
        if given != a.text and restore_formula(given) != a.text:
            raise GraderError(f"--input {input_path}: row {a.row}: '{col}' differs from {graded.path}'s; "
                              "give the file it was graded from")
    return rows


def _grade_rows(grader, graded: GradedFile, rows: list[dict], near: str) -> list[dict]:
    """These input rows graded by `BatchJob` (so cohort signals, long answers and column naming are
    as in `grader batch`), through temporary files beside the output."""
    folder = os.path.dirname(os.path.abspath(near))
    fd, tmp_in = tempfile.mkstemp(prefix=".grader-regrade-", suffix=".jsonl", dir=folder)
    tmp_out = tmp_in[:-len(".jsonl")] + ".out.jsonl"
    try:
        with open(fd, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        BatchJob(grader, graded.columns).run(tmp_in, tmp_out, "jsonl", "jsonl")
        return [r for chunk in read_rows(tmp_out, "jsonl") for r in chunk]
    finally:
        for p in (tmp_in, tmp_out):
            Path(p).unlink(missing_ok=True)


def _write_rows(rows: list[dict], output_path: str, fmt: str):
    header: dict = {}
    for r in rows:
        header.update(dict.fromkeys(r))
    final = Path(output_path)
    spec = FORMATS[fmt]
    part = final.with_name(final.name + ".part")
    writer = _Writer.to_file(part, spec.part, append=False, columns=list(header) if spec.part == "csv" else None)
    try:
        writer.write(rows)
    finally:
        writer.close()
    if spec.finish is not None:
        tmp = final.with_name(final.name + ".tmp")
        spec.finish(part, tmp)
        part.unlink()
        tmp.replace(final)
    else:
        part.replace(final)
