"""The local drug vocabulary: RxNorm clinical drugs -> ingredients, strength, dose form, therapeutic class.

No maintained package on PyPI or npm ships RxNorm-derived ingredient data for offline use (checked: pyrxnorm
and cumulus-library-rxnorm read NLM's release files, which need a UMLS licence and a download; MedRxNorm
only expands abbreviations). So CareLoop carries the smallest honest substitute: two CSV files in
`medications/data/` written for CareLoop from public RxNorm concept names (RxNorm's own vocabulary is free
of licence restrictions) — about 50 ingredients with a therapeutic class and a high-risk flag, and the
clinical drugs seen in Synthea data plus common chronic medicines. A code that is not here is unknown:
lines with it are compared by code only, and lines without a code are "unverifiable". Replace or extend the
files (same columns) with an extract of the full RxNorm release to cover everything.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# ISMP's high-alert medications in community/ambulatory care (insulin, opioids, oral hypoglycaemics,
# anticoagulants incl. heparins, methotrexate) plus the antiplatelets and digoxin the issue names.
HIGH_RISK_CLASSES = frozenset({"anticoagulant", "antiplatelet", "insulin", "opioid", "cardiac_glycoside",
                               "sulfonylurea", "biguanide", "antimetabolite"})


@dataclass(frozen=True)
class Ingredient:
    rxcui: str
    name: str
    drug_class: str
    high_risk: bool


@dataclass(frozen=True)
class Drug:
    """A clinical drug (or an ingredient used as a drug code): its ingredients and form."""

    rxcui: str
    name: str
    ingredients: tuple[Ingredient, ...]
    strength: str | None = None
    dose_form: str | None = None
    route: str | None = None

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(i.drug_class for i in self.ingredients)

    @property
    def high_risk(self) -> bool:
        return any(i.high_risk for i in self.ingredients)

    @property
    def ingredient_ids(self) -> frozenset[str]:
        return frozenset(i.rxcui for i in self.ingredients)


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("careloop.medications").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def ingredients() -> dict[str, Ingredient]:
    return {r["rxcui"]: Ingredient(r["rxcui"], r["name"], r["drug_class"], r["high_risk"] == "yes")
            for r in _rows("ingredients.csv")}


@lru_cache(maxsize=1)
def drugs() -> dict[str, Drug]:
    by_id = ingredients()
    found = {rxcui: Drug(rxcui, i.name, (i,)) for rxcui, i in by_id.items()}
    for r in _rows("clinical_drugs.csv"):
        found[r["rxcui"]] = Drug(r["rxcui"], r["name"], tuple(by_id[i] for i in r["ingredients"].split("|")),
                                 r["strength"] or None, r["dose_form"] or None, r["route"] or None)
    return found


def lookup(code: str | None) -> Drug | None:
    """The drug an RxNorm code (clinical drug or ingredient) names, if the vocabulary knows it."""
    return drugs().get(code.strip()) if code else None


def search(text: str, limit: int = 20) -> list[Drug]:
    """Drugs whose name contains the text (case-insensitive; empty: all), clinical drugs first."""
    needle = text.strip().lower()
    hits = [d for d in drugs().values() if needle in d.name.lower()]
    return sorted(hits, key=lambda d: (len(d.ingredients) == 1 and d.strength is None, d.name.lower()))[:limit]
