"""Medication rules on realistic lists: every discrepancy class, allergies, and PDC by the PQA method."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from careloop.medications import rules, vocabulary
from careloop.medications.rules import AllergyRef, Discrepancy, Entry, Fill

D = Discrepancy


def _e(source: str, display: str, code: str | None, dose: str | None = None, route: str | None = None,
       frequency: str | None = None) -> Entry:
    return Entry(id=f"{source}:{display}", source=source, display=display, code=code, dose=dose, route=route,
                 frequency=frequency)


HOME = [
    _e("practice", "lisinopril 10 MG Oral Tablet", "314076", "10 mg", "oral", "daily"),
    _e("practice", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", "860975", "500 mg", "oral",
       "twice daily"),
    _e("practice", "simvastatin", "36567", "20 mg", "oral", "at bedtime"),
    _e("practice", "Warfarin Sodium 5 MG Oral Tablet", "855332", "5 mg", "oral", "daily"),
    _e("practice", "Acetaminophen 325 MG Oral Tablet", "313782", "650 mg", "oral", "as needed"),
    _e("practice", "Fish oil 1000 mg capsule", None, "1000 mg", "oral", "daily"),
    _e("practice", "Furosemide 20 MG Oral Tablet", "310429", "20 mg", "oral", "daily"),
]
DISCHARGE = [
    _e("hospital_discharge", "lisinopril 20 MG Oral Tablet", "314077", "20mg", "PO", "once daily"),
    _e("hospital_discharge", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet", "860975",
       "500 MG", "by mouth", "qd"),
    _e("hospital_discharge", "atorvastatin 20 MG Oral Tablet", "617310", "20 mg", "oral", "daily"),
    _e("hospital_discharge", "Warfarin Sodium 5 MG Oral Tablet", "855332", "5 mg", "po", "QD"),
    _e("hospital_discharge", "Acetaminophen 325 MG / HYDROcodone Bitartrate 7.5 MG Oral Tablet", "857005",
       "1 tablet", "oral", "q6h"),
    _e("hospital_discharge", "fish oil 1000 MG capsule", None, "1000 mg", "oral", "daily"),
    _e("hospital_discharge", "Furosemide 20 MG Oral Tablet", "310429", "20 mg", "IV", "daily"),
]


def _lines() -> dict[str, rules.Line]:
    found = rules.compare({"practice": HOME, "hospital_discharge": DISCHARGE}, ["practice", "hospital_discharge"])
    return {line.label: line for line in found}


def test_a_discharge_list_against_the_home_list_shows_every_discrepancy_class():
    lines = _lines()
    assert lines["warfarin"].classes == [D.UNCHANGED] and lines["warfarin"].high_risk
    assert lines["lisinopril"].classes == [D.DOSE]
    assert lines["lisinopril"].details == ["dose 10 mg -> 20 mg (hospital discharge)"]
    assert lines["metformin"].classes == [D.FREQUENCY]  # twice daily -> daily; "500 MG" is still 500 mg
    assert lines["furosemide"].classes == [D.ROUTE]
    assert set(lines["simvastatin"].classes) == {D.OMITTED, D.DUPLICATION}
    assert set(lines["atorvastatin"].classes) == {D.NEW, D.DUPLICATION}
    assert "same class (statin) as simvastatin" in lines["atorvastatin"].details
    combination = lines["acetaminophen / hydrocodone"]
    assert set(combination.classes) == {D.NEW, D.DUPLICATION} and combination.high_risk  # an opioid
    assert "same ingredient (acetaminophen) as acetaminophen" in combination.details
    assert set(lines["acetaminophen"].classes) == {D.OMITTED, D.DUPLICATION}
    assert lines["Fish oil 1000 mg capsule"].classes == [D.UNVERIFIABLE]  # matched by its text across lists
    assert {c for line in lines.values() for c in line.classes} == set(Discrepancy)
    ordered = rules.compare({"practice": HOME}, ["practice", "pharmacy"])
    assert [ln.label for ln in ordered[:3]] == ["metformin", "warfarin", "acetaminophen"]  # high-risk first
    assert [ln.high_risk for ln in ordered[:3]] == [True, True, False]


def test_the_same_medicine_twice_on_one_list_and_unknown_codes():
    lines = rules.compare({"practice": [_e("practice", "a", "314076"), _e("practice", "b", "314077")],
                           "patient_reported": [_e("patient_reported", "Mystery pill", "999999")]},
                          ["practice", "patient_reported"])
    by_label = {ln.label: ln for ln in lines}
    assert set(by_label["lisinopril"].classes) == {D.DUPLICATION, D.OMITTED}
    assert set(by_label["Mystery pill"].classes) == {D.UNVERIFIABLE, D.NEW}
    assert "compared by code only" in by_label["Mystery pill"].details[0]


def test_normalising_what_people_write():
    assert rules.normal_frequency("B.I.D.".lower()) == "twice daily" and rules.normal_frequency("QHS") == "at bedtime"
    assert rules.normal_route("By Mouth") == "oral" and rules.normal_route("subq") == "subcutaneous"
    assert rules.normal_dose("10.0 Milligrams") == rules.normal_dose("10mg") == "10 mg"
    assert rules.normal_dose("2 tabs") == "2 tablet" and rules.normal_dose(" ") is None


def test_allergies_match_by_code_ingredient_or_class():
    augmentin, norco = vocabulary.lookup("562508"), vocabulary.lookup("857005")
    penicillin = AllergyRef("1", "Penicillin")  # a class allergy, by name
    tylenol = AllergyRef("2", "Tylenol", code="161")  # coded at ingredient level
    peanuts = AllergyRef("3", "Peanut")
    assert rules.allergy_conflicts(augmentin, [penicillin, tylenol, peanuts]) == [penicillin]
    assert rules.allergy_conflicts(norco, [penicillin, tylenol, peanuts]) == [tylenol]
    assert rules.allergy_conflicts(None, [penicillin]) == []


def test_vocabulary_flags_follow_the_high_risk_classes():
    for ingredient in vocabulary.ingredients().values():
        assert ingredient.high_risk == (ingredient.drug_class in vocabulary.HIGH_RISK_CLASSES), ingredient.name
    assert all(d.ingredients for d in vocabulary.drugs().values())


DAY0 = dt.date(2026, 1, 1)


def _day(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)


def test_pdc_with_a_gap_and_an_early_refill():
    fills = [Fill(_day(0), 30), Fill(_day(20), 30), Fill(_day(90), 30)]  # the refill on day 20 starts on day 30
    result = rules.pdc([fills], _day(0), _day(149))
    assert (result.days, result.covered, result.fills) == (150, 90, 3)
    assert result.ratio == 0.6 and not result.adherent
    assert result.gaps == ((_day(60), _day(89)), (_day(120), _day(149)))
    assert rules.pdc([[Fill(_day(0), 90)]], _day(0), _day(89)) is None  # one fill: not measured
    steady = rules.pdc([[Fill(_day(n), 30) for n in (0, 30, 60)]], _day(0), _day(89))
    assert steady.ratio == 1.0 and steady.adherent and steady.gaps == ()


def test_class_pdc_counts_a_day_covered_by_any_medicine_of_the_class():
    groups = rules.adherence_groups([("36567", "simvastatin", Fill(_day(0), 30)),
                                     ("36567", "simvastatin", Fill(_day(30), 30)),
                                     ("617310", "atorvastatin 20 MG Oral Tablet", Fill(_day(60), 30)),
                                     ("617310", "atorvastatin 20 MG Oral Tablet", Fill(_day(90), 30))])
    assert set(groups) == {"ingredients:36567", "ingredients:83367", "class:statin"}
    label, fill_groups = groups["class:statin"]
    assert label == "statin (class)"
    assert rules.pdc(fill_groups, _day(0), _day(119)).ratio == 1.0  # switched statins, never without one
    assert rules.pdc(groups["ingredients:36567"][1], _day(0), _day(119)).ratio == 0.5


@given(st.lists(st.tuples(st.integers(0, 170), st.integers(1, 90)), min_size=2, max_size=12))
def test_pdc_is_a_share_of_days_and_the_class_covers_at_least_each_medicine(raw):
    fills = [Fill(_day(d), s) for d, s in raw]
    half = len(fills) // 2
    end = _day(179)
    each = [rules.pdc([g], _day(0), end) for g in (fills[:half], fills[half:])]
    both = rules.pdc([fills[:half], fills[half:]], _day(0), end)
    if both is None:
        return
    assert 0 <= both.ratio <= 1 and both.covered + sum((b - a).days + 1 for a, b in both.gaps) == both.days
    for one in each:
        if one is not None and one.index_date == both.index_date:
            assert one.covered <= both.covered
