#!/usr/bin/env python3
"""Validate questions/*.yaml (the source of truth). Exit 1 on any problem.

Checks: loads with yaml.safe_load; required keys and allowed values; ids unique and well formed;
no empty reference text; kind matches the source (002 -> short, else full); every one of the
286 reference-bearing seed items (000:1-100, 001:1-25, 002:1-100, 003:1-5, 004:1-56) appears
exactly once as a reference; no markdown bold left; references: [] only on q003-tNN ids.
"""
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

QDIR = Path(__file__).resolve().parent.parent.parent / "grader" / "data" / "questions"
TOPICS = {"fundamentals", "optimization", "regularization", "cnn", "rnn", "transformers",
          "generative", "training", "deployment", "applications", "learning-paradigms"}
LEVELS = {"basic", "intermediate", "advanced"}
EXPECTED = {"000_df905a8a8cf0025f.txt": 100, "001_c25c875d97c1ea47.txt": 25,
            "002_24f93a4f6d76b7df.txt": 100, "003_b0cf2ebfb7c74b96.txt": 5,
            "004_f3433d39ae6a16b7.txt": 56}
KEYS = {"id", "question", "topic", "level", "reconstructed", "references"}
REF_KEYS = {"text", "source", "kind"}


def main():
    errors, ids, pairs = [], Counter(), Counter()
    nq = nref = nrec = nempty = nmerged = 0
    for path in sorted(QDIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
            errors.append(f"{path.name}: top level must be a mapping with a 'questions' list")
            continue
        for q in data["questions"]:
            qid = q.get("id")
            nq += 1
            ids[qid] += 1
            err = lambda msg: errors.append(f"{path.name} {qid}: {msg}")
            if set(q) != KEYS:
                err(f"keys {sorted(q)} != {sorted(KEYS)}")
            if not re.fullmatch(r"q(00[0-4])-(\d{3}|t\d{2})", str(qid)):
                err("bad id format")
            if q.get("topic") not in TOPICS:
                err(f"topic {q.get('topic')!r}")
            if path.stem != q.get("topic"):
                err(f"topic {q.get('topic')} in file {path.name}")
            if q.get("level") not in LEVELS:
                err(f"level {q.get('level')!r}")
            if not isinstance(q.get("reconstructed"), bool):
                err("reconstructed must be true/false")
            nrec += bool(q.get("reconstructed"))
            if not isinstance(q.get("question"), str) or not q["question"].strip():
                err("empty question")
            elif re.match(r"^\d+[.)]", q["question"]) or "**" in q["question"]:
                err("question has numbering/markup")
            refs = q.get("references")
            if not isinstance(refs, list):
                err("references must be a list")
                continue
            if not refs:
                nempty += 1
                if not str(qid).startswith("q003-t"):
                    err("references: [] only allowed for unanswered 003 table questions")
            if len(refs) > 1:
                nmerged += 1
            for i, r in enumerate(refs):
                nref += 1
                if not isinstance(r, dict) or set(r) != REF_KEYS:
                    err(f"reference {i}: keys must be {sorted(REF_KEYS)}")
                    continue
                if not isinstance(r["text"], str) or not r["text"].strip():
                    err(f"reference {i}: empty text")
                elif "**" in r["text"] or re.search(r"^#+ ", r["text"], re.M):
                    err(f"reference {i}: markdown left in text")
                src = r["source"]
                if not isinstance(src, dict) or set(src) != {"file", "number"}:
                    err(f"reference {i}: source must be {{file, number}}")
                    continue
                if src["file"] not in EXPECTED or not 1 <= src["number"] <= EXPECTED[src["file"]]:
                    err(f"reference {i}: unknown source {src}")
                pairs[(src["file"], src["number"])] += 1
                want = "short" if src["file"].startswith("002") else "full"
                if r["kind"] != want:
                    err(f"reference {i}: kind {r['kind']!r}, expected {want}")
            if refs and str(qid) != "q%s-%03d" % (refs[0]["source"]["file"][:3], refs[0]["source"]["number"]):
                err("id does not match first reference's source")
    for qid, c in ids.items():
        if c > 1:
            errors.append(f"duplicate id {qid} x{c}")
    for f, n in EXPECTED.items():
        for k in range(1, n + 1):
            c = pairs.get((f, k), 0)
            if c != 1:
                errors.append(f"source {f}#{k} appears {c} times (want exactly 1)")
    extra = set(pairs) - {(f, k) for f, n in EXPECTED.items() for k in range(1, n + 1)}
    if extra:
        errors.append(f"unexpected sources {sorted(extra)}")
    print(f"questions={nq} references={nref} merged(>1 ref)={nmerged} "
          f"reconstructed={nrec} no-reference={nempty}")
    by_doc = Counter(f[:3] for f, _ in pairs.elements())
    print("references by document:", dict(sorted(by_doc.items())))
    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
