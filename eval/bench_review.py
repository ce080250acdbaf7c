"""Review at scale (issue 21): how many reviewer decisions bring a question's labels to 95%
agreement with gold, with grouping and ordering (`grader review`) against reviewing answers one by
one in file order and against reviewing the machine's least confident answers first.

    HF_HUB_OFFLINE=1 .venv/bin/python eval/bench_review.py [--questions 30] [--max-answers 1000]
        [--cache /tmp/bench_review_machine.json]

Data: the real labelled answers of Mohler and the SciEntsBank, Beetle and SAF training splits
(eval/corpora.py). Grading runs at about 30 answers/s here, so a sample is used: per source, its
questions shuffled with seed 0 and taken whole (every answer of a question) until `--questions`
questions or `--max-answers` answers. The machine's labels and confidences come from the bundled
grader (`Grader.from_paths()`, the question's own references); beware that the bundled model was
trained on up to 2,500 rows of each of these sources (seed 0), so its labels here are partly
in-sample and the machine's starting agreement is, if anything, flattering. SciEntsBank and Beetle
are labelled correct/incorrect: there the machine's `partial` counts as incorrect.

The simulated reviewer answers with the gold label:
* one by one (file order / least confident first): every answer looked at is one decision;
* grouped: the groups of `grader review` (grader.workflows.review.grouping, the grader's MiniLM
  vectors) in its queue order; at each group the reviewer reads every member, splits off those
  whose gold label differs from the group's majority (one decision each) and labels the rest with
  one key, as the terminal UI does. Reading is not counted as a decision; the answers read are
  reported beside the decisions. Variants: distance thresholds 0.25 / 0.5 (the default) / 0.7;
  groups made within each machine label; and, as the ablation of meaning, groups that are just
  the machine's labels (every answer of a question with the same machine label in one group).
Per question: the decisions after which agreement first reaches 95% (the reviewer stops there).
Overall: decisions per 100 answers; and the curve of agreement over all sampled answers when every
question gets the same number of decisions per 100 of its answers. Writes eval/results/review.json
and eval/results/review_curve.png.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np

EVAL = Path(__file__).resolve().parent
sys.path.insert(0, str(EVAL))
sys.path.insert(0, str(EVAL.parent))

from corpora import load_all  # noqa: E402

from grader.workflows.review.grouping import DEFAULT_THRESHOLD, group_answers, priority  # noqa: E402

SOURCES = ("mohler", "scientsbank", "beetle", "saf")
TARGET = 0.95
# (name, threshold, groups made within each machine label)
GROUPINGS = (("grouped_0.25", 0.25, False), ("grouped_0.5", 0.5, False), ("grouped_0.7", 0.7, False),
             ("grouped_by_label_0.5", 0.5, True), ("machine_label_only", 2.0, True))


def sample(rows, n_questions: int, max_answers: int, seed: int) -> dict[str, list]:
    """question -> its rows (file order), per source `n_questions` questions at most and no more
    answers than `max_answers` (a question is taken whole or not at all)."""
    by_q: dict[str, list] = {}
    for r in rows:
        if r.source in SOURCES:
            by_q.setdefault(r.group, []).append(r)
    out = {}
    for source in SOURCES:
        groups = sorted(g for g, rs in by_q.items() if rs[0].source == source)
        random.Random(seed).shuffle(groups)
        taken = answers = 0
        for g in groups:
            if taken >= n_questions:
                break
            if answers + len(by_q[g]) > max_answers and taken > 0:
                continue
            out[g] = by_q[g]
            taken += 1
            answers += len(by_q[g])
    return out


def machine_labels(questions: dict[str, list], cache: Path | None) -> dict[str, list[tuple[str, float]]]:
    known = json.loads(cache.read_text()) if cache and cache.exists() else {}
    todo = [g for g in questions if g not in known]
    if todo:
        from grader import Grader
        from grader.grading import user_question

        grader = Grader.from_paths()
        t = time.perf_counter()
        n = 0
        for g in todo:
            rs = questions[g]
            q = user_question(rs[0].question, list(rs[0].references))
            results = grader.grade_many([(q, r.answer) for r in rs])
            known[g] = [(res.label, res.confidence) for res in results]
            n += len(rs)
            print(f"  graded {n} answers ({n / (time.perf_counter() - t):.1f}/s)", file=sys.stderr, end="\r")
            if cache:
                cache.write_text(json.dumps(known))
        print(file=sys.stderr)
    return {g: known[g] for g in questions}


def to_gold_scale(label: str, two_way: bool) -> str:
    return "incorrect" if two_way and label == "partial" else label


def actions_one_by_one(order, gold):
    """(answers labelled, label, answers read) per decision: one answer read and labelled each."""
    return [([i], gold[i], 1) for i in order]


def groups_of(answers, vectors, threshold, by_machine_label=False):
    """`grader review`'s groups; with `by_machine_label`, made separately among the answers of each
    machine label (at a threshold of 2, the largest cosine distance, groups are the machine's labels)."""
    if not by_machine_label:
        return group_answers(answers, vectors, threshold)
    groups = []
    for label in sorted({a.label for a in answers}):
        idx = [i for i, a in enumerate(answers) if a.label == label]
        for g in group_answers([answers[i] for i in idx], vectors[idx], threshold):
            g.members, g.representative = [idx[m] for m in g.members], idx[g.representative]
            groups.append(g)
    return groups


def actions_grouped(answers, vectors, gold, threshold, by_machine_label=False):
    """The review of `grader review`: groups in its queue order; at each, the reviewer reads its
    members, splits off those whose gold label differs from the group's majority (one decision
    each) and labels the rest with one key."""
    groups = groups_of(answers, vectors, threshold, by_machine_label)
    queue = sorted(groups, key=lambda g: (-priority(g.members, answers), -len(g.members), g.members[0]))
    acts = []
    for g in queue:
        label = Counter(gold[i] for i in g.members).most_common(1)[0][0]
        odd = [i for i in g.members if gold[i] != label]
        acts += [([i], gold[i], len(g.members) if k == 0 else 0) for k, i in enumerate(odd)]
        acts.append(([i for i in g.members if i not in odd], label, 0 if odd else len(g.members)))
    return acts, len(groups)


def curve(start: list[str], gold: list[str], actions) -> list[int]:
    """Answers agreeing with gold after 0, 1, ... len(actions) decisions."""
    current = list(start)
    agree = sum(c == g for c, g in zip(current, gold))
    out = [agree]
    for idx, label, _ in actions:
        for i in idx:
            agree += (label == gold[i]) - (current[i] == gold[i])
            current[i] = label
        out.append(agree)
    return out


def to_target(points: list[int], n: int) -> int:
    need = math.ceil(TARGET * n - 1e-9)
    return next((k for k, a in enumerate(points) if a >= need), len(points) - 1)


def summarise(per_question: list[dict], name: str) -> dict:
    n = sum(q["answers"] for q in per_question)
    decisions = sum(q[name]["to_95"] for q in per_question)
    read = sum(q[name]["read"] for q in per_question)
    budgets = list(range(0, 101))
    agreement = []
    for b in budgets:
        agreed = 0
        for q in per_question:
            k = min(round(b * q["answers"] / 100), len(q[name]["curve"]) - 1)
            agreed += q[name]["curve"][k]
        agreement.append(agreed / n)
    first = next((b for b, a in zip(budgets, agreement) if a >= TARGET), None)
    within = sum(q[name]["to_95"] <= 0.25 * q["answers"] for q in per_question)
    return {"decisions_per_100_to_95_each_question": round(100 * decisions / n, 1),
            "answers_read_per_100_to_95_each_question": round(100 * read / n, 1),
            "questions_at_95_within_25_per_100": f"{within}/{len(per_question)}",
            "budget_per_100_for_95_overall": first,
            "agreement_at_budget": {str(b): round(agreement[b], 4) for b in (0, 5, 10, 15, 20, 25, 30, 40, 50)},
            "curve": [round(a, 4) for a in agreement]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--questions", type=int, default=30, help="questions per source at most")
    ap.add_argument("--max-answers", type=int, default=1000, help="answers per source at most")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, help="keep the machine's labels here between runs (JSON)")
    ap.add_argument("--out", type=Path, default=EVAL / "results" / "review.json")
    args = ap.parse_args()

    questions = sample(load_all(SOURCES, gaming=False), args.questions, args.max_answers, args.seed)
    n_answers = sum(map(len, questions.values()))
    print(f"{len(questions)} questions, {n_answers} answers", file=sys.stderr)
    t = time.perf_counter()
    machine = machine_labels(questions, args.cache)
    grading_seconds = time.perf_counter() - t

    from grader.core.embedding import get_embedder

    embedder = get_embedder()
    strategies = ["file_order", "low_confidence"] + [name for name, _, _ in GROUPINGS]
    per_question = []
    for g, rs in questions.items():
        two_way = rs[0].source in ("scientsbank", "beetle")
        gold = [r.label3 for r in rs]
        start = [to_gold_scale(label, two_way) for label, _ in machine[g]]
        conf = [c for _, c in machine[g]]
        answers = [SimpleNamespace(qkey=g, text=r.answer, confidence=c, label=s) for r, c, s in zip(rs, conf, start)]
        vectors = embedder.encode([r.answer for r in rs])
        q = {"question": g, "source": rs[0].source, "answers": len(rs),
             "machine_agreement": round(sum(s == x for s, x in zip(start, gold)) / len(rs), 4)}
        plans = {"file_order": actions_one_by_one(range(len(rs)), gold),
                 "low_confidence": actions_one_by_one(sorted(range(len(rs)), key=lambda i: (conf[i], i)), gold)}
        for name, th, by_label in GROUPINGS:
            plans[name], q[f"groups_{name}"] = actions_grouped(answers, vectors, gold, th, by_label)
        for name, acts in plans.items():
            points = curve(start, gold, acts)
            k = to_target(points, len(rs))
            q[name] = {"to_95": k, "read": sum(a[2] for a in acts[:k]), "curve": points}
        per_question.append(q)

    results = {"what": "decisions a reviewer answering with the gold label needs to reach 95% agreement with gold",
               "sample": {"questions": len(questions), "answers": n_answers, "seed": args.seed,
                          "per_source": {s: {"questions": sum(q["source"] == s for q in per_question),
                                             "answers": sum(q["answers"] for q in per_question if q["source"] == s)}
                                         for s in SOURCES},
                          "rule": f"per source, questions shuffled (seed {args.seed}) and taken whole until "
                                  f"{args.questions} questions or {args.max_answers} answers"},
               "machine_agreement": round(sum(q["machine_agreement"] * q["answers"] for q in per_question) / n_answers, 4),
               "grading_seconds": round(grading_seconds, 1),
               "default_threshold": DEFAULT_THRESHOLD,
               "groups_per_100_answers": {name: round(100 * sum(q[f"groups_{name}"] for q in per_question)
                                                      / n_answers, 1) for name, _, _ in GROUPINGS},
               "overall": {name: summarise(per_question, name) for name in strategies},
               "by_source": {s: {name: summarise([q for q in per_question if q["source"] == s], name)
                                 for name in strategies} for s in SOURCES}}
    for s in SOURCES:
        for name in strategies:
            results["by_source"][s][name].pop("curve")
    results["per_question"] = [{k: ({"to_95": v["to_95"], "read": v["read"]} if isinstance(v, dict) else v)
                                for k, v in q.items()} for q in per_question]
    args.out.write_text(json.dumps(results, indent=1) + "\n")

    cols = ("decisions_per_100_to_95_each_question", "answers_read_per_100_to_95_each_question",
            "budget_per_100_for_95_overall", "questions_at_95_within_25_per_100")
    print(f"machine agreement before review: {results['machine_agreement']:.3f}")
    print(f"{'strategy':<22} " + "  ".join(cols))
    for name in strategies:
        o = results["overall"][name]
        print(f"{name:<22} " + "  ".join(str(o[c]) for c in cols))
    plot(results, strategies, args.out.with_name("review_curve.png"))


def plot(results, strategies, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in strategies:
        ax.plot(range(101), results["overall"][name]["curve"], label=name.replace("_", " "))
    ax.axhline(TARGET, color="grey", linestyle="--", linewidth=0.8)
    ax.axvline(25, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xlabel("decisions per 100 answers (same share for every question)")
    ax.set_ylabel("agreement with gold, all sampled answers")
    s = results["sample"]
    ax.set_title(f"Review at scale: {s['answers']} answers, {s['questions']} questions (4 sources)")
    ax.legend(loc="lower right")
    ax.set_xlim(0, 100)
    ax.set_ylim(min(0.5, min(results["overall"][n]["curve"][0] for n in strategies) - 0.02), 1.0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
