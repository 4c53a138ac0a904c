"""Code tables the generator draws from: real ICD-10-CM, RxNorm, LOINC and SNOMED CT codes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChronicCondition:
    """A chronic condition: prevalence by age band (<40, 40-64, 65+), codes, and what it brings."""

    key: str
    icd10: tuple[tuple[str, str], ...]
    prevalence: tuple[float, float, float]
    medications: tuple[tuple[str, str, str, str], ...]   # (rxnorm, display, dose, frequency)
    raises: tuple[tuple[str, float], ...] = ()            # (other condition, added probability)


CONDITIONS: tuple[ChronicCondition, ...] = (
    ChronicCondition("obesity", (("E66.9", "Obesity, unspecified"),), (0.22, 0.33, 0.30), (),
                     (("hypertension", 0.10), ("diabetes", 0.08), ("osteoarthritis", 0.05))),
    ChronicCondition("hypertension", (("I10", "Essential (primary) hypertension"),), (0.06, 0.32, 0.60), (
        ("314076", "lisinopril 10 MG Oral Tablet", "10 mg", "once daily"),
        ("308136", "amLODIPine 2.5 MG Oral Tablet", "2.5 mg", "once daily"),
        ("310798", "Hydrochlorothiazide 25 MG Oral Tablet", "25 mg", "once daily")),
        (("ckd", 0.06), ("heart_failure", 0.03), ("cad", 0.04))),
    ChronicCondition("hyperlipidemia", (("E78.5", "Hyperlipidemia, unspecified"),), (0.05, 0.26, 0.46), (
        ("312961", "Simvastatin 20 MG Oral Tablet", "20 mg", "once daily at bedtime"),
        ("259255", "atorvastatin 80 MG Oral Tablet", "80 mg", "once daily")), (("cad", 0.03),)),
    ChronicCondition("diabetes", (("E11.9", "Type 2 diabetes mellitus without complications"),
                                  ("E11.65", "Type 2 diabetes mellitus with hyperglycemia")), (0.03, 0.12, 0.24), (
        ("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet", "500 mg", "twice daily"),
        ("106892", "insulin isophane, human 70 UNT/ML / insulin, regular, human 30 UNT/ML Injectable Suspension "
                   "[Humulin]", "20 units", "twice daily")), (("ckd", 0.10),)),
    ChronicCondition("ckd", (("N18.30", "Chronic kidney disease, stage 3 unspecified"),
                             ("N18.4", "Chronic kidney disease, stage 4 (severe)")), (0.01, 0.04, 0.12), (
        ("313988", "Furosemide 40 MG Oral Tablet", "40 mg", "once daily"),)),
    ChronicCondition("heart_failure", (("I50.9", "Heart failure, unspecified"),
                                       ("I50.22", "Chronic systolic (congestive) heart failure")), (0.0, 0.015, 0.07), (
        ("866412", "24 HR metoprolol succinate 100 MG Extended Release Oral Tablet", "100 mg", "once daily"),
        ("313988", "Furosemide 40 MG Oral Tablet", "40 mg", "once daily"),
        ("197604", "Digoxin 0.125 MG Oral Tablet", "0.125 mg", "once daily"))),
    ChronicCondition("cad", (("I25.10", "Atherosclerotic heart disease of native coronary artery without angina "
                                        "pectoris"),), (0.0, 0.04, 0.13), (
        ("243670", "aspirin 81 MG Oral Tablet", "81 mg", "once daily"),
        ("855812", "prasugrel 10 MG Oral Tablet", "10 mg", "once daily"))),
    ChronicCondition("afib", (("I48.91", "Unspecified atrial fibrillation"),), (0.0, 0.01, 0.09), (
        ("1364445", "apixaban 5 MG Oral Tablet", "5 mg", "twice daily"),
        ("855332", "warfarin sodium 5 MG Oral Tablet", "5 mg", "once daily"))),
    ChronicCondition("copd", (("J44.9", "Chronic obstructive pulmonary disease, unspecified"),), (0.0, 0.04, 0.10), (
        ("745679", "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "2 puffs", "every 4 hours as needed"),)),
    ChronicCondition("asthma", (("J45.909", "Unspecified asthma, uncomplicated"),), (0.08, 0.07, 0.06), (
        ("895994", "120 ACTUAT Fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler", "2 puffs", "twice daily"),
        ("745679", "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "2 puffs", "every 4 hours as needed"))),
    ChronicCondition("depression", (("F32.9", "Major depressive disorder, single episode, unspecified"),
                                    ("F33.1", "Major depressive disorder, recurrent, moderate")), (0.08, 0.10, 0.09), (
        ("312940", "Sertraline 50 MG Oral Tablet", "50 mg", "once daily"),
        ("310385", "Fluoxetine 20 MG Oral Capsule", "20 mg", "once daily"))),
    ChronicCondition("osteoarthritis", (("M17.9", "Osteoarthritis of knee, unspecified"),), (0.02, 0.12, 0.30), (
        ("849574", "Naproxen sodium 220 MG Oral Tablet", "220 mg", "twice daily as needed"),
        ("313782", "Acetaminophen 325 MG Oral Tablet", "650 mg", "every 6 hours as needed"))),
    ChronicCondition("hypothyroidism", (("E03.9", "Hypothyroidism, unspecified"),), (0.03, 0.06, 0.10), (
        ("966222", "Levothyroxine Sodium 0.075 MG Oral Tablet", "75 mcg", "once daily before breakfast"),)),
)
CONDITION_BY_KEY = {c.key: c for c in CONDITIONS}
MULTIMORBID = {"heart_failure", "copd", "ckd", "diabetes", "afib", "cad"}

# LOINC codes of the vitals and labs the generator records.
SYSTOLIC = ("8480-6", "Systolic blood pressure", "mm[Hg]")
DIASTOLIC = ("8462-4", "Diastolic blood pressure", "mm[Hg]")
WEIGHT = ("29463-7", "Body weight", "kg")
BMI = ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2")
HEART_RATE = ("8867-4", "Heart rate", "/min")
A1C = ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%")
LDL = ("18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "mg/dL")
EGFR = ("33914-3", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma by "
                   "Creatinine-based formula (MDRD)", "mL/min/{1.73_m2}")

SNOMED = "http://snomed.info/sct"
ALLERGIES = (  # (snomed, substance, category, criticality, reaction)
    ("764146007", "Penicillin", "medication", "high", "Hives"),
    ("387406002", "Sulfonamide", "medication", "low", "Rash"),
    ("387494007", "Codeine", "medication", "low", "Nausea"),
    ("387458008", "Aspirin", "medication", "low", "Wheezing"),
    ("762952008", "Peanut", "food", "high", "Anaphylaxis"),
    ("111088007", "Latex", "environment", "low", "Contact dermatitis"),
    ("102263004", "Eggs", "food", "low", "Hives"),
)

FACILITIES = ("Riverside General Hospital", "St. Mary's Medical Center", "Lakeside Community Hospital",
              "Mercy Regional Medical Center")
CLINICS = ("Riverside Primary Care", "Northgate Family Medicine", "Eastside Health Center")
DISPOSITIONS = (("01", 0.62), ("06", 0.18), ("03", 0.14), ("62", 0.04), ("07", 0.02))  # UB-04 codes (no deaths)
