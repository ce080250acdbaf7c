"""Grading: one answer (or many) to a question becomes a score, a label and feedback."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from grader.bank.questions import Bank, Question, load_bank, package_data
from grader.bank.questions import user_question  # noqa: F401  (grader.user_question, grader.grading.user_question)
from grader.bank.drafting import RubricDrafter, drafting_fingerprint
from grader.bank.rubrics import Rubric, load_rubrics, parse_rubric
from grader.core.embedding import get_embedder
from grader.core.judge import get_judge
from grader.core.pooling import TextBatch
from grader.core.semantic import get_encoder
from grader.errors import DataError, GraderError
from grader.model.classifier import GradingModel
from grader.signals.concepts import ConceptMatch, ConceptMatcher
from grader.signals.answer_judge import JUDGE_FEATURES, add_judge
from grader.signals.e5 import E5_FEATURES, add_e5
from grader.signals.features import (FAST_FEATURES, FEATURES, KNOWN_EXTRA, Pairing, extra_features, feature_matrix,
                                     select)
from grader.signals.memory import MEMORY_FEATURES, AnswerMemory, memory_path_for
from grader.settings import E5_CASCADE_CONFIDENCE, JUDGE_AGREES, MAX_ANSWER_CHARS, MODEL_ENV, RUBRICS_ENV


def default_model_path() -> Path:
    return Path(__file__).resolve().parent / "models" / "default" / "model.json"


def default_rubrics_dir() -> Path:
    return package_data("rubrics")


@dataclass
class GradeResult:
    question_id: str
    score: float
    label: str
    confidence: float
    probabilities: dict[str, float]
    matched_concepts: list[str] = field(default_factory=list)
    missed_concepts: list[str] = field(default_factory=list)
    contradicted_concepts: list[str] = field(default_factory=list)
    feedback: str = ""
    notes: list[str] = field(default_factory=list)
    scaled_score: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        if d["scaled_score"] is None:
            del d["scaled_score"]
        return d


class Grader:
    """Grades answers against a question's references and rubric with a calibrated model."""

    def __init__(self, bank: Bank | None = None, rubrics: dict[str, Rubric] | None = None,
                 model: GradingModel | None = None, embedder=None, memory=None, model_path=None):
        self.bank = bank
        model_path = model_path or (None if model else os.environ.get(MODEL_ENV) or default_model_path())
        self.model = model or GradingModel.load(model_path)
        unknown = [f for f in self.model.features if f not in FEATURES + KNOWN_EXTRA]
        if unknown:
            raise GraderError(f"{model_path or 'model'}: uses signals this version of grader does not know "
                              f"({', '.join(unknown)}): upgrade grader or calibrate it again")
        # Answer memory (from `grader calibrate`): graded answers beside the model file.
        self.memory = memory
        if self.memory is None and model_path and any(f in MEMORY_FEATURES for f in self.model.features):
            self.memory = AnswerMemory.load(memory_path_for(model_path))
        self.embedder = embedder or get_embedder(self.model.metadata.get("embedder"))
        self.rubrics = dict(rubrics or {})
        self.matcher = ConceptMatcher(self.embedder)
        self._drafter: RubricDrafter | None = None
        self._drafting_fingerprint: str | None = None
        self._e5 = None
        self._judge = None
        # Answers the fallback (every signal but e5's) is at least this sure of skip e5 (None: never).
        self.cascade = E5_CASCADE_CONFIDENCE

    @classmethod
    def from_paths(cls, bank_dir=None, rubrics_dir=None, model_path=None) -> "Grader":
        bank = load_bank(bank_dir)
        if rubrics_dir is None:
            rubrics_dir = os.environ.get(RUBRICS_ENV)
        if rubrics_dir is None:
            own = Path(bank.directory) / "rubrics" if bank.directory and Path(bank.directory).is_dir() else None
            rubrics_dir = own if own and own.is_dir() else (default_rubrics_dir() if bank_dir is None else None)
        model = GradingModel.load(model_path) if model_path else None
        return cls(bank, load_rubrics(rubrics_dir), model, model_path=model_path)

    # --- rubrics ---------------------------------------------------------------------------

    @property
    def drafter(self) -> RubricDrafter:
        if self._drafter is None:
            self._drafter = RubricDrafter(self.embedder).fit(list(self.bank) if self.bank else [])
        return self._drafter

    def rubric_for(self, question: Question) -> Rubric:
        if question.id not in self.rubrics:
            # Drafted once per distinct question, then reused for every answer to it; and kept in
            # the on-disk store, as a course's questions come back run after run.
            store = getattr(self.embedder, "store", None)
            key = self._draft_key(question) if store is not None else None
            rubric = self._stored_draft(store, key, question)
            if rubric is None:
                rubric = self.drafter.draft(question)
                if store is not None:
                    store.put_draft(key, rubric.to_dict())
            self.rubrics[question.id] = rubric
        return self.rubrics[question.id]

    def _draft_key(self, question: Question) -> str:
        if self._drafting_fingerprint is None:
            self._drafting_fingerprint = drafting_fingerprint(list(self.bank) if self.bank else [])
        return json.dumps([self._drafting_fingerprint, question.question,
                           [[r.text, r.kind] for r in question.references]])

    @staticmethod
    def _stored_draft(store, key, question: Question) -> Rubric | None:
        data = store.get_draft(key) if store is not None else None
        if data is None:
            return None
        try:
            rubric = parse_rubric(data, "vector cache")
        except DataError:
            return None   # a damaged entry: drafted again
        rubric.question_id, rubric.drafted, rubric.path = question.id, True, ""
        return rubric

    def warm(self) -> tuple[int, int]:
        """Embed the rubric phrases, questions and reference answers of every answerable bank
        question into the on-disk store, so later runs start grading at once. Returns the counts
        of phrases and of questions and references."""
        answerable = [q for q in self.bank or [] if q.has_reference]
        texts = list(dict.fromkeys(t for q in answerable for t in (q.question, *(r.text for r in q.references))))
        self.embedder.encode_full(texts, persist=True)
        if any(f in E5_FEATURES for f in self.model.features):
            self.e5.vectors(texts, persist=True)
        rubrics = [self.rubric_for(q) for q in answerable]
        phrases = list(dict.fromkeys(p for r in rubrics for c in r.concepts for p in c.all_phrases))
        self.embedder.encode(phrases, persist=True)   # one pass in large batches
        return len(phrases), len(texts)

    # --- grading ---------------------------------------------------------------------------

    def resolve(self, question_id: str) -> Question:
        if self.bank is None:
            raise GraderError("no question bank loaded")
        return self.bank.get(question_id)

    @staticmethod
    def texts_of(items: list[tuple[Question, str]]) -> tuple[list[str], list[str]]:
        """The distinct texts grading these pairs needs: questions and references, and answers."""
        asked = list(dict.fromkeys(t for q, _ in items for t in (q.question, *(r.text for r in q.references))))
        return asked, list(dict.fromkeys(a for _, a in items))

    def embed(self, items: list[tuple[Question, str]]) -> dict:
        """Every text grading these pairs needs, through the model once: questions and references
        also through the on-disk store (they come back run after run), answers not."""
        asked, answers = self.texts_of(items)
        encoded = dict(zip(asked, self.embedder.encode_full(asked, persist=True))) if asked else {}
        encoded.update(zip(answers, self.embedder.encode_full(answers)) if answers else {})
        return encoded

    @property
    def e5(self):
        """The e5 encoder (`grader.core.semantic`), loaded on first use."""
        if self._e5 is None:
            self._e5 = get_encoder()
        return self._e5

    @property
    def judge(self):
        """The answer judge (`grader.core.judge`), loaded on first use."""
        if self._judge is None:
            self._judge = get_judge()
        return self._judge

    def featurize(self, items: list[tuple[Question, str]], all_signals: bool = False, cohort=None):
        """Signals for each (question, answer) pair, in the model's order (or, with `all_signals`,
        every one of FEATURES), and the concept matches behind them. `cohort`: the answers graded
        together (`signals.cohort.CohortStats`), for a model with cohort signals; None grades each
        answer alone. Nothing of it is kept: the next call starts without it."""
        encoded = self.embed(items)
        answer_index = {a: k for k, a in enumerate(dict.fromkeys(a for _, a in items))}
        batch = TextBatch([encoded[a] for a in answer_index])
        rubrics = [self.rubric_for(q) for q, _ in items]
        all_matches = self.matcher.match_many(batch, [(answer_index[a], r) for (_, a), r in zip(items, rubrics)])
        pairings = [Pairing(answer_index[a], q.question, encoded[q.question].vector,
                            [encoded[r.text] for r in q.references], [r.kind for r in q.references], matches,
                            rubric.drafted)
                    for (q, a), rubric, matches in zip(items, rubrics, all_matches)]
        X = feature_matrix(batch, pairings)
        uses = set(FEATURES) if all_signals else set(self.model.features)
        if uses & set(JUDGE_FEATURES):
            add_judge(X, batch, pairings, self.judge, range(len(items)))
        if uses & set(E5_FEATURES):
            rows = range(len(items)) if all_signals else self._needs_e5(X, all_matches)
            add_e5(X, batch, pairings, self.e5, rows)
        if all_signals:
            return X, all_matches
        own = [f for f in self.model.features if f in FEATURES]
        extra = self.model.features[len(own):]
        X_model = select(X, own)
        if extra:
            # Signals beyond FEATURES (answer memory, cohort) of a calibrated model, appended in order.
            vectors = np.stack([encoded[a].vector for _, a in items])
            X_model = np.hstack([X_model, extra_features(items, extra, X, vectors, self.embedder, self.memory, cohort)])
        return X_model, all_matches

    def _needs_e5(self, X: np.ndarray, matches: list[list[ConceptMatch]]) -> list[int]:
        """The rows whose e5 signals are worth computing. Every row, unless the model has a
        fallback without them (the bundled one has: every other signal, FAST_FEATURES): then only
        the rows that fallback is unsure of (top probability under E5_CASCADE_CONFIDENCE), and
        those whose label it would have to overturn for contradicting the concept evidence, where
        the semantic judge has the last word. The others are graded by the fallback, at a
        fraction of the cost (eval/RESULTS.md measures both ways)."""
        fallback = self.model.fallback
        if (self.cascade is None or fallback is None
                or any(f not in FAST_FEATURES or f not in self.model.features for f in fallback.features)):
            return list(range(len(X)))
        proba = fallback.predict_proba(select(X, fallback.features))
        k = proba.argmax(axis=1)
        return [i for i in range(len(X)) if proba[i, k[i]] < self.cascade
                or coherent_label(int(k[i]), proba.shape[1], matches[i], None) != k[i]]

    def grade(self, question: Question | str, answer: str) -> GradeResult:
        return self.grade_many([(question, answer)])[0]

    def grade_many(self, items: list[tuple[Question | str, str]], cohort=None) -> list[GradeResult]:
        """Grade (question or bank id, answer) pairs; `cohort` as in `featurize`."""
        prepared, notes, results = [], [], [None] * len(items)
        for i, (q, a) in enumerate(items):
            q = self.resolve(q) if isinstance(q, str) else q
            if not q.has_reference:
                raise GraderError(f"question {q.id} has no reference answer yet; add one to grade it")
            a = "" if a is None else str(a)
            note = []
            if not a.strip():
                results[i] = self._empty(q)
                continue
            if len(a) > MAX_ANSWER_CHARS:
                a = a[:MAX_ANSWER_CHARS]
                note.append(f"answer truncated to its first {MAX_ANSWER_CHARS} characters for grading")
            prepared.append((i, q, a))
            notes.append(note)
        if prepared:
            X, matches = self.featurize([(q, a) for _, q, a in prepared], cohort=cohort)
            proba = self.model.predict_proba(X)
            scores = self.model.predict_grade(X, proba)
            judged = semantic_judgement(self.model, X)
            for (i, q, a), p, s, m, j, note in zip(prepared, proba, scores, matches, judged, notes):
                results[i] = self._result(q, p, float(s), m, note, None if np.isnan(j) else float(j))
        return results

    def _empty(self, q: Question) -> GradeResult:
        labels = self.model.labels
        probs = {l: 0.0 for l in labels}
        probs[labels[0]] = 1.0
        rubric = self.rubric_for(q)
        return GradeResult(q.id, 0.0, labels[0], 1.0, probs, [], [c.name for c in rubric.concepts], [],
                           "No answer was given.", ["empty answer graded as " + labels[0]])

    def _result(self, q: Question, proba, score, matches: list[ConceptMatch], notes,
                judged: float | None = None) -> GradeResult:
        labels = self.model.labels
        top = int(np.argmax(proba))
        k = coherent_label(top, len(labels), matches, judged)
        if k != top:
            why = "every required concept was missed" if k < top else "every concept was covered"
            notes = [*notes, f"label moved from {labels[top]} to {labels[k]}: {why} and the semantic judge "
                             f"did not say otherwise; confidence is the model's probability of {labels[k]}"]
        score = coherent_score(score, k, len(labels))
        matched = [m.concept.name for m in matches if m.status == "matched"]
        missed = [m.concept.name for m in matches if m.status == "missed"]
        contradicted = [m.concept.name for m in matches if m.status == "contradicted"]
        result = GradeResult(q.id, round(score, 4), labels[k], round(float(proba[k]), 4),
                             {l: round(float(p), 4) for l, p in zip(labels, proba)},
                             matched, missed, contradicted, "", list(notes))
        scale = self.model.metadata.get("scale")
        if scale:
            lo, hi = scale
            result.scaled_score = round(lo + score * (hi - lo), 3)
        result.feedback = feedback_text(result, matches, labels)
        return result


def semantic_judgement(model: GradingModel, X: np.ndarray) -> np.ndarray:
    """Per row, the semantic judge's probability that the answer is right: a logistic model on the
    e5 signals alone, fitted with the bundled model (`metadata["semantic_judge"]`); NaN where the
    model has none or the row's e5 signals were not computed."""
    judge = model.metadata.get("semantic_judge")
    out = np.full(len(X), np.nan)
    if not isinstance(judge, dict) or not all(f in model.features for f in judge.get("features", [None])):
        return out
    Z = (select(X, judge["features"], model.features) - np.array(judge["mean"])) / np.array(judge["scale"])
    return 1.0 / (1.0 + np.exp(-(Z @ np.array(judge["coef"]) + judge["intercept"])))


def coherent_label(k: int, n_labels: int, matches: list[ConceptMatch], judged: float | None) -> int:
    """The model's label, unless the concept evidence and the judge both speak against it: the top
    label with every required concept missed, or the bottom one with every concept covered, moves
    one step, unless the judge (when the model has one) backs the model."""
    required = [m for m in matches if m.concept.required]
    if k == n_labels - 1 and required and all(m.status != "matched" for m in required):
        if judged is None or judged < JUDGE_AGREES:
            return k - 1
    if k == 0 and matches and all(m.status == "matched" for m in matches):
        if judged is None or judged >= JUDGE_AGREES:
            return 1
    return k


def coherent_score(score: float, k: int, n_labels: int) -> float:
    """The score inside its label's band (label k of K covers [k/K, (k+1)/K]), so that one score
    never comes with two labels and a better label never has a lower score."""
    return float(min(max(score, k / n_labels), (k + 1) / n_labels))


def feedback_text(result: GradeResult, matches: list[ConceptMatch], labels=("incorrect", "partial", "correct")) -> str:
    """What the answer covered, contradicted and missed, worded so as not to contradict its label:
    concepts named in an answer graded at the bottom were mentioned, not explained; concepts not
    found in an answer graded at the top are suggestions, not faults."""
    parts = []
    if result.matched_concepts:
        if result.label == labels[0]:
            parts.append("Mentions " + "; ".join(result.matched_concepts) + ", but does not state them correctly.")
        else:
            parts.append("Covered: " + "; ".join(result.matched_concepts) + ".")
    if result.contradicted_concepts:
        details = [f"{m.concept.name} (your answer says: \"{m.evidence}\" in a negated or reversed statement)"
                   for m in matches if m.status == "contradicted"]
        parts.append("Contradicts: " + "; ".join(details) + ".")
    if result.missed_concepts:
        required = {m.concept.name for m in matches if m.concept.required}
        names = [f"{n} (key)" if n in required else n for n in result.missed_concepts]
        if result.label == labels[-1]:
            parts.append("Could also mention: " + "; ".join(result.missed_concepts) + ".")
        else:
            parts.append("Missing: " + "; ".join(names) + ".")
    if not parts:
        parts.append("No rubric concepts were recognised in the answer.")
    return " ".join(parts)
