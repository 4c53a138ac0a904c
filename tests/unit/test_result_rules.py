"""Result tracking rules: flags from HL7 interpretations, the life cycle, allowances."""

from __future__ import annotations

import itertools

import pytest

from careloop.results import rules
from careloop.results.models import OrderKind, ResultFlag
from careloop.results.models import ResultStatus as S


@pytest.mark.parametrize(("codes", "flag"), [(["N", None], ResultFlag.NORMAL), (["N", "H"], ResultFlag.ABNORMAL),
                                             (["l"], ResultFlag.ABNORMAL), (["H", "HH"], ResultFlag.CRITICAL),
                                             (["AA"], ResultFlag.CRITICAL), ([], ResultFlag.NORMAL)])
def test_flag_of_interpretations(codes, flag):
    assert rules.flag_of(codes) == flag


def test_life_cycle_and_allowances():
    path = [S.ORDERED, S.PERFORMED, S.RESULTED, S.REVIEWED, S.COMMUNICATED]
    assert all(rules.can_move(a, b) for a, b in itertools.pairwise(path))
    assert rules.can_move(S.RESULTED, S.RESULTED)  # a corrected result
    assert not rules.can_move(S.RESULTED, S.COMMUNICATED)  # reviewed before the patient is told
    assert not rules.can_move(S.RESULTED, S.CANCELLED)
    assert rules.EXPECTED_WITHIN[OrderKind.LAB] < rules.EXPECTED_WITHIN[OrderKind.IMAGING]
