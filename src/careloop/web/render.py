"""Jinja2 rendering of pages and fragments with the workspace shell; output is always autoescaped."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from careloop import __version__
from careloop.config import get_settings
from careloop.web import formatting

HERE = Path(__file__).parent
STATIC = HERE / "static"
SWAGGER_UI = HERE.parents[2] / "node_modules" / "swagger-ui-dist"

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True, auto_reload=False)


def _tz(context: Context) -> str:
    shell = context.get("shell")
    return shell.timezone if shell else get_settings().default_timezone


@pass_context
def _when(context: Context, value: Any) -> str:
    return formatting.when(value, _tz(context))


@pass_context
def _day(context: Context, value: Any) -> str:
    return formatting.day(value, _tz(context))


@pass_context
def _time_of_day(context: Context, value: Any) -> str:
    return formatting.time_of_day(value, _tz(context))


def static_url(path: str) -> str:
    """URL of one of our static files; the version in the query string busts caches on upgrade."""
    return f"/static/{path}?v={__version__}"


# Query parameters that would identify a patient: never written into a link (search forms post them).
IDENTIFYING_PARAMS = frozenset({"q", "name", "mrn", "birth_date"})


def url_with(path: str, params: dict[str, Any], **changes: Any) -> str:
    """`path` with the given query parameters, changed as asked; empty values and identifying ones (a
    patient's name, MRN or birth date) are left out."""
    merged = {**params, **changes}
    query = urlencode({k: v for k, v in merged.items() if v not in (None, "", False) and k not in IDENTIFYING_PARAMS})
    return f"{path}?{query}" if query else path


env.filters.update(when=_when, day=_day, time_of_day=_time_of_day, iso=formatting.iso, label=formatting.label,
                   number=formatting.number, language=formatting.language)
env.globals.update(static=static_url, url_with=url_with, version=__version__,
                   break_glass_minutes=lambda: get_settings().break_glass_minutes)


def render_page(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
                headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page or fragment rendered with the request's shell (None before sign-in)."""
    shell = getattr(request.state, "shell", None)
    body = env.get_template(template).render(shell=shell, path=request.url.path, **(context or {}))
    return HTMLResponse(body, status_code=status, headers=headers)


def safe_next(value: str | None) -> str:
    """A local path to go to after sign-in; anything else (other hosts, schemes, '//') becomes '/'."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ch < " " for ch in value):
        return "/"
    return value[:500]
