"""create_app(): routers, error handlers, middleware, templates."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from careloop import __version__, error_handlers
from careloop.config import get_settings
from careloop.db import get_session_factory
from careloop.middleware import SecurityMiddleware
from careloop.runtime import settle_heap


def create_app(*, session_factory: sessionmaker[Session] | None = None) -> FastAPI:
    """The CareLoop ASGI application."""
    from careloop import models  # noqa: F401  (all mappers configured before the first request)
    from careloop.audit.api import api as audit_api
    from careloop.auth.api import api as auth_api
    from careloop.auth.api import oauth
    from careloop.care_plans.api import api as care_plan_api
    from careloop.care_teams.api import api as care_team_api
    from careloop.clinical.api import api as clinical_api
    from careloop.community.api import api as community_api
    from careloop.fhir.api import api as fhir_api
    from careloop.integrations.hl7v2.api import api as hl7_api
    from careloop.medications.api import api as medications_api
    from careloop.patients.api import api as patients_api
    from careloop.protocols.api import api as protocol_api
    from careloop.referrals.api import api as referral_api
    from careloop.results.api import api as results_api
    from careloop.staff.api import api as staff_api
    from careloop.tasks.api import api as tasks_api
    from careloop.transitions.api import api as transitions_api

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = FastAPI(title="CareLoop", version=__version__,
                  lifespan=_lifespan(own_database=session_factory is None), docs_url=None, redoc_url=None,
                  description="Care coordination API. Authenticate with an OAuth2 bearer token "
                              "(`careloop tokens create` or the client-credentials grant at /oauth/token).")
    app.state.session_factory = session_factory or get_session_factory()
    for r in (oauth, auth_api, patients_api, care_team_api, clinical_api, staff_api, audit_api,
              tasks_api, hl7_api, transitions_api, care_plan_api, protocol_api, referral_api, community_api,
              results_api, medications_api, fhir_api):
        app.include_router(r)
    _install_web(app)
    error_handlers.install(app)
    app.add_middleware(SecurityMiddleware, max_body_bytes=settings.max_body_bytes, hsts=settings.secure_cookies)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    return app


def _install_web(app: FastAPI) -> None:
    """The web app (pages, static files, API docs) when its package is present."""
    try:
        from careloop.web import install
    except ImportError:
        return
    install(app)
    from careloop.care_plans.pages import pages as care_plan_pages
    from careloop.community.pages import pages as community_pages
    from careloop.fhir.pages import pages as fhir_pages
    from careloop.integrations.hl7v2.pages import pages as hl7_pages
    from careloop.medications.pages import pages as medication_pages
    from careloop.protocols.pages import pages as protocol_pages
    from careloop.referrals.pages import pages as referral_pages
    from careloop.results.pages import pages as results_pages
    from careloop.tasks.pages import pages as task_pages
    from careloop.transitions.pages import pages as transitions_pages

    for pages in (transitions_pages, hl7_pages, task_pages, care_plan_pages, protocol_pages, referral_pages,
                  community_pages, results_pages, medication_pages, fhir_pages):
        app.include_router(pages)


def _lifespan(own_database: bool):
    """Start the in-process worker (events, sweeps) with the app when configured; stop it on shutdown."""
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = get_settings()
        stop = threading.Event()
        thread = None
        if own_database and settings.inprocess_worker:
            from careloop.jobs.worker import run_forever

            thread = threading.Thread(target=run_forever, name="careloop-worker", daemon=True,
                                      kwargs={"factory": app.state.session_factory, "stop": stop.is_set,
                                              "interval": settings.worker_interval_seconds})
            thread.start()
        from careloop.integrations.hl7v2.runner import inprocess

        async with inprocess(app):  # the MLLP listener, when CARELOOP_HL7_INPROCESS_LISTENER is set
            if own_database:
                settle_heap()
            yield
        stop.set()
        if thread is not None:
            thread.join(timeout=10)

    return lifespan
