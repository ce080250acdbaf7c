"""A program run as a person runs it: in a real terminal, a detached tmux session on a private
tmux server, read through its screen and driven by keys (the quiz and review tests)."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

GRADER = Path(sys.executable).parent / "grader"


class Terminal:
    def __init__(self, script: str, width: int = 150, timeout: float = 60):
        if shutil.which("tmux") is None:
            pytest.skip("tmux is not installed")
        self.tmux = ["tmux", "-L", f"grader-test-{uuid.uuid4().hex[:8]}"]
        self.timeout = timeout
        env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        subprocess.run(self.tmux + ["-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", str(width), "-y", "200",
                                    "bash", "-c", script], check=True, env=env)
        subprocess.run(self.tmux + ["set-option", "-t", "t", "remain-on-exit", "on"], capture_output=True)

    def screen(self) -> str:
        return subprocess.run(self.tmux + ["capture-pane", "-p", "-S", "-200", "-t", "t"],
                              capture_output=True, text=True).stdout

    def wait_for(self, text: str) -> str:
        end = time.time() + self.timeout
        while time.time() < end:
            s = self.screen()
            if text in s:
                return s
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        subprocess.run(self.tmux + ["send-keys", "-t", "t", *keys], check=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run(self.tmux + ["kill-server"], capture_output=True)
