"""The patient record: every field, its type, unit, limits and meaning.

This module is the single source of truth. Validation, features, the synthetic
generator, the models and the documentation all read :data:`FIELDS`; nothing else
hard-codes a unit or a range.

Kinds of field
--------------
``"float"``      a measurement in ``unit``; alternative units convert exactly.
``"int"``        a whole number (GCS, vaccine doses, deprivation quintile).
``"bool"``       yes/no; stored as pandas nullable ``boolean``.
``"category"``   one of ``categories``; stored as a string (``object``) column.

Limits
------
``hard`` (lo, hi): values outside are impossible and raise ``ValidationError``.
``plausible`` (lo, hi): values outside are possible but unusual; they are kept,
flagged and warned about.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from covid_risk.units import (
    CREATININE_UMOL_PER_MG_DL,
    IDENTITY,
    UREA_MMOL_PER_BUN_MG_DL,
    UREA_MMOL_PER_UREA_MG_DL,
    Conversion,
    normalise_unit,
)

__all__ = [
    "ADMISSION_PREDICTORS",
    "COMMUNITY_PREDICTORS",
    "COMORBIDITIES_4C",
    "FIELDS",
    "OUTCOMES",
    "PREDICTORS",
    "REQUIRED_FIELDS",
    "ROOM_AIR_FIO2",
    "SETTINGS",
    "SETTING_OUTCOMES",
    "Field",
    "as_float",
    "dtype_of",
    "empty_frame",
    "field_table",
    "get_field",
    "schema_hash",
]

ROOM_AIR_FIO2 = 0.21
"""Fraction of inspired oxygen breathing room air (validation's cross-field rule and the
SpO2/FiO2 ratio both use it)."""

Kind = Literal["float", "int", "bool", "category"]
Group = Literal[
    "demographics", "context", "comorbidity", "vital", "lab", "imaging", "outcome"
]


@dataclass(frozen=True)
class Field:
    """One field of a patient record.

    Parameters
    ----------
    name : str
        Canonical column name.
    kind : {"float", "int", "bool", "category"}
        Storage type.
    group : str
        Which part of the record it belongs to (``"vital"``, ``"lab"``, ...).
    label : str
        Name a clinician reads, e.g. ``"Respiratory rate"``.
    description : str
        One line on what it means and how it is measured.
    unit : str, default=""
        Canonical unit (empty for unitless fields).
    alt_units : mapping of str to Conversion, default={}
        Other accepted units and their exact conversion to ``unit``.
    hard : tuple of float, optional
        Impossible outside this closed range.
    plausible : tuple of float, optional
        Unusual outside this closed range (flagged, kept).
    categories : tuple of str, default=()
        Allowed values of a category field.
    required : bool, default=False
        Whether every record must have it (only ``age`` and ``sex``).
    """

    name: str
    kind: Kind
    group: Group
    label: str
    description: str
    unit: str = ""
    alt_units: Mapping[str, Conversion] = field(default_factory=dict)
    hard: tuple[float, float] | None = None
    plausible: tuple[float, float] | None = None
    categories: tuple[str, ...] = ()
    required: bool = False

    def conversion(self, unit: str | None) -> Conversion | None:
        """Return the conversion from ``unit`` to the canonical unit, or ``None`` if unknown.

        ``None`` or the canonical unit (in any spelling) gives the identity.
        """
        if unit is None or unit == "":
            return IDENTITY
        wanted = normalise_unit(unit)
        if self.unit and wanted == normalise_unit(self.unit):
            return IDENTITY
        for spelling, conv in self.alt_units.items():
            if normalise_unit(spelling) == wanted:
                return conv
        return None

    @property
    def accepted_units(self) -> tuple[str, ...]:
        """The canonical unit followed by every accepted alternative."""
        return ((self.unit,) if self.unit else ()) + tuple(self.alt_units)

    def allowed_text(self) -> str:
        """Say in words what values are allowed, for error messages."""
        if self.kind == "category":
            return "one of " + ", ".join(repr(c) for c in self.categories)
        if self.kind == "bool":
            return "yes/no (true/false, 1/0)"
        if self.hard is None:
            return "a number"
        lo, hi = self.hard
        unit = f" {self.unit}" if self.unit else ""
        whole = "a whole number" if self.kind == "int" else "a number"
        return f"{whole} between {_fmt(lo)} and {_fmt(hi)}{unit}"


def _fmt(x: float) -> str:
    return f"{x:g}"


def _f(name, group, label, unit, hard, plausible, description, alt=None, kind="float"):
    return Field(
        name=name,
        kind=kind,
        group=group,
        label=label,
        unit=unit,
        alt_units=alt or {},
        hard=hard,
        plausible=plausible,
        description=description,
    )


def _b(name, group, label, description):
    return Field(name=name, kind="bool", group=group, label=label, description=description)


def _c(name, group, label, categories, description, required=False):
    return Field(
        name=name,
        kind="category",
        group=group,
        label=label,
        categories=tuple(categories),
        description=description,
        required=required,
    )


_PER_UL_TO_1E9_PER_L = Conversion(1e-3, note="cells/uL x 1e6 /L / 1e9")
_1E3_PER_UL = Conversion(1.0, note="10^3/uL is the same as 10^9/L")
_COUNT_UNITS = {
    "/uL": _PER_UL_TO_1E9_PER_L,
    "cells/uL": _PER_UL_TO_1E9_PER_L,
    "/mm3": _PER_UL_TO_1E9_PER_L,
    "10^3/uL": _1E3_PER_UL,
    "K/uL": _1E3_PER_UL,
    "x10^9/L": Conversion(1.0, note="same unit"),
    "G/L": Conversion(1.0, note="giga per litre is 10^9/L"),
}
_BP_UNITS = {"kPa": Conversion(760.0 / 101.325, note="1 kPa = 7.50062 mmHg")}
_BREATHS_PER_MIN = {"breaths/min": IDENTITY, "min-1": IDENTITY}
_BEATS_PER_MIN = {"bpm": IDENTITY, "beats/min": IDENTITY, "min-1": IDENTITY}

_FIELD_LIST: tuple[Field, ...] = (
    # --- demographics and context -----------------------------------------
    Field(
        name="age", kind="float", group="demographics", label="Age", unit="years",
        hard=(0.0, 120.0), plausible=(18.0, 105.0), required=True,
        description="Age in completed years at the positive test or admission.",
    ),
    _c("sex", "demographics", "Sex", ("female", "male"),
       "Sex at birth as recorded.", required=True),
    _f("bmi", "demographics", "Body-mass index", "kg/m2", (8.0, 100.0), (15.0, 60.0),
       "Most recent body-mass index."),
    _c("ethnicity", "demographics", "Ethnicity",
       ("white", "south_asian", "black", "mixed", "other"),
       "Ethnic group in the five census groups used by OpenSAFELY."),
    Field(
        name="deprivation_quintile", kind="int", group="demographics",
        label="Deprivation quintile", hard=(1, 5), plausible=(1, 5),
        description="Index of multiple deprivation quintile: 1 least, 5 most deprived.",
    ),
    _c("smoking", "demographics", "Smoking", ("never", "former", "current"),
       "Smoking status."),
    _b("care_home", "context", "Care-home resident", "Lives in a residential or nursing home."),
    Field(
        name="vaccine_doses", kind="int", group="context", label="Vaccine doses",
        hard=(0, 10), plausible=(0, 5),
        description="Number of COVID-19 vaccine doses received before infection.",
    ),
    _f("days_since_vaccination", "context", "Days since last vaccine dose", "days",
       (0.0, 3650.0), (0.0, 730.0),
       "Days from the last vaccine dose to the positive test (missing if unvaccinated)."),
    _c("variant_period", "context", "Variant period", ("wild_type", "alpha", "delta", "omicron"),
       "Dominant SARS-CoV-2 variant when infected."),
    _f("days_since_onset", "context", "Days since symptom onset", "days",
       (0.0, 365.0), (0.0, 28.0), "Days from first symptom to the positive test or admission."),
    _b("nosocomial", "context", "Hospital-acquired infection",
       "Symptom onset or first positive test more than 7 days after admission."),
    # --- comorbidities (the 11 counted by ISARIC 4C first) -----------------
    _b("chronic_cardiac", "comorbidity", "Chronic cardiac disease",
       "Chronic heart disease (heart failure, coronary disease, ...)."),
    _b("chronic_pulmonary", "comorbidity", "Chronic pulmonary disease",
       "Chronic respiratory disease excluding asthma (COPD, fibrosis, ...)."),
    _b("chronic_kidney", "comorbidity", "Chronic kidney disease",
       "Chronic kidney disease (4C: eGFR 30 or less)."),
    _b("liver_disease", "comorbidity", "Liver disease", "Mild to severe chronic liver disease."),
    _b("dementia", "comorbidity", "Dementia", "Dementia of any cause."),
    _b("chronic_neuro", "comorbidity", "Chronic neurological disease",
       "Chronic neurological condition (stroke, Parkinson's, MS, ...)."),
    _b("connective_tissue", "comorbidity", "Connective tissue disease",
       "Rheumatological or connective tissue disease (RA, SLE, ...)."),
    _b("diabetes", "comorbidity", "Diabetes", "Diabetes of any type (diet, tablets or insulin)."),
    _b("hiv", "comorbidity", "HIV/AIDS", "HIV infection or AIDS."),
    _b("malignancy", "comorbidity", "Malignancy", "Solid-organ cancer (current or past)."),
    _b("obesity", "comorbidity", "Obesity", "Clinician-defined obesity."),
    _b("hypertension", "comorbidity", "Hypertension", "Diagnosed high blood pressure."),
    _b("asthma", "comorbidity", "Asthma", "Asthma."),
    _b("immunosuppression", "comorbidity", "Immunosuppression",
       "Immunosuppressive disease or treatment (not HIV)."),
    _b("organ_transplant", "comorbidity", "Organ transplant", "Solid-organ transplant recipient."),
    _b("haematological_cancer", "comorbidity", "Haematological cancer",
       "Leukaemia, lymphoma or myeloma."),
    # --- vital signs at admission -------------------------------------------
    _f("respiratory_rate", "vital", "Respiratory rate", "/min", (0.0, 80.0), (8.0, 50.0),
       "Breaths per minute at admission.", alt=dict(_BREATHS_PER_MIN)),
    _f("spo2", "vital", "SpO2", "%", (20.0, 100.0), (70.0, 100.0),
       "Peripheral oxygen saturation at admission.",
       alt={"fraction": Conversion(100.0, note="0-1 fraction x 100")}),
    _b("on_oxygen", "vital", "On supplemental oxygen",
       "Receiving supplemental oxygen when SpO2 was measured."),
    _f("fio2", "vital", "FiO2", "fraction", (0.21, 1.0), (0.21, 1.0),
       "Fraction of inspired oxygen when SpO2 was measured (0.21 on room air).",
       alt={"%": Conversion(0.01, note="percent / 100")}),
    _f("heart_rate", "vital", "Heart rate", "/min", (0.0, 300.0), (30.0, 200.0),
       "Pulse rate at admission.", alt=dict(_BEATS_PER_MIN)),
    _f("systolic_bp", "vital", "Systolic blood pressure", "mmHg", (0.0, 300.0), (60.0, 250.0),
       "Systolic blood pressure at admission.", alt=dict(_BP_UNITS)),
    _f("diastolic_bp", "vital", "Diastolic blood pressure", "mmHg", (0.0, 250.0), (30.0, 150.0),
       "Diastolic blood pressure at admission.", alt=dict(_BP_UNITS)),
    _f("temperature", "vital", "Temperature", "°C", (25.0, 45.0), (34.0, 42.0),
       "Body temperature at admission.",
       alt={"°F": Conversion(5.0 / 9.0, -32.0 * 5.0 / 9.0, "(F - 32) x 5/9"),
            "F": Conversion(5.0 / 9.0, -32.0 * 5.0 / 9.0, "(F - 32) x 5/9"),
            "C": IDENTITY, "degC": IDENTITY}),
    Field(
        name="gcs", kind="int", group="vital", label="Glasgow coma scale", hard=(3, 15),
        plausible=(3, 15), description="Glasgow coma scale at admission (15 = fully alert).",
    ),
    # --- labs at admission ---------------------------------------------------
    _f("urea", "lab", "Urea", "mmol/L", (0.0, 150.0), (1.0, 60.0),
       "Serum urea at admission.",
       alt={"mg/dL BUN": Conversion(UREA_MMOL_PER_BUN_MG_DL, note="BUN: x 10/28.014"),
            "mg/dL": Conversion(UREA_MMOL_PER_BUN_MG_DL,
                                note="US labs report blood urea nitrogen in mg/dL"),
            "mg/dL urea": Conversion(UREA_MMOL_PER_UREA_MG_DL, note="urea: x 10/60.06")}),
    _f("creatinine", "lab", "Creatinine", "µmol/L", (5.0, 3000.0), (30.0, 1000.0),
       "Serum creatinine at admission.",
       alt={"mg/dL": Conversion(CREATININE_UMOL_PER_MG_DL, note="x 10000/113.12"),
            "mmol/L": Conversion(1000.0, note="x 1000")}),
    _f("crp", "lab", "C-reactive protein", "mg/L", (0.0, 1000.0), (0.0, 500.0),
       "C-reactive protein at admission.",
       alt={"mg/dL": Conversion(10.0, note="x 10"), "ug/mL": Conversion(1.0, note="same")}),
    _f("lymphocytes", "lab", "Lymphocytes", "10^9/L", (0.0, 500.0), (0.05, 20.0),
       "Lymphocyte count at admission.", alt=dict(_COUNT_UNITS)),
    _f("neutrophils", "lab", "Neutrophils", "10^9/L", (0.0, 200.0), (0.1, 40.0),
       "Neutrophil count at admission.", alt=dict(_COUNT_UNITS)),
    _f("platelets", "lab", "Platelets", "10^9/L", (0.0, 3000.0), (10.0, 1000.0),
       "Platelet count at admission.", alt=dict(_COUNT_UNITS)),
    _f("ldh", "lab", "Lactate dehydrogenase", "U/L", (0.0, 20000.0), (80.0, 3000.0),
       "Lactate dehydrogenase at admission.",
       alt={"IU/L": IDENTITY, "ukat/L": Conversion(60.0, note="1 ukat/L = 60 U/L")}),
    _f("d_dimer", "lab", "D-dimer", "mg/L FEU", (0.0, 200.0), (0.05, 35.0),
       "D-dimer at admission in fibrinogen-equivalent units (DDU is not accepted: "
       "its conversion is assay-dependent).",
       alt={"ng/mL FEU": Conversion(1e-3, note="/ 1000"),
            "ng/mL": Conversion(1e-3, note="FEU assumed; / 1000"),
            "ug/L FEU": Conversion(1e-3, note="/ 1000"),
            "ug/L": Conversion(1e-3, note="FEU assumed; / 1000"),
            "ug/mL FEU": Conversion(1.0, note="same"),
            "ug/mL": Conversion(1.0, note="FEU assumed; same"),
            "mg/L": Conversion(1.0, note="FEU assumed; same")}),
    _f("ferritin", "lab", "Ferritin", "µg/L", (0.0, 200000.0), (5.0, 20000.0),
       "Serum ferritin at admission.", alt={"ng/mL": Conversion(1.0, note="same")}),
    _f("troponin", "lab", "Troponin", "ng/L", (0.0, 500000.0), (0.0, 10000.0),
       "High-sensitivity cardiac troponin at admission.",
       alt={"ug/L": Conversion(1000.0, note="x 1000"), "ng/mL": Conversion(1000.0, note="x 1000"),
            "pg/mL": Conversion(1.0, note="same")}),
    _f("albumin", "lab", "Albumin", "g/L", (5.0, 70.0), (15.0, 55.0),
       "Serum albumin at admission.", alt={"g/dL": Conversion(10.0, note="x 10")}),
    _b("chest_infiltrates", "imaging", "Chest infiltrates",
       "Radiographic infiltrates on the admission chest image."),
    # --- outcomes ------------------------------------------------------------
    _b("hospitalisation", "outcome", "Hospitalisation",
       "Admitted to hospital within 28 days of the positive test (community setting)."),
    _b("death", "outcome", "Death",
       "Death within 28 days of the positive test (community) or in hospital (admission)."),
    _b("icu", "outcome", "ICU admission", "Admitted to intensive care during the stay."),
    _b("imv", "outcome", "Invasive ventilation",
       "Invasive mechanical ventilation during the stay."),
    _b("deterioration", "outcome", "Deterioration",
       "ISARIC 4C Deterioration: any ventilatory support, critical care or death."),
    _b("aki", "outcome", "Acute kidney injury", "Acute kidney injury (KDIGO) during the stay."),
    _b("vte", "outcome", "Venous thromboembolism",
       "Deep-vein thrombosis or pulmonary embolism during the stay."),
)

FIELDS: dict[str, Field] = {f.name: f for f in _FIELD_LIST}
"""Every field of a patient record, by canonical name, in schema order."""

REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in _FIELD_LIST if f.required)
OUTCOMES: tuple[str, ...] = tuple(f.name for f in _FIELD_LIST if f.group == "outcome")
PREDICTORS: tuple[str, ...] = tuple(f.name for f in _FIELD_LIST if f.group != "outcome")
COMMUNITY_PREDICTORS: tuple[str, ...] = tuple(
    f.name for f in _FIELD_LIST if f.group in ("demographics", "context", "comorbidity")
    and f.name != "nosocomial"
)
ADMISSION_PREDICTORS: tuple[str, ...] = PREDICTORS

COMORBIDITIES_4C: tuple[str, ...] = (
    "chronic_cardiac", "chronic_pulmonary", "chronic_kidney", "liver_disease", "dementia",
    "chronic_neuro", "connective_tissue", "diabetes", "hiv", "malignancy", "obesity",
)
"""The eleven comorbidities counted by the ISARIC 4C Mortality Score."""

SETTINGS: tuple[str, ...] = ("community", "admission")
SETTING_OUTCOMES: dict[str, tuple[str, ...]] = {
    "community": ("hospitalisation", "death"),
    "admission": ("death", "icu", "imv", "deterioration", "aki", "vte"),
}
"""Outcomes predicted in each clinical setting."""


def get_field(name: str) -> Field:
    """Return the field called ``name``.

    Raises
    ------
    KeyError
        With the list of known fields, when ``name`` is not one of them.
    """
    try:
        return FIELDS[name]
    except KeyError:
        raise KeyError(
            f"Unknown field {name!r}. Known fields: {', '.join(FIELDS)}."
        ) from None


def field_table() -> pd.DataFrame:
    """Return the schema as a DataFrame, one row per field (for docs and notebooks)."""
    rows = []
    for f in FIELDS.values():
        rows.append(
            {
                "field": f.name,
                "kind": f.kind,
                "group": f.group,
                "label": f.label,
                "unit": f.unit,
                "alternative_units": ", ".join(f.alt_units),
                "hard_min": f.hard[0] if f.hard else None,
                "hard_max": f.hard[1] if f.hard else None,
                "plausible_min": f.plausible[0] if f.plausible else None,
                "plausible_max": f.plausible[1] if f.plausible else None,
                "categories": ", ".join(f.categories),
                "required": f.required,
                "description": f.description,
            }
        )
    return pd.DataFrame(rows)


def schema_hash() -> str:
    """Return the SHA-256 of the schema's canonical JSON form.

    Models store it so that a model trained on one schema is not silently used
    with another.
    """
    doc = [
        {
            "name": f.name,
            "kind": f.kind,
            "unit": f.unit,
            "alt": {k: [v.scale, v.offset] for k, v in sorted(f.alt_units.items())},
            "hard": f.hard,
            "categories": f.categories,
        }
        for f in FIELDS.values()
    ]
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


_DTYPES = {"float": "float64", "int": "Int64", "bool": "boolean", "category": "object"}


def dtype_of(name: str) -> str:
    """Return the pandas dtype used for the canonical column ``name``."""
    return _DTYPES[FIELDS[name].kind]


def empty_frame(n_rows: int = 0, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Return a canonical DataFrame of missing values with the right dtypes.

    Parameters
    ----------
    n_rows : int, default=0
        Number of rows.
    columns : tuple of str, optional
        Which fields (default: all predictors, in schema order).
    """
    columns = PREDICTORS if columns is None else columns
    data = {}
    for c in columns:
        kind = FIELDS[c].kind
        if kind == "float":
            data[c] = pd.Series(np.full(n_rows, np.nan), dtype="float64")
        elif kind == "category":
            data[c] = pd.Series([None] * n_rows, dtype="object")
        else:
            data[c] = pd.Series([pd.NA] * n_rows, dtype=dtype_of(c))
    return pd.DataFrame(data)


def as_float(df: pd.DataFrame, name: str) -> np.ndarray:
    """Return column ``name`` of a canonical frame as float64 with NaN for missing.

    Booleans become 1.0/0.0; a column absent from ``df`` comes back all-NaN, so
    vectorised code can treat "not recorded" and "missing" the same way.
    """
    if name not in df.columns:
        return np.full(len(df), np.nan)
    col = df[name]
    if FIELDS.get(name) is not None and FIELDS[name].kind == "category":
        raise TypeError(f"Field {name!r} is categorical and has no float view.")
    return col.to_numpy(dtype="float64", na_value=np.nan)
