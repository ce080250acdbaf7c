"""The labelled answers the default model is trained and measured on, in one table.

Five sources:

* ``mohler``: ``../shared/data/mohler/mohler.csv`` (2,273 answers, 0-5 mean of two graders);
* ``scientsbank``, ``beetle``: ``../shared/data/asag/*_train.csv`` (SemEval-2013 Task 7, 2-way);
* ``saf``: ``../shared/data/asag/saf_train.csv`` (score 0-1 and a 3-way label);
* ``indomain``: ``eval/data/labelled.jsonl`` (this project's hand-written and derived answers to
  bank questions; how it was made: ``eval/data/README.md``).

Every row gets ``grade`` in [0, 1] (the gold as a number) and ``label3`` (incorrect / partial /
correct). The mappings, stated once here and in ``eval/RESULTS.md``:

* Mohler: grade = score_avg / 5; label3 = correct from 4.0, partial from 2.5, else incorrect.
* SciEntsBank, Beetle (2-way): correct -> 1.0 / correct, incorrect -> 0.0 / incorrect (their
  "incorrect" merges partially correct, contradictory, irrelevant and non-domain answers).
* SAF: grade = score; label3 from its own label (Correct / Partially correct / Incorrect).
* in-domain: correct 1.0, partial 0.5, incorrect 0.0.

Real-corpus questions are graded as questions that are not in the bank (their own question text
and references, rubric drafted on the fly); in-domain rows are bank questions with reviewed
rubrics. The shared files are read in place, never copied; a missing one is skipped.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
INDOMAIN = ROOT / "eval" / "data" / "labelled.jsonl"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))
SOURCES = ("mohler", "scientsbank", "beetle", "saf", "indomain")
LABELS3 = ("incorrect", "partial", "correct")


@dataclass
class Row:
    source: str
    group: str              # the question, unique across sources (folds are grouped by it)
    question: str
    references: tuple[str, ...]
    answer: str
    grade: float
    label3: str
    question_id: str = ""   # a bank id (in-domain rows only)
    kind: str = ""          # in-domain: the kind of answer (paraphrase, keyword_bag, ...)
    origin: str = ""        # in-domain: handwritten | derived
    author: str = ""        # in-domain: the hand-writer
    exclude_source: str | None = None


def _mohler_label(score: float) -> str:
    return "correct" if score >= 4.0 else "partial" if score >= 2.5 else "incorrect"


def _references(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    cols = [c for c in frame.columns if c.startswith("reference_answer")]
    return [tuple(str(v).strip() for v in vals if isinstance(v, str) and v.strip())
            for vals in frame[cols].itertuples(index=False)]


def load_mohler() -> list[Row]:
    path = SHARED / "mohler" / "mohler.csv"
    if not path.exists():
        return []
    d = pd.read_csv(path)
    return [Row("mohler", "mohler:" + str(r.id).split(".")[0] + ":" + r.question.strip()[:80], r.question.strip(),
                (r.desired_answer.strip(),), str(r.student_answer).strip(), float(r.score_avg) / 5,
                _mohler_label(float(r.score_avg)))
            for r in d.itertuples(index=False)]


def load_asag(name: str) -> list[Row]:
    path = SHARED / "asag" / f"{name}_train.csv"
    if not path.exists():
        return []
    d = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = []
    for r, refs in zip(d.itertuples(index=False), _references(d)):
        if name == "saf":
            grade = float(r.score)
            label = {"correct": "correct", "partially correct": "partial", "incorrect": "incorrect"}[r.label.lower()]
        else:
            label = r.label.lower()
            grade = 1.0 if label == "correct" else 0.0
        rows.append(Row(name, f"{name}:{r.question_id}", r.question.strip(), refs, r.answer.strip(), grade, label))
    return rows


def load_indomain() -> list[Row]:
    from grader.bank.questions import load_bank

    bank = load_bank(ROOT / "grader" / "data" / "questions")
    rows = []
    for line in INDOMAIN.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        q = bank.get(r["question_id"])
        refs = tuple(x.text for x in q.references if x.source != r.get("exclude_source"))
        rows.append(Row("indomain", "indomain:" + r["question_id"], q.question, refs, r["answer"],
                        {"correct": 1.0, "partial": 0.5, "incorrect": 0.0}[r["label"]], r["label"],
                        r["question_id"], r["kind"], r["origin"], r.get("author") or "", r.get("exclude_source")))
    return rows


GAMING_SEED = 5


def gaming_rows(rows: list[Row]) -> list[Row]:
    """Self-made gaming answers (all `incorrect`) for every question of the real corpora, so that
    a model trained on them learns what a keyword list, a copied question or a denied reference
    is, whatever the domain: per question, the reference's content words as a comma list and as a
    bare run of words (space-separated, the shape of a typed keyword salad), the question itself,
    and the reference negated (eval/build_dataset.negate). In-domain questions get the bare run
    only: labelled.jsonl already derives the others. Marked origin=derived, kind=<the kind>."""
    from build_dataset import negate

    from grader.core.text import STOPWORDS, words

    rng = random.Random(GAMING_SEED)
    seen, out = set(), []
    for r in rows:
        if r.group in seen:
            continue
        seen.add(r.group)
        terms = [w for w in dict.fromkeys(words(" ".join(r.references))) if w not in STOPWORDS and len(w) > 3]
        rng.shuffle(terms)
        bag = terms[:rng.randint(5, 10)]
        made = [(" ".join(bag), "keyword_salad")] if len(bag) >= 3 else []
        if r.source != "indomain":
            made += [(", ".join(reversed(bag)), "keyword_bag")] if len(bag) >= 3 else []
            made.append((r.question, "question_copy"))
            negated = negate(r.references[0])
            made += [(negated, "negated_reference")] if negated else []
        out.extend(Row(r.source, r.group, r.question, r.references, answer, 0.0, "incorrect", r.question_id,
                       kind, "derived", "corpora.py") for answer, kind in made)
    return out


def load_all(sources=SOURCES, gaming: bool = True) -> list[Row]:
    loaders = {"mohler": load_mohler, "indomain": load_indomain}
    rows = []
    for s in sources:
        rows.extend(loaders[s]() if s in loaders else load_asag(s))
    rows = [r for r in rows if r.answer]
    return rows + gaming_rows(rows) if gaming else rows


def load_training_rows() -> list[Row]:
    """What the bundled model learns from: load_all() and, after it, the 2,975 stranger-style
    answers to 175 bank questions outside the stranger-style test set (source "strangers_train",
    eval/data/strangers_train/, labelled by the writers' intent or, the third round, blind;
    strangers.load_train_rows)."""
    from strangers import load_train_rows

    return load_all() + load_train_rows()


if __name__ == "__main__":
    rows = load_all()
    frame = pd.DataFrame([r.__dict__ for r in rows])
    print(frame.groupby("source").agg(rows=("answer", "size"), questions=("group", "nunique"),
                                      mean_grade=("grade", "mean")))
    print(frame.groupby(["source", "label3"]).size().unstack(fill_value=0))
