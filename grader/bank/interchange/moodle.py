"""Moodle XML: `essay` questions out; `essay` and `shortanswer` in.

Out, per question: name and `<idnumber>` = the id; the question text (HTML); a `level:<level>`
tag; the category `$course$/top/grader/<topic>` before each topic's questions; in `graderinfo`
(the information for graders) the first reference for people, then the grader block: a JSON
object in `<pre class="grader-bank">` with level, reconstructed, model answer and unservable
(when set), every reference (text, kind, source, errata) and the rubric (reviewed, concepts with
name, phrases, weight, required). The model answer is also the general feedback (HTML), which
Moodle shows to students once they have answered.

In: `essay` (with a grader block, or the text of `graderinfo` as its one reference; the general
feedback as its model answer when the block has none) and
`shortanswer` (answers with a positive fraction become references). Other types are skipped and
counted. The file is parsed with defusedxml, a DTD refused (no entities, no external ones).
"""

from __future__ import annotations

import html
import json
import re
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from grader.bank.interchange.common import (DEFAULT_LEVEL, auto_id, build, check_references, grader_block,
                                            html_to_text, optional_texts, parse_block, read_text, short_or_full,
                                            text_to_html, topic_of)
from grader.bank.questions import LEVELS
from grader.errors import DataError

CATEGORY_ROOT = "$course$/top/grader"
_BLOCK = re.compile(r"<pre class=\"grader-bank\">(.*?)</pre>", re.S)


def _text(parent, tag, value, fmt=None):
    el = SubElement(parent, tag)
    if fmt:
        el.set("format", fmt)
    SubElement(el, "text").text = value
    return el


def export(questions, rubrics) -> bytes:
    quiz = Element("quiz")
    topic = None
    for q in questions:
        if q.topic != topic:
            topic = q.topic
            cat = SubElement(quiz, "question", type="category")
            _text(cat, "category", f"{CATEGORY_ROOT}/{topic}")
        el = SubElement(quiz, "question", type="essay")
        _text(el, "name", q.id)
        _text(el, "questiontext", text_to_html(q.question), "html")
        # Moodle shows the general feedback to students after they answer: the model answer.
        _text(el, "generalfeedback", text_to_html(q.model_answer) if q.model_answer else "", "html")
        SubElement(el, "defaultgrade").text = "1"
        SubElement(el, "penalty").text = "0"
        SubElement(el, "hidden").text = "0"
        SubElement(el, "idnumber").text = q.id
        SubElement(el, "responseformat").text = "editor"
        SubElement(el, "responserequired").text = "1"
        SubElement(el, "responsefieldlines").text = "10"
        SubElement(el, "attachments").text = "0"
        SubElement(el, "attachmentsrequired").text = "0"
        block = json.dumps(grader_block(q, rubrics.get(q.id)), ensure_ascii=False, indent=1)
        first = (f"<p><strong>Reference answer</strong></p><p>{text_to_html(q.references[0].text)}</p>"
                 if q.references else "<p>No reference answer yet.</p>")
        _text(el, "graderinfo", f"{first}\n<pre class=\"grader-bank\">{html.escape(block, quote=False)}</pre>",
              "html")
        _text(el, "responsetemplate", "", "html")
        tags = SubElement(el, "tags")
        SubElement(SubElement(tags, "tag"), "text").text = f"level:{q.level}"
    body = tostring(quiz, encoding="unicode")
    # One question per line block, for people and diffs.
    body = body.replace("<question ", "\n  <question ").replace("</quiz>", "\n</quiz>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _child_text(el, *path) -> str | None:
    node = el
    for tag in path:
        node = node.find(tag) if node is not None else None
    if node is None:
        return None
    return node.text if node.tag == "text" else (node.findtext("text") if node.find("text") is not None
                                                  else node.text)


def parse(data: str, path):
    try:
        root = fromstring(data.encode("utf-8"), forbid_dtd=True)
    except DefusedXmlException as exc:
        raise DataError(path, "", f"refused: the XML declares a DTD or entities ({type(exc).__name__}); "
                                  "Moodle XML needs neither") from None
    except ParseError as exc:
        line, col = getattr(exc, "position", (0, 0))
        raise DataError(path, f"line {line}, column {col + 1}", f"not well-formed XML ({_reason(exc)})") from None
    return root


def _reason(exc) -> str:
    return re.sub(r":\s*line \d+, column \d+$", "", str(exc))


def import_file(path):
    root = parse(read_text(path), path)
    if root.tag != "quiz":
        raise DataError(path, f"<{root.tag}>", "not a Moodle XML file: the root element must be <quiz>")
    records, notes, skipped, taken = [], [], {}, set()
    category = None
    for n, el in enumerate(root, 1):
        if el.tag != "question":
            continue
        kind = el.get("type", "")
        if kind == "category":
            category = _child_text(el, "category")
            continue
        if kind not in ("essay", "shortanswer"):
            skipped[kind] = skipped.get(kind, 0) + 1
            continue
        name = (_child_text(el, "name") or "").strip()
        where = f"<question> #{n}" + (f" ({name})" if name else "")
        raw_text = _child_text(el, "questiontext")
        if raw_text is None or not raw_text.strip():
            raise DataError(path, f"{where}: questiontext", "missing or empty")
        question = html_to_text(raw_text)
        qid = (el.findtext("idnumber") or "").strip() or name or auto_id(question, taken)
        taken.add(qid)
        level, block = DEFAULT_LEVEL, {}
        for tag in el.findall("tags/tag"):
            value = (tag.findtext("text") or "").strip()
            if value.startswith("level:"):
                level = value.split(":", 1)[1].strip()
        info = _child_text(el, "graderinfo") or ""
        found = _BLOCK.search(info)
        if found:
            block = parse_block(html.unescape(found.group(1)), path, f"{where}: graderinfo")
            if not any((t.findtext("text") or "").startswith("level:") for t in el.findall("tags/tag")):
                level = block.get("level", level)
        if "references" in block:
            refs = check_references(block["references"], path, where)
        elif kind == "shortanswer":
            refs = []
            for a in el.findall("answer"):
                try:
                    fraction = float(a.get("fraction", "0"))
                except ValueError:
                    raise DataError(path, f"{where}: answer.fraction", f"not a number: {a.get('fraction')!r}") from None
                text = html_to_text(a.findtext("text") or "")
                if fraction > 0 and text:
                    refs.append((fraction, text))
            refs = [{"text": t, "kind": short_or_full(t)} for _, t in sorted(refs, key=lambda r: -r[0])]
        else:
            text = html_to_text(_BLOCK.sub("", info))
            refs = [{"text": text, "kind": short_or_full(text)}] if text else []
        if level not in LEVELS:
            raise DataError(path, f"{where}: level", f"unknown level {level!r}; allowed: {', '.join(LEVELS)}")
        extra = optional_texts(block)
        feedback = html_to_text(_child_text(el, "generalfeedback") or "")
        if feedback and "model_answer" not in extra and kind == "essay":
            extra["model_answer"] = feedback
        raw = {"id": qid, "question": question, "topic": topic_of(category, notes, where), "level": level,
               "reconstructed": block.get("reconstructed", False), **extra, "references": refs}
        records.append((where, raw, block.get("rubric")))
    return build(records, path, skipped, notes)
