"""A self-contained HTML page summarising a batch run: what an instructor looks at first."""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

from grader.files import write_atomically
from grader.workflows.reports import png_base64, pyplot


def write_batch_report(records: list[dict], summary, path: str | Path, least_sure: int = 25,
                       errors_listed: int = 100) -> None:
    """`records` are `BatchJob.records`: graded rows (status ok) and rows that could not be graded
    (status error, with their row number and message)."""
    failed = [r for r in records if r["status"] == "error"]
    records = [r for r in records if r["status"] == "ok"]
    plt = pyplot()
    scores = [r["score"] for r in records]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(scores, bins=20, range=(0, 1), color="#4a7ab5")
    ax.set_xlabel("score")
    ax.set_ylabel("answers")
    ax.set_title("Score distribution")
    histogram = "data:image/png;base64," + png_base64(fig)

    per_question = defaultdict(lambda: {"question": "", "n": 0, "sum": 0.0, "labels": defaultdict(int)})
    for r in records:
        q = per_question[r["question_id"]]
        q["question"] = r["question"]
        q["n"] += 1
        q["sum"] += r["score"]
        q["labels"][r["label"]] += 1
    labels = sorted({r["label"] for r in records})
    rows = sorted(per_question.items(), key=lambda kv: kv[1]["sum"] / kv[1]["n"])
    e = html.escape

    def question_row(qid, q):
        cells = "".join(f"<td>{q['labels'].get(l, 0)}</td>" for l in labels)
        return (f"<tr><td>{e(qid)}</td><td>{e(q['question'][:120])}</td><td>{q['n']}</td>"
                f"<td>{q['sum'] / q['n']:.2f}</td>{cells}</tr>")

    unsure = sorted(records, key=lambda r: r["confidence"])[:least_sure]
    shown = failed[:errors_listed]
    more = f"<p>… and {len(failed) - len(shown)} more: see the rows with status=error in the output.</p>" \
        if len(failed) > len(shown) else ""
    errors = (f"""<h2>Rows not graded ({len(failed)})</h2>
<table><tr><th>row</th><th>question</th><th>answer</th><th>message</th></tr>
{''.join(f"<tr><td>{r['row']}</td><td>{e(r['question_id'])}</td><td>{e(r['answer'])}</td><td>{e(r['message'])}</td></tr>" for r in shown)}
</table>{more}""" if failed else "")
    s = summary.to_dict()
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>grader batch report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top}}</style></head><body>
<h1>Batch report</h1>
<p>{s['rows']} rows, {s['errors']} errors, mean score {s['mean_score']}; labels:
{e(', '.join(f'{k}: {v}' for k, v in sorted(s['labels'].items())))}</p>
{errors}
<h2>Score distribution</h2><img alt="score distribution" src="{histogram}">
<h2>Hardest questions first (label counts per question)</h2>
<table><tr><th>id</th><th>question</th><th>answers</th><th>mean score</th>{''.join(f'<th>{e(l)}</th>' for l in labels)}</tr>
{''.join(question_row(qid, q) for qid, q in rows)}</table>
<h2>Least sure: look at these first</h2>
<table><tr><th>question</th><th>answer</th><th>label</th><th>confidence</th><th>score</th></tr>
{''.join(f"<tr><td>{e(r['question_id'])}</td><td>{e(r['answer'])}</td><td>{e(r['label'])}</td><td>{r['confidence']:.2f}</td><td>{r['score']:.2f}</td></tr>" for r in unsure)}
</table></body></html>"""
    write_atomically(path, page)
