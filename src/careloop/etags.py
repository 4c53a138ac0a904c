"""ETag / If-Match helpers: the ETag of a record is its version, W/"<version>"."""

from __future__ import annotations

import re

from fastapi import Request, Response

from careloop.errors import BadRequest

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def etag(version: int) -> str:
    """The weak ETag for a version."""
    return f'W/"{version}"'


def set_etag(response: Response, version: int) -> None:
    """Put the record's ETag on the response."""
    response.headers["ETag"] = etag(version)


def if_match(request: Request) -> int | None:
    """The version the client expects, from If-Match (None when absent)."""
    value = request.headers.get("if-match")
    if value is None or value.strip() == "*":
        return None
    match = _IF_MATCH.match(value)
    if not match:
        raise BadRequest('If-Match must be an ETag such as W/"3"', code="invalid_if_match")
    return int(match.group(1))


def require_if_match(request: Request) -> int:
    """The If-Match version; 428 when the client did not send one (no blind overwrites)."""
    from careloop.errors import PreconditionRequired

    version = if_match(request)
    if version is None:
        raise PreconditionRequired('Send If-Match with the ETag you read, e.g. W/"3"')
    return version
