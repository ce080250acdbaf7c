"""The shapes question/answer pages come in, each a parser from lines to items (a question with
its answers, number and line). `parse` tries every prose shape and keeps the one that finds the
most answers; a table of questions is read besides it, since pages mix the two."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from grader.bank.documents.reading import Line

FLASHCARD, FULL = "short", "full"


@dataclass
class Item:
    number: int | str
    line: int
    question: str                    # "" when the page lost it
    answers: list[tuple[str, str]] = field(default_factory=list)   # (text, reference kind)
    topic: str = ""                  # as the page states it, if it does
    level: str = ""


# --- text helpers ----------------------------------------------------------------------------

_INLINE = re.compile(r"\*\*|__|`{1,3}|<[^>\n]{0,40}>")
_LINK = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
_ASKING = re.compile(
    r"^(what|why|how|when|which|who|whom|whose|where|can|could|would|should|do|does|did|is|are|was|"
    r"were|will|explain|describe|define|compare|contrast|discuss|list|name|write|give|state|tell|"
    r"differentiate|distinguish|outline|summari[sz]e|walk|in what|in which|in the context)\b", re.I)
_END_OF_CONTENT = re.compile(r"^(#+\s*)?(conclusion|summary|final thoughts|related (articles|posts)|"
                             r"references|please|see also|further reading)\s*:?$", re.I)


def clean(text: str) -> str:
    """A line without Markdown emphasis, links and stray tags, its whitespace collapsed."""
    text = _LINK.sub(r"\1", text)
    text = _INLINE.sub("", text)
    return " ".join(text.split()).strip()


def sentence_case(text: str) -> str:
    """A Title Case Question Written Like This in sentence case; acronyms ("CNN", "GANs") and
    other text stay as they are."""
    ws = text.split()
    if len(ws) < 4 or sum(w[:1].isupper() for w in ws) < 0.8 * len(ws):
        return text
    out = [ws[0]] + [w if sum(c.isupper() for c in w) > 1 or w.startswith("(") else w.lower() for w in ws[1:]]
    return " ".join(out)


def asks(text: str) -> bool:
    """Reads as a question: ends in "?" or opens with a question or instruction word."""
    text = clean(text)
    if not text or len(text) > 400 or text.endswith(":"):
        return False
    return text.endswith("?") or bool(_ASKING.match(text))


def answer_text(lines: list[Line]) -> str:
    """The answer lines as reference text: Markdown noise removed, one paragraph per line,
    numbered and starred list items as `- ` items; ends at a "Conclusion"-like line."""
    out = []
    for line in lines:
        raw = line.text.strip()
        if _END_OF_CONTENT.match(clean(raw)):
            break
        if not raw or re.fullmatch(r"[-*_=|: ]{3,}", raw):
            continue
        item = re.match(r"^(\s*)(?:[-*+•]|\d{1,2}[.)])\s+(.*)$", line.text)
        text = clean(item.group(2) if item else raw.lstrip("#").strip())
        if text:
            out.append(("  " if item and len(item.group(1)) >= 2 else "") + ("- " if item else "") + text)
    return "\n".join(out).strip()


def kind_of(text: str) -> str:
    return FLASHCARD if len(text.split()) <= 8 else FULL


def _with_answer(items: list[Item], text: str, kind: str | None = None) -> None:
    if text:
        items[-1].answers.append((text, kind or kind_of(text)))


# --- numbered questions ("1. What ...?", "Q1:", "**1)**", "Question 1:") ---------------------

_NUMBERED = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*|__)?\s*(?:q(?:uestion)?\s*\.?\s*(\d+)|(\d+))\s*(?:\*\*)?\s*[.):]\s*(?:\*\*|__)?[\s,]*(.+)$",
    re.I)


def numbered_question(text: str) -> tuple[int, str] | None:
    m = _NUMBERED.match(text)
    if not m or not asks(m.group(3)):
        return None
    return int(m.group(1) or m.group(2)), sentence_case(clean(m.group(3)))


def parse_numbered(lines: list[Line]) -> list[Item]:
    """Questions numbered in increasing order; the lines up to the next one are the answer. The
    order check keeps a numbered list inside an answer ("1. What to check ...") out."""
    starts: list[tuple[int, Item]] = []
    last = 0
    for i, line in enumerate(lines):
        found = numbered_question(line.text)
        if found and found[0] > last:
            last = found[0]
            starts.append((i, Item(found[0], line.number, found[1])))
    return _fill(lines, starts)


def _fill(lines: list[Line], starts: list[tuple[int, Item]]) -> list[Item]:
    items = []
    for k, (i, item) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        text = answer_text(lines[i + 1:end])
        if text:
            item.answers.append((text, kind_of(text)))
        items.append(item)
    return items


# --- questions as headings -------------------------------------------------------------------

_HEADING = re.compile(r"^\s*(#{1,6})\s+(.*\S)\s*$")
_SECTION_LEVEL = (("basic", re.compile(r"fresher|beginner|basic|entry|junior", re.I)),
                  ("advanced", re.compile(r"experienced|advanced|expert|senior", re.I)),
                  ("intermediate", re.compile(r"intermediate", re.I)))


def parse_headings(lines: list[Line]) -> list[Item]:
    """A heading that asks something starts a question; the text down to the next heading is its
    answer. A heading that does not ask ("For Experienced") may set the level of those below it."""
    starts, level, count = [], "", 0
    bounds = []
    for i, line in enumerate(lines):
        m = _HEADING.match(line.text)
        if not m:
            continue
        bounds.append(i)
        text = m.group(2)
        found = numbered_question(text)
        if found or asks(text):
            count += 1
            number, question = found or (count, clean(text))
            starts.append((i, Item(number, line.number, question, level=level)))
        else:
            level = next((name for name, rx in _SECTION_LEVEL if rx.search(text)), level)
    items = []
    for i, item in starts:
        end = next((b for b in bounds if b > i), len(lines))
        text = answer_text(lines[i + 1:end])
        if text:
            item.answers.append((text, kind_of(text)))
        items.append(item)
    return items


# --- labelled answers: "Answer:", "Q:/A:", "Simple:/Detailed:" -------------------------------

_LABEL = re.compile(r"^\s*(?:\*\*|__)?\s*(answer|ans|a|simple|detailed|short answer|long answer|explanation)"
                    r"\s*(?:\*\*|__)?\s*[:.-]\s*(?:\*\*|__)?\s*(.*)$", re.I)
_QLABEL = re.compile(r"^\s*(?:\*\*|__)?\s*(?:q|question)\s*(\d*)\s*(?:\*\*|__)?\s*[:.]\s*(?:\*\*|__)?\s*(.*)$", re.I)
_META = re.compile(r"(topic|level|difficulty)\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*([^,*|\n]+)", re.I)
_ITEM_HEAD = re.compile(r"^\s*(?:\*\*|__)?\s*(\d+)\s*[.)]")
_SEPARATOR = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")


def _label(text: str) -> tuple[str, str] | None:
    m = _LABEL.match(text)
    if not m:
        return None
    label = m.group(1).lower()
    # "A" alone is a label only as "A:" (not "A. ..." or "A neural network ...").
    if label == "a" and not re.match(r"^\s*(?:\*\*)?\s*a\s*(?:\*\*)?\s*:", text, re.I):
        return None
    return label, m.group(2)


class _Labelled:
    """State of the labelled-answer reader: the item being read and where its answer lines go."""

    def __init__(self):
        self.items: list[Item] = []
        self.pending: dict = {}          # number, topic, level of an item header ("**3)** Topic: ...")
        self.buffer: list[Line] = []
        self.kind: str | None = None     # label of the answer being read; None: no answer open
        self.answers = 0                 # "Answer:" blocks seen (numbers items whose page lost the question)

    def close_answer(self):
        text = answer_text(self.buffer) if self.kind is not None and self.items else ""
        if text:
            entry = (text, FULL if self.kind in ("simple", "detailed") else kind_of(text))
            # The technical answer leads, before an analogy "for a child" given first on the page.
            answers = self.items[-1].answers
            answers.insert(0 if self.kind == "detailed" else len(answers), entry)
        self.buffer, self.kind = [], None

    def start(self, line: Line, question: str, number=None):
        self.close_answer()
        meta = self.pending
        number = number or meta.get("number") or len(self.items) + 1
        self.items.append(Item(number, line.number, question, topic=meta.get("topic", ""),
                               level=meta.get("level", "")))
        self.pending = {}


def parse_labelled(lines: list[Line]) -> list[Item]:
    """Questions whose answers carry a label. A question is a "Q:" line, or the asking line just
    before an "Answer:" label; an "Answer:" with no asking line before it is an answer whose
    question the page lost (question ""), numbered by its position among the answers."""
    state = _Labelled()
    for i, line in enumerate(lines):
        _read_labelled_line(state, lines, i, line)
    state.close_answer()
    return [item for item in state.items if item.answers or item.question]


def _read_labelled_line(state: _Labelled, lines: list[Line], i: int, line: Line) -> None:
    text = line.text
    head = _ITEM_HEAD.match(text)
    meta = dict((k.lower().replace("difficulty", "level"), clean(v)) for k, v in _META.findall(text))
    if head and meta:
        state.close_answer()
        state.pending = {"number": int(head.group(1)), **meta}
        return
    if _SEPARATOR.match(text):
        state.close_answer()
        return
    q = _QLABEL.match(text)
    if q and q.group(2).strip() and not _label(text):
        state.start(line, clean(q.group(2)), int(q.group(1)) if q.group(1) else None)
        return
    label = _label(text)
    if label is None:
        _continue(state, line)
        return
    name, rest = label
    if name in ("answer", "ans", "a") and not _has_open_question(state):
        _answer_without_q_line(state, lines, i, line)
    else:
        state.close_answer()
    state.kind = name
    state.buffer = [Line(line.number, rest)] if rest.strip() else []


def _has_open_question(state: _Labelled) -> bool:
    """A question started by a "Q:" line and not answered yet."""
    return bool(state.items) and not state.items[-1].answers and state.kind is None


def _answer_without_q_line(state: _Labelled, lines, i, line) -> None:
    """An "Answer:" after no "Q:" line: its question is the asking line just before it (taken
    back from the previous answer it was read into), else the page lost the question."""
    state.answers += 1
    prev = next((j for j in range(i - 1, -1, -1) if lines[j].text.strip()), None)
    if prev is not None and (numbered_question(lines[prev].text) or clean(lines[prev].text).endswith("?")):
        if state.buffer and state.buffer[-1] is lines[prev]:
            state.buffer.pop()
        found = numbered_question(lines[prev].text)
        question = found[1] if found else clean(lines[prev].text)
        state.start(lines[prev], question, state.answers)
    else:
        state.start(line, "", state.answers)


def _continue(state: _Labelled, line: Line) -> None:
    if state.kind is not None:
        state.buffer.append(line)
    elif state.items and not state.items[-1].answers and line.text.strip() \
            and not state.items[-1].question.endswith("?") and not state.pending:
        state.items[-1].question = f"{state.items[-1].question} {clean(line.text)}".strip()


# --- flashcards ------------------------------------------------------------------------------

_PAIR = re.compile(r"^\s*([^\t]+?)\s*(?:\t+|\s::\s)\s*(.+?)\s*$")


def parse_flashcards(lines: list[Line]) -> list[Item]:
    """Cards as a number line, a question line and an answer line (a Quizlet page), or one card a
    line as "question<TAB>answer" or "question :: answer"."""
    cards = _numbered_cards(lines)
    return cards if cards else _pair_cards(lines)


def _numbered_cards(lines: list[Line]) -> list[Item]:
    rows = [line for line in lines if line.text.strip()]
    starts, expected = [], None
    for k, line in enumerate(rows):
        text = line.text.strip()
        if text.isdigit() and (expected is None or int(text) == expected):
            starts.append(k)
            expected = int(text) + 1
    items = []
    for n, k in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(rows)
        body = rows[k + 1:end]
        if len(body) < 2:
            continue
        item = Item(int(rows[k].text.strip()), body[0].number, clean(body[0].text))
        _with_answer([item], answer_text(body[1:]), FLASHCARD)
        items.append(item)
    return items if len(items) >= 2 else []


def _pair_cards(lines: list[Line]) -> list[Item]:
    items = []
    for line in lines:
        m = _PAIR.match(line.text)
        if m and not line.text.lstrip().startswith("|"):
            item = Item(len(items) + 1, line.number, clean(m.group(1)))
            _with_answer([item], clean(m.group(2)), FLASHCARD)
            items.append(item)
    return items


# --- tables of questions ---------------------------------------------------------------------

_COLUMN_NAMES = {"question": re.compile(r"^(question|questions|q|prompt)$", re.I),
                 "answer": re.compile(r"^(answer|answers|a|solution)$", re.I),
                 "topic": re.compile(r"^(topic|category|subject|area|section)$", re.I),
                 "level": re.compile(r"^(level|difficulty)$", re.I),
                 "number": re.compile(r"^(#|no\.?|n[or]|number|id)$", re.I)}
_LEVEL_WORDS = re.compile(r"^(basic|beginner|easy|intermediate|medium|advanced|hard|expert)$", re.I)


def _cells(text: str) -> list[str] | None:
    text = text.strip()
    if not (text.startswith("|") and text.endswith("|") and text.count("|") >= 3):
        return None
    return [clean(c) for c in text[1:-1].split("|")]


def table_rows(lines: list[Line]) -> list[tuple[Line, list[str]]]:
    rows = [(line, cells) for line in lines if (cells := _cells(line.text)) is not None]
    return [(line, cells) for line, cells in rows if not all(re.fullmatch(r":?-*:?", c) for c in cells)]


def parse_table(lines: list[Line]) -> list[Item]:
    """Rows of a Markdown table whose question column asks something: questions with the row's
    topic and level, and an answer when the table has an answer column."""
    rows = table_rows(lines)
    if not rows:
        return []
    columns, rows = _columns(rows)
    if "question" not in columns:
        return []
    items = []
    for line, cells in rows:
        row = {name: cells[k] for name, k in columns.items() if k < len(cells)}
        if not asks(row.get("question", "")):
            continue
        number = int(row["number"]) if row.get("number", "").isdigit() else len(items) + 1
        item = Item(number, line.number, row["question"], topic=row.get("topic", ""), level=row.get("level", ""))
        _with_answer([item], row.get("answer", ""))
        items.append(item)
    return items if len(items) * 2 >= len(rows) else []


def _columns(rows):
    """Column index by role, from a header row when there is one, else from what the cells hold."""
    header = rows[0][1]
    named = {role: k for k, cell in enumerate(header) for role, rx in _COLUMN_NAMES.items() if rx.match(cell)}
    if "question" in named:
        return named, rows[1:]
    width = max(len(c) for _, c in rows)
    found = {}
    for k in range(width):
        values = [c[k] for _, c in rows if k < len(c) and c[k]]
        if values and all(v.isdigit() for v in values):
            found.setdefault("number", k)
        elif values and sum(bool(_LEVEL_WORDS.match(v)) for v in values) * 2 > len(values):
            found.setdefault("level", k)
    rest = [k for k in range(width) if k not in found.values()]
    if rest:
        longest = max(rest, key=lambda k: sum(len(c[k]) for _, c in rows if k < len(c)))
        found["question"] = longest
        shorter = [k for k in rest if k != longest]
        if shorter:
            found["topic"] = shorter[0]
    return found, rows


SHAPES = {"numbered": parse_numbered, "headings": parse_headings, "answer-blocks": parse_labelled,
          "simple-detailed": parse_labelled, "flashcards": parse_flashcards, "table": parse_table}


def parse(lines: list[Line], shape: str | None = None) -> tuple[str, list[Item]]:
    """The shape of the document and its items. A question table is read apart from the prose
    around it; the prose shape is the one that finds the most answers (then the most questions)."""
    if shape == "table":
        return "table", parse_table(lines)
    table = parse_table(lines)
    prose = [line for line in lines if _cells(line.text) is None] if table else lines
    if shape:
        return shape, SHAPES[shape](prose) + table
    best_name, best = "", []
    for name in ("answer-blocks", "numbered", "headings", "flashcards"):
        items = SHAPES[name](prose)
        if _score(items) > _score(best):
            best_name, best = name, items
    if best_name == "answer-blocks" and any((_label(line.text) or ("",))[0] in ("simple", "detailed")
                                            for line in prose):
        best_name = "simple-detailed"
    names = [n for n, found in ((best_name, best), ("table", table)) if found]
    return "+".join(names), best + table


def _score(items: list[Item]) -> tuple[int, int]:
    return sum(bool(item.answers) for item in items), sum(bool(item.question) for item in items)
