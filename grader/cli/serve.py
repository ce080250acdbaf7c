"""`grader serve`, registered on `grader.cli.main`. FastAPI, uvicorn and the model are imported
inside the command, so `grader serve --help` answers at once."""

from __future__ import annotations

import ipaddress
import os

import click

from grader.cli.app import bank_option, friendly_errors, main, model_option, rubrics_option
from grader.errors import GraderError
from grader.settings import DB_ENV
from grader.workflows.serve.settings import API_KEY_ENV, LOOPBACK_HOSTS


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: reachable from this machine only."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """Binding anything but loopback needs an API key: a one-line error otherwise."""
    if not is_loopback(host) and not api_key:
        raise GraderError(f"refusing to listen on {host} without an API key: give --api-key KEY or set "
                          f"{API_KEY_ENV} (or bind 127.0.0.1)")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback requires an API key.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@click.option("--api-key", envvar=API_KEY_ENV, default=None,
              help=f"Key that /v1 requests must send (Authorization: Bearer KEY or X-API-Key); env {API_KEY_ENV} "
                   "(better: a command line is visible to other users).")
@click.option("--cors-origin", "cors_origins", multiple=True,
              help="Allow browser calls to the API from this origin, e.g. https://lms.example.org (repeatable; "
                   "default: CORS off).")
@bank_option
@rubrics_option
@model_option
@click.option("--db", "db_path", type=click.Path(dir_okay=False), envvar=DB_ENV,
              help="Quiz database of the practice page (default: the one `grader quiz` uses; env GRADER_DB).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="uvicorn's log level.")
@friendly_errors
def serve(host, port, api_key, cors_origins, bank_dir, rubrics_dir, model_path, db_path, log_level):
    """Serve the JSON API (/v1, docs at /docs) and the practice page (/) from one process.

    The model is loaded once at start-up. The practice page shares its history with `grader quiz`.

    \b
    Examples:
      grader serve                                   # http://127.0.0.1:8000/
      GRADER_API_KEY=$(openssl rand -hex 16) grader serve --host 0.0.0.0 --port 8080
      grader serve --cors-origin https://lms.example.org --api-key "$KEY"
    """
    api_key = api_key or None
    check_bind(host, api_key)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import uvicorn

    from grader.workflows.serve.app import create_app

    click.echo("grader serve: loading the model...", err=True)
    app = create_app(bank_dir=bank_dir, rubrics_dir=rubrics_dir, model_path=model_path, db_path=db_path,
                     api_key=api_key, cors_origins=cors_origins)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"grader serve: practice page http://{shown}:{port}/ , API docs http://{shown}:{port}/docs"
               + ("" if api_key else " (no API key: loopback only)"), err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, limit_concurrency=64, server_header=False)
