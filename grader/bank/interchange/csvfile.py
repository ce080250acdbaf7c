"""CSV: one question a row, for spreadsheets.

Columns: `id`, `topic`, `level`, `question`, `reconstructed` (true/false), `model_answer`,
`unservable` (both may be empty), `reference_1` … `reference_N` (one column per reference, as many
as the question with the most), `references_meta` (JSON list, one `{"kind", "source": {"file",
"number"}, "errata"}` per reference, in order, errata only when set; may be empty)
and `rubric` (JSON: `{"reviewed": bool, "concepts": [{"name", "phrases", "weight", "required"}]}`
or just the concept list; empty for none). On import only `question` is required: an empty or
missing id is made from the question text, topic and level take their defaults, and a reference
without meta is `short` when it has at most 8 words.
"""

from __future__ import annotations

import csv
import io
import json
import re

from grader.bank.interchange.common import (DEFAULT_LEVEL, DEFAULT_TOPIC, OPTIONAL_TEXTS, auto_id, build,
                                            read_text, reference_record, rubric_record, short_or_full)
from grader.errors import DataError

BASE = ["id", "topic", "level", "question", "reconstructed", "model_answer", "unservable"]


def export(questions, rubrics) -> bytes:
    width = max([len(q.references) for q in questions] + [1])
    header = BASE + [f"reference_{i}" for i in range(1, width + 1)] + ["references_meta", "rubric"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for q in questions:
        refs = [r.text for r in q.references] + [""] * (width - len(q.references))
        meta = [{k: v for k, v in reference_record(r).items() if k != "text"} for r in q.references]
        rubric = rubric_record(rubrics.get(q.id))
        writer.writerow([q.id, q.topic, q.level, q.question, "true" if q.reconstructed else "false",
                         q.model_answer, q.unservable, *refs,
                         json.dumps(meta, ensure_ascii=False) if meta else "",
                         json.dumps(rubric, ensure_ascii=False) if rubric else ""])
    return buf.getvalue().encode("utf-8")


def _json_cell(text, path, where):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DataError(path, where, f"not valid JSON ({getattr(exc, 'msg', exc)})") from None


def import_file(path):
    data = read_text(path).lstrip("\ufeff")
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError(path, "", "empty file") from None
    except csv.Error as exc:
        raise DataError(path, "line 1", f"invalid CSV ({exc})") from None
    if "question" not in header:
        raise DataError(path, "line 1", "no 'question' column (columns: " + ", ".join(header) + ")")
    ref_cols = sorted((int(m.group(1)), i) for i, h in enumerate(header)
                      if (m := re.fullmatch(r"reference_(\d+)", h)))
    if "reference" in header:
        ref_cols.insert(0, (0, header.index("reference")))
    records, taken, line = [], set(), reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(path, f"line {reader.line_num}", f"invalid CSV ({exc})") from None
        line_no = line + 1
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise DataError(path, f"line {line_no}", f"{len(row)} cells, the header has {len(header)}")
        cells = dict(zip(header, row))
        where = f"line {line_no}"
        question = cells.get("question", "").strip()
        refs = [row[i].strip() for _, i in ref_cols if i < len(row) and row[i].strip()]
        meta_text = cells.get("references_meta", "").strip()
        meta = _json_cell(meta_text, path, f"{where}: references_meta") if meta_text else []
        if not isinstance(meta, list) or not all(isinstance(m, dict) for m in meta):
            raise DataError(path, f"{where}: references_meta", "expected a JSON list of objects")
        if meta and len(meta) != len(refs):
            raise DataError(path, f"{where}: references_meta", f"{len(meta)} entries for {len(refs)} references")
        references = [{**(meta[i] if meta else {"kind": short_or_full(t)}), "text": t} for i, t in enumerate(refs)]
        reconstructed = cells.get("reconstructed", "").strip().lower()
        if reconstructed not in ("", "true", "false", "1", "0", "yes", "no"):
            raise DataError(path, f"{where}: reconstructed", f"expected true or false, got {reconstructed!r}")
        qid = cells.get("id", "").strip() or auto_id(question, taken)
        taken.add(qid)
        rubric_text = cells.get("rubric", "").strip()
        rubric = _json_cell(rubric_text, path, f"{where}: rubric") if rubric_text else None
        raw = {"id": qid, "question": question, "topic": cells.get("topic", "").strip() or DEFAULT_TOPIC,
               "level": cells.get("level", "").strip() or DEFAULT_LEVEL,
               "reconstructed": reconstructed in ("true", "1", "yes"),
               **{k: cells[k].strip() for k in OPTIONAL_TEXTS if cells.get(k, "").strip()},
               "references": references}
        records.append((where, raw, rubric))
    return build(records, path)
