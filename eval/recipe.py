"""How the bundled model is built, shared by eval/train.py (which ships it) and eval/loso.py
(which measures the same recipe with a source held out), and how `Grader` turns its output into
labels, replayed on cached signals.

The model: gradient-boosted trees with per-class sigmoid calibration on every signal (FEATURES),
a fallback on every signal but e5's (for answers the cascade grades without e5), and a semantic
judge (logistic regression of "correct" on every signal but the rubric's) stored in its metadata.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.signals.e5 import E5_FEATURES  # noqa: E402
from grader.signals.features import FAST_FEATURES, FEATURES, select  # noqa: E402
from grader.grading import coherent_score, semantic_judgement  # noqa: E402
from grader.model.classifier import GradingModel  # noqa: E402
from grader.settings import E5_CASCADE_CONFIDENCE, JUDGE_AGREES  # noqa: E402

LABELS3 = ("incorrect", "partial", "correct")
E5_COLUMNS = [FEATURES.index(f) for f in E5_FEATURES]


# The judge that arbitrates between a label and the concept evidence must not read that evidence.
RUBRIC_SIGNALS = ("rubric_coverage", "rubric_matched", "required_matched", "contradicted", "rubric_drafted")
JUDGE_SIGNALS = tuple(f for f in FEATURES if f not in RUBRIC_SIGNALS)


def fit_semantic_judge(X: np.ndarray, y: np.ndarray) -> dict:
    """Logistic regression of "correct" on every signal but the rubric's, with balanced classes:
    0.5 means the text evidence favours "correct" over the rest, whatever a source's base rate."""
    from sklearn.linear_model import LogisticRegression

    Z = X[:, [FEATURES.index(f) for f in JUDGE_SIGNALS]]
    mean, scale = Z.mean(axis=0), Z.std(axis=0) + 1e-12
    clf = LogisticRegression(max_iter=2000, class_weight="balanced").fit((Z - mean) / scale, y == "correct")
    return {"features": list(JUDGE_SIGNALS), "mean": mean.tolist(), "scale": scale.tolist(),
            "coef": clf.coef_[0].tolist(), "intercept": float(clf.intercept_[0]),
            "what": "P(correct) from every signal but the rubric's (logistic regression, balanced classes); "
                    "arbitrates between a label and the concept evidence"}


def build_model(X: np.ndarray, y: np.ndarray, groups: np.ndarray, features=FEATURES) -> GradingModel:
    """X: FEATURES columns of the training rows; y: label names; groups: question keys. The model
    reads `features` (by name); its fallback all of them but e5's."""
    model = GradingModel(labels=LABELS3, features=tuple(features), estimator="boosting", calibration="sigmoid", cv=5)
    model.fit(select(X, features), y, groups=groups)
    fast = tuple(f for f in features if f in FAST_FEATURES)
    model.fallback = GradingModel(labels=LABELS3, features=fast, estimator="boosting",
                                  calibration="sigmoid", cv=5).fit(select(X, fast), y, groups=groups)
    model.metadata["semantic_judge"] = fit_semantic_judge(X, y)
    return model


# Signal sets measured against each other (eval/strangers.py, eval/loso.py --variants).
LEAN_SIGNALS = ("cos_max", "cos_mean", "lex_recall", "cos_question", "question_copy", "log_words", "length_ratio",
                "comma_density", "negation_mismatch", "reversal", "e5_cos_max", "e5_cos_mean", "e5_cos_question",
                "e5_gain_over_question")
# Raw similarity to the references, and to the question, left out: only what the answer adds over
# the question, and what it covers of the rubric (raw cosines rank strangers' misconceptions above
# their correct paraphrases: eval/strangers.py).
RELATIVE_SIGNALS = tuple(f for f in FEATURES if f not in (
    "cos_max", "cos_mean", "cos_short", "answer_precision", "worst_sentence", "cos_question", "lex_precision",
    "e5_cos_max", "e5_cos_mean", "e5_cos_question"))
VARIANTS = {
    "bundled": (FEATURES, E5_CASCADE_CONFIDENCE),
    "bundled, e5 always": (FEATURES, None),
    "without rubric signals, e5 always": (JUDGE_SIGNALS, None),
    "lean, e5 always": (LEAN_SIGNALS, None),
    "relative, e5 always": (RELATIVE_SIGNALS, None),
    "without the answer judge": (tuple(f for f in FEATURES if f != "answer_judge"), E5_CASCADE_CONFIDENCE),
}


def build_variant(name: str, X, y, groups):
    """(model, cascade threshold) of a VARIANTS entry trained on FEATURES matrix X."""
    features, cascade = VARIANTS[name]
    return build_model(X, y, groups, features), cascade


def grade_like_grader(model: GradingModel, X: np.ndarray, cascade: float | None = E5_CASCADE_CONFIDENCE,
                      coherence: bool = True):
    """Probabilities, label indices and scores as `Grader.grade_many` gives them, from cached
    signals: the e5 cascade (signals dropped where the fallback is sure and agrees with the
    concept evidence) and the coherence rules. Concept evidence is read from the signals: "every
    required concept missed" is required_matched == 0, "every concept covered" is
    rubric_coverage == 1 with nothing contradicted. Returns (proba, labels, scores, e5_share)."""
    X = X.copy()
    required = X[:, FEATURES.index("required_matched")]
    coverage = X[:, FEATURES.index("rubric_coverage")]
    contradicted = X[:, FEATURES.index("contradicted")]
    top, bottom = len(LABELS3) - 1, 0

    def conflicts(k, judged):
        no_judge = np.isnan(judged)
        demote = (k == top) & (required == 0) & (no_judge | (judged < JUDGE_AGREES))
        promote = (k == bottom) & (coverage >= 1) & (contradicted == 0) & (no_judge | (judged >= JUDGE_AGREES))
        return demote, promote

    if cascade is not None:
        fb = model.fallback.predict_proba(select(X, model.fallback.features))
        k = fb.argmax(axis=1)
        demote, promote = conflicts(k, np.full(len(X), np.nan))
        skip = (fb.max(axis=1) >= cascade) & ~demote & ~promote
        X[np.ix_(skip, E5_COLUMNS)] = np.nan
    e5_share = float(np.mean(~np.isnan(X[:, E5_COLUMNS[0]])))
    mine = select(X, model.features)
    proba = model.predict_proba(mine)
    score = model.predict_grade(mine, proba)
    k = proba.argmax(axis=1)
    if not coherence:
        return proba, k, score, e5_share
    demote, promote = conflicts(k, semantic_judgement(model, mine))
    k = np.where(demote, k - 1, np.where(promote, k + 1, k))
    score = np.array([coherent_score(s, int(c), len(LABELS3)) for s, c in zip(score, k)])
    return proba, k, score, e5_share
