"""Errors the CLI turns into one-line messages (never tracebacks)."""


class GraderError(Exception):
    """A problem with the user's input: a file, a row, a field or an option."""


class DataError(GraderError):
    """A bank, rubric, model or data file that does not validate; the message names file and key."""

    def __init__(self, path, key, problem):
        self.path, self.key, self.problem = str(path), key, problem
        where = f"{self.path}: {key}" if key else self.path
        super().__init__(f"{where}: {problem}")
