"""The JSON API, version 1: grade one answer or a batch, list and show questions, health.

Routes are plain functions (FastAPI runs them in its thread pool); grading goes through the one
loaded `Grader` under the state's lock.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader import __version__
from grader.bank.questions import user_question
from grader.bank.rubrics import parse_rubric
from grader.errors import GraderError

from .errors import ApiError
from .settings import (MAX_ANSWER, MAX_BATCH_ITEMS, MAX_CONCEPTS, MAX_QUESTION_CHARS, MAX_REFERENCE_CHARS,
                       MAX_REFERENCES, MAX_REQUEST_RUBRICS, REVIEW_CONFIDENCE)

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer KEY (when the server has a key)")
_header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: KEY (the same key)")


def require_key(request: Request,
                bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
                header: Annotated[str | None, Depends(_header_key)] = None) -> None:
    """When the server has an API key, a request must present it (compared in constant time)."""
    state = request.app.state.serve
    if not state.api_key:
        return
    given = [header, bearer.credentials if bearer else None]
    if not any([state.key_matches(g) for g in given]):   # a list: both compared, whichever is given
        raise ApiError(401, "missing or wrong API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
                       headers={"WWW-Authenticate": "Bearer"})


router = APIRouter()
v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)])


# --- models ----------------------------------------------------------------------------------

class ConceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    phrases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=50)
    weight: float = Field(1.0, gt=0, le=100)
    required: bool = False


class RubricIn(BaseModel):
    """Key concepts of an own question (the rubric YAML format without question_id)."""
    model_config = ConfigDict(extra="forbid")
    concepts: list[ConceptIn] = Field(min_length=1, max_length=MAX_CONCEPTS)


class GradeRequest(BaseModel):
    """A bank question by `question_id`, or an own `question` with `reference_answers` (and
    optionally a `rubric`), and the `answer` to grade. `id` is echoed back, for your bookkeeping."""
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question_id": "q004-035", "answer": "It switches off random units while training."},
        {"question": "What is a tensor?", "reference_answers": ["A multi-dimensional array of numbers."],
         "answer": "an n-dimensional array"}]})
    id: str | int | None = Field(None, description="Echoed back in the result.")
    question_id: str | None = Field(None, min_length=1, max_length=100)
    question: str | None = Field(None, min_length=1, max_length=MAX_QUESTION_CHARS)
    reference_answers: list[Annotated[str, Field(max_length=MAX_REFERENCE_CHARS)]] | None = Field(
        None, min_length=1, max_length=MAX_REFERENCES)
    rubric: RubricIn | None = None
    answer: str = Field(max_length=MAX_ANSWER, description=f"At most {MAX_ANSWER} characters.")

    @model_validator(mode="after")
    def _one_question(self):
        own = self.question is not None or self.reference_answers is not None or self.rubric is not None
        if self.question_id is not None and own:
            raise ValueError("give question_id, or question + reference_answers, not both")
        if self.question_id is None and (self.question is None or not self.reference_answers):
            raise ValueError("give question_id (a bank question), or question and reference_answers")
        return self


class GradeOut(BaseModel):
    """The fields of `grader grade --json`, plus model_version and needs_review."""
    id: str | int | None = None
    question_id: str
    score: float
    label: str
    confidence: float
    probabilities: dict[str, float]
    matched_concepts: list[str]
    missed_concepts: list[str]
    contradicted_concepts: list[str]
    feedback: str
    notes: list[str]
    scaled_score: float | None = None
    model_version: str
    needs_review: bool = Field(description=f"true when confidence is under {REVIEW_CONFIDENCE}")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Any] = Field(min_length=1, description=(
        f"Up to {MAX_BATCH_ITEMS} objects, each as the body of POST /v1/grade; more is refused with 413."))


class BatchOut(BaseModel):
    count: int
    errors: int
    results: list[dict[str, Any]] = Field(description=(
        "In the order of the items: a grade (as POST /v1/grade) with index and status \"ok\", or "
        "{index, status: \"error\", code, error} for an item that could not be graded."))


class ErrorOut(BaseModel):
    error: str


ERRORS = {401: {"model": ErrorOut, "description": "missing or wrong API key"},
          413: {"model": ErrorOut, "description": "body too large"},
          422: {"model": ErrorOut, "description": "invalid request"}}


# --- grading ---------------------------------------------------------------------------------

def _question(state, req: GradeRequest):
    """The Question to grade against; ApiError 404/422 when there is none. Call under state.lock."""
    grader = state.grader
    if req.question_id is not None:
        bank = grader.bank
        found = bank.resolve(req.question_id) if bank is not None else None
        if found is None:
            raise ApiError(404, *_unknown(bank, req.question_id))
        q = bank.questions[found]
        if not q.has_reference:
            raise ApiError(422, f"question {q.id} has no reference answer yet, so it cannot be graded")
        return q
    refs = [r for r in req.reference_answers or [] if r.strip()]
    if not refs:
        raise ApiError(422, "reference_answers: give at least one non-empty reference answer")
    if req.rubric is None:
        return user_question(req.question, refs)
    rubric_data = req.rubric.model_dump()
    digest = hashlib.sha1(json.dumps([req.question.strip(), refs, rubric_data], sort_keys=True).encode()).hexdigest()
    q = user_question(req.question, refs, qid=f"user-{digest[:10]}")
    # Keyed by content: the same question, references and rubric always name the same entry.
    grader.rubrics.setdefault(q.id, parse_rubric({"question_id": q.id, **rubric_data}, "request rubric"))
    kept = state.request_rubrics
    kept[q.id] = None
    kept.move_to_end(q.id)
    while len(kept) > MAX_REQUEST_RUBRICS:
        grader.rubrics.pop(kept.popitem(last=False)[0], None)
    return q


def _unknown(bank, qid: str) -> tuple[str, dict]:
    """The 404 message, with the closest ids (as the CLI answers an unknown id)."""
    ids = list(bank.questions) if bank is not None else []
    folded = {i.casefold(): i for i in ids}
    close = [folded[c] for c in difflib.get_close_matches(str(qid).casefold(), folded, n=3, cutoff=0.6)]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown question id {qid!r}{hint}", {"did_you_mean": close}


def _out(state, result, req: GradeRequest) -> dict:
    d = result.to_dict()
    d["model_version"] = state.model_version
    d["needs_review"] = bool(result.confidence < REVIEW_CONFIDENCE)
    if req.id is not None:
        d = {"id": req.id, **d}
    return d


@v1.post("/grade", response_model=GradeOut, response_model_exclude_none=True,
         responses={**ERRORS, 404: {"model": ErrorOut, "description": "unknown question_id (with did_you_mean)"}})
def grade(req: GradeRequest, request: Request):
    """Grade one answer: score, label, confidence, the concepts covered / missed / contradicted."""
    state = request.app.state.serve
    with state.lock:
        q = _question(state, req)
        result = state.grader.grade(q, req.answer)
    return _out(state, result, req)


@v1.post("/grade/batch", response_model=BatchOut, responses=ERRORS, description=(
    f"Grade up to {MAX_BATCH_ITEMS} answers in one call (one pass through the models: faster than a request "
    "each). Results come in the order of the items; a bad item gets an error object (status \"error\", code "
    "404 or 422, error) and the others are still graded. More items: 413."))
def grade_batch(body: BatchRequest, request: Request):
    if len(body.items) > MAX_BATCH_ITEMS:
        raise ApiError(413, f"too many items: {len(body.items)}; the limit is {MAX_BATCH_ITEMS} per request",
                       {"limit_items": MAX_BATCH_ITEMS})
    state = request.app.state.serve
    results: list[dict | None] = [None] * len(body.items)
    todo = []
    with state.lock:
        for i, item in enumerate(body.items):
            try:
                req = GradeRequest.model_validate(item)
                todo.append((i, req, _question(state, req)))
            except ValidationError as exc:
                messages = [_item_problem(e) for e in exc.errors()]
                results[i] = _item_error(i, 422, "invalid item: " + "; ".join(messages[:5]))
            except ApiError as exc:
                results[i] = _item_error(i, exc.status, exc.message, **exc.extra)
            except GraderError as exc:
                results[i] = _item_error(i, 422, str(exc))
        graded = _grade_all(state.grader, [(q, req.answer) for _, req, q in todo])
    for (i, req, _), result in zip(todo, graded):
        if isinstance(result, Exception):
            results[i] = _item_error(i, 422, str(result))
        else:
            results[i] = {"index": i, "status": "ok", **_out(state, result, req)}
    errors = sum(r["status"] == "error" for r in results)
    return {"count": len(results), "errors": errors, "results": results}


def _grade_all(grader, pairs):
    """All pairs in one pass; if that fails on a bad pair, each alone, so one cannot sink the rest."""
    if not pairs:
        return []
    try:
        return grader.grade_many(pairs)
    except GraderError:
        out = []
        for q, a in pairs:
            try:
                out.append(grader.grade(q, a))
            except GraderError as exc:
                out.append(exc)
        return out


def _item_problem(e: dict) -> str:
    where = ".".join(str(p) for p in e.get("loc", ())) or "item"
    return f"{where}: {e.get('msg', 'invalid')}"


def _item_error(i: int, code: int, message: str, **extra) -> dict:
    return {"index": i, "status": "error", "code": code, "error": message, **extra}


# --- questions -------------------------------------------------------------------------------

def question_dict(q) -> dict:
    """As `grader questions show --json`: with the model answer, the references and their errata,
    and `unservable` (why the practice page does not ask it; such a question is still graded)."""
    return q.to_dict()


@v1.get("/questions", responses=ERRORS)
def list_questions(request: Request,
                   topic: Annotated[list[str] | None, Query(description="Only these topics (repeatable).")] = None,
                   level: Annotated[list[str] | None, Query(description="Only these levels (repeatable).")] = None,
                   search: Annotated[str | None, Query(max_length=200, description="Text in the question.")] = None,
                   include_all: Annotated[bool, Query(alias="all", description="Include questions without a "
                                                      "reference answer.")] = False):
    """The bank's questions, filtered as `grader questions list` (an unknown topic or level: 422)."""
    bank = request.app.state.serve.grader.bank
    found = bank.filter(topic=topic or None, level=level or None, text=search,
                        with_reference=None if include_all else True)
    return {"count": len(found), "questions": [question_dict(q) for q in found]}


@v1.get("/questions/{question_id}",
        responses={**ERRORS, 404: {"model": ErrorOut, "description": "unknown id (with did_you_mean)"}})
def show_question(question_id: str, request: Request):
    """One question with its reference answers (ids match in any case)."""
    bank = request.app.state.serve.grader.bank
    found = bank.resolve(question_id)
    if found is None:
        raise ApiError(404, *_unknown(bank, question_id))
    return question_dict(bank.questions[found])


@router.get("/healthz")
def healthz(request: Request):
    """Liveness: the model is loaded. Needs no key."""
    state = request.app.state.serve
    bank = state.grader.bank
    return {"status": "ok", "version": __version__, "model_version": state.model_version,
            "questions": sum(q.has_reference for q in bank) if bank is not None else 0}


router.include_router(v1)
