"""Encounters over several years with vitals and labs that follow disease control, and readmissions.

Utilisation rises with age and multimorbidity; 30-day readmissions concentrate in older multimorbid
patients (the Medicare-age rate lands in the published 15-20 % range).
"""

from __future__ import annotations

import datetime as dt
import random

from careloop.synthetic import vocab
from careloop.synthetic.generate import Batch, Context, _record, gauss, ts


def _poisson(rng: random.Random, mean: float) -> int:
    count, threshold, product = 0, pow(2.718281828459045, -mean), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def encounters_for(rng: random.Random, ctx: Context, patient_id: str, age: int, conditions: list[str],
                   control: dict[str, bool], batch: Batch) -> None:
    """Ambulatory visits (with observations), ED visits and inpatient stays with readmissions."""
    start = dt.datetime.combine(ctx.anchor, dt.time(0)) - dt.timedelta(days=365 * 3)
    heavy = len(set(conditions) & vocab.MULTIMORBID)
    visits = 3 + len(conditions) + rng.randint(0, 3)
    for day in sorted(rng.sample(range(5, 365 * 3 - 2), visits)):
        moment = start + dt.timedelta(days=day, hours=rng.randint(8, 16), minutes=rng.choice((0, 15, 30, 45)))
        virtual = rng.random() < 0.1
        encounter_id = _encounter(rng, ctx, patient_id, "virtual" if virtual else "ambulatory", moment,
                                  moment + dt.timedelta(minutes=30), rng.choice(vocab.CLINICS), None, batch)
        if not virtual:
            _observations(rng, ctx, patient_id, encounter_id, moment, day, conditions, control, batch)
    for _ in range(_poisson(rng, 3 * (0.12 + 0.18 * heavy + (0.1 if age >= 75 else 0)))):
        moment = start + dt.timedelta(days=rng.randint(0, 365 * 3 - 1), hours=rng.randint(0, 23))
        _encounter(rng, ctx, patient_id, "emergency", moment, moment + dt.timedelta(hours=rng.randint(2, 9)),
                   rng.choice(vocab.FACILITIES), "01", batch)
    _inpatient(rng, ctx, patient_id, age, heavy, start, batch)


def _inpatient(rng: random.Random, ctx: Context, patient_id: str, age: int, heavy: int, start: dt.datetime,
               batch: Batch) -> None:
    yearly = (0.01 if age < 40 else 0.03 if age < 65 else 0.07) + 0.07 * heavy
    admissions = sorted(rng.randint(0, 365 * 3 - 40) for _ in range(_poisson(rng, 3 * yearly)))
    readmit_chance = min(0.45, (0.12 + 0.05 * heavy) if age >= 65 else (0.05 + 0.02 * heavy))
    last_end = start
    for day in admissions:
        admit = max(start + dt.timedelta(days=day, hours=rng.randint(0, 23)), last_end + dt.timedelta(days=31))
        stay_id, last_end = _stay(rng, ctx, patient_id, admit, None, batch)
        while rng.random() < readmit_chance:  # a readmission may itself be followed by another
            readmit = last_end + dt.timedelta(days=rng.randint(2, 29), hours=rng.randint(0, 12))
            if readmit.date() >= ctx.anchor:
                break
            stay_id, last_end = _stay(rng, ctx, patient_id, readmit, stay_id, batch)


def _stay(rng: random.Random, ctx: Context, patient_id: str, admit: dt.datetime, readmission_of: str | None,
          batch: Batch) -> tuple[str, dt.datetime]:
    discharge = admit + dt.timedelta(days=rng.choice((1, 2, 2, 3, 3, 4, 5, 6, 8, 12)), hours=rng.randint(0, 8))
    roll, disposition = rng.random(), "01"
    for code, share in vocab.DISPOSITIONS:
        if roll < share:
            disposition = code
            break
        roll -= share
    observation = readmission_of is None and rng.random() < 0.12
    encounter_id = _encounter(rng, ctx, patient_id, "observation" if observation else "inpatient", admit, discharge,
                              rng.choice(vocab.FACILITIES), disposition, batch, readmission_of)
    return encounter_id, discharge


def _encounter(rng: random.Random, ctx: Context, patient_id: str, encounter_class: str, start: dt.datetime,
               end: dt.datetime, facility: str, disposition: str | None, batch: Batch,
               readmission_of: str | None = None) -> str:
    row = _record(rng, ctx, patient_id)
    batch.add("encounter", {**row, "encounter_class": encounter_class, "status": "finished", "start_at": ts(start),
                            "end_at": ts(end), "facility_name": facility, "reason": None, "attending": None,
                            "discharge_disposition": disposition, "visit_number": f"V{row['id'][:10].upper()}",
                            "readmission_of_id": readmission_of})
    return row["id"]


def _observations(rng: random.Random, ctx: Context, patient_id: str, encounter_id: str, moment: dt.datetime,
                  day: int, conditions: list[str], control: dict[str, bool], batch: Batch) -> None:
    has = set(conditions).__contains__
    systolic = gauss(rng, 118 if not has("hypertension") else (128 if control["hypertension"] else 152), 8, 90, 210)
    values = [("vital_signs", vocab.SYSTOLIC, systolic),
              ("vital_signs", vocab.DIASTOLIC, gauss(rng, systolic * 0.6, 5, 50, 120)),
              ("vital_signs", vocab.WEIGHT, gauss(rng, 98 if has("obesity") else 76, 10, 35, 220, 1))]
    if day % 365 < 120:  # yearly labs
        values.append(("vital_signs", vocab.BMI, gauss(rng, 34 if has("obesity") else 25, 2.5, 16, 60, 1)))
        ldl_mean = 110 if not has("hyperlipidemia") else (92 if control["hyperlipidemia"] else 162)
        values.append(("laboratory", vocab.LDL, gauss(rng, ldl_mean, 15, 40, 260)))
    if has("diabetes"):
        values.append(("laboratory", vocab.A1C, gauss(rng, 6.9 if control["diabetes"] else 9.3, 0.5, 5.5, 14, 1)))
    if has("ckd"):
        values.append(("laboratory", vocab.EGFR, gauss(rng, 46 if control["ckd"] else 24, 6, 8, 59)))
    stamp = ts(moment)
    for category, (code, display, unit), value in values:
        batch.add("observation", {"id": ctx.new_id(rng), "organization_id": ctx.org_id, "patient_id": patient_id,
                                  "created_at": ctx.loaded_at, "updated_at": ctx.loaded_at, "version": 1,
                                  "category": category, "code_system": "http://loinc.org", "code": code,
                                  "display": display, "value_quantity": value, "value_text": None, "unit": unit,
                                  "effective_at": stamp, "encounter_id": encounter_id})
