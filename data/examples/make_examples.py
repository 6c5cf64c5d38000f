"""Regenerate the hospital-style example files used by notebook 03.

Run from the repository root::

    python data/examples/make_examples.py

It writes, next to this script,

``hospital_admissions.csv``
    One row per admission, as a hospital might export it: its own column names
    ("Age (years)", "BUN (mg/dL)", "Temp (F)", ...), US units for blood urea
    nitrogen, creatinine and temperature, FiO2 in percent, yes/no as "Y"/"N",
    sex as "M"/"F", an ``Admission time`` and the in-hospital outcomes. No
    laboratory results other than BUN and creatinine: those arrive in the long
    table. Two temperatures were charted in °C in the °F column (a
    transcription error :func:`covid_risk.validate` must catch: 38.4 °F is
    impossible for a living patient).
``hospital_labs.csv``
    A long laboratory table, one measurement per row (``MRN``, ``Collected``,
    ``Test``, ``Result``, ``Units``), with the hospital's own test names, a mix of
    units for the same test (lymphocytes in 10^9/L or cells/uL), results taken
    a few hours before the admission timestamp (emergency department bloods),
    repeat results two days later and results from an earlier, unrelated visit.
    Only the admission results (from 6 hours before to 24 hours after the
    admission time) carry the admission values.

Both come from a small synthetic admitted cohort (:func:`covid_risk.make_cohort`,
fixed seed) and are therefore simulated patients, not real ones. The same seed
always gives the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import covid_risk as cr
from covid_risk.schema import as_float
from covid_risk.units import CREATININE_UMOL_PER_MG_DL, UREA_MMOL_PER_BUN_MG_DL

N_PATIENTS = 1000
SEED = 2020
N_CELSIUS_ERRORS = 2
"""Temperatures written in °C in the °F column, for notebook 03 to catch and fix."""
HERE = Path(__file__).resolve().parent

# canonical field -> the hospital's column name
COLUMNS: dict[str, str] = {
    "age": "Age (years)",
    "sex": "Sex",
    "bmi": "BMI",
    "ethnicity": "Ethnic group",
    "smoking": "Smoker",
    "care_home": "Care home resident",
    "chronic_cardiac": "Heart disease",
    "chronic_pulmonary": "Chronic lung disease",
    "chronic_kidney": "CKD",
    "liver_disease": "Liver disease",
    "dementia": "Dementia",
    "chronic_neuro": "Neurological disease",
    "connective_tissue": "Rheumatological disease",
    "diabetes": "Diabetes",
    "hiv": "HIV",
    "malignancy": "Cancer",
    "obesity": "Obese",
    "hypertension": "Hypertension",
    "asthma": "Asthma",
    "respiratory_rate": "Resp rate",
    "spo2": "SpO2 (%)",
    "on_oxygen": "On O2",
    "fio2": "FiO2 (%)",
    "heart_rate": "Pulse",
    "systolic_bp": "BP systolic",
    "diastolic_bp": "BP diastolic",
    "temperature": "Temp (F)",
    "gcs": "GCS",
    "urea": "BUN (mg/dL)",
    "creatinine": "Creatinine (mg/dL)",
    "chest_infiltrates": "CXR infiltrates",
    "death": "Died in hospital",
    "icu": "ICU admission",
    "imv": "Intubated",
    "deterioration": "Deteriorated",
}

# canonical lab field -> (hospital test name, unit, reported = canonical x scale, decimals)
LABS: dict[str, tuple[str, str, float, int]] = {
    "crp": ("CRP", "mg/L", 1.0, 0),
    "lymphocytes": ("Lymphocyte count", "10^9/L", 1.0, 2),
    "neutrophils": ("Neutrophil count", "10^9/L", 1.0, 2),
    "platelets": ("Platelets", "10^9/L", 1.0, 0),
    "ldh": ("LDH", "U/L", 1.0, 0),
    "d_dimer": ("D-dimer", "ng/mL FEU", 1000.0, 0),
    "ferritin": ("Ferritin", "ng/mL", 1.0, 0),
    "troponin": ("hs Troponin", "ng/L", 1.0, 0),
    "albumin": ("Albumin", "g/dL", 0.1, 1),
}
LYMPHOCYTES_PER_UL = 0.3
"""Share of lymphocyte results reported in cells/uL instead of 10^9/L."""

_ETHNICITY = {"white": "White", "south_asian": "South Asian", "black": "Black",
              "mixed": "Mixed", "other": "Other"}


def _yes_no(values: pd.Series) -> pd.Series:
    """Boolean column -> "Y"/"N" with blanks for missing."""
    out = pd.Series("", index=values.index, dtype="object")
    present = values.notna().to_numpy()
    flags = values.to_numpy(dtype="float64", na_value=np.nan)
    out[present] = np.where(flags[present] == 1.0, "Y", "N")
    return out


def _admission_times(n: int, rng: np.random.Generator) -> pd.Series:
    start = pd.Timestamp("2020-03-01 00:00")
    minutes = rng.integers(0, 90 * 24 * 60, size=n)
    return pd.Series(start + pd.to_timedelta(minutes, unit="min")).dt.floor("min")


def hospital_table(cohort: pd.DataFrame, admitted: pd.Series) -> pd.DataFrame:
    """Return the hospital's admissions export for ``cohort`` (one row per patient)."""
    out = pd.DataFrame({"MRN": [f"H{int(i):06d}" for i in range(len(cohort))]})
    out["Admission time"] = admitted.dt.strftime("%Y-%m-%d %H:%M").to_numpy()
    for field, column in COLUMNS.items():
        kind = cr.FIELDS[field].kind
        col = cohort[field]
        if kind == "bool":
            out[column] = _yes_no(col).to_numpy()
        elif kind == "category":
            text = col.astype("object")
            if field == "sex":
                text = text.map({"female": "F", "male": "M"})
            elif field == "ethnicity":
                text = text.map(_ETHNICITY)
            else:
                text = text.map(lambda v: v.title() if isinstance(v, str) else v)
            out[column] = text.to_numpy()
        else:
            x = as_float(cohort, field)
            if field == "urea":
                x = np.round(x / UREA_MMOL_PER_BUN_MG_DL, 0)
            elif field == "creatinine":
                x = np.round(x / CREATININE_UMOL_PER_MG_DL, 2)
            elif field == "temperature":
                x = np.round(x * 9.0 / 5.0 + 32.0, 1)
            elif field == "fio2":
                x = np.round(x * 100.0, 0)
            elif field == "bmi":
                x = np.round(x, 1)
            if field in ("age", "gcs"):
                out[column] = pd.array(np.floor(x), dtype="Float64").astype("Int64")
            else:
                out[column] = x
    return out


def _rows(mrn, times, test, values, units) -> pd.DataFrame:
    return pd.DataFrame({"MRN": mrn, "Collected": times, "Test": test, "Result": values,
                         "Units": units})


def lab_table(cohort: pd.DataFrame, admitted: pd.Series, rng: np.random.Generator) -> pd.DataFrame:
    """Return the long laboratory table for ``cohort`` (several rows per patient and test)."""
    mrn = np.array([f"H{int(i):06d}" for i in range(len(cohort))])
    t0 = admitted.to_numpy()
    parts = []
    for field, (test, unit, scale, decimals) in LABS.items():
        x = as_float(cohort, field)
        lo, hi = cr.FIELDS[field].plausible  # repeats and old results stay plausible
        idx = np.flatnonzero(np.isfinite(x))
        # admission result: from 4 h before (ED bloods) to 12 h after the admission time
        offset = pd.to_timedelta(rng.integers(-4 * 60, 12 * 60, size=idx.size), unit="m")
        value = np.round(x[idx] * scale, decimals)
        units = np.full(idx.size, unit, dtype=object)
        if field == "lymphocytes":
            per_ul = rng.random(idx.size) < LYMPHOCYTES_PER_UL
            value = np.where(per_ul, np.round(x[idx] * 1000.0, 0), value)
            units[per_ul] = "cells/uL"
        parts.append(_rows(mrn[idx], t0[idx] + offset, test, value, units))
        # a repeat two days later, outside the admission window
        rep = idx[rng.random(idx.size) < 0.5]
        drift = np.exp(rng.normal(0.0, 0.3, size=rep.size))
        parts.append(_rows(mrn[rep], t0[rep] + pd.Timedelta(hours=50), test,
                           np.round(np.clip(x[rep] * drift, lo, hi) * scale, decimals), unit))
        # a result from an earlier, unrelated visit six weeks before
        old = idx[rng.random(idx.size) < 0.15]
        drift = np.exp(rng.normal(0.0, 0.5, size=old.size))
        parts.append(_rows(mrn[old], t0[old] - pd.Timedelta(days=42), test,
                           np.round(np.clip(x[old] * drift, lo, hi) * scale, decimals), unit))
    labs = pd.concat(parts, ignore_index=True)
    labs = labs.sort_values(["MRN", "Collected", "Test"], kind="stable", ignore_index=True)
    labs["Collected"] = labs["Collected"].dt.strftime("%Y-%m-%d %H:%M")
    return labs


def main(out_dir: Path = HERE) -> tuple[Path, Path]:
    """Write both example files into ``out_dir`` and return their paths."""
    rng = np.random.default_rng(SEED)
    cohort = cr.make_cohort(N_PATIENTS, setting="admission", random_state=SEED)
    admitted = _admission_times(len(cohort), rng)
    hospital = hospital_table(cohort, admitted)
    temp_c = as_float(cohort, "temperature")
    wrong = rng.choice(np.flatnonzero(np.isfinite(temp_c)), size=N_CELSIUS_ERRORS, replace=False)
    hospital.loc[np.sort(wrong), "Temp (F)"] = np.round(temp_c[np.sort(wrong)], 1)
    labs = lab_table(cohort, admitted, rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / "hospital_admissions.csv", out_dir / "hospital_labs.csv")
    hospital.to_csv(paths[0], index=False, lineterminator="\n", float_format="%.10g")
    labs.to_csv(paths[1], index=False, lineterminator="\n", float_format="%.10g")
    return paths


if __name__ == "__main__":
    for path in main():
        print(f"wrote {path.name}")
