"""`grader serve`: a JSON API for learning platforms and a practice page, on one FastAPI server.

    from grader.serve import create_app
    app = create_app()            # loads the bundled bank, rubrics and model once

Importing this package loads neither FastAPI nor a model: `create_app` (in `grader.serve.app`)
does, so `grader --help` stays fast.
"""

from .settings import (API_KEY_ENV, LOOPBACK_HOSTS, MAX_BATCH_ITEMS, MAX_BODY_BYTES, MAX_QUESTION_CHARS,
                       MAX_REFERENCES, REVIEW_CONFIDENCE)

__all__ = ["create_app", "API_KEY_ENV", "LOOPBACK_HOSTS", "MAX_BATCH_ITEMS", "MAX_BODY_BYTES",
           "MAX_QUESTION_CHARS", "MAX_REFERENCES", "REVIEW_CONFIDENCE"]


def create_app(*args, **kwargs):
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)
