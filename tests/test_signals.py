"""One check per signal family, through `Grader.featurize` on a small question, against what the
signal means: similarity equals an explicit cosine, overlap counts words, copying is copying,
length is length, and the e5 family is consistent with its own vectors."""

import numpy as np
import pytest

from grader.bank.questions import Question, Reference
from grader.signals.features import FEATURES

REFERENCE = "Dropout randomly sets neurons to zero during training, which prevents overfitting."
QUESTION = Question("sig", "What is dropout?", references=[Reference(REFERENCE)])


@pytest.fixture(scope="module")
def signals(grader):
    answers = [REFERENCE, "What is dropout?", "Dropout zeroes random units while training.",
               "dropout, neurons, zero, training, overfitting", "It is a kind of pooling layer used in CNNs."]
    X, matches = grader.featurize([(QUESTION, a) for a in answers], all_signals=True)
    return answers, {f: X[:, k] for k, f in enumerate(FEATURES)}, matches


def test_whole_text_similarity_is_the_cosine_of_the_pooled_vectors(grader, signals):
    answers, s, _ = signals
    ref = grader.embedder.encode_full([REFERENCE])[0].vector
    for k, a in enumerate(answers):
        vec = grader.embedder.encode_full([a])[0].vector
        assert s["cos_max"][k] == pytest.approx(float(vec @ ref), abs=1e-5)
        assert s["cos_max"][k] == pytest.approx(s["cos_mean"][k], abs=1e-9)       # one reference
    q = grader.embedder.encode_full([QUESTION.question])[0].vector
    assert s["cos_question"][2] == pytest.approx(float(grader.embedder.encode_full([answers[2]])[0].vector @ q), abs=1e-5)
    assert np.allclose(s["cos_gain_over_question"], s["cos_max"] - s["cos_question"])


def test_lexical_and_copying_signals(signals):
    _, s, _ = signals
    assert s["lex_recall"][0] == pytest.approx(1.0)            # the reference itself
    assert s["question_copy"][1] == pytest.approx(1.0)         # the question itself
    assert s["question_copy"][0] < 0.5
    assert s["lex_recall"][4] < s["lex_recall"][3]             # off-topic shares fewer words than a keyword list


def test_shape_and_length_signals(signals):
    answers, s, _ = signals
    assert s["log_words"][1] == pytest.approx(np.log1p(3))
    assert s["comma_density"][3] > 0 and s["comma_density"][0] > 0 and s["comma_density"][2] == 0
    assert s["stopword_ratio"][3] == 0 < s["stopword_ratio"][4]


def test_sentence_and_token_alignment_peak_on_the_reference(signals):
    _, s, _ = signals
    for name in ("ref_recall", "answer_precision", "worst_sentence", "token_recall", "token_precision"):
        assert s[name][0] == pytest.approx(s[name].max()), name
        assert s[name][0] > s[name][4], name


def test_rubric_signals_follow_the_concept_statuses(signals):
    _, s, matches = signals
    for k, ms in enumerate(matches):
        weights = np.array([m.concept.weight for m in ms])
        matched = np.array([m.status == "matched" for m in ms])
        assert s["rubric_coverage"][k] == pytest.approx(weights[matched].sum() / weights.sum())
    assert s["rubric_drafted"][0] == 1.0                        # no rubric file for this question


def test_e5_signals_are_cosines_of_its_vectors(grader, signals):
    answers, s, _ = signals
    e5 = grader.e5
    q, ref = e5.vectors([QUESTION.question, REFERENCE])
    a = e5.vectors([answers[2]])[0]
    assert s["e5_cos_max"][2] == pytest.approx(float(a @ ref), abs=1e-5)
    assert s["e5_cos_question"][2] == pytest.approx(float(a @ q), abs=1e-5)
    assert np.allclose(s["e5_gain_over_question"], s["e5_cos_max"] - s["e5_cos_question"])
    assert s["e5_cos_max"][0] == pytest.approx(1.0, abs=1e-5)   # the reference itself
