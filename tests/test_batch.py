import csv
import io
import json
import os

import pytest

from grader.workflows.batch.job import BatchJob
from grader.workflows.formats import neutralise_formula
from grader.cli import main
from faults_helpers import interrupt_at_chunk, read_csv  # noqa: E402

ROWS = [
    {"student": "s1", "question_id": "q004-035", "answer": "It randomly drops neurons during training to curb overfitting."},
    {"student": "s2", "question_id": "no-such-id", "answer": "whatever"},
    {"student": "s3", "question": "What is a tensor?", "reference_answer": "A multi-dimensional array of numbers.",
     "answer": "an n-dimensional array"},
    {"student": "s4", "question_id": "q004-035", "answer": ""},
    {"student": "s5", "question_id": "q004-001", "answer": "=HYPERLINK(\"http://x\")"},
    {"student": "s6", "answer": "no question at all"},
    {"student": "s7", "question_id": "q003-t06", "answer": "no reference for this one"},
    {"student": "s8", "question": "What is a tensor?", "reference_answer": "A multi-dimensional array of numbers.",
     "reference_answer_2": "A generalisation of matrices to more dimensions.", "answer": "-1 is a number"},
]
COLUMNS = ["student", "question_id", "question", "reference_answer", "reference_answer_2", "answer"]


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def test_rows_kept_in_order_with_errors_explained(tmp_path, runner):
    src = write_csv(tmp_path / "in.csv", ROWS)
    out = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "out.csv"), "--chunk-size", "3"])
    assert out.exit_code == 0, out.output
    rows = read_csv(tmp_path / "out.csv")
    assert [r["student"] for r in rows] == [r["student"] for r in ROWS]
    status = {r["student"]: (r["status"], r["message"]) for r in rows}
    assert status["s1"][0] == "ok" and rows[0]["label"] in ("correct", "partial", "incorrect")
    assert status["s2"] == ("error", "unknown question_id 'no-such-id' (not in the bank, and no reference_answer given)")
    assert status["s3"][0] == "ok"
    assert status["s4"][0] == "ok" and rows[3]["label"] == "incorrect" and "empty" in status["s4"][1]
    assert status["s6"][0] == "error" and "question_id" in status["s6"][1]
    assert status["s7"][0] == "error" and "no reference" in status["s7"][1]
    # Formula cells neutralised; plain negative numbers would stay numbers.
    assert rows[4]["answer"].startswith("'=")
    assert rows[7]["answer"] == "'-1 is a number"
    assert not (tmp_path / "out.csv.part").exists() and not (tmp_path / "out.csv.checkpoint.json").exists()
    assert "8 rows, 3 errors" in out.output or "8 rows, 3 errors" in (out.stderr if hasattr(out, "stderr") else "")


def test_neutralise_formula_keeps_numbers():
    assert neutralise_formula("-3.5") == "-3.5"
    assert neutralise_formula("+1") == "+1"
    assert neutralise_formula("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise_formula("plain") == "plain"


def test_jsonl_in_parquet_out_and_reference_lists(tmp_path, runner):
    import pandas as pd

    src = tmp_path / "in.jsonl"
    lines = [{"id": 1, "question": "What is a tensor?", "reference_answers": ["A multi-dimensional array."],
              "answer": "an n-d array"},
             {"id": 2, "question_id": "q004-035", "answer": "drops neurons randomly"}]
    src.write_text("\n".join(json.dumps(l) for l in lines) + "\n{broken json\n", encoding="utf-8")
    out = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "out.parquet"), "-q"])
    assert out.exit_code == 0, out.output
    df = pd.read_parquet(tmp_path / "out.parquet")
    assert list(df["status"]) == ["ok", "ok", "error"]
    assert "invalid JSON" in df["message"].iloc[2]


def test_stdin_to_stdout(tmp_path, runner):
    src = write_csv(tmp_path / "in.csv", ROWS[:3])
    out = runner.invoke(main, ["batch", "-", "-o", "-", "-q"], input=src.read_text())
    assert out.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["student"] for r in rows] == ["s1", "s2", "s3"]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"question_id,answer\n", "no rows after the header"),
    (b"question_id,answer,answer\nq004-035,a,b\n", "column 'answer' appears twice"),
    (b"student,answer_text\ns1,hello\n", "missing required column 'answer'"),
    (b"answer,foo\nhello,1\n", "needs a 'question_id' column"),
    ("answer,question_id\nh\xe9llo,q004-035\n".encode("latin-1"), "not UTF-8"),
])
def test_bad_files_stop_with_one_line_error(tmp_path, runner, content, message):
    src = tmp_path / "in.csv"
    src.write_bytes(content)
    out = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "out.csv")])
    assert out.exit_code == 1
    assert message in out.output and "Traceback" not in out.output
    assert str(src) in out.output
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.csv.part").exists()


def test_answer_longer_than_a_csv_field_may_be_is_graded_with_a_note(tmp_path, runner):
    long = "dropout randomly drops neurons " * 5_000      # 155 KB: over the csv module's 128 KB limit
    src = write_csv(tmp_path / "in.csv", [{"student": "s1", "question_id": "q004-035", "answer": long},
                                          {"student": "s2", "question_id": "q004-035", "answer": "drops neurons"}])
    out = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "out.csv"), "-q"])
    assert out.exit_code == 0, out.output
    rows = read_csv(tmp_path / "out.csv")
    assert [r["student"] for r in rows] == ["s1", "s2"] and rows[0]["answer"] == long
    assert rows[0]["status"] == "ok" and "truncated" in rows[0]["message"]


@pytest.mark.parametrize("output, message", [
    ("graded.xlsx", "unknown output format '.xlsx'"),
    ("no-such-dir/graded.csv", "cannot write (No such file or directory)"),
])
def test_output_that_cannot_be_written_stops_with_one_line_error(tmp_path, runner, output, message):
    src = write_csv(tmp_path / "in.csv", ROWS[:1])
    out = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / output), "-q"])
    assert out.exit_code == 1
    assert message in out.output and str(tmp_path / output) in out.output and "Traceback" not in out.output
    assert not list(tmp_path.glob("graded*"))


def test_missing_file_and_column_remapping(tmp_path, runner):
    out = runner.invoke(main, ["batch", str(tmp_path / "nope.csv")])
    assert out.exit_code == 1 and "file not found" in out.output
    src = tmp_path / "in.csv"
    src.write_text("qid,response\nq004-035,randomly drops neurons\n", encoding="utf-8")
    out = runner.invoke(main, ["batch", str(src), "--question-id-column", "qid", "--answer-column", "response",
                               "-o", str(tmp_path / "o.csv"), "-q"])
    assert out.exit_code == 0, out.output
    assert read_csv(tmp_path / "o.csv")[0]["status"] == "ok"


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, grader, monkeypatch):
    rows = [dict(r, student=f"{r['student']}-{i}") for i in range(4) for r in ROWS]
    src = write_csv(tmp_path / "in.csv", rows)
    BatchJob(grader, chunk_size=5).run(str(src), str(tmp_path / "full.csv"))

    job = interrupt_at_chunk(BatchJob(grader, chunk_size=5), monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        job.run(str(src), str(tmp_path / "out.csv"))
    assert not (tmp_path / "out.csv").exists()          # nothing that looks complete
    assert (tmp_path / "out.csv.part").exists()
    resumed = BatchJob(grader, chunk_size=5)
    summary = resumed.run(str(src), str(tmp_path / "out.csv"), resume=True)
    assert summary.resumed_from == 10
    assert (tmp_path / "out.csv").read_text() == (tmp_path / "full.csv").read_text()


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_resume_from_a_part_cut_short_regrades_the_rows_it_lost(tmp_path, grader, monkeypatch, fmt):
    """A .part that holds fewer rows than its checkpoint says (cut by hand, or a full disk) resumes
    where its last whole row ends: no row is lost or doubled."""
    rows = [dict(r, student=f"{r['student']}-{i}") for i in range(2) for r in ROWS]
    src = write_csv(tmp_path / "in.csv", rows)
    BatchJob(grader, chunk_size=4).run(str(src), str(tmp_path / f"full.{fmt}"))
    job = interrupt_at_chunk(BatchJob(grader, chunk_size=4), monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        job.run(str(src), str(tmp_path / f"out.{fmt}"))
    part = tmp_path / f"out.{fmt}.part"
    text = part.read_text(encoding="utf-8")
    part.write_text(text[:text.rindex("s4-0")], encoding="utf-8")   # row 4 cut mid-way, 3 whole
    summary = BatchJob(grader, chunk_size=4).run(str(src), str(tmp_path / f"out.{fmt}"), resume=True)
    assert summary.resumed_from == 3
    assert (tmp_path / f"out.{fmt}").read_text() == (tmp_path / f"full.{fmt}").read_text()


def test_resume_refuses_a_damaged_checkpoint_or_another_input(tmp_path, runner):
    src = write_csv(tmp_path / "in.csv", ROWS[:3])
    other = write_csv(tmp_path / "other.csv", ROWS[:2])
    out_path = tmp_path / "out.csv"
    (tmp_path / "out.csv.part").write_text("student,answer\n")
    checkpoint = tmp_path / "out.csv.checkpoint.json"
    checkpoint.write_text("{not json")
    out = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "--resume", "-q"])
    assert out.exit_code == 1 and "damaged checkpoint" in out.output and "Traceback" not in out.output
    runner.invoke(main, ["batch", str(other), "-o", str(out_path), "-q"])
    from grader.workflows.batch.resume import _input_identity

    interrupted = {"rows_done": 1, **_input_identity(str(other))}
    (tmp_path / "out.csv.part").write_text(out_path.read_text())
    checkpoint.write_text(json.dumps(interrupted))
    out = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "--resume", "-q"])
    assert out.exit_code == 1 and "made for another input" in out.output and str(checkpoint) in out.output
    out = runner.invoke(main, ["batch", str(other), "-o", str(out_path), "--resume", "-q"])
    assert out.exit_code == 0, out.output
    assert [r["student"] for r in read_csv(out_path)] == ["s1", "s2"]


def test_header_cells_neutralised_and_resume_reads_them_back(tmp_path, grader, monkeypatch):
    """Column names come from the input, so a header cell can be a formula too; a resumed run
    must still find each column's values under the neutralised name it wrote."""
    rows = [{"=cmd()": f"x{i}", "question_id": "q004-035", "answer": f"Dropout drops units at random ({i})."}
            for i in range(6)]
    src = tmp_path / "in.csv"
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["=cmd()", "question_id", "answer"])
        w.writeheader()
        w.writerows(rows)
    BatchJob(grader, chunk_size=2).run(str(src), str(tmp_path / "full.csv"))
    with open(tmp_path / "full.csv", newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header[0] == "'=cmd()"
    assert [r["'=cmd()"] for r in read_csv(tmp_path / "full.csv")] == [f"x{i}" for i in range(6)]

    job = interrupt_at_chunk(BatchJob(grader, chunk_size=2), monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        job.run(str(src), str(tmp_path / "out.csv"))
    BatchJob(grader, chunk_size=2).run(str(src), str(tmp_path / "out.csv"), resume=True)
    assert (tmp_path / "out.csv").read_text() == (tmp_path / "full.csv").read_text()


def test_report_html(tmp_path, runner):
    src = write_csv(tmp_path / "in.csv", ROWS)
    out = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "o.csv"), "--report", str(tmp_path / "r.html"),
                               "-q"])
    assert out.exit_code == 0
    page = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in page and "Least sure" in page and "q004-035" in page


def test_report_of_a_resumed_run_covers_every_row(tmp_path, grader, monkeypatch):
    """The rows the interrupted run finished are read back from its output for the report."""
    src = write_csv(tmp_path / "in.csv", ROWS)
    whole = BatchJob(grader, chunk_size=2)
    whole.keep_records = True
    whole.run(str(src), str(tmp_path / "whole.csv"))
    job = interrupt_at_chunk(BatchJob(grader, chunk_size=2), monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        job.run(str(src), str(tmp_path / "out.csv"))
    resumed = BatchJob(grader, chunk_size=2)
    resumed.keep_records = True
    summary = resumed.run(str(src), str(tmp_path / "out.csv"), resume=True)
    assert summary.resumed_from == 4

    def key(r):
        return (r["status"], r.get("row"), r["question_id"], r["answer"], r.get("label"),
                round(r.get("score", 0), 4), round(r.get("confidence", 0), 4))
    assert sorted(map(key, resumed.records)) == sorted(map(key, whole.records))
    assert {r["question"] for r in resumed.records if r["question_id"] == "q004-035" and r["status"] == "ok"} == \
        {grader.bank.get("q004-035").question}


def test_windows_of_rows_keep_every_row_in_order_and_resume(tmp_path, grader, monkeypatch):
    """The model runs a window of rows at a time and grading goes chunk by chunk; neither may
    move, drop or change a row, also when a run stops and resumes inside a window."""
    rows = [dict(r, student=f"{r['student']}-{i}") for i in range(3) for r in ROWS]
    src = write_csv(tmp_path / "in.csv", rows)
    BatchJob(grader, chunk_size=1000).run(str(src), str(tmp_path / "whole.csv"))
    # Chunks never cross a window: rows 0-2, 3-5, 6 | 7-9, 10-12, 13 | ... The fifth chunk dies,
    # so the run stops inside the second window.
    job = interrupt_at_chunk(BatchJob(grader, chunk_size=3, window_size=7), monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        job.run(str(src), str(tmp_path / "out.csv"))
    summary = BatchJob(grader, chunk_size=3, window_size=7).run(str(src), str(tmp_path / "out.csv"), resume=True)
    assert summary.resumed_from == 10 and summary.rows == len(rows)
    whole, windowed = read_csv(tmp_path / "whole.csv"), read_csv(tmp_path / "out.csv")
    assert [r["student"] for r in windowed] == [r["student"] for r in rows]
    for a, b in zip(whole, windowed):
        assert {k: v for k, v in a.items() if k not in ("score", "confidence")} == \
            {k: v for k, v in b.items() if k not in ("score", "confidence")}
        if a["score"]:
            assert abs(float(a["score"]) - float(b["score"])) < 1e-3


def test_a_short_last_window_is_embedded_with_the_one_before(tmp_path, grader, monkeypatch):
    """Rows of a small last window would be sorted by length apart from the rest and pad the
    model's batches more; they join the previous window, and no row moves."""
    rows = [dict(r, student=f"{r['student']}-{i}", answer=f"{r['answer']} #{i}" if r["answer"] else "")
            for i in range(2) for r in ROWS][:9]
    src = write_csv(tmp_path / "in.csv", rows)
    calls = []
    embed = grader.embed
    monkeypatch.setattr(grader, "embed", lambda items: calls.append({a for _, a in items}) or embed(items))
    summary = BatchJob(grader, chunk_size=2, window_size=4).run(str(src), str(tmp_path / "out.csv"))
    # Reads of 4, 4 and 1 rows: the last row goes through the model with rows 4-7.
    assert any({rows[4]["answer"], rows[8]["answer"]} <= answers for answers in calls)
    assert summary.rows == 9
    assert [r["student"] for r in read_csv(tmp_path / "out.csv")] == [r["student"] for r in rows]


@pytest.mark.slow
def test_batch_in_a_real_terminal_shows_progress_and_grades(tmp_path):
    """On a tty the progress bar is on; it once crashed before the first row (tqdm's bar without a
    total has no truth value)."""
    import pty
    import subprocess
    import sys
    from pathlib import Path

    src = tmp_path / "in.csv"
    src.write_text("question_id,answer\nq004-035,Dropout randomly drops units during training.\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    grader_bin = Path(sys.executable).with_name("grader")
    leader, follower = pty.openpty()
    proc = subprocess.run([str(grader_bin), "batch", str(src), "-o", str(out)], stdin=follower, stdout=follower,
                          stderr=follower, timeout=300)
    os.close(follower)
    shown = b""
    try:
        while True:
            chunk = os.read(leader, 65536)
            if not chunk:
                break
            shown += chunk
    except OSError:
        pass
    os.close(leader)
    assert proc.returncode == 0, shown.decode(errors="replace")[-2000:]
    assert b"Traceback" not in shown
    assert out.read_text(encoding="utf-8").count("\n") == 2
