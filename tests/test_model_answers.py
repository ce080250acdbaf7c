"""Model answers, errata and unservable cards (issue 23): every answerable bank question has a
short model answer in its own words that avoids the errors recorded on its references; errata
load; the quiz and the practice page never ask a card whose options were lost, though it can
still be graded; the quiz, the practice page and the API show the model answer first."""


import re
import subprocess
import sys
from pathlib import Path

import pytest
from markupsafe import escape

from grader import plan_quiz
from grader.bank.interchange import export_bank, import_bank
from grader.bank.questions import load_bank, load_questions_file
from grader.cli import main
from grader.errors import DataError
from grader.workflows.quiz.store import QuizStore

ROOT = Path(__file__).resolve().parent.parent
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
UNSERVABLE = {"q002-004", "q002-020", "q002-079", "q002-086"}
DROPOUT = "q004-035"

# A recorded erratum, and words that would repeat it: the model answer must not contain them.
REPEATED_ERRORS = {
    "q004-035": ["multiplied by the dropout probability", "scaled by the dropout probability"],
    "q004-048": ["binary output", "true or false"],
    "q004-021": ["how frequently", "how often"],
    "q004-016": ["used for regression"],
    "q000-018": ["translation-invariant", "translation invariant"],
    "q000-094": ["masked except for one"],
    "q004-054": ["context vector"],
    "q004-044": ["inverse of convolution", "opposite of convolution"],
    "q000-086": ["unbiased estimate"],
    "q004-032": ["2/fan_avg", "2 / fan_avg"],
}


@pytest.fixture(scope="module")
def bank():
    return load_bank()


def _longest_shared_run(a: str, b: str) -> int:
    """Length in words of the longest run of words the two texts share."""
    x, y = re.findall(r"\w+", a.lower()), re.findall(r"\w+", b.lower())
    best, prev = 0, [0] * (len(y) + 1)
    for wx in x:
        cur = [0] * (len(y) + 1)
        for j, wy in enumerate(y, 1):
            if wx == wy:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


# --- the bank ---------------------------------------------------------------------------------

def test_every_answerable_question_has_a_short_model_answer(bank):
    answerable = [q for q in bank if q.has_reference]
    assert len(answerable) == 215
    for q in answerable:
        text = q.model_answer
        assert text, q.id
        assert len(text) <= 400, (q.id, len(text))
        assert 1 <= len(SENTENCE_END.split(text)) <= 3, q.id
        assert text.endswith((".", ")")), q.id
    assert not [q.id for q in bank if not q.has_reference and q.model_answer]


def test_model_answers_are_not_copied_from_the_references(bank):
    for q in bank:
        for r in q.references:
            assert q.model_answer != r.text
            # Shared wording is at most a common phrase, never a copied sentence.
            assert _longest_shared_run(q.model_answer, r.text) < 10, (q.id, r.source)


def test_model_answers_are_never_references_so_grading_is_unchanged(bank):
    for q in bank:
        assert all(q.model_answer != r.text for r in q.references)
    # The golden grading outputs depend on the references only; these counts pin them.
    assert sum(len(q.references) for q in bank) == 286


def test_model_answers_do_not_repeat_the_recorded_errors(bank):
    for qid, phrases in REPEATED_ERRORS.items():
        q = bank.get(qid)
        assert any(r.errata for r in q.references), qid
        for phrase in phrases:
            assert phrase.lower() not in q.model_answer.lower(), (qid, phrase)
    assert "keep probability" in bank.get(DROPOUT).model_answer
    assert "between 0 and 1" in bank.get("q004-048").model_answer


def test_errata_load_on_their_references(bank):
    with_errata = [(q.id, r) for q in bank for r in q.references if r.errata]
    assert len(with_errata) == 28
    dropout = {r.source_number: r.errata for r in bank.get(DROPOUT).references}
    assert "keep probability" in dropout[35] and dropout[17] == ""
    (forget,) = [r.errata for r in bank.get("q004-048").references if r.errata]
    assert "between 0 and 1" in forget
    # Each erratum quotes or names the wrong statement of its own reference.
    corrections = {"shearing", "the training set"}      # quoted as the right words, not the source's
    for qid, r in with_errata:
        for quote in re.findall(r'"([^"]+)"', r.errata):
            if quote not in corrections:
                assert quote.lower() in " ".join(r.text.lower().split()), (qid, quote)


def test_loader_and_checker_validate_the_new_keys(tmp_path):
    base = ("questions:\n  - id: x1\n    question: What?\n    references:\n      - text: It.\n")
    for bad, where in [("    model_answer: ''\n", "model_answer"), ("    unservable: 3\n", "unservable"),
                       ("        errata: [a]\n", "errata")]:
        path = tmp_path / "b.yaml"
        text = base + bad if where == "errata" else base.replace("    references:", bad + "    references:")
        path.write_text(text)
        with pytest.raises(DataError) as exc:
            load_questions_file(path)
        assert where in str(exc.value)
    ok = tmp_path / "ok.yaml"
    ok.write_text(base.replace("    references:", "    model_answer: >-\n      Short\n      and folded.\n"
                               "    references:") + "        errata: It is wrong.\n")
    (q,) = load_questions_file(ok)
    assert q.model_answer == "Short and folded." and q.references[0].errata == "It is wrong."
    assert q.servable and q.unservable == ""
    out = subprocess.run([sys.executable, str(ROOT / "eval" / "bank_build" / "check.py")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "model-answers=215 errata=28 unservable=4" in out.stdout, out.stdout


# --- unservable cards ---------------------------------------------------------------------------

def test_cards_whose_options_were_lost_are_marked(bank):
    marked = {q.id for q in bank if q.unservable}
    assert marked == UNSERVABLE
    for qid in marked:
        q = bank.get(qid)
        assert q.question.startswith("Which of the following") and "options lost" in q.unservable
        assert q.has_reference and not q.servable


def test_the_quiz_plan_never_serves_an_unservable_card(bank, tmp_path):
    with QuizStore(tmp_path / "q.sqlite3") as store:
        plan = plan_quiz(bank, store, count=None, seed=1)
        ids = {q.id for q in plan.questions}
        assert ids == {q.id for q in bank if q.servable} and not ids & UNSERVABLE
        for topic in ("fundamentals", "optimization", "training"):
            assert not {q.id for q in plan_quiz(bank, store, topic=topic, count=None).questions} & UNSERVABLE


def test_the_quiz_cli_skips_through_a_topic_without_them_and_refuses_one_by_id(runner, tmp_path, bank):
    db = str(tmp_path / "quiz.sqlite3")
    # Skipping loads no model, so a whole topic goes by quickly.
    r = runner.invoke(main, ["quiz", "--topic", "optimization", "--count", "0", "--db", db], input=":skip\n" * 40)
    assert r.exit_code == 0, r.output
    asked = set(re.findall(r"\] (q\d{3}-\w+) \(", r.output))
    assert asked == {q.id for q in bank.filter(topic="optimization") if q.servable}
    assert len(asked) == 26 and not asked & UNSERVABLE
    r = runner.invoke(main, ["quiz", "--ids", "q002-079", "--db", db], input=":skip\n")
    assert r.exit_code != 0 and "options lost" in r.output and "grader grade -q q002-079" in r.output


def test_an_unservable_card_can_still_be_graded_when_named(grader):
    result = grader.grade("q002-004", "ReLU")
    assert result.label in ("correct", "partial", "incorrect") and 0 <= result.score <= 1


# --- shown first ----------------------------------------------------------------------------------

def test_the_quiz_shows_the_model_answer_before_the_reference_and_its_erratum(runner, tmp_path, bank):
    r = runner.invoke(main, ["quiz", "--ids", DROPOUT, "--db", str(tmp_path / "q.sqlite3")], input=":reveal\n")
    assert r.exit_code == 0, r.output
    out = r.output
    assert out.index("Model answer:") < out.index("Reference answer:") < out.index("Erratum:")
    assert "keep probability" in " ".join(out[out.index("Model answer:"):out.index("Reference answer:")].split())
    assert "grader questions show q004-035" in out


def test_questions_show_lists_model_answer_errata_and_the_mark(runner):
    out = runner.invoke(main, ["questions", "show", DROPOUT]).output
    assert out.index("Model answer:") < out.index("Reference 1") < out.index("Erratum:")
    assert "not asked by the quiz" in runner.invoke(main, ["questions", "show", "q002-086"]).output


@pytest.fixture(scope="module")
def client(grader, tmp_path_factory):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from grader.workflows.serve.app import create_app

    db = tmp_path_factory.mktemp("answers") / "quiz.sqlite3"
    with TestClient(create_app(grader, db_path=db, warm=False)) as c:
        yield c


def _csrf(client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)


def test_the_api_question_payload_has_the_model_answer_errata_and_mark(client, bank):
    body = client.get(f"/v1/questions/{DROPOUT}").json()
    assert body["model_answer"] == bank.get(DROPOUT).model_answer and body["unservable"] == ""
    assert "keep probability" in body["references"][0]["errata"] and body["references"][1]["errata"] == ""
    card = client.get("/v1/questions/q002-020").json()
    assert "options lost" in card["unservable"]
    listed = client.get("/v1/questions", params={"topic": "optimization"}).json()["questions"]
    assert all(q["model_answer"] for q in listed)
    # Marked cards are still graded through the API.
    assert client.post("/v1/grade", json={"question_id": "q002-020", "answer": "the whole dataset"}).status_code == 200


def test_the_practice_page_never_serves_an_unservable_card(client):
    assert client.get("/practice", params={"ids": "q002-004", "pos": "0"}).status_code == 404
    csrf = _csrf(client)
    r = client.post("/answer", data={"csrf": csrf, "ids": "q002-004", "pos": "0", "answer": "ReLU"},
                    follow_redirects=False)
    assert r.status_code == 404
    for _ in range(3):       # rounds are drawn at random: several, over the topic holding two marked cards
        r = client.post("/start", data={"csrf": csrf, "topic": "optimization", "level": "basic", "count": "20",
                                        "mode": "choose"}, follow_redirects=False)
        ids = set(re.search(r"ids=([^&]+)", r.headers["location"]).group(1).replace("%2C", ",").split(","))
        assert ids and not ids & UNSERVABLE


def test_the_practice_page_shows_the_model_answer_first(client, bank):
    csrf = _csrf(client)
    model = str(escape(bank.get(DROPOUT).model_answer))     # as the page escapes it
    r = client.post("/reveal", data={"csrf": csrf, "ids": DROPOUT, "pos": "0"}, follow_redirects=False)
    revealed = client.get(r.headers["location"]).text
    assert revealed.index("<h2>Model answer</h2>") < revealed.index(model) < revealed.index("Source references (4)")
    assert revealed.index("Source references") < revealed.index("Erratum:")
    r = client.post("/answer", data={"csrf": csrf, "ids": DROPOUT, "pos": "0",
                                     "answer": "It drops random units while training."}, follow_redirects=False)
    graded = client.get(r.headers["location"]).text
    toggle = graded[graded.index('<details id="model-answer">'):]
    assert toggle.index("Model answer") < toggle.index(model) < toggle.index("Source references") < toggle.index(
        "Erratum:")


# --- bank formats -----------------------------------------------------------------------------

def test_moodle_general_feedback_is_the_model_answer_and_csv_has_columns(bank, tmp_path):
    chosen = [bank.get(DROPOUT), bank.get("q002-004")]
    xml = export_bank("moodle-xml", chosen, {}).decode("utf-8")
    assert "<generalfeedback format=\"html\"><text>Dropout is a regularisation" in xml
    plain = tmp_path / "plain.xml"
    plain.write_text('<quiz><question type="essay"><name><text>e1</text></name>'
                     "<questiontext><text>What is a tensor?</text></questiontext>"
                     "<generalfeedback><text>&lt;p&gt;A multi-dimensional array.&lt;/p&gt;</text></generalfeedback>"
                     "<graderinfo><text>An n-d array</text></graderinfo></question></quiz>")
    (q,) = import_bank(plain).questions
    assert q.model_answer == "A multi-dimensional array." and q.references[0].text == "An n-d array"
    table = export_bank("csv", chosen, {}).decode("utf-8")
    assert table.splitlines()[0].startswith("id,topic,level,question,reconstructed,model_answer,unservable,")
    path = tmp_path / "b.csv"
    path.write_text(table)
    back = {q.id: q for q in import_bank(path).questions}
    assert back[DROPOUT].model_answer == bank.get(DROPOUT).model_answer
    assert back[DROPOUT].references[0].errata == bank.get(DROPOUT).references[0].errata
    assert back["q002-004"].unservable == bank.get("q002-004").unservable
