"""The web app: page routers, static files, the API documentation page and HTML error pages."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from careloop.web.render import STATIC, SWAGGER_UI


def install(app: FastAPI) -> None:
    """Mount static files, include every page router and register the HTML error renderer."""
    from careloop.audit.pages import pages as audit_pages
    from careloop.auth.pages import pages as auth_pages
    from careloop.patients.pages import pages as patient_pages
    from careloop.web.errors import render_error
    from careloop.web.routes import pages as web_pages

    # swagger-ui comes from npm (node_modules, installed by `make`); the docs page explains when it is missing.
    app.mount("/static/vendor/swagger-ui", StaticFiles(directory=SWAGGER_UI, check_dir=False), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for pages in (web_pages, auth_pages, patient_pages, audit_pages):
        app.include_router(pages)
    app.state.render_error = render_error
