"""Output paths that must not overwrite an input or each other (batch, eval, calibrate, export-labels)."""

from __future__ import annotations

import os

from grader.errors import GraderError


def _same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: the same once links and `..` are resolved, or (both
    existing) the same file by device and inode, as a hard link is."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_path_collisions(inputs: dict, outputs: dict) -> None:
    """A one-line error when an output path names the same file as an input or as another output
    of the same command; `inputs` and `outputs` map a description (`INPUT`, `--report`) to a path.
    None and `-` (stdin/stdout) are left out. Call it before any work, so nothing is overwritten."""
    ins = [(what, p) for what, p in inputs.items() if p not in (None, "-", "")]
    outs = [(what, p) for what, p in outputs.items() if p not in (None, "-", "")]
    for i, (what, path) in enumerate(outs):
        for other, other_path in ins + outs[:i]:
            if _same_path(path, other_path):
                raise GraderError(f"{what} {path} is the same file as {other} {other_path}; "
                                  "give a different path")


def refuse_unwritable_outputs(outputs: dict) -> None:
    """A one-line error when an output path cannot be written: it is a directory, or its folder
    does not exist. `outputs` maps a description (`-o`, `--report`) to a path; None and `-` are
    left out. Call it before any work, so a job does not fail only after grading everything."""
    for what, path in outputs.items():
        if path in (None, "-", ""):
            continue
        if os.path.isdir(path):
            raise GraderError(f"{what} {path}: is a directory; give a file name")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise GraderError(f"{what} {path}: cannot write (No such file or directory); "
                              f"create the folder {folder} or give another path")
        if not os.access(folder, os.W_OK):
            raise GraderError(f"{what} {path}: cannot write (folder {folder} is not writable); give another path")
