"""Medication rules, pure: comparing lists for reconciliation, allergy conflicts, and adherence (PDC).

Reconciliation compares every list with the first (the baseline, usually the practice's active list). A
line is one medicine: entries whose codes resolve to the same set of ingredients are the same medicine
(lisinopril 10 mg and 20 mg tablets are one line with a dose change); unknown codes match by code; entries
without a code match by their text and are always unverifiable.

PDC follows the Pharmacy Quality Alliance method: from the first fill in the period (the index date) to the
period's end, the share of days with medicine on hand; an early refill's supply starts when the previous
one runs out; at least two fills on different dates are needed; a class counts a day covered when any of its
medicines covers it.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from careloop.medications.vocabulary import Drug, lookup

ADHERENCE_THRESHOLD = 0.8
PERIOD_DAYS = 180  # default measurement period: the last six months


class Discrepancy(enum.StrEnum):
    UNCHANGED = "unchanged"
    NEW = "new"
    OMITTED = "stopped_or_omitted"
    DOSE = "dose_changed"
    FREQUENCY = "frequency_changed"
    ROUTE = "route_changed"
    DUPLICATION = "therapeutic_duplication"
    UNVERIFIABLE = "unverifiable"


@dataclass(frozen=True)
class Entry:
    """One medicine on one list."""

    id: str
    source: str
    display: str
    code: str | None = None
    dose: str | None = None
    route: str | None = None
    frequency: str | None = None

    @property
    def drug(self) -> Drug | None:
        return lookup(self.code)


@dataclass
class Line:
    key: str
    label: str
    entries: dict[str, list[Entry]] = field(default_factory=dict)
    classes: list[Discrepancy] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    drug: Drug | None = None

    @property
    def high_risk(self) -> bool:
        return self.drug is not None and self.drug.high_risk

    def add(self, kind: Discrepancy, detail: str | None = None) -> None:
        if kind not in self.classes:
            self.classes.append(kind)
        if detail and detail not in self.details:
            self.details.append(detail)


# --- normalising what people write ---------------------------------------------------------------------------

_FREQUENCIES = {
    "daily": ("qd", "once daily", "once a day", "every day", "1 time a day", "one time a day", "od", "q24h",
              "1 time daily", "each day", "every 24 hours"),
    "twice daily": ("bid", "b.i.d.", "2 times a day", "two times a day", "twice a day", "q12h", "every 12 hours",
                    "2 times daily"),
    "three times daily": ("tid", "t.i.d.", "3 times a day", "three times a day", "q8h", "every 8 hours"),
    "four times daily": ("qid", "q.i.d.", "4 times a day", "four times a day", "q6h", "every 6 hours"),
    "at bedtime": ("qhs", "hs", "nightly", "every night", "at night"),
    "as needed": ("prn", "when needed", "as required"),
    "weekly": ("once a week", "every week", "q1w", "qweek"),
}
_ROUTES = {
    "oral": ("po", "by mouth", "p.o.", "orally", "mouth"),
    "sublingual": ("sl", "under the tongue"),
    "subcutaneous": ("sc", "subq", "sq", "subcut", "s.c."),
    "intravenous": ("iv", "i.v."),
    "intramuscular": ("im", "i.m."),
    "inhaled": ("inh", "inhalation", "by inhalation", "respiratory"),
    "topical": ("top", "on the skin", "cutaneous"),
    "injection": ("inj", "injectable"),
}
_SYNONYMS = {alias: canonical for table in (_FREQUENCIES, _ROUTES) for canonical, aliases in table.items()
             for alias in (*aliases, canonical)}
_UNITS = {"milligrams": "mg", "milligram": "mg", "mgs": "mg", "micrograms": "mcg", "microgram": "mcg", "µg": "mcg",
          "ug": "mcg", "grams": "g", "gram": "g", "units": "unit", "u": "unit", "iu": "unit", "tablets": "tablet",
          "tabs": "tablet", "tab": "tablet", "capsules": "capsule", "caps": "capsule", "cap": "capsule",
          "millilitres": "ml", "milliliters": "ml", "unt": "unit"}
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zµ]+)")


def _words(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").split())


def normal_frequency(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    words = _words(text)
    return _SYNONYMS.get(words, words)


def normal_route(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    words = _words(text)
    return _SYNONYMS.get(words, words)


def normal_dose(text: str | None) -> str | None:
    """"10 MG", "10mg" and "10.0 milligrams" are the same dose."""
    if not text or not text.strip():
        return None

    def unit(match: re.Match) -> str:
        number = match.group(1).rstrip("0").rstrip(".") if "." in match.group(1) else match.group(1)
        return f"{number} {_UNITS.get(match.group(2), match.group(2))}"
    return _NUMBER_UNIT.sub(unit, _words(text))


def _dose(entry: Entry) -> str | None:
    drug = entry.drug
    return normal_dose(entry.dose) or (normal_dose(drug.strength) if drug else None)


def _route(entry: Entry) -> str | None:
    drug = entry.drug
    return normal_route(entry.route) or (normal_route(drug.route) if drug else None)


# --- comparing lists -----------------------------------------------------------------------------------------

def key_of(entry: Entry) -> str:
    drug = entry.drug
    if drug is not None:
        return "ingredients:" + "+".join(sorted(drug.ingredient_ids))
    if entry.code:
        return f"code:{entry.code.strip()}"
    return f"text:{_words(entry.display)}"


def compare(lists: dict[str, list[Entry]], sources: list[str]) -> list[Line]:
    """Lines for every medicine on any list, classified against the first source (the baseline)."""
    baseline, others = sources[0], sources[1:]
    lines: dict[str, Line] = {}
    for source in sources:
        for entry in lists.get(source, []):
            key = key_of(entry)
            line = lines.setdefault(key, Line(key=key, label=_label(entry), drug=entry.drug))
            line.entries.setdefault(source, []).append(entry)
    for line in lines.values():
        _classify(line, baseline, others)
    _duplications(list(lines.values()))
    return sorted(lines.values(), key=lambda ln: (not ln.high_risk, ln.label.lower()))


def _label(entry: Entry) -> str:
    drug = entry.drug
    if drug is not None:
        return " / ".join(i.name for i in drug.ingredients)
    return entry.display


def _say(source: str) -> str:
    return source.replace("_", " ")


def _classify(line: Line, baseline: str, others: list[str]) -> None:
    if line.key.startswith("text:"):
        line.add(Discrepancy.UNVERIFIABLE, "no code: check the medicine by name with the patient")
    elif line.drug is None:
        line.add(Discrepancy.UNVERIFIABLE, "code not in the local drug vocabulary: compared by code only")
    base = line.entries.get(baseline, [])
    for source in others:
        theirs = line.entries.get(source, [])
        if base and not theirs:
            line.add(Discrepancy.OMITTED, f"not on the {_say(source)} list")
        elif theirs and not base:
            line.add(Discrepancy.NEW, f"new on the {_say(source)} list")
        elif base and theirs:
            _differences(line, base[0], theirs[0], source)
    for source, entries in line.entries.items():
        if len(entries) > 1:
            line.add(Discrepancy.DUPLICATION, f"listed {len(entries)} times on the {_say(source)} list")
    if not line.classes:
        line.add(Discrepancy.UNCHANGED)


def _differences(line: Line, base: Entry, other: Entry, source: str) -> None:
    checks = ((Discrepancy.DOSE, "dose", _dose), (Discrepancy.FREQUENCY, "frequency",
                                                  lambda e: normal_frequency(e.frequency)),
              (Discrepancy.ROUTE, "route", _route))
    for kind, name, read in checks:
        before, after = read(base), read(other)
        if before and after and before != after:
            line.add(kind, f"{name} {before} -> {after} ({_say(source)})")


def _duplications(lines: list[Line]) -> None:
    """Same ingredient or same therapeutic class on two different lines."""
    known = [ln for ln in lines if ln.drug is not None]
    for i, first in enumerate(known):
        for second in known[i + 1:]:
            shared = first.drug.ingredient_ids & second.drug.ingredient_ids
            if shared:
                names = ", ".join(sorted(ing.name for ing in first.drug.ingredients if ing.rxcui in shared))
                first.add(Discrepancy.DUPLICATION, f"same ingredient ({names}) as {second.label}")
                second.add(Discrepancy.DUPLICATION, f"same ingredient ({names}) as {first.label}")
                continue
            classes = first.drug.classes & second.drug.classes
            if classes:
                name = _say(sorted(classes)[0])
                first.add(Discrepancy.DUPLICATION, f"same class ({name}) as {second.label}")
                second.add(Discrepancy.DUPLICATION, f"same class ({name}) as {first.label}")
    for line in lines:  # a duplication is a discrepancy: not "unchanged" any more
        if Discrepancy.DUPLICATION in line.classes and Discrepancy.UNCHANGED in line.classes:
            line.classes.remove(Discrepancy.UNCHANGED)


# --- allergies -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AllergyRef:
    id: str
    substance: str
    code: str | None = None


def allergy_conflicts(drug: Drug | None, allergies: Iterable[AllergyRef]) -> list[AllergyRef]:
    """Allergies naming one of the drug's ingredients (by code, or by ingredient or class name)."""
    if drug is None:
        return []
    found = []
    for allergy in allergies:
        coded = lookup(allergy.code)
        words = _words(allergy.substance)
        if (coded is not None and coded.ingredient_ids & drug.ingredient_ids) or any(
                ing.name in words or _say(ing.drug_class) in words for ing in drug.ingredients):
            found.append(allergy)
    return found


# --- adherence -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fill:
    filled_on: dt.date
    days_supply: int


@dataclass(frozen=True)
class Pdc:
    index_date: dt.date
    period_end: dt.date
    days: int
    covered: int
    fills: int
    gaps: tuple[tuple[dt.date, dt.date], ...]

    @property
    def ratio(self) -> float:
        return self.covered / self.days if self.days else 0.0

    @property
    def adherent(self) -> bool:
        return self.ratio >= ADHERENCE_THRESHOLD


def supply_days(fills: Iterable[Fill]) -> set[dt.date]:
    """Days with medicine on hand: each fill's supply starts when the previous one runs out."""
    days: set[dt.date] = set()
    runs_out: dt.date | None = None
    for fill in sorted(fills, key=lambda f: f.filled_on):
        start = max(fill.filled_on, runs_out) if runs_out else fill.filled_on
        days.update(start + dt.timedelta(days=n) for n in range(max(fill.days_supply, 0)))
        runs_out = start + dt.timedelta(days=max(fill.days_supply, 0))
    return days


def pdc(groups: Iterable[Iterable[Fill]], start: dt.date, end: dt.date) -> Pdc | None:
    """PDC over [start, end] of one medicine (one group) or a class (several: a day counts if any covers it);
    None with fewer than two fills on different dates in the period."""
    groups = [list(g) for g in groups]
    in_period = [f for g in groups for f in g if start <= f.filled_on <= end]
    if len({f.filled_on for f in in_period}) < 2:
        return None
    index = min(f.filled_on for f in in_period)
    covered_days = set().union(*(supply_days(g) for g in groups))
    days = (end - index).days + 1
    covered = sum(1 for n in range(days) if index + dt.timedelta(days=n) in covered_days)
    return Pdc(index, end, days, covered, len(in_period), tuple(_gaps(covered_days, index, end)))


def _gaps(covered: set[dt.date], start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    gaps, gap_start = [], None
    day = start
    while day <= end:
        if day not in covered and gap_start is None:
            gap_start = day
        elif day in covered and gap_start is not None:
            gaps.append((gap_start, day - dt.timedelta(days=1)))
            gap_start = None
        day += dt.timedelta(days=1)
    if gap_start is not None:
        gaps.append((gap_start, end))
    return gaps


def adherence_groups(fills: Iterable[tuple[str | None, str, Fill]]) -> dict[str, tuple[str, list[list[Fill]]]]:
    """Fills (code, display, fill) by medicine and by therapeutic class: key -> (label, groups of fills)."""
    by_medicine: dict[str, list[Fill]] = defaultdict(list)
    labels: dict[str, str] = {}
    classes: dict[str, set[str]] = defaultdict(set)
    for code, display, fill in fills:
        entry = Entry(id="", source="pharmacy", display=display, code=code)
        key = key_of(entry)
        by_medicine[key].append(fill)
        labels[key] = _label(entry)
        drug = entry.drug
        for drug_class in (drug.classes if drug else ()):
            classes[drug_class].add(key)
    result = {key: (labels[key], [group]) for key, group in by_medicine.items()}
    for drug_class, keys in classes.items():
        if len(keys) > 1:  # a class of one medicine is that medicine
            result[f"class:{drug_class}"] = (f"{_say(drug_class)} (class)", [by_medicine[k] for k in sorted(keys)])
    return result
