"""Question banks in and out in learning-platform formats: Moodle XML, GIFT, CSV (both ways),
QTI 3.0 and Anki (out only). Pure Python over Bank/Question/Rubric objects; `write_bank` writes
an imported bank in the YAML format, atomically."""

from __future__ import annotations

from pathlib import Path

from grader.bank.interchange import anki, csvfile, gift, moodle, qti
from grader.bank.interchange.common import Imported, write_bank, write_file_atomically
from grader.errors import GraderError

EXPORTERS = {"moodle-xml": moodle.export, "gift": gift.export, "qti": qti.export, "anki": anki.export,
             "csv": csvfile.export}
IMPORTERS = {"moodle-xml": moodle.import_file, "gift": gift.import_file, "csv": csvfile.import_file}
EXPORT_FORMATS = tuple(EXPORTERS)
IMPORT_FORMATS = tuple(IMPORTERS)
_BY_SUFFIX = {".xml": "moodle-xml", ".gift": "gift", ".csv": "csv", ".apkg": "anki", ".zip": "qti"}


def export_bank(fmt: str, questions, rubrics) -> bytes:
    """The questions (and their rubrics, by question id) in `fmt`, as the bytes of one file."""
    if fmt not in EXPORTERS:
        raise GraderError(f"unknown format {fmt!r}; choose from: {', '.join(EXPORT_FORMATS)}")
    questions = list(questions)
    if not questions:
        raise GraderError("no questions to export (check --topic and --level)")
    return EXPORTERS[fmt](questions, dict(rubrics))


def detect_format(path) -> str:
    """The format of a file to import: by its extension, else by its first characters."""
    path = Path(path)
    fmt = _BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        try:
            with open(path, "rb") as f:
                head = f.read(512).lstrip(b"\xef\xbb\xbf").lstrip()
        except OSError:
            raise
        if head.startswith(b"<"):
            fmt = "moodle-xml"
        elif head.startswith((b"//", b"::", b"$CATEGORY")):
            fmt = "gift"
        elif b"question" in head.split(b"\n", 1)[0] and b"," in head.split(b"\n", 1)[0]:
            fmt = "csv"
        else:
            raise GraderError(f"{path}: cannot tell the format from the name or content; give --format "
                              f"({', '.join(IMPORT_FORMATS)})")
    if fmt not in IMPORTERS:
        raise GraderError(f"{path}: {fmt} files cannot be imported (export only); "
                          f"import reads {', '.join(IMPORT_FORMATS)}")
    return fmt


def import_bank(path, fmt: str | None = None) -> Imported:
    fmt = fmt or detect_format(path)
    if fmt not in IMPORTERS:
        raise GraderError(f"{fmt} files cannot be imported (export only); import reads {', '.join(IMPORT_FORMATS)}")
    return IMPORTERS[fmt](Path(path))


__all__ = ["EXPORT_FORMATS", "IMPORT_FORMATS", "Imported", "detect_format", "export_bank", "import_bank",
           "write_bank", "write_file_atomically"]
