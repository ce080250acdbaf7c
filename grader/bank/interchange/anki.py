"""Anki (export only): an .apkg with one deck per topic and a "type in the answer" note type.

Model and deck ids are derived from their names and each note's GUID from its question id, so
importing a later export into Anki updates the same notes instead of adding copies. The answer
to type is the question's model answer where it has one (short and checked, where a source
reference can be long and wrong), else its first reference. A question without a reference
(nothing to type) or marked unservable (a flashcard whose options were lost) is left out.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from grader.bank.interchange.common import text_to_html

MODEL_NAME = "grader: type in the answer"
DECK_PREFIX = "grader"
FIELDS = ["Id", "Question", "Answer", "Other references", "Topic", "Level"]
_CSS = ".card { font-family: sans-serif; font-size: 18px; text-align: left; } .ref { color: #555; }"


def stable_id(name: str) -> int:
    """A 31-bit id of `name`, the same in every export (Anki ids are 64-bit; genanki's examples stay under 2**31)."""
    return (1 << 30) + int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:8], 16) % (1 << 30)


def note_guid(question_id: str) -> str:
    import genanki

    return genanki.guid_for("grader", question_id)


def _reference_html(reference) -> str:
    text = text_to_html(reference.text)
    return f"{text}<br><i>Erratum: {text_to_html(reference.errata)}</i>" if reference.errata else text


def build_package(questions):
    import genanki

    model = genanki.Model(
        stable_id(MODEL_NAME), MODEL_NAME, fields=[{"name": f} for f in FIELDS],
        templates=[{"name": "Type the answer",
                    "qfmt": "{{Question}}<br><br>{{type:Answer}}",
                    "afmt": "{{Question}}<hr id=answer>{{type:Answer}}"
                            "{{#Other references}}<div class=ref><br>{{Other references}}</div>{{/Other references}}"}],
        css=_CSS)
    decks = {}
    for q in questions:
        if not q.servable:
            continue
        name = f"{DECK_PREFIX}::{q.topic}"
        deck = decks.setdefault(name, genanki.Deck(stable_id(name), name))
        answer = q.model_answer or q.references[0].text
        shown = q.references if q.model_answer else q.references[1:]
        others = "<br><br>".join(_reference_html(r) for r in shown)
        deck.add_note(genanki.Note(model=model, guid=note_guid(q.id), tags=[q.topic, q.level],
                                   fields=[q.id, text_to_html(q.question), text_to_html(answer),
                                           others, q.topic, q.level]))
    return genanki.Package(list(decks.values()))


def export(questions, rubrics) -> bytes:
    package = build_package(questions)
    fd, path = tempfile.mkstemp(suffix=".apkg")
    os.close(fd)
    try:
        package.write_to_file(path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)
