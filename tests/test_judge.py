"""The answer judge (grader.core.judge): a cross-encoder shipped as ONNX data with checksums."""

import shutil

import pytest

from grader.core.judge import JUDGE_DIR, AnswerJudge, closest_references
from grader.errors import DataError, GraderError

REFERENCE = ("A learning rate scheduler changes the learning rate during training, usually lowering it over time, "
             "so that training converges faster early on and settles into a good minimum later.")


@pytest.fixture(scope="module")
def judge():
    return AnswerJudge()


def test_an_answer_is_read_against_its_closest_references():
    refs = ["cats purr", "dropout drops units during training", "units of dropout", "a b c"]
    # By the share of a reference's words the answer has: all of "units of dropout", 4 of 5 of the other.
    assert closest_references(refs, "dropout drops random units in training", k=2) == [refs[2], refs[1]]
    assert closest_references(refs[:1], "anything") == refs[:1]


def test_scores_are_probabilities_read_against_the_closest_reference(judge):
    paraphrase = ("It adjusts the step size as the epochs go by, typically shrinking it so the optimiser takes "
                  "big steps at first and small careful steps near the end.")
    alone, with_noise = judge.judge_many([([REFERENCE], paraphrase), (["Cats purr when content.", REFERENCE],
                                                                       paraphrase)])
    assert 0.0 <= alone <= 1.0
    # The unrelated reference shares no word with the answer: it is not read, whatever it would score.
    assert with_noise == pytest.approx(alone)
    assert judge.pair_scores([("Cats purr when content.", paraphrase)])[0] != pytest.approx(alone)


def test_a_paraphrase_outscores_its_reversal(judge):
    paraphrase = ("It adjusts the step size as the epochs go by, typically shrinking it so the optimiser takes "
                  "big steps at first and small careful steps near the end.")
    reversal = ("It raises the learning rate as training goes on, so the first steps are tiny and the last ones "
                "are the largest.")
    good, bad = judge.judge_many([([REFERENCE], paraphrase), ([REFERENCE], reversal)])
    assert good > bad


def test_text_that_is_not_valid_unicode_is_scored_not_raised(judge):
    assert 0.0 <= judge.judge_many([([REFERENCE], "step size \ud800 shrinks")])[0] <= 1.0


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json"])
def test_a_changed_judge_file_is_refused(tmp_path, name):
    copy = tmp_path / "judge"
    shutil.copytree(JUDGE_DIR, copy)
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / name).write_bytes(bytes(data))
    with pytest.raises(DataError, match=name):
        AnswerJudge(copy)


def test_a_judge_without_its_manifest_is_refused(tmp_path):
    shutil.copytree(JUDGE_DIR, tmp_path / "judge")
    (tmp_path / "judge" / "judge.json").unlink()
    with pytest.raises(GraderError, match="missing"):
        AnswerJudge(tmp_path / "judge")
    (tmp_path / "judge" / "judge.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a judge manifest"):
        AnswerJudge(tmp_path / "judge")


def test_a_pairs_score_does_not_depend_on_the_pairs_scored_with_it(judge):
    pair = (REFERENCE, "It lowers the step size over the epochs.")
    long_pair = (REFERENCE * 3, "A much longer answer that pads every other pair of a batch. " * 10)
    judge.forget()
    alone = judge.pair_scores([pair])[0]
    judge.forget()
    together = judge.pair_scores([long_pair, pair, ("x", "y")])[1]
    assert alone == together
