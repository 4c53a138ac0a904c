"""Pages of the web app itself: the home redirect, the idle-session ping and the API documentation."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from careloop.routing import router
from careloop.web.render import SWAGGER_UI, render_page
from careloop.web.shell import workspace

pages = router(include_in_schema=False)


@pages.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/patients", status_code=303)


@pages.get("/session/ping", dependencies=[Depends(workspace)])
def ping() -> Response:
    """Keeps a signed-in session alive (the idle warning's "Stay signed in")."""
    return Response(status_code=204)


@pages.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    return render_page(request, "docs.html", {"available": (SWAGGER_UI / "swagger-ui-bundle.js").is_file()})
