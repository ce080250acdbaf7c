"""The practice page: choose questions, answer, see the grade against your text, reveal the model
answer, override, and follow progress per topic. Plain HTML forms, POST-redirect-GET, no script.

It reads and writes the same SQLite store as `grader quiz` (a `QuizStore` opened per request, at
the server's --db or `default_db_path()`), so terminal and browser share one history and one
FSRS schedule.
"""

from __future__ import annotations

import hmac
import io
import re
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool

from grader.errors import GraderError
from grader.workflows.quiz.session import QuizSession, override_answer, plan_quiz, progress, reference_text
from grader.workflows.quiz.store import QuizStore, parse_iso

from .settings import MAX_ANSWER, PRACTICE_MAX_COUNT

HERE = Path(__file__).resolve().parent
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True,
                  lstrip_blocks=True)
router = APIRouter(include_in_schema=False)
COOKIE = "grader_page"
LABELS = ("incorrect", "partial", "correct")
# The score an overridden answer counts for in the progress plot: the middle of its label's band.
BAND_MIDDLE = {"incorrect": 1 / 6, "partial": 0.5, "correct": 5 / 6}
MESSAGES = {"none-due": "Nothing is due today. Choose a topic for new questions.",
            "none-match": "No questions match that choice.",
            "done": "Round finished. Your answers are in the history below.",
            "bad-login": "That key is not right."}


def _state(request: Request):
    return request.app.state.serve


def _store(state) -> QuizStore:
    return QuizStore(state.db_path)


def render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    state = _state(request)
    html = env.get_template(name).render(csrf=state.csrf, locked=bool(state.api_key), **context)
    return HTMLResponse(html, status_code=status)


def _signed_in(request: Request) -> bool:
    state = _state(request)
    if not state.api_key:
        return True
    return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), state.page_token.encode())


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (the page's only kind), first value of each field; checks the CSRF token."""
    body = (await request.body()).decode("utf-8", errors="replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    if not hmac.compare_digest(form.get("csrf", "").encode(), _state(request).csrf.encode()):
        raise PageError(403, "This form has expired (the server was restarted). Go back and reload the page.")
    return form


class PageError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _error(request: Request, exc: PageError) -> HTMLResponse:
    return render(request, "error.html", status=exc.status, message=exc.message)


# --- a round of questions, carried in the URL ------------------------------------------------

def _round(request: Request, ids: str, pos: str | int):
    """The round's question ids and the position in it, checked against the bank."""
    bank = _state(request).grader.bank
    names = [i for i in ids.split(",") if i][:PRACTICE_MAX_COUNT]
    questions = []
    for qid in names:
        found = bank.resolve(qid)
        if found is None or not bank.questions[found].servable:
            raise PageError(404, f"There is no question {qid!r} to practise.")
        questions.append(bank.questions[found])
    try:
        pos = int(pos)
    except (TypeError, ValueError):
        pos = 0
    if not questions or not 0 <= pos < len(questions):
        raise PageError(404, "That question is not part of this round.")
    return questions, pos


def _round_url(path: str, questions, pos: int) -> str:
    return f"{path}?{urlencode({'ids': ','.join(q.id for q in questions), 'pos': pos})}"


def _next_url(questions, pos: int) -> str:
    return _round_url("/practice", questions, pos + 1) if pos + 1 < len(questions) else "/?msg=done"


# --- pages -----------------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def home(request: Request, msg: str = ""):
    if not _signed_in(request):
        return _login_redirect()
    state = _state(request)
    bank = state.grader.bank
    with _store(state) as store:
        prog = progress(store, bank)
        recent = store.answers(kind="graded", limit=10, newest_first=True)
    counts = bank.counts()
    return render(request, "home.html", message=MESSAGES.get(msg, ""), progress=prog, recent=recent,
                  topics=[t for t, n in counts["topics"].items() if n], levels=[lv for lv, n in counts["levels"].items() if n],
                  max_count=PRACTICE_MAX_COUNT, plot=prog["answered"] > 0)


@router.post("/start")
async def start(request: Request):
    if not _signed_in(request):
        return _login_redirect()
    try:
        form = await _form(request)
    except PageError as exc:
        return _error(request, exc)
    state = _state(request)
    topic, level = form.get("topic") or None, form.get("level") or None
    due_only = form.get("mode") == "due"
    try:
        count = max(1, min(PRACTICE_MAX_COUNT, int(form.get("count") or 5)))
    except ValueError:
        count = 5
    try:
        with _store(state) as store:
            plan = plan_quiz(state.grader.bank, store, topic=topic, level=level, count=None if due_only else count)
    except GraderError as exc:
        return _error(request, PageError(422, str(exc)))
    chosen = plan.questions[:min(plan.due, count)] if due_only else plan.questions
    if not chosen:
        return RedirectResponse("/?msg=" + ("none-due" if due_only else "none-match"), status_code=303)
    return RedirectResponse(_round_url("/practice", chosen, 0), status_code=303)


@router.get("/practice", response_class=HTMLResponse)
def practice(request: Request, ids: str = "", pos: str = "0"):
    if not _signed_in(request):
        return _login_redirect()
    try:
        questions, pos = _round(request, ids, pos)
    except PageError as exc:
        return _error(request, exc)
    q = questions[pos]
    with _store(_state(request)) as store:
        card = store.card(q.id)
    return render(request, "question.html", q=q, pos=pos, total=len(questions), seen=card is not None,
                  ids=",".join(x.id for x in questions), max_answer=MAX_ANSWER,
                  skip_url=_next_url(questions, pos))


@router.post("/answer")
async def answer(request: Request):
    return await _act(request, "grade")


@router.post("/reveal")
async def reveal(request: Request):
    return await _act(request, "reveal")


async def _act(request: Request, action: str):
    if not _signed_in(request):
        return _login_redirect()
    try:
        form = await _form(request)
        questions, pos = _round(request, form.get("ids", ""), form.get("pos", "0"))
    except PageError as exc:
        return _error(request, exc)
    state = _state(request)
    q = questions[pos]
    text = form.get("answer", "").replace("\r\n", "\n")

    def work():
        with state.lock, _store(state) as store:
            session = QuizSession(state.grader, store)
            outcome = session.grade(q, text) if action == "grade" else session.reveal(q)
            if outcome.result is not None:
                state.remember(outcome.answer_id, outcome.result)
            return outcome.answer_id

    answer_id = await run_in_threadpool(work)
    return RedirectResponse(_round_url(f"/answers/{answer_id}", questions, pos), status_code=303)


@router.get("/answers/{answer_id}", response_class=HTMLResponse)
def answer_page(request: Request, answer_id: int, ids: str = "", pos: str = "0"):
    if not _signed_in(request):
        return _login_redirect()
    state = _state(request)
    bank = state.grader.bank
    try:
        with _store(state) as store:
            row = store.answer(answer_id)
    except GraderError:
        return _error(request, PageError(404, f"There is no answer #{answer_id} in the history."))
    q = bank.questions.get(bank.resolve(row.question_id) or "")
    try:
        questions, pos = _round(request, ids, pos) if ids else ([q] if q else [], 0)
        next_url = _next_url(questions, pos) if ids else "/"
    except PageError:
        next_url = "/"
    result = state.recalled(answer_id)
    segments = [(row.answer, None, None)]
    if q is not None and row.kind == "graded":
        with state.lock:
            rubric = state.grader.rubric_for(q)
        segments = highlight(row.answer, rubric, row.matched_concepts, row.contradicted_concepts,
                             mentioned=row.label == "incorrect")
    return render(request, "answer.html", row=row, q=q, result=result, segments=segments,
                  reference=reference_text(q) if q else "", next_url=next_url, ids=ids, pos=pos,
                  labels=LABELS, overridden=request.query_params.get("overridden") == "1")


@router.post("/override")
async def override(request: Request):
    if not _signed_in(request):
        return _login_redirect()
    try:
        form = await _form(request)
        answer_id = int(form.get("answer_id", ""))
    except PageError as exc:
        return _error(request, exc)
    except ValueError:
        return _error(request, PageError(422, "Which answer? The form did not say."))
    state = _state(request)
    try:
        with _store(state) as store:
            override_answer(store, answer_id, form.get("label", ""))
    except GraderError as exc:
        return _error(request, PageError(422, str(exc)))
    query = {k: form[k] for k in ("ids", "pos") if form.get(k)}
    query["overridden"] = "1"
    return RedirectResponse(f"/answers/{answer_id}?{urlencode(query)}", status_code=303)


@router.get("/progress.png")
def progress_png(request: Request):
    if not _signed_in(request):
        return Response(status_code=401)
    state = _state(request)
    with _store(state) as store:
        rows = store.answers(kind="graded")
    return Response(progress_plot(rows), media_type="image/png", headers={"Cache-Control": "no-store"})


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, msg: str = ""):
    return render(request, "login.html", message=MESSAGES.get(msg, ""))


@router.post("/login")
async def login(request: Request):
    state = _state(request)
    try:
        form = await _form(request)
    except PageError as exc:
        return _error(request, exc)
    if not state.api_key:
        return RedirectResponse("/", status_code=303)
    if not state.key_matches(form.get("key", "")):
        return RedirectResponse("/login?msg=bad-login", status_code=303)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(COOKIE, state.page_token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


# --- the answer with its concepts marked -----------------------------------------------------

def highlight(text: str, rubric, matched, contradicted, mentioned: bool = False):
    """The answer as (text, css_class, concept) segments: where a phrase of a covered (or
    mentioned) or contradicted concept occurs word for word, it is marked. Concepts recognised by
    meaning rather than wording have no span and are only listed. Segments are escaped by the
    template like any text."""
    status = {name: "contradicted" for name in contradicted}
    status.update({name: "mentioned" if mentioned else "covered" for name in matched if name not in status})
    spans = []
    for concept in rubric.concepts:
        if concept.name not in status:
            continue
        for phrase in sorted(concept.all_phrases, key=len, reverse=True):
            words = phrase.split()
            if not words:
                continue
            pattern = r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)"
            for m in re.finditer(pattern, text, flags=re.IGNORECASE):
                spans.append((m.start(), m.end(), status[concept.name], concept.name))
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    out, at = [], 0
    for start, end, cls, name in spans:
        if start < at:
            continue   # overlaps a longer or earlier mark
        if start > at:
            out.append((text[at:start], None, None))
        out.append((text[start:end], cls, name))
        at = end
    if at < len(text) or not out:
        out.append((text[at:], None, None))
    return out


# --- progress plot ---------------------------------------------------------------------------

def progress_plot(rows) -> bytes:
    """Per topic, the mean score of its last five graded answers after each answer, over time
    (an overridden answer counts as the middle of its new label's band)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure


    fig = Figure(figsize=(7.5, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series = defaultdict(list)
    for r in rows:
        score = BAND_MIDDLE[r.override_label] if r.override_label in BAND_MIDDLE else (r.score or 0.0)
        series[r.topic or "other"].append((parse_iso(r.created_at), score))
    for topic in sorted(series):
        points = series[topic]
        xs, ys = [], []
        for i, (when, _) in enumerate(points):
            last = [s for _, s in points[max(0, i - 4):i + 1]]
            xs.append(when)
            ys.append(sum(last) / len(last))
        ax.plot(xs, ys, marker="o", markersize=4, linewidth=1.5, label=f"{topic} ({len(points)})")
    if not series:
        ax.text(0.5, 0.5, "no answers yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(0, 1)
    ax.axhspan(2 / 3, 1, color="#e6f4ea", zorder=0)
    ax.axhspan(0, 1 / 3, color="#fce8e6", zorder=0)
    ax.set_ylabel("score (mean of last 5)")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
