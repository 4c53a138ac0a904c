"""Original-mode ACKs: python-hl7's create_ack on the MSH segment, plus MSA-3 text and an ERR segment."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from functools import lru_cache

import hl7

from careloop.integrations.hl7v2.parse import Message

_counter = itertools.count(1)
_PREFIX = f"CL{os.getpid() % 100000:05d}"
_UNSAFE = str.maketrans({c: " " for c in "|^~\\&#\r\n"})
_ERR_TEXT = {"100": "Segment sequence error", "101": "Required field missing", "102": "Data type error",
             "103": "Table value not found", "200": "Unsupported message type", "201": "Unsupported event code",
             "203": "Unsupported version id", "205": "Duplicate key identifier", "207": "Application internal error"}


def control_id() -> str:
    """A unique MSH-10 for an ACK."""
    return f"{_PREFIX}{dt.datetime.now(dt.UTC):%y%m%d%H%M%S}{next(_counter):06d}"


def _safe(text: str) -> str:
    return text.translate(_UNSAFE)[:200].strip()


def build_ack(message: Message | None, code: str, *, text: str | None = None, error_code: str | None = None,
              location: str | None = None) -> str:
    """ACK text for a message (MSA-2 = its MSH-10, MSH-3/4 and 5/6 swapped); a generic one when unreadable."""
    if message is None:
        return _fallback_ack(code, text, error_code)
    seps, fields = message.seps, list(message.segments[0].fields)
    original_control = fields[10] if len(fields) > 10 else ""
    for blank in (7, 10):  # the envelope depends on the rest of MSH only: build it once per sender
        if len(fields) > blank:
            fields[blank] = ""
    try:
        template = _template(seps.field.join(["MSH", *fields[2:]]), code)
    except Exception:  # an MSH python-hl7 cannot read: answer with our own envelope
        return _fallback_ack(code, text, error_code)
    lines = template.split("\r")
    msh, msa = lines[0].split(seps.field), lines[1].split(seps.field)
    msh[6], msh[9], msa[2] = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"), control_id(), original_control
    lines[0], lines[1] = seps.field.join(msh), seps.field.join(msa)
    if text:
        lines[1] += seps.field + _safe(text)
    if error_code:
        lines.append(_err_segment(message, error_code, location or "", seps))
    return "\r".join(lines) + "\r"


@lru_cache(maxsize=512)
def _template(msh_line: str, code: str) -> str:
    """python-hl7's ACK for an MSH (time, control id and MSA-2 are filled in per message)."""
    return str(hl7.parse(msh_line).create_ack(code, message_id="")).rstrip("\r")


def _err_segment(message: Message, code: str, location: str, seps) -> str:
    f, c, s = seps.field, seps.component, seps.subcomponent
    where = [p for p in location.split("^") if p]
    cwe = (code, _ERR_TEXT.get(code, "Error"), "HL70357")
    version = message.segments[0].value(12)
    if version.startswith(("2.3", "2.4")):
        return f"ERR{f}{c.join([*where, s.join(cwe)])}" if where else f"ERR{f}{c * 3}{s.join(cwe)}"
    return f"ERR{f}{f}{c.join(where)}{f}{c.join(cwe)}{f}E"


def _fallback_ack(code: str, text: str | None, error_code: str | None) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    lines = [f"MSH|^~\\&|CARELOOP||||{now}||ACK|{control_id()}|P|2.5.1",
             f"MSA|{code}||{_safe(text or '')}"]
    if error_code:
        lines.append(f"ERR|||{error_code}^{_ERR_TEXT.get(error_code, 'Error')}^HL70357|E")
    return "\r".join(lines) + "\r"
