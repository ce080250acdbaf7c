"""GIFT (Moodle's plain-text format).

Out, per topic a `$CATEGORY: $course$/top/grader/<topic>` line; per question a comment line
`// grader: {JSON}` (the grader block on one line: level, reconstructed, every reference with
kind and source, the rubric) and the essay `::<id>::<question>{####Reference answer: <first
reference>}` (general feedback, shown to the learner after answering). Special characters
`~ = # { } :` and `\\` are escaped with a backslash, line breaks written `\\n`.

In: essays `::title::text{}` (the `// grader:` comment above one gives its references and
rubric; without it, the general feedback is its one reference) and short answers `{=a =b}` /
`{=%50%a#feedback}` (answers with a positive weight become references). The title is the id.
Other types (multiple choice, true/false, numerical, matching, descriptions) are skipped and
counted.
"""

from __future__ import annotations

import json
import re

from grader.bank.interchange.common import (DEFAULT_LEVEL, auto_id, build, check_references, grader_block,
                                            html_to_text, optional_texts, parse_block, read_text, short_or_full,
                                            topic_of)
from grader.errors import DataError

CATEGORY_ROOT = "$course$/top/grader"
_SPECIAL = "~=#{}:"
_FEEDBACK_PREFIX = "Reference answer:"


def escape(text: str) -> str:
    out = text.replace("\\", "\\\\")
    for ch in _SPECIAL:
        out = out.replace(ch, "\\" + ch)
    return out.replace("\r\n", "\n").replace("\n", "\\n")


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text, flags=re.S)


def export(questions, rubrics) -> bytes:
    out = ["// Question bank exported by `grader bank export --format gift`.",
           "// A `// grader:` comment above a question holds its level, references and rubric (JSON).", ""]
    topic = None
    for q in questions:
        if q.topic != topic:
            topic = q.topic
            out += [f"$CATEGORY: {CATEGORY_ROOT}/{topic}", ""]
        block = json.dumps(grader_block(q, rubrics.get(q.id)), ensure_ascii=False)
        feedback = f"####{escape(_FEEDBACK_PREFIX + ' ' + q.references[0].text)}" if q.references else ""
        out += [f"// grader: {block}", f"::{escape(q.id)}::{escape(q.question)}{{{feedback}}}", ""]
    return "\n".join(out).encode("utf-8")


def _split_unescaped(text: str, chars: str) -> list[tuple[str, str]]:
    """(separator, piece) pairs of `text` cut before every unescaped char in `chars`."""
    parts, cur, sep, i = [], [], "", 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if c in chars:
            parts.append((sep, "".join(cur)))
            cur, sep = [], c
        else:
            cur.append(c)
        i += 1
    parts.append((sep, "".join(cur)))
    return parts


def _find_unescaped(text: str, target: str, start: int = 0) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(target, i):
            return i
        i += 1
    return -1


def _blocks(data: str):
    """(first line number, lines) of the blank-line separated blocks."""
    block, start = [], 0
    for n, line in enumerate(data.splitlines(), 1):
        if line.strip():
            if not block:
                start = n
            block.append((n, line))
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def import_file(path):
    data = read_text(path).lstrip("\ufeff")
    records, notes, skipped, taken = [], [], {}, set()
    category, pending_block = None, None
    for start, lines in _blocks(data):
        body = []
        for n, line in lines:
            stripped = line.strip()
            if stripped.startswith("//"):
                comment = stripped[2:].strip()
                if comment.startswith("grader:"):
                    pending_block = (n, comment[len("grader:"):].strip())
            elif stripped.startswith("$CATEGORY:"):
                category = stripped[len("$CATEGORY:"):].strip()
            else:
                body.append((n, line))
        if not body:
            continue
        where = f"line {body[0][0]}"
        text = "\n".join(line for _, line in body).strip()
        block_line = pending_block
        pending_block = None
        title = None
        if text.startswith("::"):
            end = _find_unescaped(text, "::", 2)
            if end < 0:
                raise DataError(path, where, "a title opened with '::' is not closed with '::'")
            title, text = unescape(text[2:end]).strip(), text[end + 2:].strip()
        fmt = None
        found = re.match(r"\[(html|moodle|plain|markdown)\]", text)
        if found:
            fmt, text = found.group(1), text[found.end():]
        open_at = _find_unescaped(text, "{")
        if open_at < 0:
            skipped["description"] = skipped.get("description", 0) + 1
            continue
        close_at = _find_unescaped(text, "}", open_at + 1)
        if close_at < 0:
            raise DataError(path, where, "an answer block opened with '{' is not closed with '}'")
        answers = text[open_at + 1:close_at].strip()
        question = (text[:open_at] + " " + text[close_at + 1:]).strip() if text[close_at + 1:].strip() \
            else text[:open_at].strip()
        question = unescape(question)
        if fmt == "html":
            question = html_to_text(question)
        if not question:
            raise DataError(path, where, "the question text is empty")
        feedback = None
        fb_at = _find_unescaped(answers, "####")
        if fb_at >= 0:
            feedback, answers = unescape(answers[fb_at + 4:]).strip(), answers[:fb_at].strip()
        kind = _kind(answers)
        if kind not in ("essay", "shortanswer"):
            skipped[kind] = skipped.get(kind, 0) + 1
            continue
        block = {}
        if block_line is not None:
            block = parse_block(block_line[1], path, f"line {block_line[0]}")
        if "references" in block:
            refs = check_references(block["references"], path, where)
        elif kind == "shortanswer":
            refs = []
            for _, piece in _split_unescaped(answers, "=")[1:]:
                piece = _strip_unescaped_feedback(piece)
                weight = re.match(r"%(-?\d+(?:\.\d+)?)%", piece.strip())
                if weight:
                    if float(weight.group(1)) <= 0:
                        continue
                    piece = piece.strip()[weight.end():]
                answer = unescape(piece).strip()
                if answer:
                    refs.append({"text": answer, "kind": short_or_full(answer)})
        else:
            fb = feedback or ""
            if fb.startswith(_FEEDBACK_PREFIX):
                fb = fb[len(_FEEDBACK_PREFIX):].strip()
            refs = [{"text": fb, "kind": short_or_full(fb)}] if fb else []
        qid = title or block.get("id") or auto_id(question, taken)
        taken.add(qid)
        raw = {"id": qid, "question": question, "topic": topic_of(category, notes, where),
               "level": block.get("level", DEFAULT_LEVEL), "reconstructed": block.get("reconstructed", False),
               **optional_texts(block), "references": refs}
        records.append((where + (f" ({qid})" if qid else ""), raw, block.get("rubric")))
    return build(records, path, skipped, notes)


def _strip_unescaped_feedback(piece: str) -> str:
    at = _find_unescaped(piece, "#")
    return piece[:at] if at >= 0 else piece


def _kind(answers: str) -> str:
    if not answers:
        return "essay"
    if answers.upper() in ("T", "F", "TRUE", "FALSE") or re.match(r"(?i)(T|F|TRUE|FALSE)\s*#", answers):
        return "truefalse"
    if answers.startswith("#"):
        return "numerical"
    if _find_unescaped(answers, "~") >= 0:
        return "multichoice"
    if _find_unescaped(answers, "->") >= 0:
        return "matching"
    if answers.startswith("="):
        return "shortanswer"
    return "unknown"
