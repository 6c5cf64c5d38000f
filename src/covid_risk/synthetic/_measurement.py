"""From true values to charted values: noise, rounding, missingness and (on request) errors.

Nothing here changes a true risk: risks are computed from the true values before
this step. Each step draws its own random numbers whether or not it is applied
(e.g. missingness uniforms are drawn even with ``missingness=False``), so
switching a step off changes nothing else in the cohort.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from covid_risk.schema import FIELDS
from covid_risk.synthetic import _parameters as P

__all__ = ["measure", "missing_admission", "missing_community", "corrupt"]


def _round(x: np.ndarray, step: float) -> np.ndarray:
    if step >= 1.0:
        return np.round(x / step) * step
    decimals = int(round(-np.log10(step)))
    return np.round(x, decimals)


def measure(name: str, true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return the charted value of ``true``: noise, rounding and clipping to the hard limits."""
    kind, size = P.MEASUREMENT_NOISE[name]
    noise = rng.standard_normal(len(true))
    x = true + size * noise if kind == "add" else true * np.exp(size * noise)
    lo, hi = FIELDS[name].hard
    if name == "spo2":
        hi = 100.0
    x = np.clip(x, lo, hi)
    step = P.ROUNDING[name]
    if name == "respiratory_rate":
        even = rng.random(len(x)) < P.RR_EVEN_DIGIT_SHARE
        x = np.where(even, 2.0 * np.round(x / 2.0), np.round(x))
    else:
        x = _round(x, step)
    return np.clip(x, lo, hi)


def missing_admission(fields: list[str], severity: np.ndarray,
                      rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return a missing-value mask per admission field (depends on the latent severity)."""
    u = rng.random((len(severity), len(fields)))
    out = {}
    for j, name in enumerate(fields):
        base, slope = P.MISSING_ADMISSION[name]
        out[name] = u[:, j] < ndtr(base + slope * severity)
    return out


def missing_community(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return a missing-value mask per community field."""
    names = list(P.MISSING_COMMUNITY)
    u = rng.random((n, len(names)))
    return {name: u[:, j] < P.MISSING_COMMUNITY[name] for j, name in enumerate(names)}


def corrupt(values: dict[str, np.ndarray], rate: float,
            rng: np.random.Generator) -> dict[str, int]:
    """Write a share ``rate`` of present lab and temperature values wrongly, in place.

    Half of the corrupted values are in a wrong unit (see ``CORRUPTIONS``), half
    have a transcription error (decimal point one place off). Returns the count
    of corrupted values per field.
    """
    counts: dict[str, int] = {}
    for name, (_, factor) in P.CORRUPTIONS.items():
        x = values[name]
        u = rng.random((len(x), 3))
        hit = (u[:, 0] < rate) & ~np.isnan(x)
        unit_error = u[:, 1] < 0.5
        if name == "temperature":
            wrong_unit = x * 9.0 / 5.0 + 32.0
        else:
            wrong_unit = x * factor
        decimal = np.where(u[:, 2] < 0.5, x * 10.0, x / 10.0)
        bad = np.where(unit_error, wrong_unit, decimal)
        step = P.ROUNDING.get(name, 0.01)
        bad = _round(bad, min(step, 0.01) if bad.size else step)
        x[hit] = bad[hit]
        counts[name] = int(hit.sum())
    return counts
