"""Errors the CLI turns into one-line messages (never tracebacks), and `read_whole`, the one way
files that are read whole are read (with a size cap)."""

import os
import re
import stat
from pathlib import Path


class GraderError(Exception):
    """A problem with the user's input: a file, a row, a field or an option."""


class DataError(GraderError):
    """A bank, rubric, model or data file that does not validate; the message names file and key."""

    def __init__(self, path, key, problem):
        self.path, self.key, self.problem = str(path), key, problem
        where = f"{self.path}: {key}" if key else self.path
        super().__init__(f"{where}: {problem}")


def read_whole(path, limit: int, what: str = "file") -> str:
    """The text of a regular file of at most `limit` bytes, read whole; a device, a FIFO or a
    larger file is a DataError (never read). UnicodeDecodeError and OSError go to the caller."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise
    if not stat.S_ISREG(info.st_mode):
        raise DataError(path, "", f"not a regular file; a {what} must be a file")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise DataError(path, "", f"over {limit // 2**20} MB, too large for a {what} (limit in grader/settings.py)")
    return data.decode("utf-8")


# A str from Python's own decoding (argv, a pipe read with surrogateescape) or a JSON `\ud800`
# escape can hold code points U+D800-U+DFFF that are no character: they cannot be written as
# UTF-8, hashed or tokenised. Valid text never holds one (a JSON surrogate pair is joined).
_SURROGATE = re.compile("[\ud800-\udfff]")


def bad_text(value, decoded: bool = True) -> str | None:
    """None for text that is valid Unicode; else what is wrong with it, for an error message: an
    undecodable byte kept by surrogateescape (text `decoded` from bytes: argv, a pipe), or a lone
    surrogate (a JSON escape)."""
    if not isinstance(value, str):
        return None
    found = _SURROGATE.search(value)
    if found is None:
        return None
    code = ord(found.group())
    if decoded and 0xDC80 <= code <= 0xDCFF:
        return f"not UTF-8 text (byte 0x{code - 0xDC00:02x} at character {found.start() + 1})"
    return f"not valid Unicode text (a lone surrogate \\u{code:04x} at character {found.start() + 1})"


def repaired_text(value: str) -> str:
    """`value` with every lone surrogate (or undecodable byte) replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", value)
