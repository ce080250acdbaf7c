"""Issue 18, the smaller items about files the grader writes or spools: a write cut short (a full
disk, a crash) leaves the previous file whole and no temporary file; new files get the user's
mode; a FIFO is read once; spooled stdin never outlives its job; the messages of an interrupted
or resumed run say what is kept. Each test failed before its fix."""

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from grader.cli import main
from grader.workflows.batch.job import BatchJob
from faults_helpers import disk_full_after, one_line_error, read_csv, write_csv  # noqa: E402

ROWS = [{"who": f"w{i}", "question_id": "q004-035", "answer": f"it drops units at random, take {i}"} for i in range(3)]


def _leftovers(folder: Path, *expected: str) -> list[str]:
    """Entries of `folder` beyond the expected ones (temporary files, spools, old copies)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in expected)


# --- a FIFO as batch input ---------------------------------------------------------------------

def test_a_fifo_as_input_is_read_once(tmp_path, runner):
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    text = "question_id,answer\nq004-035,drops units\nq004-035,a second answer\n"
    written, stop = threading.Event(), threading.Event()

    def writer():
        try:
            with open(fifo, "w", encoding="utf-8") as f:     # waits for the job to open it
                f.write(text)
        except OSError:
            pass
        written.set()

    def unblock():
        # A job opening the FIFO a second time would wait for another writer forever: a writer
        # that writes nothing ends that wait with end-of-file, so this test can never hang.
        while not written.wait(0.1):
            if stop.is_set():
                return
        while not stop.wait(0.2):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass

    threads = [threading.Thread(target=writer, daemon=True), threading.Thread(target=unblock, daemon=True)]
    for t in threads:
        t.start()
    try:
        out = runner.invoke(main, ["batch", str(fifo), "-o", str(tmp_path / "out.csv"), "-q"])
    finally:
        stop.set()
        if not written.is_set():        # the job never opened it: release the writer
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        for t in threads:
            t.join(10)
    assert out.exit_code == 0, out.output
    assert [r["answer"] for r in read_csv(tmp_path / "out.csv")] == ["drops units", "a second answer"]
    assert _leftovers(tmp_path, "in.csv", "out.csv") == []


# --- spooled stdin of a killed job -------------------------------------------------------------

def _holds_spool(pid: int) -> bool:
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return False
    return any(".grader-stdin-" in link for link in links)


@pytest.mark.slow       # a process of its own loads the model
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the spool open")
def test_a_job_killed_while_spooling_stdin_leaves_no_spool(tmp_path):
    """kill -9 cannot be caught: the spool must not be a file that only the job would remove."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    job = subprocess.Popen([sys.executable, "-m", "grader", "batch", "-", "-o", str(tmp_path / "out.csv"), "-q"],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        job.stdin.write(b"question_id,answer\nq004-035,drops units\n")
        job.stdin.flush()           # stdin stays open: the job is still spooling when killed
        spooling = False
        for _ in range(2400):
            if job.poll() is not None:
                break
            if _holds_spool(job.pid):
                spooling = True
                break
            threading.Event().wait(0.05)
        job.send_signal(signal.SIGKILL)
        job.wait(30)
    finally:
        if job.poll() is None:
            job.kill()
        job.stdin.close()
    assert spooling, "the job ended before it spooled stdin"
    assert _leftovers(tmp_path, "out.csv.lock") == []


# --- writes cut short: the previous file stays whole ---------------------------------------------

def test_a_checkpoint_write_cut_short_keeps_the_previous_checkpoint(tmp_path, runner, monkeypatch):
    import grader.workflows.batch.job as job_module

    src = write_csv(tmp_path / "in.csv", ROWS)
    real, calls = json.dumps, {"n": 0}

    def dumps(obj, *args, **kwargs):
        text = real(obj, *args, **kwargs)
        if isinstance(obj, dict) and "rows_done" in obj:
            calls["n"] += 1
            if calls["n"] == 2:     # the second checkpoint fails as it is written
                return text[:len(text) // 2] + "\ud800"
        return text

    monkeypatch.setattr(job_module, "json", type("Json", (), {"dumps": staticmethod(dumps)}))
    out_path = tmp_path / "out.csv"
    cut = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "-q", "--chunk-size", "1"])
    assert cut.exit_code != 0 and calls["n"] == 2
    monkeypatch.undo()
    assert _leftovers(tmp_path, "in.csv", "out.csv.part", "out.csv.checkpoint.json") == []
    resumed = runner.invoke(main, ["batch", str(src), "-o", str(out_path), "-q", "--resume", "--json-summary"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stderr)["resumed_from_row"] == 1       # the first checkpoint, whole
    assert [(r["who"], r["status"]) for r in read_csv(out_path)] == [(r["who"], "ok") for r in ROWS]


def test_a_report_write_cut_short_keeps_the_old_report(tmp_path, runner):
    src = write_csv(tmp_path / "in.csv", ROWS[:1])
    report = tmp_path / "report.html"
    args = ["batch", str(src), "-o", str(tmp_path / "out.csv"), "--report", str(report), "-q"]
    assert runner.invoke(main, args).exit_code == 0
    before = report.read_bytes()
    assert len(before) > 6000 and (tmp_path / "out.csv").stat().st_size < 3000
    with disk_full_after(4000):        # the output fits, the report does not
        out = runner.invoke(main, args)
    one_line_error(out, f"{report}: cannot write")
    assert report.read_bytes() == before
    assert _leftovers(tmp_path, "in.csv", "out.csv", "report.html") == []


def test_a_rubric_draft_write_cut_short_keeps_the_old_file(tmp_path, runner):
    target = tmp_path / "draft.yaml"
    assert runner.invoke(main, ["rubric", "draft", "q004-035", "-o", str(target)]).exit_code == 0
    before = target.read_bytes()
    with disk_full_after(len(before) // 2):
        out = runner.invoke(main, ["rubric", "draft", "q004-035", "-o", str(target)])
    assert out.exit_code == 1 and "Traceback" not in out.output, out.output
    assert target.read_bytes() == before
    assert _leftovers(tmp_path, "draft.yaml") == []


def _labelled(tmp_path):
    answers = {"correct": "Dropout randomly switches off units during training so they cannot co-adapt, "
                          "which reduces overfitting; at test time all units are used.",
               "partial": "It switches off some neurons.",
               "incorrect": "It makes the network bigger."}
    rows = [{"question_id": qid, "answer": f"{text} ({i})", "label": label}
            for qid in ("q004-035", "q004-036") for label, text in answers.items() for i in range(4)]
    return write_csv(tmp_path / "labels.csv", rows)


@pytest.mark.slow       # a calibration
def test_a_model_directory_write_cut_short_keeps_the_old_set(tmp_path, runner):
    data = _labelled(tmp_path)
    model = tmp_path / "m"
    model.mkdir()
    files = {"model.json": b"{...the previous model...}", "answer_memory.json": b"{...its memory...}",
             "report.html": b"<p>its report</p>"}
    for name, content in files.items():
        (model / name).write_bytes(content)
    with disk_full_after(16):      # every new file fails as it is written
        out = runner.invoke(main, ["calibrate", str(data), "-o", str(model), "--cv", "1", "--memory", "--quiet"])
    assert out.exit_code == 1 and "Traceback" not in out.output, out.output
    assert {p.name: p.read_bytes() for p in model.iterdir()} == files
    assert _leftovers(tmp_path, "labels.csv", "m") == []


# --- the mode of exported label files ------------------------------------------------------------

@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_exported_labels_get_the_mode_a_new_file_gets(tmp_path, runner, mask):
    from grader.workflows.quiz.store import QuizStore

    db = tmp_path / "q.db"
    with QuizStore(db) as store:
        store.record(question_id="q004-035", answer="drops units", label="partial", score=0.5)
    labels = tmp_path / "labels.csv"
    before = os.umask(mask)
    try:
        out = runner.invoke(main, ["export-labels", "--db", str(db), "-o", str(labels)])
    finally:
        os.umask(before)
    assert out.exit_code == 0, out.output
    assert stat.S_IMODE(labels.stat().st_mode) == 0o666 & ~mask


# --- what an interrupted or resumed run says -------------------------------------------------------

def _ctrl_c_at_chunk(monkeypatch, n):
    real, calls = BatchJob._grade_chunk, {"n": 0}

    def dying(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(BatchJob, "_grade_chunk", dying)


def test_the_summary_of_a_resumed_run_counts_every_row(tmp_path, runner, monkeypatch):
    rows = [{"who": "x", "question_id": "no-such-id", "answer": "drops units"}, *ROWS]
    src = write_csv(tmp_path / "in.csv", rows)
    out_path = str(tmp_path / "out.csv")
    _ctrl_c_at_chunk(monkeypatch, 3)
    cut = runner.invoke(main, ["batch", str(src), "-o", out_path, "--chunk-size", "1", "-q"])
    assert cut.exit_code == 1 and "2 finished rows" in cut.output and "--resume" in cut.output, cut.output
    monkeypatch.undo()
    resumed = runner.invoke(main, ["batch", str(src), "-o", out_path, "--resume", "--json-summary"])
    assert resumed.exit_code == 0, resumed.output
    summary, graded = json.loads(resumed.stderr), read_csv(out_path)
    ok = [r for r in graded if r["status"] == "ok"]
    assert (summary["rows"], summary["errors"]) == (4, 1) and len(ok) == 3
    assert summary["labels"] == dict(Counter(r["label"] for r in ok))
    assert summary["mean_score"] == pytest.approx(sum(float(r["score"]) for r in ok) / 3, abs=1e-3)


def test_ctrl_c_before_any_row_is_finished_does_not_say_rows_are_kept(tmp_path, runner, monkeypatch):
    src = write_csv(tmp_path / "in.csv", ROWS)
    _ctrl_c_at_chunk(monkeypatch, 1)
    out = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "out.csv"), "--chunk-size", "1", "-q"])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "kept" not in out.output and "before any row" in out.output, out.output
    assert _leftovers(tmp_path, "in.csv") == []
