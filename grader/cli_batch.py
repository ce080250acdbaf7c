"""Commands registered on `grader.cli.main`."""
