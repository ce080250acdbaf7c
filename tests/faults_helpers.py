"""What the fault tests share: writing and reading small input files, and the check that a job
stopped with one line of error and no traceback."""

import csv
import subprocess


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_jsonl(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def one_line_error(out, *names):
    """A CliRunner result that stopped with exit code 1 and one line naming each of `names`."""
    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output
    assert out.exception is None or isinstance(out.exception, SystemExit), repr(out.exception)
    assert len(out.output.strip().splitlines()) == 1, out.output
    for name in names:
        assert name in out.output, out.output


def immutable(*paths):
    """Make files or folders unwritable even for root (chattr +i), or skip the test."""
    import pytest
    for p in paths:
        if subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode:
            pytest.skip("chattr +i is not available")


def mutable(*paths):
    for p in paths:
        subprocess.run(["chattr", "-i", str(p)], capture_output=True)


def interrupt_at_chunk(job, monkeypatch, n):
    """Make `job` (a BatchJob) stop with Ctrl-C as it starts grading its `n`-th chunk, as a user
    interrupting a run would; the chunks before it are finished and checkpointed."""
    real, calls = job._grade_chunk, {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(job, "_grade_chunk", dying)
    return job


class disk_full_after:
    """Within the block, no file of this process can grow past `limit` bytes (RLIMIT_FSIZE): a
    write past it fails with EFBIG, as a full disk or a quota would make it fail, after the bytes
    before it were written. Pipes and terminals are not limited."""

    def __init__(self, limit: int):
        self.limit = limit

    def __enter__(self):
        import resource
        import signal

        self.before = resource.getrlimit(resource.RLIMIT_FSIZE)
        # The default action of SIGXFSZ ends the process; ignored, the write returns the error.
        self.handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.limit, self.before[1]))
        return self

    def __exit__(self, *exc):
        import resource
        import signal

        resource.setrlimit(resource.RLIMIT_FSIZE, self.before)
        signal.signal(signal.SIGXFSZ, self.handler)
