"""The community record of every infected adult: demographics, comorbidities, vaccination.

:func:`draw_population` returns a dict of numpy arrays, one entry per schema field
of the community record (true values, before anything is hidden) plus the
numeric ``features`` that the linear predictors of the generator use. Everything
is vectorised; the only randomness comes from the ``rng`` passed in.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from covid_risk.schema import FIELDS
from covid_risk.synthetic import _parameters as P
from covid_risk.synthetic._spec import MAX_AGE, interp_age

__all__ = [
    "COMORBIDITY_NAMES",
    "ETHNICITIES",
    "SMOKING",
    "VARIANTS",
    "community_death_lp",
    "concat",
    "draw_population",
    "hospitalisation_lp",
    "subset",
]

COMORBIDITY_NAMES: tuple[str, ...] = tuple(
    f.name for f in FIELDS.values() if f.group == "comorbidity"
)
"""The comorbidity fields of the schema, in schema order."""

ETHNICITIES: tuple[str, ...] = FIELDS["ethnicity"].categories
SMOKING: tuple[str, ...] = FIELDS["smoking"].categories
VARIANTS: tuple[str, ...] = FIELDS["variant_period"].categories


def _categorical(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Draw one category code per row of ``probs`` (rows sum to 1) by inverse CDF."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cum[:, -1]
    return (u[:, None] > cum).sum(axis=1).astype(np.int8)


def _categorical_by(rng: np.random.Generator, table: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Draw a category code for each person from row ``row`` of a probability ``table``."""
    cum = np.cumsum(table, axis=1)
    cum = cum / cum[:, -1:]
    u = rng.random(len(row))
    out = np.zeros(len(row), dtype=np.int8)
    for k in range(table.shape[1] - 1):
        out += u > cum[row, k]
    return out


def _by_age(knots: tuple[float, ...], columns: list[tuple[float, ...]]) -> np.ndarray:
    """Probability table with one row per year of age (0..MAX_AGE), one column per category."""
    ages = np.arange(MAX_AGE + 1)
    return np.column_stack([interp_age(ages, knots, c) for c in columns])


def _age_distribution() -> tuple[np.ndarray, np.ndarray]:
    ages = np.arange(18, 101, dtype=float)
    dens = interp_age(ages, P.AGE_KNOTS, P.AGE_DENSITY)
    return ages, dens / dens.sum()


def vaccine_effects(
    doses: np.ndarray, days: np.ndarray, scenario: P.Scenario
) -> tuple[np.ndarray, np.ndarray]:
    """Return the waned log hazard ratios of vaccination for hospitalisation and death."""
    hosp = np.zeros(len(doses))
    death = np.zeros(len(doses))
    if not scenario.vaccine_log_hr:
        return hosp, death
    wane = np.exp(-np.nan_to_num(days, nan=0.0) / scenario.waning_days)
    for d, (lh, ld) in scenario.vaccine_log_hr.items():
        sel = doses == d
        hosp[sel] = lh * wane[sel]
        death[sel] = ld * wane[sel]
    return hosp, death


def draw_population(n: int, rng: np.random.Generator, scenario: P.Scenario) -> dict:
    """Draw the community records of ``n`` infected adults.

    Parameters
    ----------
    n : int
        Number of people.
    rng : numpy.random.Generator
        The only source of randomness.
    scenario : Scenario
        Variant period and vaccination coverage.

    Returns
    -------
    dict
        Arrays keyed by schema field (``age``, ``male``, ``ethnicity`` codes, ...,
        every comorbidity as bool) plus ``"features"``: a dict of float arrays used
        by the linear predictors.
    """
    ages, p_age = _age_distribution()
    cum = np.cumsum(p_age)
    # whole years as integers: every age curve is a table lookup (see interp_age)
    age = ages.astype(np.intp)[
        np.searchsorted(cum / cum[-1], rng.random(n), side="right").clip(0, len(ages) - 1)]
    male = rng.random(n) < P.MALE_SHARE
    f: dict[str, np.ndarray] = {"male": male.astype(float)}

    age_row = age
    eth_table = _by_age(P.ETHNICITY_AGE_KNOTS, [P.ETHNICITY_PROBS[e] for e in ETHNICITIES])
    ethnicity = _categorical_by(rng, eth_table, age_row)
    for i, e in enumerate(ETHNICITIES[1:], start=1):
        f[f"eth_{e}"] = (ethnicity == i).astype(float)

    dep_table = np.array([P.DEPRIVATION_PROBS["white"], P.DEPRIVATION_PROBS["minority"]])
    deprivation = _categorical_by(rng, dep_table, (ethnicity != 0).astype(np.intp)) + 1
    f["dep"] = (deprivation - 1).astype(float)
    for q in range(2, 6):
        f[f"dep{q}"] = (deprivation == q).astype(float)

    lp_cur = P.SMOKING["current"].evaluate(f, age)
    lp_for = P.SMOKING["former"].evaluate(f, age)
    e_cur, e_for = np.exp(lp_cur), np.exp(lp_for)
    smoke_probs = np.column_stack([np.ones(n), e_for, e_cur]) / (1.0 + e_cur + e_for)[:, None]
    smoking = _categorical(rng, smoke_probs)  # never, former, current
    f["smoke_former"] = (smoking == 1).astype(float)
    f["smoke_current"] = (smoking == 2).astype(float)

    z = rng.standard_normal(n)
    z = np.where(z > 0.0, z * (1.0 + P.BMI_UPPER_STRETCH), z)
    bmi = P.BMI_MEDIAN.evaluate(f, age) * np.exp(P.BMI_LOG_SD * z)
    bmi = np.clip(bmi, 13.0, 75.0)
    f["bmi5"] = (bmi - 28.0) / 5.0
    f["bmi_obese"] = np.maximum(bmi - 30.0, 0.0) / 5.0
    f["u"] = P.COMORBIDITY_LATENT_SD * rng.standard_normal(n)

    record: dict[str, np.ndarray] = {}
    for name, model in P.COMORBIDITIES.items():
        has = rng.random(n) < expit(model.evaluate(f, age))
        record[name] = has
        f[name] = has.astype(float)
    del f["u"]  # the multimorbidity factor links comorbidities only; nothing else may use it

    p_obese = np.where(bmi >= 30.0, P.OBESITY_RECORDED["bmi_30_plus"],
                       P.OBESITY_RECORDED["bmi_below_30"])
    obesity = rng.random(n) < p_obese
    record["obesity"] = obesity
    f["obesity"] = obesity.astype(float)
    knots, values = P.OBESE_CURVE
    f["obese_curve"] = np.interp(bmi, knots, values, left=0.0)

    # vaccination
    cov_table = _by_age(scenario.coverage_age_knots,
                        [scenario.coverage.get(d, (0.0,) * 5) for d in range(4)])
    doses = _categorical_by(rng, cov_table, age_row)
    days = np.full(n, np.nan)
    for d, (lo, hi) in scenario.days_since_dose.items():
        sel = doses == d
        days[sel] = np.floor(lo + (hi - lo) * rng.random(int(sel.sum())))
    days[doses == 0] = np.nan
    f["vaccine_hosp"], f["vaccine_death"] = vaccine_effects(doses, days, scenario)
    strongest = min((ld for _, ld in scenario.vaccine_log_hr.values()), default=-1.0)
    f["vacc"] = f["vaccine_death"] / strongest

    shape, scale = P.ONSET_TO_TEST_GAMMA
    onset = np.floor(rng.gamma(shape, scale, n))

    record.update(
        age=age, male=male, ethnicity=ethnicity, deprivation=deprivation.astype(np.int64),
        smoking=smoking, bmi=bmi, vaccine_doses=doses.astype(np.int64),
        days_since_vaccination=days, days_since_onset=onset,
        variant=np.full(n, VARIANTS.index(scenario.variant), dtype=np.int8),
    )
    record["features"] = f
    return record


def subset(pop: dict, index: np.ndarray) -> dict:
    """Return the records of the people at ``index`` (features included)."""
    out = {k: v[index] for k, v in pop.items() if k != "features"}
    out["features"] = {k: v[index] for k, v in pop["features"].items()}
    return out


def concat(parts: list[dict]) -> dict:
    """Concatenate population dicts drawn in batches."""
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "features"}
    out["features"] = {
        k: np.concatenate([p["features"][k] for p in parts]) for k in parts[0]["features"]
    }
    return out


def hospitalisation_lp(pop: dict, scenario: P.Scenario) -> np.ndarray:
    """Log odds of hospitalisation within 28 days given the community record."""
    lp = P.HOSPITALISATION.evaluate(pop["features"], pop["age"]) + scenario.hosp_log_or
    if scenario.hosp_log_or_age is not None:
        lp += interp_age(pop["age"], *scenario.hosp_log_or_age)
    return lp


def community_death_lp(pop: dict, scenario: P.Scenario) -> np.ndarray:
    """Log odds of death within 28 days given the community record (the OS-based model)."""
    return P.COMMUNITY_DEATH.evaluate(pop["features"], pop["age"]) + scenario.death_log_or
