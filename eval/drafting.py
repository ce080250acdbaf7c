"""How close drafted rubrics come to the hand-reviewed ones, and whether their concept names read
as concepts (short phrases) rather than stop-word fragments or whole sentences.

For every bank question with a reviewed rubric, a rubric is drafted from its references with the
drafter fitted on the whole bank (as `Grader.drafter` does) and its concepts are compared with the
reviewed concepts. A drafted concept *matches* a reviewed concept when either
  - lexical: the drafted name shares a content-word stem (`grader.text.content_stems`) with the
    reviewed name or one of its phrases, not counting stems of the question text itself (a
    question word such as "dropout" in "What is dropout?" would otherwise match every concept), or
  - semantic: the cosine between the drafted name's embedding and that of the reviewed name or
    one of its phrases is at least COSINE (default embedder).

A drafted name is *bad* when it is a single stopword or generic word (GENERIC, below: words that
name no concept without a modifier), starts or ends with a function word, or has more than 6 words.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/drafting.py [--label after]
    # writes eval/results/drafting.json, merging the figures under the label
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.bank.questions import load_bank  # noqa: E402
from grader.core.embedding import get_embedder  # noqa: E402
from grader.bank.drafting import RubricDrafter  # noqa: E402
from grader.bank.rubrics import load_rubrics  # noqa: E402
from grader.core.text import STOPWORDS, content_stems, stem, words  # noqa: E402

OUT = ROOT / "eval" / "results" / "drafting.json"
COSINE = 0.7
MAX_WORDS = 6
# Words that, alone, name no concept of a deep-learning answer: the reader has to ask "which one?"
GENERIC = frozenset("""
minimum maximum during value values time times data model models network networks training train
input inputs output outputs result results number numbers way ways process problem problems
information function functions layer layers step steps change changes type types part parts set
size level levels rate rates term terms form case cases point points order use example method
methods approach technique techniques amount large small high low good bad better worse new
different important specific certain various thing things instead rather early later often usually
faster slower help helps make makes allow allows lead leads cause causes able based given each
""".split())


def is_bad_name(name: str) -> bool:
    ws = words(name)
    if not ws or len(ws) > MAX_WORDS:
        return True
    if len(ws) == 1:
        return ws[0] in STOPWORDS or ws[0] in GENERIC
    return ws[0] in STOPWORDS or ws[-1] in STOPWORDS


def _match_matrix(drafted, reviewed, question_stems, embedder) -> np.ndarray:
    """matches[i, j]: drafted concept i matches reviewed concept j (rule in the module docstring)."""
    texts = [[c.name, *c.phrases] for c in reviewed]
    flat = [t for group in texts for t in group]
    vecs = embedder.encode([c.name for c in drafted] + flat, persist=True)
    dvecs, pvecs = vecs[:len(drafted)], vecs[len(drafted):]
    owner = np.repeat(np.arange(len(reviewed)), [len(g) for g in texts])
    sims = dvecs @ pvecs.T
    out = np.zeros((len(drafted), len(reviewed)), dtype=bool)
    for i, d in enumerate(drafted):
        d_stems = set(content_stems(d.name)) - question_stems
        for j, group in enumerate(texts):
            lexical = any(d_stems & set(content_stems(t)) for t in group)
            out[i, j] = lexical or sims[i, owner == j].max() >= COSINE
    return out


def evaluate(label: str) -> dict:
    bank = load_bank(ROOT / "grader" / "data" / "questions")
    rubrics = load_rubrics(ROOT / "grader" / "data" / "rubrics")
    embedder = get_embedder(None)
    t0 = time.perf_counter()
    drafter = RubricDrafter(embedder).fit(list(bank))
    questions = [q for q in bank if q.id in rubrics and q.references]
    drafts = {q.id: drafter.draft(q) for q in questions}
    seconds = time.perf_counter() - t0

    n_drafted = n_precise = 0
    recall_n = recall_w = recall_req = 0.0
    total_n = total_w = total_req = 0.0
    names, examples = [], []
    for q in questions:
        drafted, reviewed = drafts[q.id].concepts, rubrics[q.id].concepts
        m = _match_matrix(drafted, reviewed, {stem(w) for w in words(q.question)}, embedder)
        hit = m.any(axis=0)
        n_drafted += len(drafted)
        n_precise += int(m.any(axis=1).sum())
        for c, h in zip(reviewed, hit):
            recall_n += h
            recall_w += h * c.weight
            recall_req += h * c.required
            total_n += 1
            total_w += c.weight
            total_req += c.required
        names += [c.name for c in drafted]
        examples.append({"id": q.id, "question": q.question, "drafted": [c.name for c in drafted],
                         "reviewed": [c.name for c in reviewed],
                         "precision": round(float(m.any(axis=1).mean()), 2), "recall": round(float(hit.mean()), 2)})

    bad = [n for n in names if is_bad_name(n)]
    return {
        "label": label,
        "questions": len(questions),
        "drafted_concepts": n_drafted,
        "reviewed_concepts": int(total_n),
        "precision": round(n_precise / n_drafted, 3),
        "recall": round(recall_n / total_n, 3),
        "weighted_recall": round(recall_w / total_w, 3),
        "required_recall": round(recall_req / total_req, 3),
        "bad_name_share": round(len(bad) / len(names), 3),
        "single_word_share": round(sum(len(words(n)) == 1 for n in names) / len(names), 3),
        "long_name_share": round(sum(len(words(n)) > MAX_WORDS for n in names) / len(names), 3),
        "mean_name_words": round(float(np.mean([len(words(n)) for n in names])), 2),
        "fit_and_draft_seconds": round(seconds, 1),
        "bad_names": sorted(set(bad))[:40],
        "examples": _pick_examples(examples),
    }


def _pick_examples(examples: list[dict]) -> dict:
    """The best and worst drafts, and a fixed sample (every 40th question) for a fair look."""
    ranked = sorted(examples, key=lambda e: (e["precision"] + e["recall"], e["id"]))
    return {"worst": ranked[:3], "best": ranked[-3:], "sample": examples[::40]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="after", help="key the figures are stored under (default: after)")
    args = parser.parse_args()
    result = evaluate(args.label)
    stored = json.loads(OUT.read_text()) if OUT.exists() else {}
    stored["rule"] = {"cosine": COSINE, "max_words": MAX_WORDS, "matching": __doc__.split("\n\n")[1]}
    stored[args.label] = result
    OUT.write_text(json.dumps(stored, indent=1))
    keys = ("precision", "recall", "weighted_recall", "required_recall", "bad_name_share",
            "single_word_share", "long_name_share", "mean_name_words", "fit_and_draft_seconds")
    print(f"{args.label}: " + ", ".join(f"{k} {result[k]}" for k in keys))
    print("bad names:", ", ".join(result["bad_names"][:20]))


if __name__ == "__main__":
    main()
