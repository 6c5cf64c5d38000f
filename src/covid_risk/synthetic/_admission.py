"""The admission record of a hospitalised patient: vital signs, labs, imaging, GCS.

Every continuous measurement is ``transform(z)`` with ``z`` Gaussian given the
community record ``x`` (see :class:`~covid_risk.synthetic._spec.Latent`): the
latents are a respiratory/inflammatory severity ``S``, a systemic severity ``T``
correlated with it, a shared renal term ``R`` and each measurement's own
biological variation. Comorbidities shift the means (CKD raises urea and
creatinine, COPD lowers SpO2, ...). GCS depends on the community record only.
Because the in-hospital death probit is linear in the ``z`` (plus GCS and ``x``
terms), its distribution given ``x`` is an exact mixture of normals, which is
what makes the 28-day community risk exactly computable.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, ndtr

from covid_risk.schema import COMORBIDITIES_4C
from covid_risk.synthetic import _parameters as P
from covid_risk.synthetic._population import COMORBIDITY_NAMES

__all__ = [
    "LATENT_NAMES",
    "admission_features",
    "draw_admission",
    "latent_mean",
    "loading_matrix",
    "true_value",
]

LATENT_NAMES: tuple[str, ...] = tuple(lat.name for lat in P.LATENTS)
_N_LAT = len(LATENT_NAMES)
_SPO2_CEILING = 80.0


def admission_features(pop: dict) -> dict:
    """Return the community features plus those the admission models use.

    Adds ``age10`` ((age - 70)/10), ``n_comorbid`` (count of the 11 4C
    comorbidities) and ``obese_death`` (BMI above 30, per 5 kg/m2).
    """
    f = dict(pop["features"])
    f["age10"] = (pop["age"] - P.ADMISSION_AGE_REF) / 10.0
    f["n_comorbid"] = np.sum([pop[c] for c in COMORBIDITIES_4C], axis=0).astype(float)
    f["obese_death"] = f["bmi_obese"]
    return f


def latent_mean(features: dict, age: np.ndarray, scenario: P.Scenario) -> dict:
    """Return the means of ``S`` and ``T`` and of every latent ``z`` given the community record."""
    mu_s = P.SEVERITY.evaluate(features, age) + scenario.severity_shift
    mu_t = P.SYSTEMIC.evaluate(features, age)
    means = {"S": mu_s, "T": mu_t}
    for lat in P.LATENTS:
        means[lat.name] = lat.mean.evaluate(features, age) + lat.l_s * mu_s + lat.l_t * mu_t
    return means


def loading_matrix() -> np.ndarray:
    """Return ``L`` such that ``z - mean = eps @ L`` for standard normal ``eps``.

    Columns of ``eps``: ``S``, ``T`` (own part), ``R``, then one per latent.
    """
    rho = P.SEVERITY_CORRELATION
    L = np.zeros((3 + _N_LAT, _N_LAT))
    for j, lat in enumerate(P.LATENTS):
        L[0, j] = lat.l_s + rho * lat.l_t
        L[1, j] = np.sqrt(1.0 - rho**2) * lat.l_t
        L[2, j] = lat.l_r
        L[3 + j, j] = lat.sigma
    return L


def true_value(name: str, z: np.ndarray) -> np.ndarray:
    """Map a latent ``z`` to the measurement's true value on its schema scale."""
    lat = P.LATENTS[LATENT_NAMES.index(name)]
    transform = lat.transform
    if transform in ("exp", "exp_plus_10"):
        e = np.exp(z)
        if lat.cap is not None:
            e = e / np.cbrt(1.0 + (e / lat.cap) ** 3)
        return e + (10.0 if transform == "exp_plus_10" else 0.0)
    if transform == "spo2":
        return 100.0 - _SPO2_CEILING * -np.expm1(-np.exp(z) / _SPO2_CEILING)
    return z.copy()


def draw_admission(pop: dict, rng: np.random.Generator, scenario: P.Scenario) -> dict:
    """Draw the admission record of every person in ``pop`` (all of them admitted).

    Returns
    -------
    dict
        ``features`` (community plus admission features, including the centred
        latents ``z_<name>`` and ``infiltrates``), ``S`` (latent severity, used
        only for missingness), true values of every vital sign and lab keyed by
        schema field, ``gcs``, ``on_oxygen``, ``fio2``, ``chest_infiltrates``,
        ``nosocomial`` and ``days_since_onset``.
    """
    n = len(pop["age"])
    age = pop["age"]
    f = admission_features(pop)
    means = latent_mean(f, age, scenario)
    eps = rng.standard_normal((n, 3 + _N_LAT))
    rho = P.SEVERITY_CORRELATION
    s = means["S"] + eps[:, 0]
    load = loading_matrix()
    out: dict = {"S": s, "T": means["T"] + rho * eps[:, 0] + np.sqrt(1 - rho**2) * eps[:, 1]}
    for j, lat in enumerate(P.LATENTS):
        # z - mean = eps @ load[:, j]; only four loadings can be non-zero, so no BLAS call
        z = (means[lat.name] + load[0, j] * eps[:, 0] + load[1, j] * eps[:, 1]
             + load[2, j] * eps[:, 2] + load[3 + j, j] * eps[:, 3 + j])
        f[f"z_{lat.name}"] = z - lat.mean.intercept
        if lat.name != "diastolic_ratio":
            out[lat.name] = true_value(lat.name, z)
    out["diastolic_bp"] = out["systolic_bp"] * (0.42 + 0.28 * expit(f["z_diastolic_ratio"]))

    # GCS: depends on the community record only (see module docstring)
    impaired = rng.random(n) < ndtr(P.GCS.evaluate(f, age))
    level = np.searchsorted(np.cumsum(P.GCS_LEVEL_PROBS) / np.sum(P.GCS_LEVEL_PROBS),
                            rng.random(n), side="right").clip(0, len(P.GCS_LEVEL_PROBS) - 1)
    out["gcs"] = np.where(impaired, 14 - level, 15).astype(np.int64)
    f["gcs"] = out["gcs"].astype(float)

    f["S"] = s
    infiltrates = rng.random(n) < ndtr(P.INFILTRATES.evaluate(f, age))
    out["chest_infiltrates"] = infiltrates
    f["infiltrates"] = infiltrates.astype(float)

    on_o2 = rng.random(n) < ndtr(P.ON_OXYGEN.evaluate(f, age))
    edges = np.array([-0.5, 0.0, 0.5, 1.0])
    level = np.searchsorted(edges, f["z_spo2"] + 0.5 * rng.standard_normal(n))
    fio2 = np.where(on_o2, np.asarray(P.FIO2_LEVELS)[level], 0.21)
    deficit_air = 100.0 - out["spo2"]
    out["spo2"] = 100.0 - deficit_air * np.exp(-P.OXYGEN_UPLIFT * (fio2 - 0.21))
    out["on_oxygen"] = on_o2
    out["fio2"] = fio2

    noso = rng.random(n) < expit(P.NOSOCOMIAL.evaluate(f, age))
    out["nosocomial"] = noso
    f["nosocomial"] = noso.astype(float)
    shape, scale = P.ONSET_TO_ADMISSION_GAMMA
    onset = np.floor(rng.gamma(shape, scale, n))
    out["days_since_onset"] = np.where(noso, np.floor(3.0 * rng.random(n)), onset)

    for name in COMORBIDITY_NAMES:
        f.setdefault(name, pop[name].astype(float))
    out["features"] = f
    return out
