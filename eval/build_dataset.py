"""Build the in-domain labelled set eval/data/labelled.jsonl from the hand-written answers and
rows derived from the bank. See eval/data/README.md for what each kind of row is.

    .venv/bin/python eval/build_dataset.py

Deterministic (seeded). Each row: question_id, answer, label, kind, origin (handwritten|derived),
author, exclude_source (a reference to hide from the question when grading this row, because the
row's answer IS that reference), split (train|test, by question).
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.bank.questions import load_bank  # noqa: E402
from grader.core.text import STOPWORDS, content_stems, words  # noqa: E402

HANDWRITTEN = ROOT / "eval" / "data" / "handwritten"
OUT = ROOT / "eval" / "data" / "labelled.jsonl"
TEST_SHARE = 0.25
SEED = 13

_AUX = {"is": "is not", "are": "are not", "was": "was not", "were": "were not", "can": "cannot",
        "will": "will not", "should": "should not", "may": "may not", "does": "does not", "do": "do not",
        "has": "does not have", "have": "do not have", "helps": "does not help", "allows": "does not allow",
        "reduces": "does not reduce", "prevents": "does not prevent", "improves": "does not improve",
        "increases": "does not increase", "uses": "does not use", "learns": "does not learn",
        "makes": "does not make", "enables": "does not enable", "requires": "does not require",
        "involves": "does not involve", "means": "does not mean", "refers": "does not refer",
        "consists": "does not consist", "computes": "does not compute", "captures": "does not capture",
        "provides": "does not provide", "updates": "does not update", "introduces": "does not introduce"}


def negate_sentence(sentence: str) -> str | None:
    tokens = sentence.split(" ")
    for i, tok in enumerate(tokens):
        key = tok.lower().strip(",;:")
        if key in _AUX:
            tokens[i] = _AUX[key] if tok.islower() else _AUX[key].capitalize()
            return " ".join(tokens)
    return None


def negate(text: str) -> str | None:
    out, changed = [], 0
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        neg = negate_sentence(sentence)
        out.append(neg or sentence)
        changed += neg is not None
    return " ".join(out) if changed else None


def source_index(bank):
    index = {}
    for q in bank:
        for r in q.references:
            key = f"{r.source_file[:3]}#{r.source_number}"
            index.setdefault(key, q.id)
    return index


def main():
    rng = random.Random(SEED)
    bank = load_bank(ROOT / "grader" / "data" / "questions")
    index = source_index(bank)
    rows = []
    unmapped = Counter()
    for f in sorted(HANDWRITTEN.glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            qid = index.get(r["source"])
            if qid is None:
                unmapped[r["source"]] += 1
                continue
            rows.append({"question_id": qid, "answer": r["answer"], "label": r["label"], "kind": r["kind"],
                         "origin": "handwritten", "author": r["author"], "exclude_source": None})
    if unmapped:
        print(f"warning: {sum(unmapped.values())} hand-written rows name sources not in the bank: {dict(unmapped)}")

    graded = [q for q in bank if q.has_reference]
    by_topic = defaultdict(list)
    for q in graded:
        by_topic[q.topic].append(q)
    stem_sets = {q.id: set(content_stems(" ".join(r.text for r in q.references))) for q in graded}
    doc_freq = Counter(s for q in graded for s in stem_sets[q.id])

    for q in graded:
        def add(answer, label, kind, exclude=None):
            rows.append({"question_id": q.id, "answer": answer, "label": label, "kind": kind,
                         "origin": "derived", "author": "build_dataset.py", "exclude_source": exclude})

        # Another document's answer to the same question: a natural correct paraphrase.
        if len(q.references) >= 2:
            for r in q.references:
                add(r.text, "correct", "cross_source_reference", r.source)
        else:
            # A long, complete answer must be able to score as correct: the reference itself.
            add(q.references[0].text, "correct", "reference_itself")
        add(q.question, "incorrect", "question_copy")
        # The reference's rarest content words as a bare list: gaming by keywords.
        ref_words = [w for w in dict.fromkeys(words(" ".join(r.text for r in q.references)))
                     if w not in STOPWORDS and len(w) > 3]
        ref_words.sort(key=lambda w: doc_freq.get(content_stems(w)[0] if content_stems(w) else w, 0))
        bag = ref_words[: rng.randint(5, 12)]
        rng.shuffle(bag)
        if len(bag) >= 3:
            add(", ".join(bag), "incorrect", "keyword_bag")
        full = [r for r in q.references if r.kind == "full"]
        if full:
            neg = negate(full[0].text)
            if neg:
                add(neg, "incorrect", "negated_reference")
        # A reference of another question on the same topic that shares few words: a hard negative.
        others = [o for o in by_topic[q.topic] if o.id != q.id]
        rng.shuffle(others)
        for o in others:
            a, b = stem_sets[q.id], stem_sets[o.id]
            if a and b and len(a & b) / len(a | b) < 0.15:
                add(rng.choice(o.references).text, "incorrect", "other_question_reference")
                break
    # Long answers that list every term of the topic, with no statement about the question.
    for topic, qs in by_topic.items():
        terms = Counter(w for q in qs for r in q.references for w in words(r.text)
                        if w not in STOPWORDS and len(w) > 4)
        vocabulary = [w for w, _ in terms.most_common(60)]
        for q in rng.sample(qs, min(len(qs), 6)):
            picked = rng.sample(vocabulary, min(len(vocabulary), 35))
            rows.append({"question_id": q.id, "answer": "Key terms: " + ", ".join(picked) + ".",
                         "label": "incorrect", "kind": "topic_term_dump", "origin": "derived",
                         "author": "build_dataset.py", "exclude_source": None})

    # Held-out split by question: every row of a held-out question is in test.
    qids = sorted({r["question_id"] for r in rows})
    handwritten_q = sorted({r["question_id"] for r in rows if r["origin"] == "handwritten"})
    rng.shuffle(handwritten_q)
    test_q = set(handwritten_q[: round(len(handwritten_q) * TEST_SHARE)])
    rest = [q for q in qids if q not in set(handwritten_q)]
    rng.shuffle(rest)
    test_q |= set(rest[: round(len(rest) * TEST_SHARE)])
    for r in rows:
        r["split"] = "test" if r["question_id"] in test_q else "train"

    with OUT.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    counts = Counter((r["origin"], r["split"], r["label"]) for r in rows)
    print(f"{len(rows)} rows, {len(qids)} questions ({len(test_q)} held out) -> {OUT.relative_to(ROOT)}")
    for k in sorted(counts):
        print("  ", *k, counts[k])


if __name__ == "__main__":
    main()
