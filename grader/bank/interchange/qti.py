"""QTI 3.0 (export only): not built yet."""

from grader.errors import GraderError


def export(questions, rubrics) -> bytes:
    raise GraderError("--format qti is not available yet")
