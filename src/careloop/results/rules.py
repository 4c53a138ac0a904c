"""Result tracking rules: the life cycle, when a result is overdue, and how serious it is."""

from __future__ import annotations

import datetime as dt

from careloop.results.models import OrderKind, ResultFlag
from careloop.results.models import ResultStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    S.ORDERED: frozenset({S.PERFORMED, S.RESULTED, S.CANCELLED}),
    S.PERFORMED: frozenset({S.RESULTED, S.CANCELLED}),
    S.RESULTED: frozenset({S.RESULTED, S.REVIEWED}),  # a corrected result may follow
    # A corrected result after review sends the order back to `resulted`: it has to be reviewed again.
    S.REVIEWED: frozenset({S.COMMUNICATED, S.RESULTED}),
    S.COMMUNICATED: frozenset({S.RESULTED}),
    S.CANCELLED: frozenset(),
}
AWAITING = frozenset({S.ORDERED, S.PERFORMED})
# Time allowed for a result to come back after ordering, and for the orderer to review it.
EXPECTED_WITHIN = {OrderKind.LAB: dt.timedelta(days=3), OrderKind.IMAGING: dt.timedelta(days=7),
                   OrderKind.OTHER: dt.timedelta(days=14)}
REVIEW_WITHIN = dt.timedelta(days=2)
CRITICAL_CODES = frozenset({"AA", "HH", "LL"})  # HL7 table 0078 interpretations
ABNORMAL_CODES = frozenset({"A", "H", "L", "AA", "HH", "LL"})


def can_move(current: S, target: S) -> bool:
    return target in TRANSITIONS[current]


def flag_of(interpretations: list[str | None]) -> ResultFlag:
    """Critical if any value is critical (AA/HH/LL), abnormal if any is out of range, else normal."""
    codes = {(i or "").upper() for i in interpretations}
    if codes & CRITICAL_CODES:
        return ResultFlag.CRITICAL
    return ResultFlag.ABNORMAL if codes & ABNORMAL_CODES else ResultFlag.NORMAL
