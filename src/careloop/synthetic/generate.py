"""Generate patients with history as rows ready for bulk insertion (values already in storage form).

Storage form works for both backends: UUIDs as 32-digit hex, datetimes as naive UTC text, dates as ISO
text, booleans as 0/1, JSON as text. Everything comes from one seeded random.Random, so the same seed and
anchor date always give the same rows, ids included.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from dataclasses import dataclass, field

from careloop.patients import rules
from careloop.synthetic import people, vocab

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
YEARS_OF_HISTORY = 3
_V4 = (0xF000 << 64, 0x4000 << 64, 0xC000 << 48, 0x8000 << 48)


def new_id(rng: random.Random, prefix: int | None = None) -> str:
    """A UUID as 32 hex digits from the generator's random stream.

    With a prefix it is UUIDv7-shaped: the 48-bit prefix (a per-patient sequence) leads, so a patient's rows
    sort together and bulk inserts land at the end of each B-tree instead of at random pages.
    """
    bits = rng.getrandbits(128)
    if prefix is None:
        bits = (bits & ~_V4[0]) | _V4[1]
    else:
        bits = ((prefix & 0xFFFFFFFFFFFF) << 80) | (bits & ((1 << 80) - 1) & ~_V4[0]) | (0x7000 << 64)
    return "%032x" % ((bits & ~_V4[2]) | _V4[3])


def ts(moment: dt.datetime) -> str:
    """Naive-UTC text in SQLAlchemy's SQLite format (PostgreSQL reads it in a UTC session)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class Context:
    """What every patient of a load shares: organisation, staff pools, anchor date, load time."""

    org_id: str
    mrn_authority: str
    anchor: dt.date
    loaded_at: str
    coordinators: list[str]
    pcps: list[str]
    nurses: list[str]
    social_workers: list[str]
    pharmacists: list[str]
    mrn_offset: int = 0
    id_base: int = 0
    prefix: int = 0

    def new_id(self, rng: random.Random) -> str:
        """An id for a row of the current patient."""
        return new_id(rng, self.prefix)


@dataclass
class Batch:
    """Rows per table for a chunk of patients."""

    rows: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, table: str, row: dict) -> None:
        self.rows.setdefault(table, []).append(row)


def _age_band(age: int) -> int:
    return 0 if age < 40 else (1 if age < 65 else 2)


def _birth_date(rng: random.Random, anchor: dt.date) -> dt.date:
    # US-like age mix: ~22% children, ~56% 18-64, ~22% 65+ (coordination populations skew older).
    band = rng.random()
    age = rng.randint(0, 17) if band < 0.18 else rng.randint(18, 64) if band < 0.76 else rng.randint(65, 96)
    return anchor - dt.timedelta(days=age * 365 + rng.randint(0, 364))


def _conditions(rng: random.Random, age: int) -> list[str]:
    band, extra, chosen = _age_band(age), {}, []
    for condition in vocab.CONDITIONS:
        if rng.random() < condition.prevalence[band] + extra.get(condition.key, 0.0):
            chosen.append(condition.key)
            for other, added in condition.raises:
                extra[other] = extra.get(other, 0.0) + added
    return chosen


def _pick_language(rng: random.Random) -> tuple[str, bool]:
    roll = rng.random()
    for tag, share, interpreter in people.LANGUAGES:
        if roll < share:
            return tag, rng.random() < interpreter
        roll -= share
    return "en", False


def make_patient(rng: random.Random, ctx: Context, index: int, batch: Batch) -> None:
    """One patient with demographics, care team, conditions, medications, allergies and encounters."""
    sex = "female" if rng.random() < 0.51 else "male"
    given = rng.choice(people.FEMALE if sex == "female" else people.MALE)
    family = rng.choice(people.FAMILY)
    birth = _birth_date(rng, ctx.anchor)
    age = rules.age_on(birth, ctx.anchor)
    ctx.prefix = ctx.id_base + ctx.mrn_offset + index
    patient_id = ctx.new_id(rng)
    language, interpreter = _pick_language(rng)
    city, state, zip3 = rng.choice(people.CITIES)
    deceased = age > 70 and rng.random() < 0.02
    status = "deceased" if deceased else ("inactive" if rng.random() < 0.03 else "active")
    batch.add("patient", {
        "id": patient_id, "organization_id": ctx.org_id, "mrn": f"MRN{ctx.mrn_offset + index:08d}",
        "mrn_authority": ctx.mrn_authority, "given_name": given, "middle_name": None, "family_name": family,
        "name_key": rules.name_key(family, given), "alt_name_key": rules.alt_name_key(family, given),
        "dedupe_key": rules.dedupe_key(family, given, birth), "birth_date": birth.isoformat(), "sex": sex,
        "address_line": f"{rng.randint(1, 9999)} {rng.choice(people.STREETS)}", "city": city, "state": state,
        "postal_code": f"{zip3}{rng.randint(0, 99):02d}", "phone": f"937-555-{rng.randint(0, 9999):04d}",
        "email": f"{rules.normalise(given)[:1]}{index}@example.org" if rng.random() < 0.7 else None,
        "preferred_language": language, "interpreter_needed": int(interpreter),
        "communication_preferences": json.dumps({"channels": rng.sample(["phone", "sms", "email", "portal"], 2),
                                                 "best_time": None, "do_not_contact": False}),
        "caregiver_name": f"{rng.choice(people.STAFF_GIVEN)} {family}" if age >= 70 and rng.random() < 0.6 else None,
        "caregiver_relationship": rng.choice(people.RELATIONSHIPS) if age >= 70 else None,
        "caregiver_phone": f"937-555-{rng.randint(0, 9999):04d}" if age >= 70 else None,
        "status": status, "deceased_date": (ctx.anchor - dt.timedelta(days=rng.randint(1, 300))).isoformat()
        if deceased else None, "risk_tier": None, "merged_into_id": None, **_stamps(ctx)})
    conditions = _conditions(rng, age)
    _care_team(rng, ctx, patient_id, conditions, batch)
    control = {key: rng.random() < 0.58 for key in conditions}
    _clinical(rng, ctx, patient_id, birth, conditions, control, batch)
    from careloop.synthetic.encounters import encounters_for

    encounters_for(rng, ctx, patient_id, age, conditions, control, batch)
    # Its own random stream (seeded by the patient's id): adding these records changed nobody else's data.
    _prevention(random.Random(patient_id), ctx, patient_id, age, sex, conditions, batch)


_CVX, _FLU = "http://hl7.org/fhir/sid/cvx", ("150", "Influenza, injectable, quadrivalent, preservative free")
_VACCINES = (  # (minimum age, share vaccinated, CVX, name, years ago at most)
    (65, 0.62, "33", "Pneumococcal polysaccharide vaccine, 23 valent", 6),
    (50, 0.35, "187", "Zoster vaccine recombinant", 5),
    (18, 0.45, "115", "Tdap", 10),
)
_PROCEDURES = {  # condition -> (SNOMED CT, name, share with one on file)
    "heart_failure": ("40701008", "Echocardiography", 0.8),
    "copd": ("127783003", "Spirometry", 0.7),
}


def _prevention(rng: random.Random, ctx: Context, patient_id: str, age: int, sex: str, conditions: list[str],
                batch: Batch) -> None:
    """Immunizations (seasonal influenza, pneumococcal, zoster, Tdap) and procedures (screening and the tests
    the chronic conditions call for), as a practice's record would hold them."""
    def when(years: float) -> str:
        return ts(dt.datetime.combine(ctx.anchor, dt.time(10)) - dt.timedelta(days=rng.randint(20, int(365 * years))))

    def vaccine(code: str, display: str, moment: str) -> None:
        batch.add("immunization", {**_record(rng, ctx, patient_id), "code_system": _CVX, "code": code,
                                   "display": display, "status": "completed", "occurred_at": moment,
                                   "lot_number": f"L{rng.randint(10000, 99999)}", "encounter_id": None})

    def procedure(code: str, display: str, moment: str, reason: str | None) -> None:
        batch.add("procedure", {**_record(rng, ctx, patient_id), "code_system": vocab.SNOMED, "code": code,
                                "display": display, "status": "completed", "performed_at": moment,
                                "performed_end_at": None, "reason": reason, "encounter_id": None})

    if age >= 50 and rng.random() < 0.6:
        vaccine(*_FLU, when(0.9))
    for minimum, share, code, display, years in _VACCINES:
        if age >= minimum and rng.random() < share:
            vaccine(code, display, when(years))
    if 45 <= age <= 75 and rng.random() < 0.55:
        procedure("73761001", "Colonoscopy", when(9), "Colorectal cancer screening")
    if sex == "female" and 50 <= age <= 74 and rng.random() < 0.6:
        procedure("24623002", "Screening mammography", when(2), "Breast cancer screening")
    for key in conditions:
        code, display, share = _PROCEDURES.get(key, (None, None, 0.0))
        if code and rng.random() < share:
            procedure(code, display, when(2), vocab.CONDITION_BY_KEY[key].icd10[0][1])


def _stamps(ctx: Context) -> dict:
    return {"created_at": ctx.loaded_at, "updated_at": ctx.loaded_at, "version": 1}


def _member(rng: random.Random, ctx: Context, patient_id: str, staff_id: str, role: str, started: dt.datetime,
            ended: dt.datetime | None = None) -> dict:
    return {"id": ctx.new_id(rng), "organization_id": ctx.org_id, "patient_id": patient_id, "staff_id": staff_id,
            "role": role, "started_at": ts(started), "ended_at": ts(ended) if ended else None, "note": None,
            "created_at": ctx.loaded_at, "updated_at": ctx.loaded_at}


def _care_team(rng: random.Random, ctx: Context, patient_id: str, conditions: list[str], batch: Batch) -> None:
    base = dt.datetime.combine(ctx.anchor, dt.time(9)) - dt.timedelta(days=rng.randint(30, 1000))
    coordinator = rng.choice(ctx.coordinators)
    if rng.random() < 0.1 and len(ctx.coordinators) > 1:  # a reassignment kept as history
        previous = rng.choice([c for c in ctx.coordinators if c != coordinator])
        handover = base + dt.timedelta(days=rng.randint(10, 25))
        batch.add("care_team_member", _member(rng, ctx, patient_id, previous, "primary_care_coordinator", base,
                                              handover))
        base = handover
    batch.add("care_team_member", _member(rng, ctx, patient_id, coordinator, "primary_care_coordinator", base))
    if rng.random() < 0.92:
        batch.add("care_team_member", _member(rng, ctx, patient_id, rng.choice(ctx.pcps),
                                              "primary_care_physician", base))
    complex_patient = len(set(conditions) & vocab.MULTIMORBID) >= 2
    for pool, role, chance in ((ctx.nurses, "rn_care_manager", 0.5 if complex_patient else 0.08),
                               (ctx.social_workers, "social_worker", 0.08),
                               (ctx.pharmacists, "pharmacist", 0.25 if complex_patient else 0.02)):
        if pool and rng.random() < chance:
            batch.add("care_team_member", _member(rng, ctx, patient_id, rng.choice(pool), role, base))


def _record(rng: random.Random, ctx: Context, patient_id: str) -> dict:
    return {"id": ctx.new_id(rng), "organization_id": ctx.org_id, "patient_id": patient_id, **_stamps(ctx)}


def _clinical(rng: random.Random, ctx: Context, patient_id: str, birth: dt.date, conditions: list[str],
              control: dict[str, bool], batch: Batch) -> None:
    for key in conditions:
        condition = vocab.CONDITION_BY_KEY[key]
        code, display = rng.choice(condition.icd10)
        if key == "diabetes":  # the code says whether glucose is under control (E11.65: hyperglycemia)
            code, display = condition.icd10[0 if control[key] else -1]
        onset_floor = max(birth + dt.timedelta(days=365 * 3), ctx.anchor - dt.timedelta(days=365 * 15))
        span = max(1, (ctx.anchor - onset_floor).days - 30)
        onset = onset_floor + dt.timedelta(days=rng.randint(0, span))
        batch.add("condition", {**_record(rng, ctx, patient_id), "code_system": ICD10, "code": code,
                                "display": display, "onset_date": onset.isoformat(), "abatement_date": None,
                                "clinical_status": "active", "chronic": 1})
        if condition.medications:
            meds = [condition.medications[0]] if control[key] else list(condition.medications[:2])
            for rxnorm, med_display, dose, frequency in meds:
                batch.add("medication", {
                    **_record(rng, ctx, patient_id), "code_system": RXNORM, "code": rxnorm, "display": med_display,
                    "dose": dose, "route": "inhalation" if "Inhaler" in med_display else (
                        "subcutaneous" if "Injectable" in med_display else "oral"),
                    "frequency": frequency, "status": "active", "source": "practice",
                    "start_date": onset.isoformat(), "end_date": None, "prescriber": None})
    if rng.random() < 0.18:
        code, substance, category, criticality, reaction = rng.choice(vocab.ALLERGIES)
        batch.add("allergy", {**_record(rng, ctx, patient_id), "code_system": vocab.SNOMED, "code": code,
                              "substance": substance, "category": category, "criticality": criticality,
                              "reaction": reaction, "clinical_status": "active",
                              "recorded_date": (ctx.anchor - dt.timedelta(days=rng.randint(100, 3000))).isoformat()})


def gauss(rng: random.Random, mean: float, sd: float, low: float, high: float, digits: int = 0) -> float:
    """A normal draw clipped to a plausible range, rounded."""
    value = min(high, max(low, rng.gauss(mean, sd)))
    return round(value, digits) if digits else float(math.floor(value + 0.5))
