"""Issue 18: hostile or damaged files (bank, rubrics, model, quiz database) give one-line errors
naming the file and field, exit code 1, and nothing half-written; read commands never write."""

import json
import sqlite3
from pathlib import Path

import pytest

from grader.cli import main

BUNDLED_MODEL = Path(__file__).resolve().parent.parent / "grader" / "models" / "default" / "model.json"
BANK = ("questions:\n  - id: my-1\n    question: What is a tensor?\n    topic: fundamentals\n    level: basic\n"
        "    references: ['A tensor is a multi-dimensional array of numbers.']\n")


def _one_line_error(out, *names):
    assert out.exit_code == 1, out.output
    assert "Traceback" not in out.output
    assert out.exception is None or isinstance(out.exception, SystemExit), repr(out.exception)
    assert len(out.output.strip().splitlines()) == 1, out.output
    for name in names:
        assert name in out.output, out.output


# --- item 11: questions validate reads BANK/rubrics like grade does ---------------------------

def test_validate_checks_the_banks_own_rubrics(tmp_path, runner):
    (tmp_path / "mine.yaml").write_text(BANK, encoding="utf-8")
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "my-1.yaml").write_text(
        "question_id: my-1\nconcepts:\n  - name: array\n    phrases: [array]\n    weight: lots\n", encoding="utf-8")
    out = runner.invoke(main, ["questions", "validate", "--bank", str(tmp_path)])
    _one_line_error(out, "my-1.yaml", "weight")
    graded = runner.invoke(main, ["grade", "--bank", str(tmp_path), "-q", "my-1", "-a", "an array"])
    assert graded.exit_code == 1         # the same check grade applies


def test_validate_counts_the_banks_own_rubrics(tmp_path, runner):
    (tmp_path / "mine.yaml").write_text(BANK, encoding="utf-8")
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "my-1.yaml").write_text(
        "question_id: my-1\nconcepts:\n  - name: array\n    phrases: [array]\n    weight: 1\n", encoding="utf-8")
    out = runner.invoke(main, ["questions", "validate", "--bank", str(tmp_path)])
    assert out.exit_code == 0 and "1 rubrics" in out.output, out.output
