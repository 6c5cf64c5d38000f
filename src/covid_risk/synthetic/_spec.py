"""Building blocks for the generator's parameters: linear predictors and age curves.

Every model of the generator is a :class:`LinearPredictor`: an intercept, an
optional piecewise-linear curve in age and named coefficients that multiply
named feature arrays. Keeping them as data (not code) lets the data card list
every number with its source, straight from the objects the generator uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

__all__ = ["LinearPredictor", "Latent", "interp_age", "MAX_AGE"]

MAX_AGE = 120


@lru_cache(maxsize=256)
def _age_table(knots: tuple[float, ...], values: tuple[float, ...]) -> np.ndarray:
    return np.interp(np.arange(MAX_AGE + 1, dtype=float), np.asarray(knots, dtype=float),
                     np.asarray(values, dtype=float))


def interp_age(age: np.ndarray, knots: tuple[float, ...], values: tuple[float, ...]) -> np.ndarray:
    """Piecewise-linear curve through ``(knots, values)``, flat beyond the end knots.

    Ages are whole years (the generator records completed years), so the curve is
    tabulated once per year of age and looked up.
    """
    age = np.asarray(age)
    index = age if age.dtype.kind in "iu" else age.astype(np.intp)
    return _age_table(tuple(knots), tuple(values))[index]


@dataclass(frozen=True)
class LinearPredictor:
    """A linear predictor ``intercept + f(age) + sum(coef[k] * feature[k])``.

    Parameters
    ----------
    intercept : float
        Value for the reference person (all features 0, ``f(age)`` at its knots' 0).
    age_knots, age_values : tuple of float
        Piecewise-linear effect of age (years); empty for none.
    coef : mapping of str to float
        Coefficient of each named feature.
    link : {"logit", "probit", "identity"}
        How the predictor becomes a probability (or value).
    source : str
        Where the numbers come from.
    notes : mapping of str to str
        Per-coefficient source where it differs from ``source``.
    """

    intercept: float
    age_knots: tuple[float, ...] = ()
    age_values: tuple[float, ...] = ()
    coef: Mapping[str, float] = field(default_factory=dict)
    link: str = "logit"
    source: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)

    def evaluate(self, features: Mapping[str, np.ndarray], age: np.ndarray) -> np.ndarray:
        """Return the linear predictor for every person (float64 array)."""
        if self.age_knots:
            out = interp_age(age, self.age_knots, self.age_values) + float(self.intercept)
        else:
            out = np.full(len(age), float(self.intercept))
        tmp = np.empty_like(out)
        for name, beta in self.coef.items():
            if beta != 0.0:
                out += np.multiply(features[name], beta, out=tmp)
        return out


@dataclass(frozen=True)
class Latent:
    """One admission measurement generated from correlated Gaussian latents.

    The generator draws ``z = mean(x) + l_s*S + l_t*T + l_r*R + sigma*e`` where
    ``S`` (respiratory/inflammatory severity), ``T`` (systemic/circulatory
    severity) and ``R`` (shared renal variation) are standard normal given the
    patient's community record ``x``, and ``e`` is this measurement's own noise.
    The true value is ``transform(z)`` (e.g. ``exp`` for log-normal labs).

    Parameters
    ----------
    name : str
        Schema field (or internal name) generated.
    transform : str
        ``"exp"``, ``"exp_plus_10"`` (respiratory rate), ``"spo2"``
        (``100 - 80*(1 - exp(-exp(z)/80))``) or ``"identity"``.
    mean : LinearPredictor
        Mean of ``z`` given the community record (identity link).
    l_s, l_t, l_r : float
        Loadings on the shared latents.
    sigma : float
        Standard deviation of the measurement's own biological variation.
    cap : float, optional
        Soft upper limit for ``"exp"`` and ``"exp_plus_10"``: ``e = exp(z)`` becomes
        ``e / (1 + (e/cap)**3)**(1/3)``, equal to ``e`` well below ``cap`` and never
        above it (a physiological ceiling; still one-to-one, so ``z`` is recoverable).
    """

    name: str
    transform: str
    mean: LinearPredictor
    l_s: float = 0.0
    l_t: float = 0.0
    l_r: float = 0.0
    sigma: float = 0.0
    cap: float | None = None
