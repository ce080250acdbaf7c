"""A document as numbered lines of text: plain text and Markdown as they are, HTML turned into
Markdown-like lines (headings as `#`, list items as `- `, table rows as `| a | b |`), each line
keeping the line of the file it came from, so errors and reports can point at it."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from grader.errors import DataError
from grader.settings import MAX_BANK_FILE_BYTES


@dataclass(frozen=True)
class Line:
    number: int
    text: str


def read_document(path) -> list[Line]:
    """The lines of a text, Markdown or HTML file; a DataError naming the file when it is not one."""
    text = _decoded(path, _read_bytes(path))
    if not text.strip():
        raise DataError(path, "", "empty document")
    if looks_like_html(path, text):
        lines = html_lines(text)
    else:
        lines = [Line(i, t.rstrip()) for i, t in enumerate(text.splitlines(), 1)]
    if not any(line.text.strip() for line in lines):
        raise DataError(path, "", "no text in the document")
    return lines


def _read_bytes(path) -> bytes:
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise DataError(path, "", "not a regular file; a document must be a file")
    with open(path, "rb") as f:
        data = f.read(MAX_BANK_FILE_BYTES + 1)
    if len(data) > MAX_BANK_FILE_BYTES:
        raise DataError(path, "", f"over {MAX_BANK_FILE_BYTES // 2**20} MB, too large for a document")
    return data


def _decoded(path, data: bytes) -> str:
    # A NUL never occurs in text; PDFs, images and archives hold many, and decoding them as
    # UTF-8 may happen to succeed on a short prefix.
    if b"\x00" in data:
        raise DataError(path, "", "a binary file, not a text, Markdown or HTML document")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError(path, f"line {line}", f"not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


_HTML_START = re.compile(r"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|h[1-6]|p|div|dl|table|ul|ol)\b",
                         re.I | re.S)


def looks_like_html(path, text: str) -> bool:
    if Path(path).suffix.lower() in (".html", ".htm", ".xhtml"):
        return True
    return bool(_HTML_START.match(text[:4096]))


class _Lines(HTMLParser):
    """HTML to Markdown-like lines. Only the standard parser runs: no DTD, no external entity and
    no network access exist for it, so a hostile page can at most be large (and size is capped)."""

    _BLOCKS = {"p", "div", "br", "li", "dt", "dd", "tr", "pre", "blockquote", "section", "article",
               "ul", "ol", "dl", "table", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "summary", "details"}
    _SKIP = {"script", "style", "head", "nav", "footer", "noscript", "template", "svg", "button", "form"}
    _PREFIX = {"li": "- ", "dt": "Q: ", "dd": "A: "}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list[Line] = []
        self._parts: list[str] = []
        self._start = 1
        self._skipping = 0
        self._cells: list[str] | None = None

    def _flush(self):
        text = " ".join("".join(self._parts).split())
        if text.strip(" -:|#"):
            self.lines.append(Line(self._start, text))
        self._parts = []
        self._start = self.getpos()[0]

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skipping += 1
        elif self._skipping:
            return
        elif tag in ("td", "th"):
            self._parts.append(" | ")
        elif tag in self._BLOCKS:
            self._flush()
            if tag == "tr":
                self._parts.append("| ")
            elif re.fullmatch(r"h[1-6]", tag):
                self._parts.append("#" * int(tag[1]) + " ")
            else:
                self._parts.append(self._PREFIX.get(tag, ""))

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif not self._skipping and tag in self._BLOCKS:
            if tag == "tr":
                self._parts.append(" |")
            self._flush()

    def handle_data(self, data):
        if not self._skipping:
            if not "".join(self._parts).strip():
                self._start = self.getpos()[0]
            self._parts.append(data)

    def close(self):
        super().close()
        self._flush()


def html_lines(text: str) -> list[Line]:
    parser = _Lines()
    parser.feed(text)
    parser.close()
    # A row starts "| " and its first cell opens with " | ": one separator too many.
    return [Line(line.number, re.sub(r"^\|\s*\|", "|", line.text)) for line in parser.lines]
