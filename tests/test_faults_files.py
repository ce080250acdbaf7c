"""Issue 18: hostile or damaged files (bank, rubrics, model, quiz database) give one-line errors
naming the file and field, exit code 1, and nothing half-written; read commands never write."""

import json
import sqlite3
from pathlib import Path

import pytest

from grader.cli import main
from faults_helpers import immutable, mutable, one_line_error  # noqa: E402

BUNDLED_MODEL = Path(__file__).resolve().parent.parent / "grader" / "models" / "default" / "model.json"
BANK = ("questions:\n  - id: my-1\n    question: What is a tensor?\n    topic: fundamentals\n    level: basic\n"
        "    references: ['A tensor is a multi-dimensional array of numbers.']\n")


# --- item 11: questions validate reads BANK/rubrics like grade does ---------------------------

def test_validate_checks_the_banks_own_rubrics(tmp_path, runner):
    (tmp_path / "mine.yaml").write_text(BANK, encoding="utf-8")
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "my-1.yaml").write_text(
        "question_id: my-1\nconcepts:\n  - name: array\n    phrases: [array]\n    weight: lots\n", encoding="utf-8")
    out = runner.invoke(main, ["questions", "validate", "--bank", str(tmp_path)])
    one_line_error(out, "my-1.yaml", "weight")
    graded = runner.invoke(main, ["grade", "--bank", str(tmp_path), "-q", "my-1", "-a", "an array"])
    assert graded.exit_code == 1         # the same check grade applies


def test_validate_counts_the_banks_own_rubrics(tmp_path, runner):
    (tmp_path / "mine.yaml").write_text(BANK, encoding="utf-8")
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "my-1.yaml").write_text(
        "question_id: my-1\nconcepts:\n  - name: array\n    phrases: [array]\n    weight: 1\n", encoding="utf-8")
    out = runner.invoke(main, ["questions", "validate", "--bank", str(tmp_path)])
    assert out.exit_code == 0 and "1 rubrics" in out.output, out.output


# --- damaged and read-only quiz databases ---------------------------------------------------

def _quiz_db(path, n=40):
    from grader.workflows.quiz.session import QuizSession

    class Fixed:   # a stand-in grader: the database, not grading, is under test
        def grade(self, question, answer):
            from types import SimpleNamespace
            return SimpleNamespace(label="partial", score=0.5, confidence=0.6, matched_concepts=["a"],
                                   missed_concepts=["b"], contradicted_concepts=[])

    from grader.bank.questions import load_bank
    from grader.workflows.quiz.store import QuizStore

    bank = load_bank()
    with QuizStore(path) as store:
        session = QuizSession(Fixed(), store)
        for q in [q for q in bank if q.has_reference and q.id >= FIRST_ASKED][:n]:
            session.grade(q, "some answer " * 20)
    return path


FIRST_ASKED = "q000-027"


def _corrupt_pages(path):
    data = bytearray(path.read_bytes())
    for i in range(4096, len(data), 997):
        data[i] = (data[i] * 7 + 13) % 256
    path.write_bytes(bytes(data))


DAMAGE = {
    "garbage": lambda p: p.write_bytes(b"not a database at all" * 200),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[:len(p.read_bytes()) // 2]),
    "pages": _corrupt_pages,
    "json": "UPDATE answers SET matched_concepts = '{oops', missed_concepts = '3'",
    "stamp": "UPDATE answers SET created_at = 'yesterday'",
    "types": "UPDATE answers SET answer = x'00ff', score = 'high'",
    "label": "UPDATE answers SET label = 'brilliant'",
    "card": "UPDATE cards SET card = '{\"due\": 5}'",
    "card_json": "UPDATE cards SET card = 'nope', due = 'soon'",
    "columns": "ALTER TABLE answers DROP COLUMN rating",
    "no_table": "DROP TABLE cards",
}
COMMANDS = {
    "history": ["history"],
    "stats": ["stats"],
    "export-labels": ["export-labels"],
    "override": ["override", "1", "correct"],
    "quiz": ["quiz", "--ids", "q000-003", "--count", "1"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_quiz_database_is_a_one_line_error(tmp_path, runner, damage, command):
    db = _quiz_db(tmp_path / "q.db")
    how = DAMAGE[damage]
    if callable(how):
        how(db)
    else:
        with sqlite3.connect(db) as conn:
            conn.execute(how)
    args = COMMANDS[command] + ["--db", str(db)]
    if command == "quiz":
        args[2] = FIRST_ASKED
    out = runner.invoke(main, args, input=":reveal\n")
    assert "Traceback" not in out.output
    if out.exit_code == 0:
        # Only when the damage is outside what the command reads (or, for a writer, a missing table
        # it creates again).
        assert out.exception is None
        assert damage in ("card", "card_json", "no_table", "pages") or command == "quiz", out.output
        assert not (damage in ("card", "card_json") and command in ("quiz", "stats") and damage != "card"), out.output
        return
    one_line_error(out, str(db))
    assert "damaged quiz database" in out.output or "not a quiz database" in out.output


@pytest.mark.parametrize("command", ["history", "stats", "export-labels"])
def test_read_commands_work_on_a_read_only_database(tmp_path, runner, command):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = _quiz_db(folder / "q.db", n=3)
    with sqlite3.connect(db) as conn:      # an older file: reading must not migrate it
        conn.execute("PRAGMA user_version = 0")
    before = db.read_bytes()
    db.chmod(0o444)
    folder.chmod(0o555)
    immutable(db, folder)
    try:
        out = runner.invoke(main, [command, "--db", str(db)])
    finally:
        mutable(db, folder)
    assert out.exit_code == 0, out.output
    assert "Traceback" not in out.output
    assert sorted(p.name for p in folder.iterdir()) == ["q.db"] and db.read_bytes() == before


@pytest.mark.parametrize("command", ["history", "stats", "export-labels"])
def test_read_commands_create_no_database_or_folder(tmp_path, runner, command):
    db = tmp_path / "nowhere" / "q.db"
    out = runner.invoke(main, [command, "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert not (tmp_path / "nowhere").exists()


def test_read_commands_read_an_empty_file_as_no_answers(tmp_path, runner):
    db = tmp_path / "q.db"
    db.write_bytes(b"")
    out = runner.invoke(main, ["history", "--db", str(db), "--json"])
    assert out.exit_code == 0 and json.loads(out.output) == []
    assert db.read_bytes() == b""


def test_write_commands_on_a_read_only_database_say_so(tmp_path, runner):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = _quiz_db(folder / "q.db", n=3)
    before = db.read_bytes()
    immutable(db, folder)
    try:
        out = runner.invoke(main, ["override", "1", "correct", "--db", str(db)])
    finally:
        mutable(db, folder)
    one_line_error(out, str(db))
    assert db.read_bytes() == before


# --- tampered model files, files too large to read whole ------------------------------------

def _model_with(tmp_path, change):
    d = json.loads(BUNDLED_MODEL.read_text(encoding="utf-8"))
    change(d)
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    (folder / "model.json").write_text(json.dumps(d), encoding="utf-8")
    return folder


MODEL_TAMPERING = {
    "embedder_list": (lambda d: d["metadata"].__setitem__("embedder", ["x"]), "metadata.embedder"),
    "embedder_dict": (lambda d: d["metadata"].__setitem__("embedder", {"x": 1}), "metadata.embedder"),
    "metadata_list": (lambda d: d.__setitem__("metadata", [1]), "metadata"),
    "judge_text": (lambda d: d["metadata"].__setitem__("semantic_judge", "x"), "metadata.semantic_judge"),
    "scale_text": (lambda d: d["metadata"].__setitem__("scale", "0:5"), "metadata.scale"),
    "estimator_list": (lambda d: d["params"].__setitem__("estimator", ["boosting"]), "params.estimator"),
    "cv_text": (lambda d: d["params"].__setitem__("cv", "5"), "params.cv"),
}


@pytest.mark.parametrize("case", list(MODEL_TAMPERING))
def test_model_with_wrong_types_is_a_one_line_error(tmp_path, runner, case):
    change, field = MODEL_TAMPERING[case]
    folder = _model_with(tmp_path, change)
    out = runner.invoke(main, ["grade", "-q", "q004-035", "-a", "drops units", "--model", str(folder)])
    one_line_error(out, "model.json", field)


@pytest.mark.parametrize("text", ['{"format": ' + "[" * 100000 + "]" * 100000 + "}",
                                  '{"format": ' + "9" * 5000 + "}"], ids=["deep", "long_int"])
def test_model_json_nested_deep_or_with_a_huge_number(tmp_path, runner, text):
    (tmp_path / "model.json").write_text(text, encoding="utf-8")
    out = runner.invoke(main, ["grade", "-q", "q004-035", "-a", "drops units", "--model", str(tmp_path)])
    one_line_error(out, "model.json", "invalid JSON")


def _huge(path):
    with open(path, "wb") as f:
        f.truncate(600 * 2**20)        # sparse: no disk used
    return path


@pytest.mark.parametrize("kind", ["dev_zero", "huge", "fifo"])
def test_model_path_that_is_a_device_or_huge_is_refused_unread(tmp_path, runner, kind):
    path = tmp_path / "model.json"
    if kind == "dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os_mkfifo = __import__("os").mkfifo
        os_mkfifo(path)
    else:
        _huge(path)
    out = runner.invoke(main, ["grade", "-q", "q004-035", "-a", "drops units", "--model", str(path)])
    one_line_error(out, "model.json")


@pytest.mark.parametrize("kind", ["dev_zero", "huge", "deep"])
def test_answer_memory_that_is_a_device_huge_or_deep_is_refused(tmp_path, kind):
    from grader.errors import DataError
    from grader.signals.memory import AnswerMemory

    path = tmp_path / "answer_memory.json"
    if kind == "dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "huge":
        _huge(path)
    else:
        path.write_text("[" * 100000 + "]" * 100000, encoding="utf-8")
    with pytest.raises(DataError):
        AnswerMemory.load(path)


@pytest.mark.parametrize("where", ["bank", "rubric"])
@pytest.mark.parametrize("kind", ["dev_zero", "huge", "deep", "duplicate_key"])
def test_bank_and_rubric_files_hostile(tmp_path, runner, where, kind):
    (tmp_path / "mine.yaml").write_text(BANK, encoding="utf-8")
    (tmp_path / "rubrics").mkdir()
    rubric_ok = "question_id: my-1\nconcepts:\n  - name: array\n    phrases: [array]\n    weight: 1\n"
    target = tmp_path / ("mine.yaml" if where == "bank" else "rubrics/my-1.yaml")
    if where == "rubric":
        target.write_text(rubric_ok, encoding="utf-8")
    if kind == "dev_zero":
        target.unlink()
        target.symlink_to("/dev/zero")
    elif kind == "huge":
        _huge(target)
    elif kind == "deep":
        target.write_text("a: " + "[" * 100000 + "]" * 100000 + "\n", encoding="utf-8")
    else:
        text = target.read_text(encoding="utf-8")
        target.write_text(text.replace("question: What is a tensor?", "question: What is a tensor?\n    question: X")
                          if where == "bank" else text + "question_id: other\n", encoding="utf-8")
    out = runner.invoke(main, ["questions", "validate", "--bank", str(tmp_path)])
    one_line_error(out, target.name)
    if kind == "duplicate_key":
        assert "appears twice" in out.output and ("'question'" in out.output or "'question_id'" in out.output)
