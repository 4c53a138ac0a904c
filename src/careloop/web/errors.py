"""HTML error pages: what happened and what to do, never the data involved."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from careloop.auth.permissions import Permission
from careloop.web.render import render_page, safe_next

WHAT_TO_DO = {
    400: "Check what you entered and try again.",
    403: "If you need this for your work, ask your supervisor or administrator for access.",
    404: "Check the address, or find the record from the patient list.",
    405: "Use the links and buttons on the page rather than typing the address.",
    409: "Someone else changed this at the same time. Reload the page to see the latest version, then try again.",
    412: "Someone else changed this record. Reload the page to see the latest version, then try again.",
    413: "Send a smaller file or form.",
    422: "Go back, correct what you entered and submit again.",
    429: "Wait a few minutes before trying again.",
    500: "Nothing was saved. Try again; if it keeps happening, tell your administrator.",
}


def login_url(request: Request, *, expired: bool) -> str:
    """The sign-in page, returning to this page afterwards (GET requests only)."""
    params = {"next": safe_next(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
              if request.method == "GET" else "/"}
    if expired:
        params["expired"] = "1"
    return "/login?" + urlencode(params)


def render_error(request: Request, status: int, title: str, message: str | None, code: str,
                 headers: dict[str, str]) -> Response:
    """The app's HTML error renderer (app.state.render_error): sign-in redirect, break-the-glass or an error page."""
    if status == 401:
        return RedirectResponse(login_url(request, expired=code == "session_expired"), status_code=303)
    shell = getattr(request.state, "shell", None)
    patient_id = request.path_params.get("patient_id")
    if code == "not_on_care_team" and patient_id and shell and shell.can(Permission.BREAK_GLASS):
        return render_page(request, "patients/break_glass.html", {"patient_id": patient_id, "error": None,
                                                                  "reason": ""}, status=403, headers=headers)
    guidance = WHAT_TO_DO.get(status, WHAT_TO_DO[500] if status >= 500 else WHAT_TO_DO[400])
    return render_page(request, "errors/error.html", {"status": status, "title": title, "code": code,
                                                      "message": message if message != title else None,
                                                      "guidance": guidance}, status=status, headers=headers)
