"""The request edge: one transaction per request, committed before the response is sent."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from careloop.db import translate_db_errors
from careloop.errors import BadRequest, UnsupportedMediaType

CSV_TYPES = ("text/csv", "application/csv", "text/plain")


def _commit(session: Session) -> None:
    with translate_db_errors():
        session.commit()


class TransactionalRoute(APIRoute):
    """Opens a session for the request; commits after the endpoint, rolls back on any error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            session = request.app.state.session_factory()
            request.state.db = session
            try:
                with translate_db_errors():
                    response = await handler(request)
                await run_in_threadpool(_commit, session)
                return response
            except BaseException:
                await run_in_threadpool(session.rollback)
                raise
            finally:
                await run_in_threadpool(session.close)

        return run


def router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes are transactional."""
    return APIRouter(route_class=TransactionalRoute, **kwargs)


def db(request: Request) -> Session:
    """The request's session (dependency)."""
    return request.state.db


async def csv_body(request: Request) -> str:
    """The request body as CSV text (every CSV import): 415 for another media type, 400 when not UTF-8."""
    if request.headers.get("content-type", "").split(";")[0].strip() not in CSV_TYPES:
        raise UnsupportedMediaType("Send the file as text/csv")
    try:
        return (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadRequest("The CSV must be UTF-8", code="invalid_encoding") from err
