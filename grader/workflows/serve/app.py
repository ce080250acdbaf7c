"""The FastAPI application: one grader loaded once, the JSON API (`api.py`), the practice page
(`pages.py`), and what guards them: the API key, the body size limit, JSON errors without a trace."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from grader import __version__
from grader.errors import GraderError

from grader.grading import Grader

from . import api, pages
from .errors import ApiError
from .settings import MAX_BODY_BYTES

log = logging.getLogger("grader.serve")
HERE = Path(__file__).resolve().parent


@dataclass
class ServeState:
    """What every request shares: the grader (used under `lock`: one grading at a time, as its
    embedders are not made for concurrent calls), the quiz database path and the key."""

    grader: object
    model_version: str
    db_path: Path | None = None
    api_key: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Ids of the rubrics requests sent with their own questions, oldest first: at most
    # MAX_REQUEST_RUBRICS stay in the grader, so a long-running server does not grow without bound.
    request_rubrics: OrderedDict = field(default_factory=OrderedDict)
    # Hidden in every page form and checked on POST, so another site cannot post answers or
    # overrides into the learner's history through their browser.
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # The full results (feedback, notes, probabilities) of the last answers graded on the page, for
    # the page shown after the redirect; the database keeps the rest.
    recent: OrderedDict = field(default_factory=OrderedDict)

    def remember(self, answer_id: int, result, keep: int = 200) -> None:
        self.recent[answer_id] = result
        while len(self.recent) > keep:
            self.recent.popitem(last=False)

    def recalled(self, answer_id: int):
        return self.recent.get(answer_id)

    def key_matches(self, given: str | None) -> bool:
        """Constant-time comparison of a presented key with the configured one."""
        if not self.api_key or given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8"), self.api_key.encode("utf-8"))

    @property
    def page_token(self) -> str:
        """The practice page's login cookie: derived from the key, so the key itself is not stored
        in the browser."""
        return hmac.new(self.api_key.encode("utf-8"), b"grader practice page", hashlib.sha256).hexdigest()


def model_version(model) -> str:
    """A short fingerprint of the model's content (the same model gives the same version)."""
    text = json.dumps(model.to_dict(), sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    commit = model.metadata.get("commit") if isinstance(model.metadata, dict) else None
    return f"{commit}-{digest}" if isinstance(commit, str) and commit else digest


def create_app(grader=None, *, bank_dir=None, rubrics_dir=None, model_path=None, db_path=None,
               api_key: str | None = None, cors_origins=(), warm: bool = True) -> FastAPI:
    """The server. `grader` (a loaded `Grader`) is used as is; else one is loaded from the paths as
    `grader grade` does. `db_path` is the quiz database (default: `default_db_path()` per request,
    so GRADER_DB applies). `api_key` guards /v1 and the page; `cors_origins` enables CORS for them."""
    if grader is None:
        grader = Grader.from_paths(bank_dir, rubrics_dir, model_path)
    if warm:
        _warm(grader)
    state = ServeState(grader, model_version(grader.model), Path(db_path) if db_path else None, api_key or None)

    app = FastAPI(
        title="grader", version=__version__,
        summary="Semantic, LLM-free grading of free-text answers",
        description=("Grades an answer against a bank question's references and rubric, or against a question "
                     "and reference answers you send. Errors are JSON `{\"error\": message}`. When the server "
                     "has an API key, /v1 requests need `Authorization: Bearer KEY` or `X-API-Key: KEY`."),
        openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.serve = state

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    _errors(app)
    return app


def _warm(grader) -> None:
    """Load the embedders now (start-up), not on the first request."""
    question = next((q for q in grader.bank or [] if q.has_reference), None)
    if question is not None:
        grader.grade(question, "A warm-up answer to load the models.")
    if any(f.startswith("e5") for f in grader.model.features):
        grader.e5   # noqa: B018 (loads the encoder)


# --- errors ----------------------------------------------------------------------------------

def error_response(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        elif detail == "Method Not Allowed":
            detail = f"method {request.method} is not allowed on {request.url.path}"
        return JSONResponse({"error": detail, **getattr(exc, "extra", {})}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = [_problem(e) for e in exc.errors()]
        return error_response(422, "invalid request: " + "; ".join(p["message"] for p in problems[:5]),
                              problems=problems)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return JSONResponse({"error": exc.message, **exc.extra}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(GraderError)
    async def grader_error(request: Request, exc: GraderError):
        return error_response(422, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal error: the server could not complete this request (it is logged)")


def _problem(e: dict) -> dict:
    """A validation error without the input it was given (an answer can be 5,000 characters)."""
    where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
    message = e.get("msg", "invalid")
    if e.get("type") == "json_invalid":
        where, message = "body", "not valid JSON"
    return {"field": where, "message": f"{where}: {message}"}


# --- body size -------------------------------------------------------------------------------

class _TooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"request body too large: the limit is {limit} bytes")
        self.extra = {"limit_bytes": limit}


class BodyLimit:
    """Refuses a request body over `limit` bytes with 413: at once when Content-Length says so,
    else as soon as the streamed body passes it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.limit
            except ValueError:
                too_big = False
            if too_big:
                return await self._refuse(scope, receive, send)
        seen, started = 0, False

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(self.limit)
            return message

        async def watched(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        response = error_response(413, f"request body too large: the limit is {self.limit} bytes",
                                   limit_bytes=self.limit)
        await response(scope, receive, send)
