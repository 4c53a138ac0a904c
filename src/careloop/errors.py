"""Domain errors: a stable code, an HTTP status and a message with no PHI in it."""

from __future__ import annotations

from typing import Any


class CareLoopError(Exception):
    """Base of every error a surface renders (problem+json, error page, OperationOutcome, HL7 AE/AR)."""

    code = "careloop_error"
    status = 400
    title = "Request cannot be processed"

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 status: int | None = None, extra: dict[str, Any] | None = None) -> None:
        self.message = message or self.title
        if code:
            self.code = code
        if status:
            self.status = status
        self.extra = extra or {}
        self.audit: Any = None  # an audit Entry the edge records after rolling back (denials)
        super().__init__(self.message)


class NotFound(CareLoopError):
    code, status, title = "not_found", 404, "Not found"


class Conflict(CareLoopError):
    code, status, title = "conflict", 409, "Conflict"


class DuplicatePatient(Conflict):
    code, title = "duplicate_patient", "A matching patient already exists"


class InvalidInput(CareLoopError):
    code, status, title = "invalid_input", 422, "Invalid input"

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field
        if field:
            self.extra.setdefault("errors", [{"field": field, "message": message}])


class InvalidTransition(CareLoopError):
    code, status, title = "invalid_transition", 409, "That change is not allowed in the current state"


class StaleVersion(CareLoopError):
    code, status, title = "stale_version", 412, "The record was changed by someone else"


class PreconditionFailed(CareLoopError):
    code, status, title = "precondition_failed", 412, "Precondition failed"


class NotAcceptable(CareLoopError):
    code, status, title = "not_acceptable", 406, "Not acceptable"


class MethodNotAllowed(CareLoopError):
    code, status, title = "method_not_allowed", 405, "Method not allowed"


class PreconditionRequired(CareLoopError):
    code, status, title = "precondition_required", 428, "If-Match header required"


class Unauthenticated(CareLoopError):
    code, status, title = "unauthenticated", 401, "Sign-in required"


class Forbidden(CareLoopError):
    code, status, title = "forbidden", 403, "You do not have permission for this action"


class TooManyRequests(CareLoopError):
    code, status, title = "too_many_requests", 429, "Too many attempts; try again later"


class BadRequest(CareLoopError):
    code, status, title = "bad_request", 400, "Bad request"


class UnsupportedMediaType(CareLoopError):
    code, status, title = "unsupported_media_type", 415, "Unsupported media type"


class PayloadTooLarge(CareLoopError):
    code, status, title = "payload_too_large", 413, "Request body too large"
