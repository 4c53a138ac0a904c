"""How pages write dates and times: unambiguous dates, times in the organisation's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from careloop import clock

LANGUAGES = {"en": "English", "es": "Spanish", "zh": "Chinese", "vi": "Vietnamese", "ar": "Arabic", "ru": "Russian",
             "so": "Somali", "fr": "French", "ht": "Haitian Creole", "ko": "Korean", "pt": "Portuguese",
             "tl": "Tagalog", "pl": "Polish", "hi": "Hindi", "bn": "Bengali", "fa": "Persian", "ur": "Urdu",
             "de": "German", "it": "Italian", "ja": "Japanese", "am": "Amharic", "ne": "Nepali"}


def day(value: dt.date | dt.datetime | None, tz: str | None = None) -> str:
    """'25 Nov 2026' (a datetime is first moved to the time zone)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = clock.ensure_utc(value).astimezone(ZoneInfo(tz or "UTC")).date()
    return f"{value.day} {value:%b %Y}"


def when(value: dt.datetime | None, tz: str) -> str:
    """'25 Nov 2026 14:05 EST' in the given IANA time zone."""
    if value is None:
        return ""
    local = clock.ensure_utc(value).astimezone(ZoneInfo(tz))
    return f"{local.day} {local:%b %Y %H:%M %Z}"


def time_of_day(value: dt.datetime | None, tz: str) -> str:
    """'14:05 EST' in the given IANA time zone."""
    if value is None:
        return ""
    return f"{clock.ensure_utc(value).astimezone(ZoneInfo(tz)):%H:%M %Z}"


def iso(value: dt.date | dt.datetime | None) -> str:
    """Machine-readable form for <time datetime="...">."""
    return "" if value is None else value.isoformat()


def label(value: object) -> str:
    """An enum value or code written for people: 'primary_care_coordinator' -> 'Primary care coordinator'."""
    text = str(getattr(value, "value", value) or "").replace("_", " ")
    return text[:1].upper() + text[1:]


def number(value: float | None) -> str:
    """A measured value without a meaningless '.0'."""
    if value is None:
        return ""
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"


def language(tag: str | None) -> str:
    """A BCP 47 language tag for people: 'es' -> 'Spanish (es)'; unknown tags are shown as they are."""
    if not tag:
        return ""
    name = LANGUAGES.get(tag.split("-")[0].lower())
    return f"{name} ({tag})" if name else tag
