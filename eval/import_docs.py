"""`grader bank import-docs` measured on the five seed documents the bundled bank was built from
(by hand-curated scripts and review, eval/bank_build/).

The seeds are imported with the command's library function (`import_documents`, no existing
bank) and compared with the bundled bank through the bank's `source: {file, number}`:
  - an imported reference *matches* a bank reference of the same file when their texts are equal
    after whitespace normalisation, or their word sets overlap (Jaccard >= OVERLAP, or the bank
    text's words lie in the imported text for >= CONTAINED: the bank removed page filler);
    among equal scores the one with the same number wins;
  - references: recall = bank references matched by some imported reference; precision =
    imported references that match a bank reference;
  - answered questions: a bank question is *recovered* when an imported question holds one of
    its references and no reference of another bank question (*exactly*: all of them, no other);
    an imported answered question is *correct* when its matched references all belong to one bank
    question;
  - merging: of the bank questions holding references from two or more documents, those for
    which one imported question holds references of theirs from two or more documents (*all*:
    every reference); a *wrong merge* is an imported question holding references of two or more
    bank questions; 003's table rows (no answers) are scored by whether they end up in the
    question the bank put them in.
A sweep over the two merge thresholds (merging only, no rubrics) shows why the defaults.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/import_docs.py      # writes eval/results/import_docs.json
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.bank.documents import ImportReport, import_documents, read_members  # noqa: E402
from grader.bank.documents.merging import Merger  # noqa: E402
from grader.bank.questions import load_bank  # noqa: E402
from grader.core.embedding import get_embedder  # noqa: E402

SEEDS = sorted((ROOT.parent / "shared" / "seeds").glob("*.txt"))
OUT = ROOT / "eval" / "results" / "import_docs.json"
OVERLAP, CONTAINED = 0.5, 0.8
QUESTION_GRID = [0.80, 0.82, 0.84, 0.85, 0.86, 0.87, 0.88, 0.89, 0.90, 0.92, 0.94, 0.96, 0.98]
ANSWER_GRID = [0.78, 0.80, 0.82, 0.84, 0.85, 0.86, 0.88, 0.90]


def word_set(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def bank_references(bank):
    """(bank question id, file, number, word set, normalised text) of every bank reference."""
    return [(q.id, r.source_file, r.source_number, word_set(r.text), " ".join(r.text.split()))
            for q in bank for r in q.references]


def match(ref_file, ref_number, text, bank_refs):
    """The bank reference (index) an imported reference is, or None."""
    words, flat, best = word_set(text), " ".join(text.split()), (0.0, False, None)
    for k, (_, file, number, bank_words, bank_flat) in enumerate(bank_refs):
        if file != ref_file:
            continue
        if bank_flat == flat:
            score = 2.0
        else:
            jaccard = len(words & bank_words) / max(1, len(words | bank_words))
            contained = len(words & bank_words) / max(1, len(bank_words))
            score = max(jaccard, 1.0 if contained >= CONTAINED and len(bank_words) >= 20 else 0.0)
        key = (score, str(number) == str(ref_number))
        if key > best[:2]:
            best = (*key, k)
    return best[2] if best[0] >= OVERLAP else None


def matched_groups(groups, bank_refs):
    """Per imported question (a list of (file, number, text) references): the bank references
    (indices) its references match, None for those that match none."""
    return [[match(f, n, t, bank_refs) for f, n, t in refs] for refs in groups]


def scores(groups, bank, bank_refs) -> dict:
    found = matched_groups(groups, bank_refs)
    answered = {q.id: {k for k, r in enumerate(bank_refs) if r[0] == q.id} for q in bank if q.references}
    hit = {k for refs in found for k in refs if k is not None}
    imported_refs = [k for refs in found for k in refs]
    per_q = [{bank_refs[k][0] for k in refs if k is not None} for refs in found]
    owner = {}   # bank question -> imported questions holding its references, alone
    for i, qs in enumerate(per_q):
        if len(qs) == 1:
            owner.setdefault(next(iter(qs)), []).append(i)
    exact = sum(any(set(k for k in found[i] if k is not None) == refs and None not in found[i]
                    for i in owner.get(qid, [])) for qid, refs in answered.items())
    answered_imports = [qs for qs, refs in zip(per_q, found) if refs]
    return {"references": {"bank": len(bank_refs), "imported": len(imported_refs),
                           "recall": round(len(hit) / len(bank_refs), 3), "recalled": len(hit),
                           "precision": round(sum(k is not None for k in imported_refs) / max(1, len(imported_refs)), 3),
                           "unmatched_imported": sum(k is None for k in imported_refs)},
            "answered_questions": {"bank": len(answered), "imported": len(answered_imports),
                                   "recovered": len(owner), "recall": round(len(owner) / len(answered), 3),
                                   "recovered_exactly": exact,
                                   "correct_imported": sum(len(qs) == 1 for qs in answered_imports),
                                   "precision": round(sum(len(qs) == 1 for qs in answered_imports)
                                                      / max(1, len(answered_imports)), 3)},
            "merging": merge_scores(found, per_q, bank, bank_refs)}


def merge_scores(found, per_q, bank, bank_refs) -> dict:
    multi = {q.id for q in bank if len({r.source_file for r in q.references}) >= 2}
    partly, wholly = set(), set()
    for refs, qs in zip(found, per_q):
        if len(qs) != 1:
            continue
        qid = next(iter(qs))
        files = {bank_refs[k][1] for k in refs if k is not None}
        if qid in multi and len(files) >= 2:
            partly.add(qid)
            if {k for k in refs if k is not None} == {k for k, r in enumerate(bank_refs) if r[0] == qid}:
                wholly.add(qid)
    wrong = [sorted(qs) for qs in per_q if len(qs) >= 2]
    return {"bank_multi_document_questions": len(multi), "merged_too": len(partly),
            "merged_too_with_every_reference": len(wholly),
            "recall": round(len(partly) / max(1, len(multi)), 3),
            "wrong_merges": len(wrong), "wrong_merge_examples": wrong[:10]}


def bank_table_merges() -> dict[int, str]:
    """003 table row -> the answered bank question the reviewed bank merged it into (merges.md)."""
    rows, current = {}, None
    for line in (ROOT / "eval" / "bank_build" / "merges.md").read_text(encoding="utf-8").splitlines():
        head = re.match(r"^- (q[\w-]+):", line)
        if head:
            current = head.group(1)
        row = re.match(r"^\s+- 003 table row (\d+):", line)
        if row and current:
            rows[int(row.group(1))] = current
    return rows


def table_rows(members_by_group) -> dict:
    """003's unanswered table rows: merged into the answered question the bank put them in?"""
    expected = bank_table_merges()
    right = wrong = missed = kept_apart = 0
    for members, bank_ids in members_by_group:
        for m in members:
            if not (m.file.startswith("003") and not m.item.answers):
                continue
            target = expected.get(m.item.number)
            merged = len(members) > 1 and bool(bank_ids)
            if merged and bank_ids == {target}:
                right += 1
            elif merged:
                wrong += 1
            elif target:
                missed += 1
            else:
                kept_apart += 1
    return {"bank_merged_rows": len(expected), "merged_as_the_bank": right, "merged_otherwise": wrong,
            "not_merged_but_bank_did": missed, "unanswered_in_both": kept_apart}


def sweep(members, bank, bank_refs, embedder) -> list[dict]:
    rows = []
    for tq in QUESTION_GRID:
        for ta in ANSWER_GRID:
            merger = Merger(embedder, question_threshold=tq, answer_threshold=ta)
            merger.add_all(members)
            groups = [[(r.source_file, r.source_number, r.text) for r in g.references] for g in merger.groups]
            s = scores(groups, bank, bank_refs)
            rows.append({"question_threshold": tq, "answer_threshold": ta, "questions": len(merger.groups),
                         "merged_too": s["merging"]["merged_too"], "wrong_merges": s["merging"]["wrong_merges"],
                         "answered_recall": s["answered_questions"]["recall"],
                         "answered_precision": s["answered_questions"]["precision"]})
    return rows


def main() -> None:
    bank = load_bank()
    bank_refs = bank_references(bank)
    embedder = get_embedder()
    start = time.perf_counter()
    questions, rubrics, report = import_documents(SEEDS, embedder=embedder)
    seconds = time.perf_counter() - start
    groups = [[(r.source_file, r.source_number, r.text) for r in q.references] for q in questions]
    result = scores(groups, bank, bank_refs)
    merger = Merger(embedder)
    members = [m for p in SEEDS for m in read_members(p, None, ImportReport())]
    merger.add_all(members)
    found = matched_groups([[(r.source_file, r.source_number, r.text) for r in g.references]
                            for g in merger.groups], bank_refs)
    result["table_rows_003"] = table_rows(
        [(g.members, {bank_refs[k][0] for k in f if k is not None}) for g, f in zip(merger.groups, found)])
    result["import"] = {**{k: v for k, v in report.to_dict(questions).items() if k not in ("merged", "lost_questions")},
                        "questions_lost_unwritten": len(report.lost), "merged_questions": len(report.merged),
                        "rubrics": len(rubrics), "seconds": round(seconds, 1)}
    result["topic_level"] = agreement(questions, bank, bank_refs)
    result["sweep"] = sweep(members, bank, bank_refs, embedder)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "sweep"}, indent=1))
    for row in result["sweep"]:
        print(row)


def agreement(questions, bank, bank_refs) -> dict:
    """Topic and level of imported questions against the bank question their references match."""
    by_id = {q.id: q for q in bank}
    topic = level = n = 0
    for q in questions:
        found = {bank_refs[k][0] for k in (match(r.source_file, r.source_number, r.text, bank_refs)
                                           for r in q.references) if k is not None}
        if len(found) == 1:
            target = by_id[next(iter(found))]
            n += 1
            topic += target.topic == q.topic
            level += target.level == q.level
    return {"compared": n, "topic_agreement": round(topic / max(1, n), 3), "level_agreement": round(level / max(1, n), 3)}


if __name__ == "__main__":
    main()
