"""Helpers for page tests: sign in through the real form and read hidden CSRF tokens."""

from __future__ import annotations

import re

from factories import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The first hidden CSRF token of a page."""
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client, email: str, password: str = PASSWORD, next_path: str = "/patients"):
    """Post the sign-in form as a browser does (GET for the form token first); the response is not followed."""
    token = csrf_token(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token,
                                       "next": next_path}, follow_redirects=False)


def post_form(client, path: str, data: dict | None = None, *, page: str = "/patients", **kwargs):
    """Post a form with the session's CSRF token taken from a signed-in page."""
    token = csrf_token(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **(data or {})}, follow_redirects=False, **kwargs)
