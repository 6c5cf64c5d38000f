"""Tests for covid_risk.units: unit spellings and every conversion against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from covid_risk.schema import FIELDS
from covid_risk.units import (
    CREATININE_UMOL_PER_MG_DL,
    IDENTITY,
    UREA_MMOL_PER_BUN_MG_DL,
    UREA_MMOL_PER_UREA_MG_DL,
    Conversion,
    normalise_unit,
)


@pytest.mark.parametrize(
    ("spellings", "normal"),
    [
        (["µmol/L", "μmol/l", "umol/L", "mcmol/L", " µmol / L ", "umol/litre"], "umol/l"),
        (["10^9/L", "x10⁹/l", "10⁹/L", "×10^9/L", "x10^9/L", "*10^9/L", "10^9/liter"], "109/l"),
        (["10^3/uL", "10³/µL", "x10^3/uL"], "103/ul"),
        (["µg/L", "ug/L", "mcg/L", "UG/L"], "ug/l"),
        (["°C", "degC", "C", "c", "° C"], "c"),
        (["°F", "degF", "F"], "f"),
        (["/min", "/minute", "per minute", "perminute", "per min"], "/min"),
        (["kg/m²", "kg/m2", "kg/m^2"], "kg/m2"),
        (["mg/dL BUN", "mg/dl bun", "MG/DL BUN"], "mg/dlbun"),
    ],
)
def test_normalise_unit_spellings(spellings, normal):
    """Every usual spelling of a unit normalises to one comparable form."""
    assert {normalise_unit(s) for s in spellings} == {normal}


def test_normalise_unit_keeps_different_units_apart():
    """Different units stay different after normalising."""
    units = ["mg/dL", "mg/L", "mmol/L", "umol/L", "g/dL", "g/L", "ng/mL", "ug/mL", "10^9/L",
             "10^3/uL", "/uL"]
    assert len({normalise_unit(u) for u in units}) == len(units)


def test_molar_constants():
    """Urea, BUN and creatinine factors match their molar masses."""
    assert UREA_MMOL_PER_BUN_MG_DL == pytest.approx(0.35697, abs=1e-5)  # 10 / 28.014
    assert UREA_MMOL_PER_UREA_MG_DL == pytest.approx(0.16650, abs=1e-5)  # 10 / 60.06
    assert CREATININE_UMOL_PER_MG_DL == pytest.approx(88.40, abs=1e-2)  # 10000 / 113.12


_COUNTS = [("/uL", 800, 0.8), ("cells/uL", 1500, 1.5), ("/mm3", 250000, 250.0),
           ("10^3/uL", 7.5, 7.5), ("K/uL", 7.5, 7.5), ("x10^9/L", 3.0, 3.0), ("G/L", 3.0, 3.0)]
_BREATHS = [("breaths/min", 22, 22.0), ("min-1", 18, 18.0)]
_BEATS = [("bpm", 88, 88.0), ("beats/min", 90, 90.0), ("min-1", 72, 72.0)]

# (field, unit, value in that unit, canonical value computed by hand)
HAND = [
    *[("respiratory_rate", u, v, e) for u, v, e in _BREATHS],
    *[("heart_rate", u, v, e) for u, v, e in _BEATS],
    ("spo2", "fraction", 0.95, 95.0),
    ("fio2", "%", 40, 0.40),
    ("systolic_bp", "kPa", 16, 120.0099),  # 16 x 7.50062
    ("diastolic_bp", "kPa", 10, 75.0062),
    ("temperature", "°F", 100.4, 38.0),
    ("temperature", "F", 212, 100.0),
    ("temperature", "C", 37.2, 37.2),
    ("temperature", "degC", 36.6, 36.6),
    ("urea", "mg/dL BUN", 28, 9.99500),  # 280 / 28.014
    ("urea", "mg/dL", 14, 4.99750),  # US labs: BUN
    ("urea", "mg/dL urea", 60.06, 10.0),  # 600.6 / 60.06
    ("creatinine", "mg/dL", 1.2, 106.082),  # 12000 / 113.12
    ("creatinine", "mmol/L", 0.1, 100.0),
    ("crp", "mg/dL", 5, 50.0),
    ("crp", "ug/mL", 12, 12.0),
    *[("lymphocytes", u, v, e) for u, v, e in _COUNTS],
    *[("neutrophils", u, v, e) for u, v, e in _COUNTS],
    *[("platelets", u, v, e) for u, v, e in _COUNTS],
    ("ldh", "IU/L", 250, 250.0),
    ("ldh", "ukat/L", 4, 240.0),
    ("d_dimer", "ng/mL FEU", 500, 0.5),
    ("d_dimer", "ng/mL", 1200, 1.2),
    ("d_dimer", "ug/L FEU", 500, 0.5),
    ("d_dimer", "ug/L", 800, 0.8),
    ("d_dimer", "ug/mL FEU", 0.5, 0.5),
    ("d_dimer", "ug/mL", 2, 2.0),
    ("d_dimer", "mg/L", 1.5, 1.5),
    ("ferritin", "ng/mL", 300, 300.0),
    ("troponin", "ug/L", 0.05, 50.0),
    ("troponin", "ng/mL", 0.1, 100.0),
    ("troponin", "pg/mL", 14, 14.0),
    ("albumin", "g/dL", 3.5, 35.0),
]


@pytest.mark.parametrize(("name", "unit", "value", "expected"), HAND,
                         ids=[f"{h[0]}[{h[1]}]" for h in HAND])
def test_alternative_unit_conversion(name, unit, value, expected):
    """Each alternative unit converts to the hand-computed canonical value."""
    conv = FIELDS[name].conversion(unit)
    listed = FIELDS[name].alt_units[unit]
    assert (conv.scale, conv.offset) == (listed.scale, listed.offset)
    assert conv.apply(value) == pytest.approx(expected, rel=1e-5, abs=1e-12)
    assert conv.invert(conv.apply(value)) == pytest.approx(value, rel=1e-12)


def test_every_alternative_unit_is_hand_checked():
    """The hand-computed table covers every alternative unit of the schema."""
    in_schema = {(f.name, u) for f in FIELDS.values() for u in f.alt_units}
    assert {(h[0], h[1]) for h in HAND} == in_schema


def test_conversion_is_vectorised():
    """Conversions apply to numpy arrays element-wise, NaN staying NaN."""
    out = FIELDS["temperature"].alt_units["°F"].apply(np.array([32.0, 212.0, np.nan]))
    np.testing.assert_allclose(out, [0.0, 100.0, np.nan])


def test_identity_and_frozen():
    """The identity conversion changes nothing, and conversions are immutable."""
    assert IDENTITY.apply(7.5) == 7.5
    conv = Conversion(2.0, 1.0, "test")
    assert conv.apply(3.0) == 7.0 and conv.invert(7.0) == 3.0
    with pytest.raises(AttributeError):
        conv.scale = 3.0  # type: ignore[misc]
