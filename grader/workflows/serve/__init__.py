"""`grader serve`: a JSON API for learning platforms and a practice page, on one FastAPI server.

    from grader.workflows.serve.app import create_app
    app = create_app()            # loads the bundled bank, rubrics and model once

`app` holds the app factory, the key check and the error handlers; `api` the /v1 routes; `pages`
the practice page; `settings` the limits. Importing this package loads neither FastAPI nor a model
(only `app` does), so `grader --help` stays fast.
"""
