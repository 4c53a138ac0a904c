"""Referral documents: letters and summaries sent with a referral, consult reports received for it.

The type is detected from the bytes (`filetype` for binary formats; UTF-8 text or XML otherwise) and must
agree with the declared type: a file is stored and served as what it is, never as what it claims to be.
Downloads are always attachments (never rendered inline) and are audited like any other read.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from urllib.parse import quote

import filetype
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from careloop import clock
from careloop.audit import service as audit
from careloop.auth.actor import Actor
from careloop.auth.permissions import Permission
from careloop.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from careloop.events import service as events
from careloop.referrals import service
from careloop.referrals.models import DocumentKind, ReferralDocument
from careloop.referrals.models import ReferralStatus as S
from careloop.referrals.schemas import ReferralMove

MAX_BYTES = 8 * 1024 * 1024
BINARY_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/tiff"})
XML_TYPES = frozenset({"application/xml", "text/xml"})
ACCEPTED = "PDF, PNG, JPEG, TIFF, plain text or XML (C-CDA)"
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\"\\/<>:|?*]+")


def detect_type(content: bytes) -> str | None:
    """The media type the bytes are, among those accepted; None for anything else."""
    guessed = filetype.guess(content)
    if guessed is not None:
        return guessed.mime if guessed.mime in BINARY_TYPES else None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    head = text.lstrip()[:200]
    return "application/xml" if head.startswith(("<?xml", "<ClinicalDocument")) else "text/plain"


def clean_filename(name: str | None, content_type: str) -> str:
    """A file name safe to store and to send back in Content-Disposition (no paths, no control characters)."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = _UNSAFE_NAME.sub("_", base).strip(" ._")[:200]
    return base or f"document.{content_type.rsplit('/', 1)[-1]}"


def add(session: Session, actor: Actor, referral_id: uuid.UUID, content: bytes, *, declared_type: str | None,
        filename: str | None, kind: DocumentKind) -> ReferralDocument:
    """Attach a document; a consult report for a referral whose patient was seen marks the report received."""
    referral = service.get_referral(session, actor, referral_id, Permission.REFERRAL_WRITE, for_update=True)
    if not content:
        raise InvalidInput("The document is empty", field="file")
    if len(content) > MAX_BYTES:
        raise PayloadTooLarge(f"A document may be at most {MAX_BYTES // (1024 * 1024)} MiB")
    detected = detect_type(content)
    if detected is None:
        raise UnsupportedMediaType(f"Attach a {ACCEPTED} document")
    declared = (declared_type or "").split(";")[0].strip().lower()
    agrees = declared in ("", "application/octet-stream", detected) or (declared in XML_TYPES and
                                                                       detected == "application/xml")
    if not agrees:
        raise UnsupportedMediaType(f"The file is {detected}, not {declared[:100]}")
    document = ReferralDocument(referral_id=referral.id, organization_id=referral.organization_id, kind=kind,
                                filename=clean_filename(filename, detected), content_type=detected,
                                size=len(content), sha256=hashlib.sha256(content).hexdigest(), content=content,
                                uploaded_by_id=actor.staff_id, uploaded_at=clock.now())
    session.add(document)
    session.flush()
    audit.record(session, actor, "create", patient_id=referral.patient_id, record_type="ReferralDocument",
                 record_id=str(document.id), detail={"referral_id": str(referral.id), "kind": kind.value})
    events.publish(session, "referral.document_added", organization_id=referral.organization_id,
                   patient_id=referral.patient_id, payload={"referral_id": str(referral.id),
                                                            "document_id": str(document.id), "kind": kind.value})
    if kind == DocumentKind.CONSULT_REPORT and referral.status == S.SEEN:
        service.move(session, actor, referral.id, ReferralMove(status=S.REPORT_RECEIVED,
                                                               note="consult report attached"))
    return document


def list_for(session: Session, actor: Actor, referral_id: uuid.UUID) -> list[ReferralDocument]:
    """A referral's documents, oldest first (without their bytes)."""
    referral = service.get_referral(session, actor, referral_id, Permission.REFERRAL_READ)
    return list(session.scalars(select(ReferralDocument).where(ReferralDocument.referral_id == referral.id)
                                .order_by(ReferralDocument.uploaded_at, ReferralDocument.id)))


def read(session: Session, actor: Actor, referral_id: uuid.UUID, document_id: uuid.UUID) -> ReferralDocument:
    """One document with its bytes; the read is audited."""
    referral = service.get_referral(session, actor, referral_id, Permission.REFERRAL_READ)
    document = session.scalars(select(ReferralDocument).options(undefer(ReferralDocument.content))
                               .where(ReferralDocument.id == document_id,
                                      ReferralDocument.referral_id == referral.id)).one_or_none()
    if document is None:
        raise NotFound("No such document")
    audit.record(session, actor, "read", patient_id=referral.patient_id, record_type="ReferralDocument",
                 record_id=str(document.id))
    return document


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback and the UTF-8 name, always as an attachment."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
