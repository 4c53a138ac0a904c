"""The transitions board page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from careloop.auth.actor import Actor
from careloop.auth.deps import require_page
from careloop.auth.permissions import Permission
from careloop.routing import db, router
from careloop.transitions import queries
from careloop.web.render import render_page
from careloop.web.shell import workspace

pages = router(include_in_schema=False, dependencies=[Depends(workspace)])


@pages.get("/transitions", response_class=HTMLResponse)
def board(request: Request, session: Annotated[Session, Depends(db)],
          actor: Annotated[Actor, Depends(require_page(Permission.TRANSITIONS_READ))]) -> HTMLResponse:
    return render_page(request, "transitions/board.html", {"board": queries.board(session, actor)})
