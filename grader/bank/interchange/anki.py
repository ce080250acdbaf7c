"""Anki (export only): an .apkg with one deck per topic and a "type in the answer" note type.

Model and deck ids are derived from their names and each note's GUID from its question id, so
importing a later export into Anki updates the same notes instead of adding copies. A question
without a reference is left out (there is nothing to type).
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
        if not q.references:
            continue
        name = f"{DECK_PREFIX}::{q.topic}"
        deck = decks.setdefault(name, genanki.Deck(stable_id(name), name))
        others = "<br><br>".join(text_to_html(r.text) for r in q.references[1:])
        deck.add_note(genanki.Note(model=model, guid=note_guid(q.id), tags=[q.topic, q.level],
                                   fields=[q.id, text_to_html(q.question), text_to_html(q.references[0].text),
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
