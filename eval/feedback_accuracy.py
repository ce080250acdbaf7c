"""How often the feedback's concept lists are right: "covered", "missed" and "contradicted" against
a blind human annotation.

Data: eval/data/concepts/sample.jsonl (340 answer-concept pairs: 69 hand-written in-domain
answers, seed 21, each with every concept of its question's reviewed rubric) and
eval/data/concepts/annotations.jsonl (labelled by a team member who saw the question, reference,
concept and answer, never the program's output; README in eval/data/).

    .venv/bin/python eval/feedback_accuracy.py     # writes eval/results/feedback_accuracy.json

Precision of a status: of the pairs the program gives that status, the share the annotator gave
it too; recall: of the pairs the annotator gave it, the share the program found.
`missed_precision_lacking` reads "missed" as "the answer lacks it": right when the annotator
said missed or contradicted. Two readings of the program's side:
* ``concept_status``: the concept matcher's status of every pair, whatever the label;
* ``feedback_claims``: what the feedback text claims. It words concepts by the label (an answer
  graded incorrect "mentions" its matched concepts without being credited for them; an answer
  graded correct "could also mention" the ones not found), so a matched concept of an incorrect
  answer is no claim of "covered", and an unfound one of a correct answer no claim of "missed":
  such pairs count as no claim (they are left out of that status's precision, and count as not
  found for its recall).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.grading import Grader  # noqa: E402

DATA = ROOT / "eval" / "data" / "concepts"
RESULTS = ROOT / "eval" / "results" / "feedback_accuracy.json"
PROGRAM_STATUS = {"matched": "covered", "missed": "missed", "contradicted": "contradicted"}


def scores(pairs, predicted) -> dict:
    out = {"n": len(pairs), "agreement": sum(p["status"] == q for p, q in zip(pairs, predicted)) / len(pairs),
           "no_claim": sum(q is None for q in predicted)}
    said_missed = [p["status"] for p, q in zip(pairs, predicted) if q == "missed"]
    # A concept the answer states wrongly is also one it lacks: "missing" is true of it too.
    out["missed_precision_lacking"] = (sum(s != "covered" for s in said_missed) / len(said_missed)
                                       if said_missed else None)
    for status in ("covered", "missed", "contradicted"):
        said = [p["status"] for p, q in zip(pairs, predicted) if q == status]
        truth = [q for p, q in zip(pairs, predicted) if p["status"] == status]
        out[status] = {"program_says": len(said), "annotator_says": len(truth),
                       "precision": sum(s == status for s in said) / len(said) if said else None,
                       "recall": sum(t == status for t in truth) / len(truth) if truth else None}
    return out


# Concepts renamed after the annotation, when their rubrics stopped rewarding an error of the source
# page (twelfth session): the annotator judged the idea, which the new name still names.
RENAMED = {("q004-035", "activation scaling"): "scaling by the keep probability",
           ("q000-088", "periodic restarts"): "warm restarts variant (SGDR)",
           ("q000-086", "unbiased estimate on held-out data"): "estimate on held-out data"}


def main():
    sample = [json.loads(l) for l in (DATA / "sample.jsonl").read_text().splitlines() if l.strip()]
    gold = {json.loads(l)["pair_id"]: json.loads(l)["status"]
            for l in (DATA / "annotations.jsonl").read_text().splitlines() if l.strip()}
    grader = Grader.from_paths(ROOT / "grader" / "data" / "questions", ROOT / "grader" / "data" / "rubrics")
    answers = list(dict.fromkeys((p["question_id"], p["answer"]) for p in sample))
    results = grader.grade_many(answers)
    status_of = {}
    for (qid, answer), result in zip(answers, results):
        for names, status in ((result.matched_concepts, "covered"), (result.missed_concepts, "missed"),
                              (result.contradicted_concepts, "contradicted")):
            for name in names:
                status_of[(qid, answer, name)] = status
    pairs = [{**p, "concept": RENAMED.get((p["question_id"], p["concept"]), p["concept"]), "status": gold[p["pair_id"]]}
             for p in sample]
    predicted = [status_of[(p["question_id"], p["answer"], p["concept"])] for p in pairs]
    label_of = {key: r.label for key, r in zip(answers, results)}
    claims = [None if (q == "covered" and label_of[(p["question_id"], p["answer"])] == "incorrect")
              or (q == "missed" and label_of[(p["question_id"], p["answer"])] == "correct") else q
              for p, q in zip(pairs, predicted)]
    out = {"concept_status": scores(pairs, predicted), "feedback_claims": scores(pairs, claims),
           "by_label": {label: scores(*zip(*[(p, q) for p, q, r in zip(pairs, predicted, [
               results[answers.index((p["question_id"], p["answer"]))] for p in pairs]) if r.label == label]))
                        for label in ("incorrect", "partial", "correct")
                        if any(r.label == label for r in results)}}
    RESULTS.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(json.dumps({k: out[k] for k in ("concept_status", "feedback_claims")}, indent=1))


if __name__ == "__main__":
    main()
