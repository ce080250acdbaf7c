"""`grader batch --engine dask` (issue 22): the same rows as the local engine, error rows, resume,
a failing partition named. The slow tests share one 2-worker LocalCluster (each worker loads the
models once) and reach it through `--scheduler`."""

import csv
import json
import sys

import pytest

from grader.cli import main
from grader.workflows.formats import neutralise_formula
from faults_helpers import read_csv  # noqa: E402

ROWS = [
    ("s01", "q004-035", "", "", "It randomly drops neurons during training to reduce overfitting."),
    ("s02", "q004-035", "", "", "Dropout makes training faster because it does not drop neurons."),
    ("s03", "q004-039", "", "", "The stride is the step size of the filter as it moves, which controls the output size."),
    ("s04", "q004-039", "", "", "stride kernel pixels step"),
    ("s05", "no-such-id", "", "", "whatever"),
    ("s06", "", "What is a tensor?", "A multi-dimensional array of numbers.", "an n-dimensional array"),
    ("s07", "", "What is a tensor?", "A multi-dimensional array of numbers.", "a kind of neural network layer"),
    ("s08", "q004-035", "", "", ""),
    ("s09", "q004-039", "", "", "It is how many pixels the kernel shifts each step."),
    ("s10", "", "What is a tensor?", "A multi-dimensional array of numbers.", "=1+1 a matrix generalised"),
    ("s11", "q004-035", "", "", "Dropout zeroes a random fraction of activations while training; all units at test."),
    ("s12", "q004-039", "", "", "The padding added around the image."),
]
HEADER = ["student", "question_id", "question", "reference_answer", "answer"]


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def _fail_on(students):
    """Run on every worker: grading a partition holding one of `students` raises (an empty list
    puts the library's function back)."""
    import grader.workflows.batch.distributed as engine
    from grader.workflows.batch.frames import grade_frame

    def failing(grader, frame, *args, **kwargs):
        if set(frame["student"]) & set(students):
            raise RuntimeError("injected fault")
        return grade_frame(grader, frame, *args, **kwargs)

    engine.grade_frame = failing if students else grade_frame


def _die_once_on(student, marker):
    """Run on every worker: the first worker to grade `student` exits at once, as a killed one does."""
    import os

    import grader.workflows.batch.distributed as engine
    from grader.workflows.batch.frames import grade_frame

    def dying(grader, frame, *args, **kwargs):
        if student in set(frame["student"]):
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
                os._exit(1)
            except FileExistsError:
                pass
        return grade_frame(grader, frame, *args, **kwargs)

    engine.grade_frame = dying


@pytest.fixture(scope="module")
def cluster():
    import logging

    import cloudpickle
    from distributed import Client, LocalCluster

    # The workers cannot import this test module: `_fail_on` travels by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as local, Client(local) as client:
        yield local.scheduler_address, client
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def dask_batch(runner, address, *args):
    return runner.invoke(main, ["batch", *args, "--engine", "dask", "--scheduler", address, "--chunk-size", "4",
                                "--partition-rows", "4", "-q"])


@pytest.mark.slow
def test_same_rows_as_the_local_engine(tmp_path, runner, cluster):
    import pandas as pd

    src = write_csv(tmp_path / "in.csv", ROWS)
    # Chunks of 4 rows on both engines: a chunk's rows are graded together.
    local = runner.invoke(main, ["batch", str(src), "-o", str(tmp_path / "local.csv"), "--chunk-size", "4", "-q"])
    assert local.exit_code == 0, local.output
    out = dask_batch(runner, cluster[0], str(src), "-o", str(tmp_path / "graded"))
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in (tmp_path / "graded").glob("*.parquet")) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    want = read_csv(tmp_path / "local.csv")
    got = pd.read_parquet(tmp_path / "graded")
    assert list(got.columns) == list(want[0])
    assert list(got["student"]) == [r["student"] for r in want]
    for (_, g), w in zip(got.iterrows(), want):
        # Input columns pass through (formula-like cells are quoted in CSV only, by either engine).
        assert {c: neutralise_formula(g[c]) for c in HEADER} == {c: w[c] for c in HEADER}
        assert (g["status"], g["label"] or "", g["message"]) == (w["status"], w["label"], w["message"])
        assert (g["matched_concepts"], g["feedback"]) == (w["matched_concepts"], w["feedback"])
        if w["status"] == "ok":
            assert abs(g["score"] - float(w["score"])) <= 1e-6
            assert abs(g["confidence"] - float(w["confidence"])) <= 1e-6
        else:
            assert pd.isna(g["score"])
    bad = got[got["student"] == "s05"].iloc[0]
    assert bad["status"] == "error" and bad["message"].startswith("unknown question_id 'no-such-id'")
    # One file, when -o names one: the local engine's file, byte for byte.
    out = dask_batch(runner, cluster[0], str(src), "-o", str(tmp_path / "graded.csv"))
    assert out.exit_code == 0, out.output
    assert (tmp_path / "graded.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert not (tmp_path / "graded.csv.parts").exists()


@pytest.mark.slow
def test_failing_partition_named_and_resume_grades_only_it(tmp_path, runner, cluster):
    address, client = cluster
    parts = tmp_path / "in"
    parts.mkdir()
    write_csv(parts / "a.csv", ROWS[:4])
    write_csv(parts / "b.csv", ROWS[4:8])
    # A JSONL part with a line that is not JSON: an error row in place, as the local engine makes it.
    (parts / "c.jsonl").write_text("".join(json.dumps(dict(zip(HEADER, r))) + "\n" for r in ROWS[8:11])
                                   + '{"student": "s12", broken\n', encoding="utf-8")
    out_dir = tmp_path / "graded"
    client.run(_fail_on, ["s06"])
    try:
        out = dask_batch(runner, address, str(parts), "-o", str(out_dir), "--retries", "1")
        assert out.exit_code == 1
        message = out.output.strip()
        assert "\n" not in message and "Traceback" not in message
        assert f"partition {parts / 'b.csv'} failed after 2 tries (RuntimeError: injected fault)" in message
        assert sorted(p.name for p in out_dir.glob("*.parquet")) == ["part-00000.parquet", "part-00002.parquet"]
        finished = {p: p.stat().st_mtime_ns for p in out_dir.glob("*.parquet")}
        # Grading a finished partition again would now fail: --resume must grade b.csv alone.
        client.run(_fail_on, ["s01", "s09"])
        out = runner.invoke(main, ["batch", str(parts), "--engine", "dask", "--scheduler", address, "--chunk-size",
                                   "4", "--partition-rows", "4", "-o", str(out_dir), "--resume", "--json-summary"])
        assert out.exit_code == 0, out.output
    finally:
        client.run(_fail_on, [])
    summary = json.loads(out.output.strip().splitlines()[-1])
    assert (summary["partitions"], summary["partitions_resumed"], summary["rows"]) == (3, 2, 12)
    assert {p: p.stat().st_mtime_ns for p in finished} == finished
    import pandas as pd

    got = pd.read_parquet(out_dir)
    assert list(got["student"].fillna("")) == [r[0] for r in ROWS[:11]] + [""]
    assert list(got["status"]) == ["ok"] * 4 + ["error"] + ["ok"] * 6 + ["error"]
    assert got["message"].iloc[11].startswith("line 4: invalid JSON")


@pytest.mark.slow
def test_a_killed_worker_loses_and_doubles_nothing(tmp_path, runner, cluster):
    address, client = cluster
    src = write_csv(tmp_path / "in.csv", ROWS)
    client.run(_die_once_on, "s06", str(tmp_path / "died"))
    try:
        out = dask_batch(runner, address, str(src), "-o", str(tmp_path / "graded.jsonl"), "--retries", "0")
    finally:
        client.run(_fail_on, [])
    assert (tmp_path / "died").exists()       # a worker did die mid-job
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in (tmp_path / "graded.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["student"] for r in rows] == [r[0] for r in ROWS]
    assert [r["status"] for r in rows].count("error") == 1


def test_bad_input_stops_before_any_cluster_or_output(tmp_path, runner):
    parts = tmp_path / "in"
    parts.mkdir()
    write_csv(parts / "a.csv", ROWS[:4])
    (parts / "b.csv").write_text("student,reply\ns1,x\n", encoding="utf-8")
    out = runner.invoke(main, ["batch", str(parts / "*.csv"), "--engine", "dask", "-o", str(tmp_path / "graded")])
    assert out.exit_code == 1
    assert out.output.strip().startswith(f"Error: {parts / 'b.csv'}: missing required column 'answer'")
    assert not (tmp_path / "graded").exists()


@pytest.mark.parametrize("args, message", [
    (["--engine", "dask"], "--engine dask needs -o"),
    (["--engine", "dask", "-o", "OUT", "--partition-rows", "10", "--chunk-size", "4"], "not a multiple of --chunk-size"),
    (["-o", "OUT.csv", "--workers", "2"], "--workers needs --engine dask"),
    (["--engine", "dask", "-o", "IN"], "holds the input"),
])
def test_options_that_cannot_work_are_one_line_errors(tmp_path, runner, args, message):
    (tmp_path / "IN").mkdir()
    write_csv(tmp_path / "IN" / "a.csv", ROWS[:2])
    args = [str(tmp_path / a) if a.startswith(("OUT", "IN")) else a for a in args]
    out = runner.invoke(main, ["batch", str(tmp_path / "IN"), *args])
    assert out.exit_code != 0 and message in out.output and "Traceback" not in out.output
    assert sorted(p.name for p in (tmp_path / "IN").iterdir()) == ["a.csv"]
