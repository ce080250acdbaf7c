"""grader bank import-docs: every document shape becomes bank questions with topic, level,
sources and drafted rubrics; reworded and exact duplicates are merged (across documents and into
an existing bank); ids are stable; bad inputs are one-line errors. Tiny fixtures: the embedding
model is loaded once per process (get_embedder) and each import drafts a handful of rubrics."""

import json

import pytest

from grader.bank.questions import load_bank
from grader.bank.rubrics import load_rubrics
from grader.cli import main

NUMBERED = """# Interview questions

1. What is gradient clipping?
Gradient clipping caps the norm of the gradients before the update, which keeps exploding
gradients from wrecking training.

Q2: What is overfitting?
The model fits noise in the training set and does worse on new data.

**3)** What is a pooling layer?
It downsamples feature maps, for example by taking the maximum of each window.
"""

HEADINGS = """# Deep learning questions
## For Freshers
### What is batch normalization?
Batch normalization normalises each layer's inputs over the mini-batch, then scales and shifts them.

### Why is dropout used?
To prevent overfitting: units are dropped at random during training.
## Conclusion
Thanks for reading.
"""

ANSWER_BLOCKS = """Below are questions on optimisation.
What does the learning rate control?
Answer:
The learning rate sets the step size of each gradient update.
Answer:
Mode collapse occurs when the generator of a GAN produces only a few kinds of samples.
"""

FLASHCARDS = """Terms in this set
1
What does ReLU stand for?
Rectified Linear Unit
2
What is an epoch?
One full pass through the training dataset
3
Which pooling is common?
Max pooling
"""

SIMPLE_DETAILED = """**1)** **Topic:** Regularization, **Level:** Advanced

**Q:** How do L1 and L2 regularization differ in their effect on the weights?

**Simple:** Imagine paying a fee for every toy you keep.

**Detailed:** L1 adds the sum of absolute weights and drives some weights to exactly zero; L2 adds
the sum of squared weights and shrinks all of them smoothly.

---
"""

TABLE = """| # | Topic | Level | Question |
|---|---|---|---|
| 1 | Optimization | Advanced | How does momentum differ from Adam? |
| 2 | Architectures | Intermediate | What are capsule networks and how do they improve on convolutional networks? |
"""

HTML_PAGE = """<!DOCTYPE html>
<html><head><title>FAQ</title><script>var x = "<h3>Not a question?</h3>";</script></head>
<body><h1>Neural network FAQ</h1>
<h3>What is a recurrent neural network?</h3>
<p>A network with a hidden state that is carried from one time step to the next, so it can read sequences.</p>
<h3>Why do plain RNNs struggle with long sequences?</h3>
<p>Gradients vanish or explode over many steps &amp; early inputs are forgotten.</p>
</body></html>
"""

QA_FAQ = """Transformer FAQ

Q: What is self-attention?
A: Each token attends to every other token of the sequence, weighting them by query-key similarity.

Q: Why are positional encodings needed?
A: Attention ignores order, so positions are added to the embeddings.
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(runner, *args):
    return runner.invoke(main, ["bank", "import-docs", *map(str, args)])


def imported(runner, tmp_path, *docs, out="out", extra=()):
    """Import the (name, text) documents; the written bank and the --json summary."""
    paths = [write(tmp_path, name, text) for name, text in docs]
    result = run(runner, *paths, "-o", tmp_path / out, "--json", *extra)
    assert result.exit_code == 0, result.output
    bank = load_bank(tmp_path / out)
    return bank, json.loads(result.output)


def by_text(bank):
    return {q.question: q for q in bank}


def test_numbered_questions(runner, tmp_path):
    bank, summary = imported(runner, tmp_path, ("faq.md", NUMBERED))
    qs = by_text(bank)
    assert set(qs) == {"What is gradient clipping?", "What is overfitting?", "What is a pooling layer?"}
    assert summary["documents"][0]["shape"] == "numbered"
    clip = qs["What is gradient clipping?"]
    assert clip.references[0].source_file == "faq.md" and clip.references[0].source_number == 1
    assert "exploding" in clip.references[0].text and clip.topic == "optimization"
    assert qs["What is overfitting?"].topic == "regularization" and qs["What is overfitting?"].level == "basic"
    assert qs["What is a pooling layer?"].references[0].source_number == 3
    rubrics = load_rubrics(tmp_path / "out" / "rubrics")
    assert set(rubrics) == {q.id for q in bank} and all(r.drafted for r in rubrics.values())
    assert all(q.id.startswith("doc-") for q in bank)


def test_questions_as_headings_take_the_section_level(runner, tmp_path):
    bank, summary = imported(runner, tmp_path, ("page.md", HEADINGS))
    qs = by_text(bank)
    assert set(qs) == {"What is batch normalization?", "Why is dropout used?"}
    assert summary["documents"][0]["shape"] == "headings"
    assert all(q.level == "basic" for q in bank)            # "For Freshers"
    assert "Thanks" not in qs["Why is dropout used?"].references[0].text


def test_answer_blocks_keep_an_answer_whose_question_was_lost(runner, tmp_path):
    bank, summary = imported(runner, tmp_path, ("blocks.txt", ANSWER_BLOCKS))
    qs = by_text(bank)
    lr = qs["What does the learning rate control?"]
    assert lr.references[0].text.startswith("The learning rate sets") and not lr.reconstructed
    written = qs["What is Mode collapse?"]         # written from the answer's first words
    assert written.reconstructed and written.topic == "generative" and written.references[0].source_number == 2
    assert summary["documents"][0]["questions_lost"] == 1


def test_a_lost_question_that_cannot_be_written_is_marked_unservable(runner, tmp_path):
    bank, summary = imported(runner, tmp_path, ("lost.txt", "Answer:\n- Quantization\n- Pruning\n"))
    (q,) = list(bank)
    assert q.unservable and q.reconstructed and summary["lost_questions"] == [q.id]


def test_flashcards_in_three_forms(runner, tmp_path):
    bank, summary = imported(runner, tmp_path, ("cards.txt", FLASHCARDS))
    assert summary["documents"][0]["shape"] == "flashcards"
    relu = by_text(bank)["What does ReLU stand for?"]
    assert [(r.text, r.kind, r.source_number) for r in relu.references] == [("Rectified Linear Unit", "short", 1)]
    bank, _ = imported(runner, tmp_path, ("tab.txt", "What is an epoch?\tOne pass over the data\n"
                                                       "What is a batch? :: A subset of the data\n"), out="tab")
    assert {q.question: q.references[0].text for q in bank} == {
        "What is an epoch?": "One pass over the data", "What is a batch?": "A subset of the data"}


def test_simple_and_detailed_answers_are_references_of_one_question(runner, tmp_path):
    bank, summary = imported(runner, tmp_path, ("sd.md", SIMPLE_DETAILED))
    (q,) = list(bank)
    assert summary["documents"][0]["shape"] == "simple-detailed"
    assert q.topic == "regularization" and q.level == "advanced"
    assert q.references[0].text.startswith("L1 adds") and q.references[1].text.startswith("Imagine")
    assert {r.source_number for r in q.references} == {1}


def test_a_table_of_questions_without_answers(runner, tmp_path):
    bank, summary = imported(runner, tmp_path, ("table.md", TABLE))
    qs = by_text(bank)
    assert summary["with_references"] == 0 and summary["rubrics_drafted"] == 0
    momentum = qs["How does momentum differ from Adam?"]
    assert momentum.topic == "optimization" and momentum.level == "advanced" and not momentum.references
    capsules = qs["What are capsule networks and how do they improve on convolutional networks?"]
    assert capsules.topic == "cnn" and capsules.level == "intermediate"   # "Architectures": by keyword


def test_an_html_page_with_h3_questions(runner, tmp_path):
    """A shape the seeds do not have: HTML headings and paragraphs (script text is not read)."""
    bank, summary = imported(runner, tmp_path, ("faq.html", HTML_PAGE))
    qs = by_text(bank)
    assert set(qs) == {"What is a recurrent neural network?", "Why do plain RNNs struggle with long sequences?"}
    assert "& early inputs" in qs["Why do plain RNNs struggle with long sequences?"].references[0].text
    assert all(q.topic == "rnn" for q in bank)


def test_a_plain_text_q_and_a_faq(runner, tmp_path):
    bank, _ = imported(runner, tmp_path, ("faq.txt", QA_FAQ))
    qs = by_text(bank)
    assert qs["What is self-attention?"].references[0].text.startswith("Each token attends")
    assert qs["Why are positional encodings needed?"].topic == "transformers"


def test_reworded_and_exact_duplicates_are_merged(runner, tmp_path):
    first = "1. What is batch normalization?\nIt normalises activations over the mini-batch.\n\n" \
            "2. What is overfitting?\nFitting noise in the training data.\n"
    second = "1. What do you mean by batch normalization?\nScaling layer inputs to zero mean and unit variance.\n\n" \
             "2. What is overfitting?\nLow training loss but high validation loss.\n\n" \
             "3. What is underfitting?\nThe model is too simple for the data.\n"
    bank, summary = imported(runner, tmp_path, ("a.md", first), ("b.md", second))
    qs = by_text(bank)
    assert len(bank) == 3                                   # underfitting stays apart from overfitting
    bn = qs["What is batch normalization?"]
    assert [(r.source_file, r.source_number) for r in bn.references] == [("a.md", 1), ("b.md", 1)]
    assert [r.source_file for r in qs["What is overfitting?"].references] == ["a.md", "b.md"]
    merged = {m["question"]: m for m in summary["merged"]}
    assert 0.87 <= merged["What is batch normalization?"]["similarity"][0] < 1.0
    assert merged["What is overfitting?"]["similarity"] == [1.0]


def test_import_into_an_existing_bank_and_again_gives_the_same_ids(runner, tmp_path):
    first, _ = imported(runner, tmp_path, ("faq.md", NUMBERED), out="bank1")
    again, _ = imported(runner, tmp_path, ("faq.md", NUMBERED), out="bank1b")
    assert [q.id for q in first] == [q.id for q in again]
    more = "1. Explain gradient clipping.\nRescale the gradient when its norm passes a threshold.\n"
    merged, summary = imported(runner, tmp_path, ("more.md", more), out="bank2",
                               extra=("--bank", tmp_path / "bank1"))
    clip_id = by_text(first)["What is gradient clipping?"].id
    assert summary["updated"] == [clip_id] and summary["new"] == 0
    clip = merged.get(clip_id)
    assert [r.source_file for r in clip.references] == ["faq.md", "more.md"]
    assert len(load_bank(tmp_path / "bank1").get(clip_id).references) == 1     # the input bank is untouched
    # the same document imported into its own output adds nothing
    same, summary = imported(runner, tmp_path, ("faq.md", NUMBERED), out="bank3", extra=("--bank", tmp_path / "bank1"))
    assert [(q.id, len(q.references)) for q in same] == [(q.id, len(q.references)) for q in first]
    assert summary["new"] == 0 and summary["updated"] == []


@pytest.mark.parametrize("content, expected", [
    (b"", "empty document"),
    (b"   \n\n", "empty document"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    (b"What is dropout?\nfine\n\xff\xfe broken\n", "line 3: not UTF-8"),
    (b"Just some prose about neural networks.\nNothing is asked here.\n", "no questions found"),
])
def test_bad_documents_are_one_line_errors(runner, tmp_path, content, expected):
    path = tmp_path / "doc.txt"
    path.write_bytes(content)
    result = run(runner, path, "-o", tmp_path / "out")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and "doc.txt" in message and expected in message, message
    assert not (tmp_path / "out").exists()


def test_output_never_replaces_an_input(runner, tmp_path):
    doc = write(tmp_path, "faq.md", NUMBERED)
    for output, extra in ((doc, ()), (doc, ("--force",)), (tmp_path, ("--force",))):
        result = run(runner, doc, "-o", output, *extra)
        assert result.exit_code == 1 and "input" in result.output and len(result.output.strip().splitlines()) == 1
    assert doc.read_text(encoding="utf-8") == NUMBERED
    assert run(runner, doc, "-o", tmp_path / "bank").exit_code == 0
    result = run(runner, doc, "-o", tmp_path / "bank")
    assert result.exit_code == 1 and "--force" in result.output
    result = run(runner, doc, "-o", tmp_path / "bank", "--bank", tmp_path / "bank", "--force")
    assert result.exit_code == 1 and "input" in result.output
    assert len(load_bank(tmp_path / "bank")) == 3


def test_shape_can_be_forced(runner, tmp_path):
    doc = write(tmp_path, "faq.md", NUMBERED)
    result = run(runner, doc, "-o", tmp_path / "out", "--shape", "flashcards")
    assert result.exit_code == 1 and "no questions found" in result.output
    result = run(runner, doc, "-o", tmp_path / "out", "--shape", "numbered")
    assert result.exit_code == 0 and "numbered" in result.output
