"""Every real-world sample message through the feed: AA, AE or AR as the content deserves, never a crash."""

from __future__ import annotations

import pytest
from hl7_messages import ack_fields
from sqlalchemy import select

from careloop.integrations.hl7v2 import parse
from careloop.integrations.hl7v2.adt import SUPPORTED_TYPES, SUPPORTED_VERSIONS
from careloop.integrations.hl7v2.models import Hl7Message, MessageStatus
from shared_data import SHARED_DATA

SAMPLES = SHARED_DATA / "hl7v2"
FILES = sorted(SAMPLES.rglob("*.hl7"))


def _retarget(text: str, version: str | None = None) -> str:
    """The sample addressed to our receiving facility (and, optionally, declared as another version)."""
    lines = parse.normalise(text).split("\r")
    msh = next(i for i, line in enumerate(lines) if line.startswith("MSH"))
    sep = lines[msh][3]
    fields = lines[msh].split(sep)
    fields += [""] * (12 - len(fields))
    fields[5] = "CARELOOP"
    if version:
        fields[11] = version
    lines[msh] = sep.join(fields)
    return "\r".join(lines)


def _expected(text: str) -> set[str]:
    msh = parse.parse(text).segments[0]
    kind, event, version = msh.value(9, 1, 1), msh.value(9, 1, 2), msh.value(12)
    if event not in SUPPORTED_TYPES.get(kind, ()) or version not in SUPPORTED_VERSIONS:
        return {"AR"}
    return {"AA", "AE"}


@pytest.mark.parametrize("backend_files", [FILES], ids=["all-samples"])
def test_every_sample_gets_the_right_kind_of_ack(session, send, backend_files):
    acks = {}
    for path in backend_files:
        raw = path.read_bytes().decode("utf-8")
        if raw.lstrip("\ufeff").startswith(("FHS", "BHS")):
            assert ack_fields(send(raw))["MSA"][1] == "AR"  # batches are refused: one message per frame
            continue
        text = _retarget(raw)
        code = ack_fields(send(text))["MSA"][1]
        assert code in _expected(text), path.name
        acks[path.name] = code
    errors = session.scalars(select(Hl7Message.error_text).where(Hl7Message.error_text.is_not(None))).all()
    assert not [e for e in errors if "internal error" in e]
    assert "AA" in acks.values() and "AR" in acks.values()


def test_adt_samples_of_newer_versions_map_cleanly_when_declared_251(session, send):
    """The 2.8 ADT samples carry the same fields: declared as 2.5.1 they are applied or queued, or get AE."""
    sent = 0
    for path in FILES:
        text = parse.normalise(path.read_bytes().decode("utf-8"))
        if not text.startswith("MSH") or parse.parse(text).segments[0].value(9, 1, 1) != "ADT":
            continue
        if parse.parse(text).segments[0].value(9, 1, 2) not in SUPPORTED_TYPES["ADT"]:
            continue
        code = ack_fields(send(_retarget(text, "2.5.1")))["MSA"][1]
        assert code in ("AA", "AE"), path.name
        sent += 1
    assert sent >= 20
    statuses = set(session.scalars(select(Hl7Message.status)))
    assert MessageStatus.NEEDS_REVIEW in statuses  # unknown patients are queued, never dropped
    errors = session.scalars(select(Hl7Message.error_text).where(Hl7Message.error_text.is_not(None))).all()
    assert not [e for e in errors if "internal error" in e]
