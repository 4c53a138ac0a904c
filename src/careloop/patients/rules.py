"""Pure rules of the patient registry: name normalisation for search and duplicate detection."""

from __future__ import annotations

import datetime as dt
import unicodedata


def normalise(text: str) -> str:
    """Accents stripped (NFKD), case folded, punctuation kept, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def name_key(family: str, given: str) -> str:
    """Sort and prefix-search key: normalised "family given"."""
    return normalise(f"{family} {given}")


def dedupe_key(family: str, given: str, birth_date: dt.date) -> str:
    """Duplicate-detection key: normalised name and birth date."""
    return f"{name_key(family, given)}|{birth_date.isoformat()}"


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Whole years of age on a given day."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def search_prefix(query: str) -> str:
    """The name_key prefix to search for a free-text name query ("family, given" or "given family")."""
    if "," in query:
        family, _, given = query.partition(",")
        return normalise(f"{family} {given}").strip()
    return normalise(query)


def alt_name_key(family: str, given: str) -> str:
    """Second search key, normalised "given family", so "john sm" finds John Smith."""
    return normalise(f"{given} {family}")


def prefix_upper_bound(prefix: str) -> str:
    """Smallest string greater than every string starting with prefix (for index range scans)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
