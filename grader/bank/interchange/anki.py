"""Anki (export only): not built yet."""

from grader.errors import GraderError


def export(questions, rubrics) -> bytes:
    raise GraderError("--format anki is not available yet")
