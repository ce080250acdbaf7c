"""grader bank export / import: round trips through Moodle XML, GIFT and CSV keep every field the
format holds; hostile and malformed files are one-line errors; Anki ids are stable; QTI is
well-formed."""

import json
import re
from pathlib import Path

import pytest

from grader.bank.interchange import export_bank, import_bank, write_bank
from grader.bank.questions import load_bank
from grader.bank.rubrics import load_rubrics
from grader.cli import main
from grader.errors import DataError, GraderError
from grader.grading import default_rubrics_dir

SUFFIX = {"moodle-xml": ".xml", "gift": ".gift", "csv": ".csv"}


@pytest.fixture(scope="module")
def bundled():
    return load_bank(), load_rubrics(default_rubrics_dir())


def fields(q):
    return (q.id, q.question, q.topic, q.level, q.reconstructed, q.model_answer, q.unservable,
            [(r.text, r.kind, r.source_file, r.source_number, r.errata) for r in q.references])


def concepts(rubric):
    return ([(c.name, c.phrases, c.weight, c.required) for c in rubric.concepts], rubric.drafted)


@pytest.mark.parametrize("fmt", ["moodle-xml", "gift", "csv"])
def test_round_trip_keeps_every_field(fmt, bundled, tmp_path):
    bank, rubrics = bundled
    path = tmp_path / f"bank{SUFFIX[fmt]}"
    path.write_bytes(export_bank(fmt, list(bank), rubrics))
    back = import_bank(path)      # the format found from the extension
    assert [fields(q) for q in back.questions] == [fields(q) for q in bank]
    assert set(back.rubrics) == set(rubrics)
    assert all(concepts(back.rubrics[k]) == concepts(rubrics[k]) for k in rubrics)
    assert back.skipped == 0 and back.notes == []
    # ... and written as a bank directory it loads again, the same
    out = write_bank(back, tmp_path / "out")
    again = load_bank(out)
    assert [fields(q) for q in again] == [fields(q) for q in bank]   # both: <topic>.yaml files in name order
    assert set(load_rubrics(out / "rubrics")) == set(rubrics)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<quiz><question type="essay"><name><text>&lol3;</text></name></question></quiz>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE quiz [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<quiz><question type="essay"><questiontext><text>&xxe;</text></questiontext></question></quiz>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_hostile_xml_is_refused(text, tmp_path, runner):
    path = tmp_path / "evil.xml"
    path.write_text(text)
    with pytest.raises(DataError, match="refused"):
        import_bank(path)
    out = runner.invoke(main, ["bank", "import", str(path), "-o", str(tmp_path / "b")])
    assert out.exit_code == 1 and "refused" in out.output and "root:" not in out.output
    assert len(out.output.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("name, text, where", [
    ("broken.xml", "<quiz>\n<question type='essay'>\n<name><text>x</text></name>\n</quiz>\n", "line 4"),
    ("noroot.xml", "<questions/>", "<questions>"),
    ("notext.xml", "<quiz><question type='category'><category><text>c</text></category></question>"
                   "<question type='essay'><name><text>q1</text></name></question></quiz>", "<question> #2 (q1)"),
    ("badlevel.xml", "<quiz><question type='essay'><name><text>q1</text></name><questiontext><text>Why?</text>"
                     "</questiontext><tags><tag><text>level:expert</text></tag></tags></question></quiz>",
     "<question> #1 (q1): level"),
    ("badjson.xml", "<quiz><question type='essay'><name><text>q1</text></name><questiontext><text>Why?</text>"
                    "</questiontext><graderinfo><text>&lt;pre class=\"grader-bank\"&gt;{oops&lt;/pre&gt;</text>"
                    "</graderinfo></question></quiz>", "graderinfo"),
    ("open.gift", "// c\n\n::q1::What is a tensor?{=array\n\n::q2::Next{}\n", "line 3"),
    ("title.gift", "\n::q1 What is a tensor?{}\n", "line 2"),
    ("badjson.gift", "// grader: {\"references\": 3}\n::q1::Why?{}\n", "line 2: references"),
    ("level.csv", "id,question,level\nq1,Why?,basic\nq2,\"How,\nnow?\",expert\n", "line 3: level"),
    ("rubric.csv", "id,question,rubric\nq1,Why?,\"{\"\"concepts\"\": [{\"\"name\"\": \"\"\"\"}]}\"\n",
     "line 2: rubric.concepts[0].name"),
    ("nocol.csv", "id,text\nq1,Why?\n", "line 1"),
    ("dup.csv", "id,question\nq1,Why?\nq1,How?\n", "line 3: id"),
])
def test_malformed_files_name_the_place(name, text, where, tmp_path, runner):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError) as exc:
        import_bank(path)
    assert where in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)
    out = runner.invoke(main, ["bank", "import", str(path), "-o", str(tmp_path / "b")])
    assert out.exit_code == 1 and where in out.output and "Traceback" not in out.output
    assert not (tmp_path / "b").exists()


MOODLE_FOREIGN = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="category"><category><text>$course$/top/Default for DL/Week 3</text></category></question>
  <question type="shortanswer">
    <name><text>Tensor</text></name>
    <questiontext format="html"><text><![CDATA[<p>What is a <b>tensor</b>?</p>]]></text></questiontext>
    <answer fraction="50"><text>an array</text></answer>
    <answer fraction="100"><text>a multi-dimensional array of numbers</text></answer>
    <answer fraction="0"><text>a matrix only</text></answer>
  </question>
  <question type="multichoice"><name><text>MC</text></name></question>
  <question type="category"><category><text>$course$/top/CNN</text></category></question>
  <question type="essay">
    <name><text>Pooling</text></name><idnumber>pool-1</idnumber>
    <questiontext format="html"><text>&lt;p&gt;Why pool?&lt;/p&gt;</text></questiontext>
    <graderinfo format="html"><text>&lt;p&gt;Pooling shrinks the feature maps and adds some invariance to
      small shifts.&lt;/p&gt;</text></graderinfo>
  </question>
</quiz>
"""


def test_moodle_shortanswer_and_plain_essay_import(tmp_path):
    path = tmp_path / "course.xml"
    path.write_text(MOODLE_FOREIGN)
    got = import_bank(path)
    tensor, pool = got.questions
    assert (tensor.id, tensor.question, tensor.topic, tensor.level) == ("Tensor", "What is a tensor?",
                                                                         "fundamentals", "intermediate")
    assert [(r.text, r.kind) for r in tensor.references] == [("a multi-dimensional array of numbers", "short"),
                                                             ("an array", "short")]
    assert (pool.id, pool.topic, pool.question) == ("pool-1", "cnn", "Why pool?")
    assert [r.text for r in pool.references] == [
        "Pooling shrinks the feature maps and adds some invariance to small shifts."]
    assert got.skipped == 1 and any("Week 3" in n for n in got.notes) and any("multichoice" in n for n in got.notes)


GIFT_FOREIGN = """// a course's questions
$CATEGORY: $course$/top/optimization

::adam::Which optimizer keeps running averages of gradients and their squares?{=Adam =%50%RMSprop#close =%0%SGD}

What is 2+2?{=4 =four}

::mc::Pick one{=right ~wrong}

::tf::The sky is blue{T}

::essay1::Explain momentum\\: why does it help?{####It accumulates past gradients, damping oscillations.}

Just a description line.
"""


def test_gift_short_answers_become_references(tmp_path):
    path = tmp_path / "course.gift"
    path.write_text(GIFT_FOREIGN)
    got = import_bank(path)
    adam, plain, essay = got.questions
    assert adam.id == "adam" and adam.topic == "optimization"
    assert [r.text for r in adam.references] == ["Adam", "RMSprop"]
    assert plain.id.startswith("imp-") and [r.text for r in plain.references] == ["4", "four"]
    assert essay.question == "Explain momentum: why does it help?"
    assert [r.text for r in essay.references] == ["It accumulates past gradients, damping oscillations."]
    assert got.skipped == 3


def test_gift_escapes_round_trip(tmp_path):
    from grader.bank.questions import Question, Reference

    q = Question("q:1", "What does {x} = ~y # mean?\nTwo lines \\ here", "rnn", "basic",
                 [Reference("a = b {c}\n- item: ~d #e \\n", kind="full")])
    path = tmp_path / "x.gift"
    path.write_bytes(export_bank("gift", [q], {}))
    (back,) = import_bank(path).questions
    assert fields(back) == fields(q)


def test_cli_export_then_import_then_validate(tmp_path, runner):
    xml = tmp_path / "cnn.xml"
    out = runner.invoke(main, ["bank", "export", "--format", "moodle-xml", "-o", str(xml), "--topic", "cnn",
                               "--level", "basic", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["questions"] > 0 and summary["format"] == "moodle-xml" and xml.exists()
    again = runner.invoke(main, ["bank", "export", "--format", "csv", "-o", str(xml)])
    assert again.exit_code == 1 and "--force" in again.output
    bank_dir = tmp_path / "mine"
    out = runner.invoke(main, ["bank", "import", str(xml), "-o", str(bank_dir), "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert got["questions"] == summary["questions"] and got["rubrics"] == summary["rubrics"]
    assert {q.topic for q in load_bank(bank_dir)} == {"cnn"}
    valid = runner.invoke(main, ["questions", "validate", "--bank", str(bank_dir)])
    assert valid.exit_code == 0 and f"{summary['questions']} questions" in valid.output
    # An existing directory is replaced only with --force; never one holding the input.
    assert runner.invoke(main, ["bank", "import", str(xml), "-o", str(bank_dir)]).exit_code == 1
    assert runner.invoke(main, ["bank", "import", str(xml), "-o", str(bank_dir), "--force"]).exit_code == 0
    inside = bank_dir / "copy.xml"
    inside.write_bytes(xml.read_bytes())
    out = runner.invoke(main, ["bank", "import", str(inside), "-o", str(bank_dir), "--force"])
    assert out.exit_code == 1 and "holds the input" in out.output and inside.exists()
    # Formats that are export-only, and an unknown topic, are one-line errors.
    apkg = tmp_path / "deck.apkg"
    apkg.write_bytes(b"PK")
    out = runner.invoke(main, ["bank", "import", str(apkg), "-o", str(tmp_path / "x")])
    assert out.exit_code == 1 and "export only" in out.output
    out = runner.invoke(main, ["bank", "export", "--format", "gift", "-o", str(tmp_path / "t.gift"),
                               "--topic", "nope"])
    assert out.exit_code == 1 and "unknown topic" in out.output


def test_write_bank_refuses_a_file_and_leaves_no_temp(tmp_path, bundled):
    bank, rubrics = bundled
    path = tmp_path / "b.csv"
    path.write_bytes(export_bank("csv", bank.filter(topic="rnn"), rubrics))
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(GraderError, match="not a directory"):
        write_bank(import_bank(path), target, force=True)
    write_bank(import_bank(path), tmp_path / "ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv", "file", "ok"]


@pytest.mark.slow
def test_an_imported_bank_grades(tmp_path, bundled):
    from grader.grading import Grader

    bank, rubrics = bundled
    path = tmp_path / "rnn.gift"
    path.write_bytes(export_bank("gift", bank.filter(topic="rnn"), rubrics))
    out = write_bank(import_bank(path), tmp_path / "mine")
    grader = Grader.from_paths(str(out))
    q = grader.bank.get("q004-049")
    assert "q004-049" in grader.rubrics
    result = grader.grade(q, "A GRU has an update gate and a reset gate that control how much of the "
                             "previous hidden state is kept and how much new input is let in.")
    assert result.label in ("partial", "correct") and 0 <= result.score <= 1


def test_csv_minimal_columns(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("question,reference_1,reference_2,topic\nWhat is an epoch?,One pass over the training data.,"
                    ",training\n")
    (q,) = import_bank(path).questions
    assert q.topic == "training" and [r.text for r in q.references] == ["One pass over the training data."]


def test_formats_list_matches_cli():
    from grader.bank.interchange import EXPORT_FORMATS, IMPORT_FORMATS
    from grader.cli import bank

    assert bank.EXPORT_FORMATS == EXPORT_FORMATS and bank.IMPORT_FORMATS == IMPORT_FORMATS


def test_readme_documents_the_limits():
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = text.split("## Bank formats", 1)[1].split("\n## ", 1)[0]
    for fmt in ("moodle-xml", "gift", "qti", "anki", "csv"):
        assert fmt in section
    assert "cannot hold" in section


def test_anki_export_has_stable_ids(tmp_path, bundled, runner):
    import sqlite3
    import zipfile

    def guids(path):
        with zipfile.ZipFile(path) as z:
            (tmp_path / "c.anki2").write_bytes(z.read("collection.anki2"))
        con = sqlite3.connect(tmp_path / "c.anki2")
        try:
            notes = sorted(con.execute("select guid, mid, flds from notes").fetchall())
            decks = json.loads(con.execute("select decks from col").fetchone()[0])
        finally:
            con.close()
        return notes, sorted((d["name"], int(i)) for i, d in decks.items() if d["name"] != "Default")

    paths = [tmp_path / "a.apkg", tmp_path / "b.apkg"]
    for p in paths:
        out = runner.invoke(main, ["bank", "export", "--format", "anki", "-o", str(p), "--topic", "rnn"])
        assert out.exit_code == 0, out.output
    first, second = guids(paths[0]), guids(paths[1])
    assert first == second and first[0]
    bank, _ = bundled
    answered = [q for q in bank.filter(topic="rnn", with_reference=True) if q.servable]
    assert len(first[0]) == len(answered) and {d for d, _ in first[1]} == {"grader::rnn"}
    from grader.bank.interchange.anki import build_package, note_guid

    model = build_package(answered).decks[0].notes[0].model
    assert "{{type:Answer}}" in model.templates[0]["qfmt"]
    assert {g for g, _, _ in first[0]} == {note_guid(q.id) for q in answered}
    # The answer to type is the model answer where there is one; the references follow with their errata.
    fields = {g: f.split("\x1f") for g, _, f in first[0]}
    for q in answered:
        answer, others = fields[note_guid(q.id)][2], fields[note_guid(q.id)][3]
        if q.model_answer:
            assert answer.split()[:4] == q.model_answer.split()[:4]
            assert re.sub("<[^>]+>", " ", others).split()[:4] == q.references[0].text.split()[:4]
        assert all("Erratum" in others for r in q.references if r.errata)
    marked = [q for q in bank if q.unservable and q.references]
    assert marked and not {note_guid(q.id) for q in marked} & set(fields)


def test_anki_leaves_out_flashcards_whose_options_were_lost(bundled):
    from grader.bank.interchange.anki import build_package

    bank, _ = bundled
    marked = [q for q in bank if q.unservable and q.references]
    assert marked and build_package(marked).decks == []


def test_qti_package_is_well_formed(tmp_path, bundled, runner):
    import zipfile

    from defusedxml.ElementTree import fromstring

    qti = "{http://www.imsglobal.org/xsd/imsqtiasi_v3p0}"
    cp = "{http://www.imsglobal.org/xsd/qti/qtiv3p0/imscp_v1p1}"
    path = tmp_path / "bank.zip"
    out = runner.invoke(main, ["bank", "export", "--format", "qti", "-o", str(path)])
    assert out.exit_code == 0, out.output
    bank, rubrics = bundled
    with zipfile.ZipFile(path) as z:
        manifest = fromstring(z.read("imsmanifest.xml"))
        resources = manifest.findall(f"{cp}resources/{cp}resource")
        served = [q for q in bank if not q.unservable]
        assert [r.get("identifier") for r in resources] == [q.id for q in served] and len(served) < len(bank)
        assert all(r.get("type") == "imsqti_item_xmlv3p0" for r in resources)
        for q, res in zip(served, resources):
            item = fromstring(z.read(res.get("href")))
            assert item.tag == f"{qti}qti-assessment-item" and item.get("identifier") == q.id
            body = item.find(f"{qti}qti-item-body")
            assert body.find(f"{qti}qti-extended-text-interaction").get("response-identifier") == "RESPONSE"
            assert item.find(f"{qti}qti-response-declaration").get("identifier") == "RESPONSE"
            blocks = body.findall(f"{qti}qti-rubric-block")
            assert len(blocks) == bool(q.model_answer) + (len(q.references) > 0) + (len(q.references) > 1) + \
                (q.id in rubrics)
            texts = [" ".join(p.text for p in b.iter(f"{qti}p")) for b in blocks]
            if q.model_answer:
                assert texts[0].split()[:5] == q.model_answer.split()[:5]
            if q.references:
                assert texts[bool(q.model_answer)].split()[:5] == q.references[0].text.split()[:5]
            if any(r.errata for r in q.references):
                assert "Erratum" in " ".join(texts)
            prompt = " ".join(p.text for p in body.find(f"{qti}div").iter(f"{qti}p"))
            assert prompt == q.question
    assert path.read_bytes() == export_bank("qti", list(bank), rubrics)   # deterministic
