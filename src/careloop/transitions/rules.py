"""Pure rules of care transitions: readmission detection and follow-up deadline status."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

READMISSION_WINDOW = dt.timedelta(days=30)
# Recorded on every flagged stay so a later, finer rule (planned-readmission exclusions) can be told apart.
READMISSION_RULE = "all-cause 30-day inpatient readmission v1 (planned readmissions not excluded yet)"


@dataclass(frozen=True)
class PriorStay:
    """An earlier inpatient stay of the same patient."""

    encounter_id: uuid.UUID
    discharged_at: dt.datetime


HIGH_RISK_TIERS = frozenset({"high", "very_high"})
COMPLEXITY_RULE = ("discharge complexity v1: high when the stay is a 30-day readmission or the patient's risk tier "
                   "is high or very high; else moderate (the TCM visit is then due within 14 days, not 7)")


def discharge_complexity(risk_tier: str | None, readmission: bool) -> str:
    """The medical-decision-making complexity the follow-up plans for until a clinician says otherwise."""
    return "high" if readmission or (risk_tier or "") in HIGH_RISK_TIERS else "moderate"


def readmission_index(admitted_at: dt.datetime, prior: Iterable[PriorStay]) -> PriorStay | None:
    """The index stay when an inpatient admission comes within 30 days after an inpatient discharge.

    All-cause: any inpatient discharge counts; planned readmissions are not excluded yet. The most recent
    discharge before the admission is the index stay; a discharge after the admission never counts.
    """
    candidates = [s for s in prior if s.discharged_at <= admitted_at
                  and admitted_at - s.discharged_at <= READMISSION_WINDOW]
    return max(candidates, key=lambda s: s.discharged_at, default=None)


def deadline_status(task_status: str, due_at: dt.datetime | None, completed_at: dt.datetime | None,
                    now: dt.datetime) -> str:
    """done, late (open past due, or completed after the due time is still done), withdrawn or due."""
    if task_status == "completed":
        return "done"
    if task_status in ("cancelled", "failed"):
        return "withdrawn"
    if due_at is not None and due_at < now:
        return "late"
    return "due"
