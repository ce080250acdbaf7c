"""`grader serve`: the JSON API through FastAPI's test client (every endpoint, every documented
error, the limits, the API-key rule, CORS), the practice page's forms without a browser, and one
real server on a loopback port. The app is built once per module around the session's grader."""

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from grader.cli import main  # noqa: E402
from grader.workflows.serve.app import create_app  # noqa: E402
from grader.workflows.serve.settings import MAX_BATCH_ITEMS, MAX_BODY_BYTES  # noqa: E402
from grader.cli.serve import check_bind, is_loopback  # noqa: E402
from grader.settings import MAX_ANSWER_CHARS  # noqa: E402

DROPOUT = "Dropout randomly switches off neurons during training so the network cannot rely on any one of them."
GRADE_FIELDS = {"question_id", "score", "label", "confidence", "probabilities", "matched_concepts",
                "missed_concepts", "contradicted_concepts", "feedback", "notes"}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return tmp_path_factory.mktemp("serve") / "quiz.sqlite3"


@pytest.fixture(scope="module")
def app(grader, db):
    return create_app(grader, db_path=db, warm=False)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def keyed(grader, db):
    """The same grader behind an API key."""
    with TestClient(create_app(grader, db_path=db, api_key="s3cret-key", warm=False)) as c:
        yield c


# --- grading ---------------------------------------------------------------------------------

def test_grade_a_bank_question_gives_the_fields_of_grade_json(client, grader):
    r = client.post("/v1/grade", json={"question_id": "q004-035", "answer": DROPOUT})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == GRADE_FIELDS | {"model_version", "needs_review"}
    assert {k: body[k] for k in GRADE_FIELDS} == grader.grade("q004-035", DROPOUT).to_dict()
    assert re.fullmatch(r"[0-9a-f]{7,}-[0-9a-f]{12}", body["model_version"])
    assert body["needs_review"] is (body["confidence"] < 0.6)


def test_ids_match_in_any_case_and_id_is_echoed(client):
    r = client.post("/v1/grade", json={"id": 17, "question_id": "Q004-035", "answer": DROPOUT})
    assert r.status_code == 200
    assert r.json()["id"] == 17 and r.json()["question_id"] == "q004-035"


def test_needs_review_follows_the_threshold(client, monkeypatch):
    import grader.workflows.serve.api as api

    body = {"question_id": "q004-035", "answer": DROPOUT}
    monkeypatch.setattr(api, "REVIEW_CONFIDENCE", 1.01)
    assert client.post("/v1/grade", json=body).json()["needs_review"] is True
    monkeypatch.setattr(api, "REVIEW_CONFIDENCE", 0.0)
    assert client.post("/v1/grade", json=body).json()["needs_review"] is False


def test_own_question_with_references_and_with_a_rubric(client):
    own = {"question": "What is a tensor?", "reference_answers": ["A multi-dimensional array of numbers."]}
    r = client.post("/v1/grade", json={**own, "answer": "an n-dimensional array of numbers"})
    assert r.status_code == 200 and r.json()["question_id"].startswith("user-")
    rubric = {"concepts": [{"name": "multi-dimensional", "phrases": ["n-dimensional"], "required": True},
                           {"name": "numbers", "phrases": ["numeric values"]}]}
    r = client.post("/v1/grade", json={**own, "rubric": rubric, "answer": "an n-dimensional array of numbers"})
    assert r.status_code == 200
    body = r.json()
    named = set(body["matched_concepts"] + body["missed_concepts"] + body["contradicted_concepts"])
    assert named == {"multi-dimensional", "numbers"}


def test_rubrics_sent_with_requests_are_kept_up_to_a_limit(app, client, monkeypatch):
    """A long-running server keeps at most MAX_REQUEST_RUBRICS of them (the oldest go first); a
    question whose rubric was dropped is graded with it again when it comes back."""
    import grader.workflows.serve.api as api

    monkeypatch.setattr(api, "MAX_REQUEST_RUBRICS", 2)
    rubrics = app.state.serve.grader.rubrics
    ids = []
    for word in ("first", "second", "third"):
        body = {"question": f"What is the {word} tensor?", "reference_answers": ["A multi-dimensional array."],
                "rubric": {"concepts": [{"name": f"{word} array", "phrases": ["array"]}]}, "answer": "an array"}
        r = client.post("/v1/grade", json=body)
        assert r.status_code == 200, r.text
        ids.append(r.json()["question_id"])
    assert ids[0] not in rubrics and ids[1] in rubrics and ids[2] in rubrics
    body["question"], body["rubric"]["concepts"][0]["name"] = "What is the first tensor?", "first array"
    r = client.post("/v1/grade", json=body)
    assert r.status_code == 200 and "first array" in r.json()["matched_concepts"] + r.json()["missed_concepts"]
    assert ids[0] in rubrics and ids[1] not in rubrics


def test_empty_answer_is_graded_like_the_cli(client):
    r = client.post("/v1/grade", json={"question_id": "q004-035", "answer": "  "})
    assert r.status_code == 200 and r.json()["label"] == "incorrect"


def test_unknown_question_id_is_404_with_did_you_mean(client):
    r = client.post("/v1/grade", json={"question_id": "q004-03", "answer": "x"})
    assert r.status_code == 404
    body = r.json()
    assert "did you mean" in body["error"] and "q004-039" in body["did_you_mean"]
    assert "/" not in body["error"]   # no server path in the message


@pytest.mark.parametrize("body, words", [
    ({"answer": "x"}, "give question_id"),
    ({"question_id": "q004-035", "question": "Q?", "reference_answers": ["r"], "answer": "x"}, "not both"),
    ({"question": "What?", "answer": "x"}, "give question_id"),
    ({"question": "What?", "reference_answers": ["  "], "answer": "x"}, "non-empty reference"),
    ({"question_id": "q004-035"}, "answer"),
    ({"question_id": "q004-035", "answer": 5}, "answer"),
    ({"question_id": "q004-035", "answer": "x", "colour": "red"}, "colour"),
    ({"question": "Q" * 2001, "reference_answers": ["r"], "answer": "x"}, "question"),
    ({"question": "Q?", "reference_answers": ["r"] * 11, "answer": "x"}, "reference_answers"),
    ({"question": "Q?", "reference_answers": ["r"], "rubric": {"concepts": []}, "answer": "x"}, "concepts"),
    ({"question_id": "q003-t43", "answer": "x"}, "no reference answer"),
])
def test_bad_requests_are_422_json(client, body, words):
    r = client.post("/v1/grade", json=body)
    assert r.status_code == 422, r.text
    assert words in r.json()["error"]
    assert "Traceback" not in r.text


def test_answer_length_limit_is_422(client):
    ok = client.post("/v1/grade", json={"question_id": "q004-035", "answer": "dropout " * (MAX_ANSWER_CHARS // 8)})
    assert ok.status_code == 200
    r = client.post("/v1/grade", json={"question_id": "q004-035", "answer": "x" * (MAX_ANSWER_CHARS + 1)})
    assert r.status_code == 422 and f"at most {MAX_ANSWER_CHARS} characters" in r.json()["error"]


def test_invalid_json_is_422(client):
    r = client.post("/v1/grade", content=b'{"answer": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["error"]


def test_body_over_the_limit_is_413_by_length_and_when_streamed(client):
    big = json.dumps({"question_id": "q004-035", "answer": "x" * (MAX_BODY_BYTES + 10)}).encode()
    r = client.post("/v1/grade", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["error"]

    def chunks():   # no Content-Length: counted as it arrives
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    r = client.post("/v1/grade", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["limit_bytes"] == MAX_BODY_BYTES


# --- batch -----------------------------------------------------------------------------------

def test_batch_keeps_order_and_reports_each_bad_item(client):
    items = [{"question_id": "q004-035", "answer": DROPOUT},
             {"question_id": "nope-1", "answer": "x"},
             {"answer": 5},
             {"id": "a4", "question": "What is a tensor?", "reference_answers": ["A multi-dimensional array."],
              "answer": "an array with many axes"},
             {"question_id": "q004-035", "answer": "x" * (MAX_ANSWER_CHARS + 1)},
             "not an object",
             {"question_id": "q004-035", "answer": "It makes training faster and does not drop neurons."}]
    r = client.post("/v1/grade/batch", json={"items": items})
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 7 and body["errors"] == 4
    res = body["results"]
    assert [x["index"] for x in res] == list(range(7))
    assert [x["status"] for x in res] == ["ok", "error", "error", "ok", "error", "error", "ok"]
    assert [x.get("code") for x in res if x["status"] == "error"] == [404, 422, 422, 422]
    assert all(x["error"] for x in res if x["status"] == "error")
    assert res[3]["id"] == "a4"
    single = client.post("/v1/grade", json=items[0]).json()
    assert {k: res[0][k] for k in single} == single


def test_batch_limits(client):
    r = client.post("/v1/grade/batch", json={"items": [{"question_id": "q004-035", "answer": "x"}] * (MAX_BATCH_ITEMS + 1)})
    assert r.status_code == 413 and f"limit is {MAX_BATCH_ITEMS}" in r.json()["error"]
    assert client.post("/v1/grade/batch", json={"items": []}).status_code == 422
    assert client.post("/v1/grade/batch", json=[{"question_id": "q004-035", "answer": "x"}]).status_code == 422


# --- questions, health, docs -----------------------------------------------------------------

def test_questions_list_filters_like_the_cli(client, grader):
    r = client.get("/v1/questions", params={"topic": "cnn", "level": "basic"})
    assert r.status_code == 200
    body = r.json()
    expected = grader.bank.filter(topic=["cnn"], level=["basic"], with_reference=True)
    assert body["count"] == len(expected) == len(body["questions"]) > 0
    assert [q["id"] for q in body["questions"]] == [q.id for q in expected]
    assert all(q["topic"] == "cnn" and q["level"] == "basic" and q["references"] for q in body["questions"])
    two = client.get("/v1/questions", params=[("topic", "cnn"), ("topic", "rnn")]).json()
    assert {q["topic"] for q in two["questions"]} == {"cnn", "rnn"}
    found = client.get("/v1/questions", params={"search": "DROPOUT"}).json()
    assert found["count"] > 0 and all("dropout" in q["question"].lower() for q in found["questions"])
    every = client.get("/v1/questions", params={"all": "true"}).json()["count"]
    assert every == len(grader.bank) > client.get("/v1/questions").json()["count"]


def test_questions_list_unknown_topic_is_422(client):
    r = client.get("/v1/questions", params={"topic": "cnnx"})
    assert r.status_code == 422 and "choose from" in r.json()["error"]
    assert client.get("/v1/questions", params={"all": "maybe"}).status_code == 422


def test_questions_show_and_404(client):
    r = client.get("/v1/questions/Q004-035")
    assert r.status_code == 200 and r.json()["id"] == "q004-035" and r.json()["references"]
    r = client.get("/v1/questions/q004-03")
    assert r.status_code == 404 and "did you mean" in r.json()["error"]


def test_healthz_openapi_docs_and_unknown_routes(client):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["questions"] == 215 and h["model_version"]
    spec = client.get("/openapi.json").json()
    assert {"/v1/grade", "/v1/grade/batch", "/v1/questions", "/v1/questions/{question_id}", "/healthz"} <= set(spec["paths"])
    assert "/" not in spec["paths"]   # the page is not part of the API
    assert client.get("/docs").status_code == 200
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json() == {"error": "no such endpoint: GET /v1/nothing"}
    r = client.get("/v1/grade")
    assert r.status_code == 405 and "not allowed" in r.json()["error"]


def test_an_unexpected_error_is_a_generic_500_without_a_trace(grader, db, monkeypatch, caplog):
    app = create_app(grader, db_path=db, warm=False)

    def broken(*a, **k):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(grader, "grade", broken)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/grade", json={"question_id": "q004-035", "answer": "x"})
    assert r.status_code == 500
    assert r.json()["error"].startswith("internal error")
    assert "secret" not in r.text and "Traceback" not in r.text
    assert any("unexpected error" in rec.getMessage() for rec in caplog.records)


# --- the API key and CORS --------------------------------------------------------------------

def test_binding_beyond_loopback_needs_a_key(runner, monkeypatch):
    from grader import GraderError

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.5", "[::1]"):
        assert is_loopback(host)
        check_bind(host, None)
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.org"):
        assert not is_loopback(host)
        with pytest.raises(GraderError, match="without an API key"):
            check_bind(host, None)
        check_bind(host, "k")
    monkeypatch.delenv("GRADER_API_KEY", raising=False)
    out = runner.invoke(main, ["serve", "--host", "0.0.0.0"])
    assert out.exit_code == 1
    assert out.output.strip().count("\n") == 0 and "without an API key" in out.output
    out = runner.invoke(main, ["serve", "--host", "0.0.0.0", "--api-key", ""])
    assert out.exit_code == 1   # an empty key is no key


def test_with_a_key_the_api_needs_it(keyed, monkeypatch):
    import grader.workflows.serve.app as app_module

    compared = []
    real = app_module.hmac.compare_digest
    monkeypatch.setattr(app_module.hmac, "compare_digest", lambda a, b: compared.append(1) or real(a, b))
    r = keyed.get("/v1/questions/q004-035")
    assert r.status_code == 401 and "API key" in r.json()["error"] and r.headers["www-authenticate"] == "Bearer"
    assert keyed.get("/v1/questions/q004-035", headers={"X-API-Key": "wrong"}).status_code == 401
    assert keyed.get("/v1/questions/q004-035", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert keyed.get("/v1/questions/q004-035", headers={"Authorization": "Basic s3cret-key"}).status_code == 401
    assert compared   # constant-time comparison
    assert keyed.get("/v1/questions/q004-035", headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
    assert keyed.get("/v1/questions/q004-035", headers={"X-API-Key": "s3cret-key"}).status_code == 200
    r = keyed.post("/v1/grade", json={"question_id": "q004-035", "answer": "x"})
    assert r.status_code == 401
    r = keyed.post("/v1/grade", json={"question_id": "q004-035", "answer": "x"}, headers={"X-API-Key": "s3cret-key"})
    assert r.status_code == 200
    assert keyed.get("/healthz").status_code == 200   # liveness needs no key


def test_with_a_key_the_page_asks_for_it(keyed):
    r = keyed.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    page = keyed.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = keyed.post("/login", data={"csrf": csrf, "key": "wrong"}, follow_redirects=False)
    assert r.headers["location"] == "/login?msg=bad-login" and "grader_page" not in r.cookies
    r = keyed.post("/login", data={"csrf": csrf, "key": "s3cret-key"}, follow_redirects=False)
    assert r.status_code == 303 and "s3cret-key" not in r.headers["set-cookie"]
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
    assert keyed.get("/").status_code == 200
    keyed.cookies.clear()


def test_cors_is_off_by_default_and_on_for_the_given_origin(client, grader, db):
    origin = {"Origin": "https://lms.example.org"}
    r = client.get("/v1/questions/q004-035", headers=origin)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = {**origin, "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/grade", headers=pre).headers
    with TestClient(create_app(grader, db_path=db, cors_origins=["https://lms.example.org"], warm=False)) as c:
        r = c.get("/v1/questions/q004-035", headers=origin)
        assert r.headers["access-control-allow-origin"] == "https://lms.example.org"
        assert c.options("/v1/grade", headers=pre).status_code == 200
        other = c.get("/v1/questions/q004-035", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# --- the practice page without a browser -----------------------------------------------------

def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_practice_page_round_trip_with_plain_forms(client, db):
    home = client.get("/")
    assert home.status_code == 200 and "Practise" in home.text
    csrf = _csrf(home.text)
    r = client.post("/start", data={"csrf": csrf, "topic": "regularization", "level": "", "count": "2",
                                    "mode": "choose"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/practice?ids=")
    page = client.get(r.headers["location"])
    ids = re.search(r'name="ids" value="([^"]+)"', page.text).group(1).split(",")
    assert len(ids) == 2
    answer = "Dropout <b>randomly</b> drops neurons & reduces overfitting <script>alert(1)</script>"
    r = client.post("/answer", data={"csrf": csrf, "ids": ",".join(ids), "pos": "0", "answer": answer},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/answers/")
    shown = client.get(r.headers["location"]).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script>" not in shown
    assert "&lt;b&gt;" in shown and "Next question" in shown
    answer_id = int(r.headers["location"].split("/answers/")[1].split("?")[0])
    r = client.post("/override", data={"csrf": csrf, "answer_id": str(answer_id), "label": "correct",
                                       "ids": ",".join(ids), "pos": "0"}, follow_redirects=False)
    assert r.status_code == 303
    assert "you relabelled it" in client.get(r.headers["location"]).text
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT question_id, answer, override_label FROM answers WHERE id = ?",
                           (answer_id,)).fetchone()
    assert row == (ids[0], answer, "correct")
    r = client.post("/reveal", data={"csrf": csrf, "ids": ",".join(ids), "pos": "1"}, follow_redirects=False)
    revealed = client.get(r.headers["location"]).text
    assert "Model answer" in revealed and 'href="/?msg=done"' in revealed
    png = client.get("/progress.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_practice_forms_need_the_csrf_token_and_valid_ids(client):
    r = client.post("/answer", data={"csrf": "forged", "ids": "q004-035", "pos": "0", "answer": "x"})
    assert r.status_code == 403
    assert client.get("/practice", params={"ids": "<script>x</script>", "pos": "0"}).status_code == 404
    assert "&lt;script&gt;" in client.get("/practice", params={"ids": "<script>x</script>"}).text
    assert client.get("/answers/999999").status_code == 404


def test_due_today_with_nothing_due_says_so(grader, tmp_path):
    with TestClient(create_app(grader, db_path=tmp_path / "empty.sqlite3", warm=False)) as c:
        csrf = _csrf(c.get("/").text)
        r = c.post("/start", data={"csrf": csrf, "mode": "due", "count": "5"}, follow_redirects=False)
        assert r.headers["location"] == "/?msg=none-due"
        assert "Nothing is due today" in c.get(r.headers["location"]).text


# --- a real server over real sockets ---------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_grader_serve_answers_over_a_real_socket(tmp_path):
    import httpx

    port = _free_port()
    env = {**os.environ, "GRADER_DB": str(tmp_path / "quiz.sqlite3"), "HF_HUB_OFFLINE": "1"}
    env.pop("GRADER_API_KEY", None)
    proc = subprocess.Popen([sys.executable, "-m", "grader", "serve", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start in 120 s"
            time.sleep(0.3)
        r = httpx.post(f"{base}/v1/grade", json={"question_id": "q004-035", "answer": DROPOUT}, timeout=30)
        assert r.status_code == 200 and r.json()["label"] in ("correct", "partial", "incorrect")
        r = httpx.post(f"{base}/v1/grade/batch", timeout=30,
                       json={"items": [{"question_id": "q004-035", "answer": DROPOUT}, {"question_id": "zz"}]})
        assert [x["status"] for x in r.json()["results"]] == ["ok", "error"]
        assert "server" not in r.headers
        assert httpx.get(f"{base}/", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
