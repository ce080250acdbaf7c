#!/usr/bin/env python3
"""Validate questions/*.yaml (the source of truth). Exit 1 on any problem.

Checks: loads with yaml.safe_load; required keys and allowed values; ids unique and well formed;
no empty reference text; kind matches the source (002 -> short, else full); every one of the
286 reference-bearing seed items (000:1-100, 001:1-25, 002:1-100, 003:1-5, 004:1-56) appears
exactly once as a reference; no markdown bold left; references: [] only on q003-tNN ids; every
question with references has a model_answer of 1-3 sentences and at most 400 characters; the
optional texts (model_answer, unservable, references[].errata) are non-empty strings.
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
OPTIONAL_KEYS = {"model_answer", "unservable"}
REF_KEYS = {"text", "source", "kind"}
OPTIONAL_REF_KEYS = {"errata"}
MODEL_ANSWER_MAX = 400
# A sentence ends at . ! or ? followed by a space and a capital, digit or bracket.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")


def sentences(text):
    return SENTENCE_END.split(" ".join(text.split()))


def bad_text(value):
    return not isinstance(value, str) or not value.strip()


def main():
    errors, ids, pairs = [], Counter(), Counter()
    nq = nref = nrec = nempty = nmerged = nerrata = nmodel = nunservable = 0
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
            if not KEYS <= set(q) <= KEYS | OPTIONAL_KEYS:
                err(f"keys {sorted(q)}: need {sorted(KEYS)}, may add {sorted(OPTIONAL_KEYS)}")
            for key in OPTIONAL_KEYS & set(q):
                if bad_text(q[key]):
                    err(f"{key} must be non-empty text")
            answer = q.get("model_answer")
            if q.get("references") and "model_answer" not in q:
                err("a question with references needs a model_answer")
            elif isinstance(answer, str) and answer.strip():
                if len(" ".join(answer.split())) > MODEL_ANSWER_MAX:
                    err(f"model_answer longer than {MODEL_ANSWER_MAX} characters")
                if not 1 <= len(sentences(answer)) <= 3:
                    err(f"model_answer has {len(sentences(answer))} sentences (1-3)")
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
            nmodel += "model_answer" in q
            nunservable += "unservable" in q
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
                if not isinstance(r, dict) or not REF_KEYS <= set(r) <= REF_KEYS | OPTIONAL_REF_KEYS:
                    err(f"reference {i}: keys must be {sorted(REF_KEYS)} (+ optional {sorted(OPTIONAL_REF_KEYS)})")
                    continue
                if "errata" in r and bad_text(r["errata"]):
                    err(f"reference {i}: errata must be non-empty text")
                nerrata += "errata" in r
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
          f"reconstructed={nrec} no-reference={nempty} model-answers={nmodel} errata={nerrata} "
          f"unservable={nunservable}")
    by_doc = Counter(f[:3] for f, _ in pairs.elements())
    print("references by document:", dict(sorted(by_doc.items())))
    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"{len(errors)} error(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
