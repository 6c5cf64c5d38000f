"""Code lists: LOINC for observations, SNOMED CT and ICD-10 for comorbidities, UCUM units.

Sources
-------
LOINC codes (the authority is the LOINC database, loinc.org, one page per code):
each code below was checked against at least one public, citable FHIR source and
its LOINC long name:

* S: Synthea's COVID-19 module (synthetichealth/synthea,
  ``src/main/resources/modules/covid19/measurements_vitals.json`` for the vital
  signs, ``measurements_daily.json`` for the blood count, differential and
  metabolic panel, and the module's admission labs for CRP, D-dimer, ferritin,
  LDH and troponin);
* H: the HL7 FHIR R4 vital-signs profile (Vital Signs value set:
  respiratory rate, heart rate, oxygen saturation, body temperature, blood
  pressure panel with systolic and diastolic components, BMI);
* M: open SMART-on-FHIR COVID-19 calculators (GCS total, labs);
* C: other FHIR profiles in public code (molar urea, molar creatinine).

=========================  ===========  ==============================================  =====
field                      LOINC        LOINC long name (shortened)                     found
=========================  ===========  ==============================================  =====
respiratory_rate           9279-1       Respiratory rate                                S, H
spo2                       59408-5      Oxygen saturation in arterial blood by pulse    S, H
                                        oximetry
spo2                       2708-6       Oxygen saturation in arterial blood             S, H
heart_rate                 8867-4       Heart rate                                      S, H
systolic_bp                8480-6       Systolic blood pressure                         S, H
diastolic_bp               8462-4       Diastolic blood pressure                        S, H
(panel)                    85354-9      Blood pressure panel (components read)          S, H
temperature                8310-5       Body temperature                                S, H
temperature                8331-1       Oral temperature                                S
gcs                        9269-2       Glasgow coma score total                        M, C
urea (as BUN, mass)        3094-0       Urea nitrogen [Mass/volume] in Serum or Plasma  S
urea (molar or mass)       22664-7      Urea [Moles/volume] in Serum or Plasma          C
creatinine (mass)          2160-0       Creatinine [Mass/volume] in Serum or Plasma     S, M
creatinine (molar)         14682-9      Creatinine [Moles/volume] in Serum or Plasma    C
crp                        1988-5       C reactive protein [Mass/volume] in S/P         S, M
lymphocytes                731-0        Lymphocytes [#/volume] in Blood                 S
neutrophils                751-8        Neutrophils [#/volume] in Blood                 S
platelets                  777-3        Platelets [#/volume] in Blood                   S, M
d_dimer                    48065-7      Fibrin D-dimer FEU [Mass/volume] in PPP         S, M
albumin                    1751-7       Albumin [Mass/volume] in Serum or Plasma        S, M
ldh                        2532-0       Lactate dehydrogenase [Enzymatic activity/vol]  S, M
ldh                        14804-9      Lactate dehydrogenase, by lactate to pyruvate   S
troponin                   89579-7      Troponin I.cardiac, high sensitivity            S
ferritin                   2276-4       Ferritin [Mass/volume] in Serum or Plasma       S, M
fio2                       3150-0       Inhaled oxygen concentration                    M
fio2                       19994-3      Oxygen/Inspired gas setting, ventilator         S
bmi                        39156-5      Body mass index (BMI) [Ratio]                   S, H
=========================  ===========  ==============================================  =====

Codes that are percentages of leukocytes (736-9 lymphocytes, 770-8 neutrophils)
are ignored with that reason: the model needs counts. 3094-0 is blood urea
*nitrogen*; its mg/dL values are converted with the schema's BUN factor
(x 10/28.014), never as urea (one public calculator labels it "urea": wrong).

Conditions (SNOMED CT International Edition; ICD-10 WHO 2019 categories). A code
matches exactly (SNOMED CT) or by category prefix (ICD-10, ``I50`` matches
``I50.9``). SNOMED CT lists are the parent concepts only: a deployment whose EHR
codes descendants (e.g. "type 2 diabetes with complication") should expand them
with its terminology server. Sources: the reference SNOMED codes of an open
COVID-19 calculator (CKD 709044004, diabetes 73211009, COPD 13645005, dementia
52448006, heart failure 84114007, malignancy 363346000, obesity 414915002),
Synthea's condition modules for the others, and the ICD-10 chapters (WHO ICD-10
browser) for the categories.

Fields the standard codes do not cover (ethnicity, deprivation, vaccination,
variant period, onset, oxygen, chest infiltrates, ...) are carried by observations
with codes of the project's own code system :data:`FIELD_SYSTEM`, whose code is the
field name; :func:`covid_risk.fhir.to_bundle` writes them and the reader accepts them.
"""

from __future__ import annotations

__all__ = [
    "CONDITION_CODES",
    "FIELD_SYSTEM",
    "ICD10_SYSTEMS",
    "LOINC",
    "OBSERVATION_CODES",
    "PERCENT_OF_LEUKOCYTES",
    "SNOMED",
    "UCUM",
    "UCUM_TO_SCHEMA",
    "WRITE_CODES",
    "loinc_codes",
]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm")
FIELD_SYSTEM = "urn:covid-risk:field"
"""Code system of observations carrying schema fields that have no standard code."""

OBSERVATION_CODES: dict[str, str] = {
    "9279-1": "respiratory_rate",
    "59408-5": "spo2",
    "2708-6": "spo2",
    "8867-4": "heart_rate",
    "8480-6": "systolic_bp",
    "8462-4": "diastolic_bp",
    "8310-5": "temperature",
    "8331-1": "temperature",
    "9269-2": "gcs",
    "3094-0": "urea",
    "22664-7": "urea",
    "2160-0": "creatinine",
    "14682-9": "creatinine",
    "1988-5": "crp",
    "731-0": "lymphocytes",
    "751-8": "neutrophils",
    "777-3": "platelets",
    "48065-7": "d_dimer",
    "1751-7": "albumin",
    "2532-0": "ldh",
    "14804-9": "ldh",
    "89579-7": "troponin",
    "2276-4": "ferritin",
    "3150-0": "fio2",
    "19994-3": "fio2",
    "39156-5": "bmi",
}
"""LOINC code -> schema field."""

PERCENT_OF_LEUKOCYTES = {"736-9": "lymphocytes", "770-8": "neutrophils"}
"""LOINC codes of percentages the model cannot use (it needs counts)."""

WRITE_CODES: dict[str, tuple[str, str, str]] = {
    "respiratory_rate": ("9279-1", "Respiratory rate", "/min"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    "heart_rate": ("8867-4", "Heart rate", "/min"),
    "systolic_bp": ("8480-6", "Systolic blood pressure", "mm[Hg]"),
    "diastolic_bp": ("8462-4", "Diastolic blood pressure", "mm[Hg]"),
    "temperature": ("8310-5", "Body temperature", "Cel"),
    "gcs": ("9269-2", "Glasgow coma score total", "{score}"),
    "urea": ("22664-7", "Urea [Moles/volume] in Serum or Plasma", "mmol/L"),
    "creatinine": ("14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L"),
    "crp": ("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L"),
    "lymphocytes": ("731-0", "Lymphocytes [#/volume] in Blood", "10*9/L"),
    "neutrophils": ("751-8", "Neutrophils [#/volume] in Blood", "10*9/L"),
    "platelets": ("777-3", "Platelets [#/volume] in Blood", "10*9/L"),
    "d_dimer": ("48065-7", "Fibrin D-dimer FEU [Mass/volume] in Platelet poor plasma",
                "mg/L{FEU}"),
    "albumin": ("1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/L"),
    "ldh": ("2532-0", "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma",
            "U/L"),
    "troponin": ("89579-7", "Troponin I.cardiac [Mass/volume] in Serum or Plasma by High "
                 "sensitivity method", "ng/L"),
    "ferritin": ("2276-4", "Ferritin [Mass/volume] in Serum or Plasma", "ug/L"),
    "fio2": ("3150-0", "Inhaled oxygen concentration", "%"),
    "bmi": ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2"),
}
"""Schema field -> (LOINC code, display, UCUM unit) written by ``to_bundle``."""

UCUM_TO_SCHEMA: dict[str, str] = {
    "/min": "/min", "{breaths}/min": "/min", "{beats}/min": "/min", "{Beats}/min": "/min",
    "%": "%", "mm[Hg]": "mmHg", "kPa": "kPa", "Cel": "°C", "[degF]": "°F",
    "{score}": "", "1": "", "{#}": "",
    "mmol/L": "mmol/L", "umol/L": "µmol/L", "mg/dL": "mg/dL", "mg/L": "mg/L", "g/dL": "g/dL",
    "g/L": "g/L", "U/L": "U/L", "[IU]/L": "IU/L", "ukat/L": "ukat/L",
    "10*9/L": "10^9/L", "10*3/uL": "10^3/uL", "/uL": "/uL", "/mm3": "/mm3",
    "ng/L": "ng/L", "ng/mL": "ng/mL", "ug/L": "ug/L", "pg/mL": "pg/mL", "ug/mL": "ug/mL",
    "mg/L{FEU}": "mg/L FEU", "ug/mL{FEU}": "ug/mL FEU", "ng/mL{FEU}": "ng/mL FEU",
    "ug/L{FEU}": "ug/L FEU", "kg/m2": "kg/m2",
}
"""UCUM code -> the schema's spelling of the unit (its unit table converts from there)."""

_C = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
CONDITION_CODES: _C = {
    # field: (SNOMED CT concept ids, ICD-10 categories or codes, matched as prefixes)
    "chronic_cardiac": (("84114007", "53741008", "414545008", "49436004"),
                        ("I20", "I21", "I22", "I23", "I24", "I25", "I42", "I50")),
    "chronic_pulmonary": (("13645005", "51615001"), ("J41", "J42", "J43", "J44", "J47", "J84")),
    "chronic_kidney": (("709044004",), ("N18",)),
    "liver_disease": (("328383001", "19943007"), ("K70", "K72", "K73", "K74")),
    "dementia": (("52448006", "26929004"), ("F00", "F01", "F02", "F03", "G30")),
    "chronic_neuro": (("230690007", "49049000", "24700007"), ("G20", "G35", "I63", "I69")),
    "connective_tissue": (("69896004", "55464009"), ("M05", "M06", "M32", "M34")),
    "diabetes": (("73211009", "44054006", "46635009"), ("E10", "E11", "E12", "E13", "E14")),
    "hiv": (("86406008",), ("B20", "B21", "B22", "B23", "B24")),
    "malignancy": (("363346000",), tuple(f"C{i:02d}" for i in range(0, 81))),
    "obesity": (("414915002",), ("E66",)),
    "hypertension": (("38341003", "59621000"), ("I10", "I11", "I12", "I13", "I15")),
    "asthma": (("195967001",), ("J45", "J46")),
    "immunosuppression": ((), ("D80", "D81", "D82", "D83", "D84")),
    "organ_transplant": ((), ("Z94",)),
    "haematological_cancer": ((), tuple(f"C{i}" for i in range(81, 97))),
}
"""Comorbidity field -> (SNOMED CT codes, ICD-10 prefixes). The first SNOMED code is written."""


def loinc_codes() -> list[str]:
    """Every LOINC code the reader uses (for CDS Hooks prefetch templates)."""
    return list(OBSERVATION_CODES)
