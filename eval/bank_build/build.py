#!/usr/bin/env python3
"""Build questions/*.yaml from draft_items.json (extract.py) + meta.py + fixes.py.

Usage:  python3 extract.py && python3 build.py && python3 check.py
Writes ../../questions/<topic>.yaml and merges.md.  NOTE: the YAML files are the source of
truth once hand-edited; re-running this overwrites hand edits made directly in the YAML.
"""
import json
from collections import defaultdict
from pathlib import Path

import yaml

import fixes
import meta

HERE = Path(__file__).parent
QDIR = HERE.parent.parent / "grader" / "data" / "questions"
DOCS = {"000": "000_df905a8a8cf0025f.txt", "001": "001_c25c875d97c1ea47.txt",
        "002": "002_24f93a4f6d76b7df.txt", "003": "003_b0cf2ebfb7c74b96.txt",
        "004": "004_f3433d39ae6a16b7.txt"}
PRIORITY = ["004", "001", "003", "000", "002"]          # id / question-text priority
TEXT_PRIORITY = ["004", "001", "003", "t", "000", "002"]
TOPICS = ["fundamentals", "optimization", "regularization", "cnn", "rnn", "transformers",
          "generative", "training", "deployment", "applications", "learning-paradigms"]
LEVELS = ["basic", "intermediate", "advanced"]


def load_items():
    data = json.loads((HERE / "draft_items.json").read_text(encoding="utf-8"))
    items = {}
    for it in data["items"]:
        key = (it["file"][:3], it["number"])
        text = it["answer"]
        if key in fixes.FULL:
            text = fixes.FULL[key]
        for old, new in fixes.REPLACE.get(key, []):
            assert old in text, (key, old[:60])
            text = text.replace(old, new)
        it["answer"] = text.strip()
        items[key] = it
    table = {row["no"]: row for row in data["table003"]}
    return items, table


def question_text(doc, num, items, table):
    if doc == "t":
        return table[num]["question"]
    if doc == "000":
        return meta.Q000[num] or items[(doc, num)]["question"]
    if doc == "004":
        return meta.Q004_FIX.get(num, items[(doc, num)]["question"])
    if doc == "001":
        return meta.Q001_FIX.get(num, items[(doc, num)]["question"])
    return items[(doc, num)]["question"]


def main():
    items, table = load_items()
    used = set()
    questions, merges = [], []
    for line in meta.GROUPS.strip().splitlines():
        mem, topic, level = [x.strip() for x in line.split("|")]
        members = [(m.split(":")[0], int(m.split(":")[1])) for m in mem.split()]
        assert topic in TOPICS and level in LEVELS, line
        for m in members:
            assert m not in used, m
            used.add(m)
        refs = sorted([m for m in members if m[0] != "t"], key=lambda m: (PRIORITY.index(m[0]), m[1]))
        tmem = [m for m in members if m[0] == "t"]
        if refs:
            d, n = refs[0]
            qid = f"q{d}-{n:03d}"
        else:
            qid = f"q003-t{tmem[0][1]:02d}"
        src = sorted(members, key=lambda m: TEXT_PRIORITY.index(m[0]))[0]
        qtext = question_text(*src, items, table)
        reconstructed = src[0] == "000" and meta.Q000[src[1]] is not None
        q = {"id": qid, "question": qtext, "topic": topic, "level": level,
             "reconstructed": reconstructed, "references": []}
        for d, n in refs:
            q["references"].append({"text": items[(d, n)]["answer"],
                                    "source": {"file": DOCS[d], "number": n},
                                    "kind": "short" if d == "002" else "full"})
        questions.append(q)
        if len(members) > 1:
            merges.append((qid, qtext, [(d, n, question_text(d, n, items, table)) for d, n in
                                        sorted(members, key=lambda m: (TEXT_PRIORITY.index(m[0]), m[1]))]))
    missing = set(items) - used
    assert not missing, sorted(missing)
    assert {m[1] for m in used if m[0] == "t"} | {8} >= set(table), "table rows not placed"
    write_yaml(questions)
    write_merges(merges)
    print(f"{len(questions)} questions, {sum(len(q['references']) for q in questions)} references, "
          f"{len(merges)} merged")


def scalar(s):
    """Plain YAML scalar if it round-trips, else a double-quoted one."""
    out = yaml.safe_dump(s, allow_unicode=True, width=10 ** 6, default_style=None).strip()
    if out.endswith("\n..."):
        out = out[:-4].strip()
    return out


def write_yaml(questions):
    bytopic = defaultdict(list)
    for q in questions:
        bytopic[q["topic"]].append(q)
    QDIR.mkdir(exist_ok=True)
    for topic, qs in bytopic.items():
        qs.sort(key=lambda q: q["id"])
        lines = ["# Question bank, topic: " + topic + ". Format: questions/README.md", "questions:"]
        for q in qs:
            lines += [f"  - id: {q['id']}",
                      f"    question: {scalar(q['question'])}",
                      f"    topic: {q['topic']}",
                      f"    level: {q['level']}",
                      f"    reconstructed: {'true' if q['reconstructed'] else 'false'}"]
            if not q["references"]:
                lines.append("    references: []")
                continue
            lines.append("    references:")
            for r in q["references"]:
                if r["kind"] == "short" and "\n" not in r["text"]:
                    lines.append(f"      - text: {scalar(r['text'])}")
                else:
                    lines.append("      - text: |-")
                    lines += ["          " + ln for ln in r["text"].split("\n")]
                lines.append(f"        source: {{file: {r['source']['file']}, number: {r['source']['number']}}}")
                lines.append(f"        kind: {r['kind']}")
        path = QDIR / f"{topic}.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        back = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
        for a, b in zip(back, qs):   # block scalars must round-trip exactly
            assert a["question"] == b["question"], a["id"]
            assert [r["text"] for r in a["references"]] == [r["text"] for r in b["references"]], a["id"]


def write_merges(merges):
    name = {"t": "003 table row", "000": "000 answer", "001": "001 Q", "002": "002 card",
            "003": "003 Q", "004": "004 Q"}
    out = ["# Merged questions", "",
           "Generated by build.py. One entry per bank question built from more than one source item.",
           "Format: `id`: bank question text, then each member as `doc#number: that item's own question`.",
           "000 members show the reconstructed question written for the answer (000 lost its questions).",
           "`003 table row N` = row of the 003 question table (no answer of its own; answered by the",
           "merged references).",
           "Files: 000 = 000_df905a8a8cf0025f.txt (answer position), 001 = 001_c25c875d97c1ea47.txt,",
           "002 = 002_24f93a4f6d76b7df.txt (card number), 003 = 003_b0cf2ebfb7c74b96.txt,",
           "004 = 004_f3433d39ae6a16b7.txt.", ""]
    for qid, qtext, mem in sorted(merges):
        out.append(f"- {qid}: {qtext}")
        for d, n, t in mem:
            out.append(f"  - {name[d]} {n}: {t}")
    (HERE / "merges.md").write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
