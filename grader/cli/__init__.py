"""The command line: a thin click layer over the library (the top layer; nothing imports it).

`app` holds the `grader` group, the shared options and the questions, grade, rubric and cache
commands; `bank`, `batch`, `calibrate`, `quiz` and `serve` add theirs to the group when imported here. Commands
import the library inside their functions, the one place in the package where that is allowed,
so that `grader --help` and every `--help` answer without loading numpy or a model.
"""

from grader.cli import bank, batch, calibrate, quiz, review, serve  # noqa: F401  (they register their commands on main)
from grader.cli.app import main

__all__ = ["main"]
