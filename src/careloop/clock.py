"""Time for the whole application: now() and business-day arithmetic; tests move time through here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

UTC = dt.UTC
_frozen: dt.datetime | None = None
_offset = dt.timedelta(0)


def now() -> dt.datetime:
    """Current time, timezone-aware UTC."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(UTC) + _offset


def today(tz: str = "UTC") -> dt.date:
    """Today's date in the given IANA time zone."""
    return now().astimezone(ZoneInfo(tz)).date()


@contextmanager
def frozen_at(moment: dt.datetime) -> Iterator[None]:
    """Freeze now() at a moment (tests)."""
    global _frozen
    previous, _frozen = _frozen, moment.astimezone(UTC)
    try:
        yield
    finally:
        _frozen = previous


def advance(delta: dt.timedelta) -> None:
    """Move the clock forward by delta (tests and demos)."""
    global _offset, _frozen
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset += delta


def reset() -> None:
    """Return to real time."""
    global _offset, _frozen
    _offset, _frozen = dt.timedelta(0), None


@lru_cache(maxsize=64)
def _us_holidays(year: int) -> holidays.HolidayBase:
    return holidays.US(years=year)


def is_business_day(day: dt.date) -> bool:
    """Monday to Friday and not a US federal holiday (observed dates)."""
    return day.weekday() < 5 and day not in _us_holidays(day.year)


def add_business_days(day: dt.date, count: int) -> dt.date:
    """The date `count` business days after `day`; with count 0, `day` or the next business day."""
    if count < 0:
        raise ValueError("count must be >= 0")
    current = day
    if count == 0:
        while not is_business_day(current):
            current += dt.timedelta(days=1)
        return current
    while count > 0:
        current += dt.timedelta(days=1)
        if is_business_day(current):
            count -= 1
    return current


def ensure_utc(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are UTC (SQLite drops tzinfo); aware ones are converted to UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
