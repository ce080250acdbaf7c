"""Files the grader writes are whole or absent: each is written to a temporary file beside it and
renamed over it, so a full disk, a kill or a crash mid-write leaves the previous file as it was
(and a set of files, a directory, lands together). New files get the mode the user's umask gives.
Also the spooling of a stream that can be read only once (stdin, a FIFO)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from grader.errors import GraderError


def _fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable; a platform or file system that cannot is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temporary_beside(target: Path, make):
    """(path, what `make(path)` returned) for a new temporary entry named after `target` in its
    folder, hidden; `make` must fail with FileExistsError when the name is taken."""
    while True:
        path = target.with_name(f".{target.name}.{os.urandom(4).hex()}.tmp")
        try:
            return path, make(path)
        except FileExistsError:
            continue


@contextmanager
def atomic_file(target, binary: bool = False, encoding: str = "utf-8", newline: str | None = None) -> Iterator[IO]:
    """An open file whose content replaces `target` when the block ends without an error; on an
    error (or a kill) `target` is untouched and no temporary file remains; an OSError is a
    GraderError naming `target`. A new file gets mode 0o666 less the umask, as a file the user
    creates does; an existing file keeps its mode."""
    given, target = target, Path(os.path.realpath(target))     # a link is written through, as open() would
    # os.open applies the umask to 0o666 (tempfile.mkstemp would make every file 0600).
    try:
        tmp, fd = _temporary_beside(target, lambda p: os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise GraderError(f"{given}: cannot write ({exc.strerror or exc})") from None
    try:
        with open(fd, "wb" if binary else "w", encoding=None if binary else encoding,
                  newline=None if binary else newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        # A write error names no file, and the temporary one is no name the user knows.
        raise GraderError(f"{given}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(target.parent)


def write_atomically(target, data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write `data` (text or bytes) to `target` whole or not at all (see `atomic_file`)."""
    binary = isinstance(data, bytes)
    with atomic_file(target, binary=binary, encoding=encoding, newline="") as f:
        f.write(data)
    return Path(target)


@contextmanager
def atomic_directory(target, own: frozenset[str] | set[str] | None = frozenset()) -> Iterator[Path]:
    """A new directory, to be filled in the block, that becomes `target` when the block ends
    without an error: renamed into place, so its files land as a set (an existing `target` is
    moved aside first and removed once the new one is in place). An existing `target` holding
    anything but the entries named in `own` (None: anything), a folder of the user's, or the
    current directory, is never moved: the new files are renamed into it one by one instead, each whole. On an error
    `target` is untouched and the new directory is removed."""
    target = Path(os.path.abspath(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp, _ = _temporary_beside(target, lambda p: os.mkdir(p, 0o777))
    try:
        yield tmp
        if not os.path.lexists(target):
            os.rename(tmp, target)
        elif _replaceable(target, own):
            aside, _ = _temporary_beside(target, lambda p: os.mkdir(p, 0o700))
            os.rename(target, aside / target.name)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(aside / target.name, target)
                raise
            finally:
                shutil.rmtree(aside, ignore_errors=True)
        else:
            for entry in sorted(tmp.iterdir()):
                os.replace(entry, target / entry.name)
        _fsync_folder(target.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replaceable(target: Path, own) -> bool:
    if target.is_symlink() or not target.is_dir():
        return False
    cwd = Path.cwd()
    if cwd == target or target in cwd.parents:
        return False
    return own is None or all(entry.name in own for entry in target.iterdir())


@contextmanager
def spooled(stream: IO[bytes], near: Path | None = None) -> Iterator[str]:
    """A path to a copy of `stream` (stdin, a FIFO: read once) that can be opened and read again
    while the block runs, in `near`'s folder (else the temporary folder). Where /proc lets a
    deleted file be opened again (Linux), the copy has no name from the start, so even a job
    killed with SIGKILL leaves nothing behind; elsewhere it is removed when the block ends."""
    folder = near.parent if near is not None else None
    fd, name = tempfile.mkstemp(prefix=".grader-stdin-", dir=folder)
    path = name
    try:
        again = f"/proc/self/fd/{fd}"
        if os.path.exists(again):
            os.unlink(name)
            path = again
        with open(fd, "wb", closefd=False) as out:
            shutil.copyfileobj(stream, out)
        yield path
    finally:
        os.close(fd)
        if path == name:
            Path(name).unlink(missing_ok=True)
