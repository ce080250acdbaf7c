"""QTI 3.0 (export only): a content package (zip) with `imsmanifest.xml` and one
`qti-assessment-item` per question: the question, an extended-text interaction, and for the
scorer the model answer, the first reference, the other references (each with its erratum) and
the rubric concepts in rubric blocks. Topic and level are keywords (`topic:<t>`, `level:<l>`) in
each resource's LOM metadata. A question marked unservable (a flashcard whose options were lost)
is left out: it cannot be answered.
"""

from __future__ import annotations

import io
import re
import zipfile
from xml.etree.ElementTree import Element, SubElement, register_namespace, tostring

from grader.errors import GraderError

QTI = "http://www.imsglobal.org/xsd/imsqtiasi_v3p0"
CP = "http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1"
LOM = "http://ltsc.ieee.org/xsd/LOM"
ITEM_TYPE = "imsqti_item_xmlv3p0"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def identifier(qid: str) -> str:
    """A QTI identifier (an XML NCName) for a question id."""
    ident = re.sub(r"[^A-Za-z0-9_.-]", "_", qid)
    return ident if re.match(r"[A-Za-z_]", ident) else f"Q_{ident}"


def _paragraphs(parent, text: str):
    for line in text.split("\n"):
        if line.strip():
            SubElement(parent, f"{{{QTI}}}p").text = line


def _rubric_block(body, heading: str, lines: list[str]):
    block = SubElement(body, f"{{{QTI}}}qti-rubric-block", {"use": "scoring", "view": "scorer"})
    content = SubElement(block, f"{{{QTI}}}qti-content-body")
    SubElement(content, f"{{{QTI}}}h4").text = heading
    for text in lines:
        _paragraphs(content, text)


def item_xml(q, rubric) -> bytes:
    register_namespace("", QTI)
    item = Element(f"{{{QTI}}}qti-assessment-item", {
        "identifier": identifier(q.id), "title": q.id, "adaptive": "false", "time-dependent": "false",
        "{http://www.w3.org/XML/1998/namespace}lang": "en"})
    SubElement(item, f"{{{QTI}}}qti-response-declaration",
               {"identifier": "RESPONSE", "cardinality": "single", "base-type": "string"})
    SubElement(item, f"{{{QTI}}}qti-outcome-declaration",
               {"identifier": "SCORE", "cardinality": "single", "base-type": "float"})
    body = SubElement(item, f"{{{QTI}}}qti-item-body")
    if q.model_answer:
        _rubric_block(body, "Model answer", [q.model_answer])
    texts = [r.text + (f"\n(Erratum: {r.errata})" if r.errata else "") for r in q.references]
    if texts:
        _rubric_block(body, "Reference answer", texts[:1])
    if len(texts) > 1:
        _rubric_block(body, "Other reference answers", texts[1:])
    if rubric is not None:
        _rubric_block(body, "Key concepts", [
            f"{c.name} (weight {c.weight:g}{', required' if c.required else ''}): {', '.join(c.phrases)}"
            for c in rubric.concepts])
    prompt = SubElement(body, f"{{{QTI}}}div", {"class": "question"})
    _paragraphs(prompt, q.question)
    SubElement(body, f"{{{QTI}}}qti-extended-text-interaction",
               {"response-identifier": "RESPONSE", "expected-lines": "8"})
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(item, encoding="utf-8", xml_declaration=False)


def manifest_xml(questions) -> bytes:
    register_namespace("", CP)
    register_namespace("lom", LOM)
    manifest = Element(f"{{{CP}}}manifest", {"identifier": "grader-bank"})
    meta = SubElement(manifest, f"{{{CP}}}metadata")
    SubElement(meta, f"{{{CP}}}schema").text = "QTI Package"
    SubElement(meta, f"{{{CP}}}schemaversion").text = "3.0.0"
    SubElement(manifest, f"{{{CP}}}organizations")
    resources = SubElement(manifest, f"{{{CP}}}resources")
    for q in questions:
        href = f"items/{identifier(q.id)}.xml"
        res = SubElement(resources, f"{{{CP}}}resource",
                         {"identifier": identifier(q.id), "type": ITEM_TYPE, "href": href})
        general = SubElement(SubElement(SubElement(res, f"{{{CP}}}metadata"), f"{{{LOM}}}lom"), f"{{{LOM}}}general")
        for word in (f"topic:{q.topic}", f"level:{q.level}"):
            SubElement(SubElement(general, f"{{{LOM}}}keyword"), f"{{{LOM}}}string").text = word
        SubElement(res, f"{{{CP}}}file", {"href": href})
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(manifest, encoding="utf-8", xml_declaration=False)


def export(questions, rubrics) -> bytes:
    questions = [q for q in questions if not q.unservable]
    buf = io.BytesIO()
    seen = set()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        def put(name, data):
            z.writestr(zipfile.ZipInfo(name, _FIXED_TIME), data, zipfile.ZIP_DEFLATED)
        put("imsmanifest.xml", manifest_xml(questions))
        for q in questions:
            name = f"items/{identifier(q.id)}.xml"
            if name in seen:
                raise GraderError(f"question id {q.id!r} gives the same QTI identifier as another question")
            seen.add(name)
            put(name, item_xml(q, rubrics.get(q.id)))
    return buf.getvalue()
