"""``make_cohort`` and ``make_population``: the public entry points of the generator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from covid_risk.schema import FIELDS, PREDICTORS, SETTING_OUTCOMES, SETTINGS, schema_hash
from covid_risk.synthetic import _parameters as P
from covid_risk.synthetic._admission import admission_features, draw_admission
from covid_risk.synthetic._measurement import (
    corrupt,
    measure,
    missing_admission,
    missing_community,
)
from covid_risk.synthetic._outcomes import (
    draw_in_hospital,
    expected_hospital_death,
    in_hospital_risks,
)
from covid_risk.synthetic._population import (
    COMORBIDITY_NAMES,
    ETHNICITIES,
    SMOKING,
    VARIANTS,
    community_death_lp,
    concat,
    draw_population,
    hospitalisation_lp,
    subset,
)

__all__ = [
    "SCENARIOS",
    "TRUE_RISK_DEFINITION",
    "SyntheticPopulation",
    "cohort_with_and_without_missingness",
    "make_cohort",
    "make_population",
]

SCENARIOS: tuple[str, ...] = tuple(P.SCENARIOS)
"""Names accepted by ``scenario=``; the first, ``"wild_type_2020"``, is the default."""

TRUE_RISK_DEFINITION = (
    "true_risk_<outcome> is the exact probability with which the simulator drew that "
    "outcome for that patient, given the patient's full record as generated (true values "
    "before measurement noise, rounding, missingness and corruption)."
)

try:  # pandas >= 2.3: the default string dtype of pandas 3 (NaN for missing), as validate()
    _STR: Any = pd.StringDtype(na_value=np.nan)
except TypeError:  # pragma: no cover - older pandas
    _STR = object
_ADMISSION_MEASURED = (
    "respiratory_rate", "spo2", "heart_rate", "systolic_bp", "diastolic_bp", "temperature",
    "urea", "creatinine", "crp", "lymphocytes", "neutrophils", "platelets", "ldh", "d_dimer",
    "ferritin", "troponin", "albumin",
)
_ADMISSION_MISSING = (*_ADMISSION_MEASURED, "gcs", "on_oxygen", "chest_infiltrates",
                      "days_since_onset")
_CATEGORY_CODES = {"ethnicity": ETHNICITIES, "smoking": SMOKING, "variant_period": VARIANTS}
_N_STREAMS = 8
# population, admission, outcomes, measurement, missingness, corruption, and the measurement
# and missingness of the admission frame of make_population


# --------------------------------------------------------------------------- arguments
def _check_args(n_patients: Any, setting: Any, scenario: Any, corruption: Any) -> None:
    if isinstance(n_patients, bool) or not isinstance(n_patients, (int, np.integer)) \
            or n_patients < 1:
        raise ValueError(
            f"n_patients={n_patients!r} is not allowed: give a whole number of patients, 1 or "
            "more (e.g. make_cohort(1000))."
        )
    if setting not in SETTINGS:
        raise ValueError(
            f"setting={setting!r} is not one of {', '.join(map(repr, SETTINGS))}: use "
            "'admission' for hospitalised patients or 'community' for everyone infected."
        )
    if scenario not in P.SCENARIOS:
        raise ValueError(
            f"scenario={scenario!r} is not one of {', '.join(map(repr, P.SCENARIOS))}; "
            "the default is 'wild_type_2020'."
        )
    if not isinstance(corruption, (int, float)) or isinstance(corruption, bool) \
            or not 0.0 <= corruption <= 0.5 or math.isnan(corruption):
        raise ValueError(
            f"corruption={corruption!r} is not allowed: give the share of lab values to "
            "corrupt, between 0 (the default, no errors) and 0.5."
        )


def _spawn(root: np.random.Generator, n: int) -> list[np.random.Generator]:
    """Independent child generators of ``root`` (``Generator.spawn`` needs numpy >= 1.25)."""
    if hasattr(root, "spawn"):
        return root.spawn(n)
    seq = root.bit_generator.seed_seq  # pragma: no cover - numpy < 1.25
    return [np.random.Generator(type(root.bit_generator)(s)) for s in seq.spawn(n)]


def _streams(random_state: Any) -> tuple[int | None, list[np.random.Generator]]:
    """One root generator, split into independent streams (one per step)."""
    if isinstance(random_state, np.random.Generator):
        return None, _spawn(random_state, _N_STREAMS)
    if random_state is None:
        seed = int(np.random.SeedSequence().entropy)
    elif isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool) \
            and random_state >= 0:
        seed = int(random_state)
    else:
        raise ValueError(
            f"random_state={random_state!r} is not allowed: give None, a non-negative int "
            "seed or a numpy.random.Generator."
        )
    return seed, _spawn(np.random.default_rng(seed), _N_STREAMS)


# --------------------------------------------------------------------------- simulation
def _draw_admitted(n: int, rng: np.random.Generator, scen: P.Scenario) -> dict:
    """Draw infected adults in batches and keep the admitted until there are ``n``."""
    parts, have, rate = [], 0, 0.06
    while have < n:
        batch = max(20_000, int(1.25 * (n - have) / rate))
        pop = draw_population(batch, rng, scen)
        admitted = rng.random(batch) < expit(hospitalisation_lp(pop, scen))
        idx = np.flatnonzero(admitted)[: n - have]
        parts.append(subset(pop, idx))
        have += len(idx)
        rate = max(0.01, float(admitted.mean()))
    return concat(parts) if len(parts) > 1 else parts[0]


@dataclass(frozen=True)
class _Simulated:
    pop: dict
    adm: dict | None
    adm_index: np.ndarray | None
    inhosp: dict | None
    inhosp_risk: dict | None
    community: dict | None  # hospitalisation/death outcomes and risks


def _simulate(n: int, setting: str, scen: P.Scenario, streams: list) -> _Simulated:
    s_pop, s_adm, s_out = streams[:3]
    if setting == "admission":
        pop = _draw_admitted(n, s_pop, scen)
        adm = draw_admission(pop, s_adm, scen)
        risk = in_hospital_risks(adm["features"], pop["age"], scen)
        inhosp = draw_in_hospital(risk, s_out)
        return _Simulated(pop, adm, np.arange(n), inhosp, risk, None)

    pop = draw_population(n, s_pop, scen)
    p_h = expit(hospitalisation_lp(pop, scen))
    pi = expit(community_death_lp(pop, scen))
    m = expected_hospital_death(admission_features(pop), pop["age"], scen)
    q = np.clip((pi - p_h * m) / (1.0 - p_h), 0.0, 1.0)
    u = s_out.random((n, 2))
    hosp = u[:, 0] < p_h
    idx = np.flatnonzero(hosp)
    pop_adm = subset(pop, idx)
    adm = draw_admission(pop_adm, s_adm, scen)
    risk = in_hospital_risks(adm["features"], pop_adm["age"], scen)
    inhosp = draw_in_hospital(risk, s_out)
    death = u[:, 1] < q
    death[idx] = inhosp["death"]
    community = {
        "hospitalisation": hosp, "death": death,
        "true_risk_hospitalisation": p_h, "true_risk_death": p_h * m + (1.0 - p_h) * q,
        "os_risk_death": pi, "hospital_death_given_admission": m,
    }
    return _Simulated(pop, adm, idx, inhosp, risk, community)


# --------------------------------------------------------------------------- frames
def _col(name: str, values: np.ndarray, missing: np.ndarray | None = None) -> Any:
    kind = FIELDS[name].kind if name in FIELDS else "float"
    if missing is None:
        missing = np.zeros(len(values), dtype=bool)
    if kind == "float":
        return np.where(missing, np.nan, values.astype(float))
    if kind == "int":
        return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing)
    if kind == "bool":
        return pd.arrays.BooleanArray(np.asarray(values, dtype=bool), missing)
    if name == "sex":
        labels = np.array(["female", "male"], dtype=object)[values.astype(np.int8)]
    else:
        labels = np.asarray(_CATEGORY_CODES[name], dtype=object)[values]
    labels[missing] = np.nan
    return pd.array(labels, dtype=_STR)


def _community_columns(pop: dict, streams: list, *, setting: str, missingness: bool,
                       miss_adm: dict | None) -> dict:
    """Charted community fields of ``pop`` (noise on BMI, missing values)."""
    n = len(pop["age"])
    s_meas, s_miss = streams[3], streams[4]
    miss = missing_community(n, s_miss)
    if not missingness:
        miss = {k: np.zeros(n, dtype=bool) for k in miss}
    bmi = measure("bmi", pop["bmi"], s_meas)
    onset_missing = miss["days_since_onset"] if miss_adm is None else miss_adm["days_since_onset"]
    cols: dict[str, Any] = {
        "age": _col("age", pop["age"]),
        "sex": _col("sex", pop["male"]),
        "bmi": _col("bmi", bmi, miss["bmi"]),
        "ethnicity": _col("ethnicity", pop["ethnicity"], miss["ethnicity"]),
        "deprivation_quintile": _col("deprivation_quintile", pop["deprivation"],
                                     miss["deprivation_quintile"]),
        "smoking": _col("smoking", pop["smoking"], miss["smoking"]),
        "care_home": _col("care_home", pop["care_home"]),
        "vaccine_doses": _col("vaccine_doses", pop["vaccine_doses"]),
        "days_since_vaccination": _col("days_since_vaccination",
                                       pop["days_since_vaccination"]),
        "variant_period": _col("variant_period", pop["variant"]),
        "days_since_onset": _col("days_since_onset", pop["days_since_onset"], onset_missing),
    }
    for name in COMORBIDITY_NAMES:
        cols[name] = _col(name, pop[name])
    return cols


def _admission_columns(adm: dict, streams: list, missingness: bool, miss: dict) -> dict:
    s_meas = streams[3]
    cols: dict[str, Any] = {}
    for name in _ADMISSION_MEASURED:
        cols[name] = measure(name, adm[name], s_meas)
    for name in ("gcs", "on_oxygen", "chest_infiltrates", "nosocomial", "fio2"):
        cols[name] = adm[name]
    return cols


def _assemble(sim: _Simulated, setting: str, streams: list, *, missingness: bool,
              corruption: float, ids: np.ndarray, rows: np.ndarray | None = None
              ) -> tuple[pd.DataFrame, dict]:
    """Build the canonical frame (``rows`` selects the admitted people in community runs)."""
    pop = sim.pop if rows is None else subset(sim.pop, rows)
    n = len(pop["age"])
    adm = sim.adm
    admission = setting == "admission"
    miss_adm = None
    if admission:
        miss_adm = missing_admission(list(_ADMISSION_MISSING), adm["S"], streams[4])
        if not missingness:
            miss_adm = {k: np.zeros(n, dtype=bool) for k in miss_adm}
    cols = _community_columns(pop, streams, setting=setting, missingness=missingness,
                              miss_adm=miss_adm)
    if admission:
        cols["days_since_onset"] = _col("days_since_onset", adm["days_since_onset"],
                                        miss_adm["days_since_onset"])
        measured = _admission_columns(adm, streams, missingness, miss_adm)
        floats = {k: np.where(miss_adm[k], np.nan, measured[k]) for k in _ADMISSION_MEASURED}
        counts = corrupt(floats, corruption, streams[5]) if corruption > 0 else {}
        for k in _ADMISSION_MEASURED:
            cols[k] = floats[k]
        cols["gcs"] = _col("gcs", measured["gcs"], miss_adm["gcs"])
        cols["on_oxygen"] = _col("on_oxygen", measured["on_oxygen"], miss_adm["on_oxygen"])
        cols["fio2"] = _col("fio2", measured["fio2"], miss_adm["on_oxygen"])
        cols["chest_infiltrates"] = _col("chest_infiltrates", measured["chest_infiltrates"],
                                         miss_adm["chest_infiltrates"])
        cols["nosocomial"] = _col("nosocomial", measured["nosocomial"])
        outcomes = {o: sim.inhosp[o] for o in SETTING_OUTCOMES["admission"]}
        risks = {o: sim.inhosp_risk[o] for o in SETTING_OUTCOMES["admission"]}
    else:
        counts = {}
        outcomes = {o: sim.community[o] for o in SETTING_OUTCOMES["community"]}
        risks = {o: sim.community[f"true_risk_{o}"] for o in SETTING_OUTCOMES["community"]}

    data: dict[str, Any] = {"patient_id": ids.astype(np.int64)}
    for name in PREDICTORS:
        if name in cols:
            data[name] = cols[name]
        else:  # not recorded in this setting
            data[name] = _col(name, np.zeros(n), np.ones(n, dtype=bool))
    for o, v in outcomes.items():
        data[o] = pd.arrays.BooleanArray(np.asarray(v, dtype=bool), np.zeros(n, dtype=bool))
    for o, v in risks.items():
        data[f"true_risk_{o}"] = np.asarray(v, dtype=float)
    return pd.DataFrame(data, copy=False), counts


def _attrs(seed, scenario, setting, n, missingness, corruption, counts) -> dict:
    return {
        "generator": "covid_risk.synthetic",
        "generator_version": P.GENERATOR_VERSION,
        "seed": seed,
        "scenario": scenario,
        "setting": setting,
        "n_patients": int(n),
        "missingness": bool(missingness),
        "corruption": float(corruption),
        "corrupted_values": dict(counts),
        "schema_hash": schema_hash(),
        "true_risk_definition": TRUE_RISK_DEFINITION,
    }


def make_cohort(
    n_patients: int,
    *,
    setting: str = "admission",
    scenario: str = "wild_type_2020",
    random_state: int | np.random.Generator | None = None,
    missingness: bool = True,
    corruption: float = 0.0,
) -> pd.DataFrame:
    """Generate a synthetic cohort of infected adults with known true risks.

    ==========================  ==============================================
    Rows                        ``n_patients`` (admitted patients in the
                                ``"admission"`` setting, infected adults in
                                ``"community"``)
    Columns                     ``patient_id`` (int64), every schema predictor
                                in schema order, the setting's outcomes
                                (``boolean``) and ``true_risk_<outcome>``
                                (float64)
    Admission outcomes (2020)   death about 30%, deterioration about 43%, ICU
                                about 15.5%, invasive ventilation about 11%,
                                AKI about 28%, VTE about 10.5%
    Community outcomes (2020)   hospitalisation about 5.5%, 28-day death
                                about 4%
    ==========================  ==============================================

    One coherent simulated population: every infected adult has a community
    record (demographics, comorbidities correlated as in people, vaccination,
    variant period); those admitted also have vital signs, labs and imaging at
    admission driven by a latent severity and their comorbidities, and then
    in-hospital outcomes. ``true_risk_<outcome>`` is the exact probability with
    which the simulator drew that outcome for that patient, given the full
    record as generated -- the true values before measurement noise, rounding,
    missingness and corruption. See ``data/synthetic/DATA_CARD.md``.

    Parameters
    ----------
    n_patients : int
        Number of rows.
    setting : {"admission", "community"}, default="admission"
        ``"admission"``: patients admitted with COVID-19 (age and sex mix of the
        admitted, ISARIC UK median age about 73, 60% male); outcomes ``death``
        (in hospital), ``icu``, ``imv``, ``deterioration``, ``aki``, ``vte``.
        ``"community"``: everyone with a positive test; no vital signs or labs;
        outcomes ``hospitalisation`` and ``death`` (within 28 days).
    scenario : str, default="wild_type_2020"
        One of :data:`SCENARIOS`: ``"wild_type_2020"`` (tuned to ISARIC UK wave
        1, no vaccination), ``"alpha_2020"``, ``"delta_2021"`` or
        ``"omicron_2022"`` (with vaccination coverage and waning).
    random_state : int, numpy.random.Generator or None, default=None
        Seed. The same int gives identical output. ``None`` draws a fresh seed
        and records it in ``df.attrs["seed"]`` so the cohort can be regenerated.
    missingness : bool, default=True
        Hide values as in practice (labs more often missing in the less sick;
        troponin, D-dimer, ferritin and LDH often not ordered). ``False`` keeps
        every value; nothing else changes.
    corruption : float, default=0.0
        Share of lab and temperature values written wrongly (half in a wrong
        unit, e.g. creatinine in mg/dL or temperature in °F, half with the
        decimal point shifted). Counts are in ``df.attrs["corrupted_values"]``.
        Admission setting only.

    Returns
    -------
    pandas.DataFrame
        The cohort; ``df.attrs`` holds ``generator_version``, ``seed``,
        ``scenario``, ``setting``, ``n_patients``, ``missingness``,
        ``corruption``, ``corrupted_values`` and ``schema_hash``.

    Raises
    ------
    ValueError
        If an argument is not one of the allowed values (the message says which).

    Examples
    --------
    >>> import covid_risk as cr
    >>> df = cr.make_cohort(500, random_state=0)
    >>> df.shape[0], df.attrs["scenario"], df.attrs["setting"]
    (500, 'wild_type_2020', 'admission')
    >>> bool((df["imv"] <= df["icu"]).all())
    True
    """
    _check_args(n_patients, setting, scenario, corruption)
    seed, streams = _streams(random_state)
    scen = P.SCENARIOS[scenario]
    sim = _simulate(int(n_patients), setting, scen, streams)
    df, counts = _assemble(sim, setting, streams, missingness=missingness,
                           corruption=corruption if setting == "admission" else 0.0,
                           ids=np.arange(n_patients))
    df.attrs = _attrs(seed, scenario, setting, n_patients, missingness, corruption, counts)
    return df


def cohort_with_and_without_missingness(
    n_patients: int, *, setting: str, scenario: str, random_state: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``make_cohort(..., missingness=True)`` and ``(..., missingness=False)``.

    The population is simulated once; both frames are identical to separate
    ``make_cohort`` calls with the same arguments.
    """
    _check_args(n_patients, setting, scenario, 0.0)
    scen = P.SCENARIOS[scenario]
    seed, streams = _streams(random_state)
    sim = _simulate(int(n_patients), setting, scen, streams)
    out = []
    for missingness in (True, False):
        _, fresh = _streams(random_state)  # same seeds: identical measurement noise
        df, counts = _assemble(sim, setting, [*streams[:3], *fresh[3:]],
                               missingness=missingness, corruption=0.0,
                               ids=np.arange(n_patients))
        df.attrs = _attrs(seed, scenario, setting, n_patients, missingness, 0.0, counts)
        out.append(df)
    return out[0], out[1]


@dataclass(frozen=True)
class SyntheticPopulation:
    """A community cohort and the admission records of its admitted members.

    Attributes
    ----------
    community : pandas.DataFrame
        ``make_cohort(setting="community")`` output.
    admissions : pandas.DataFrame
        One row per admitted person (``patient_id`` links to ``community``), in
        the admission-setting format with in-hospital outcomes and true risks.
    """

    community: pd.DataFrame
    admissions: pd.DataFrame

    def __repr__(self) -> str:
        return (f"SyntheticPopulation(n_community={len(self.community)}, "
                f"n_admitted={len(self.admissions)}, "
                f"scenario={self.community.attrs.get('scenario')!r})")

    @property
    def summary(self) -> pd.DataFrame:
        """Outcome rates of the community and of the admitted."""
        rows = []
        for frame, setting in ((self.community, "community"), (self.admissions, "admission")):
            for o in SETTING_OUTCOMES[setting]:
                rows.append({"setting": setting, "outcome": o, "n": len(frame),
                             "rate": float(frame[o].mean()),
                             "mean_true_risk": float(frame[f"true_risk_{o}"].mean())})
        return pd.DataFrame(rows)


def make_population(
    n_patients: int,
    *,
    scenario: str = "wild_type_2020",
    random_state: int | np.random.Generator | None = None,
    missingness: bool = True,
) -> SyntheticPopulation:
    """Generate infected adults and the admission records of those admitted.

    The community frame is exactly ``make_cohort(n_patients, setting="community",
    ...)`` for the same arguments; the admissions frame holds the admission
    record, in-hospital outcomes and their true risks of every community member
    with ``hospitalisation == True`` (same ``patient_id``). A person's 28-day
    ``death`` in the community frame is their in-hospital death when admitted.

    Parameters
    ----------
    n_patients : int
        Number of infected adults.
    scenario : str, default="wild_type_2020"
        One of :data:`SCENARIOS`.
    random_state : int, numpy.random.Generator or None, default=None
        Seed (see :func:`make_cohort`).
    missingness : bool, default=True
        Hide values as in practice.

    Returns
    -------
    SyntheticPopulation
    """
    _check_args(n_patients, "community", scenario, 0.0)
    seed, streams = _streams(random_state)
    scen = P.SCENARIOS[scenario]
    sim = _simulate(int(n_patients), "community", scen, streams)
    community, _ = _assemble(sim, "community", streams, missingness=missingness,
                             corruption=0.0, ids=np.arange(n_patients))
    community.attrs = _attrs(seed, scenario, "community", n_patients, missingness, 0.0, {})
    adm_streams = [*streams[:3], streams[6], streams[7], streams[5]]
    admissions, _ = _assemble(sim, "admission", adm_streams, missingness=missingness,
                              corruption=0.0, ids=sim.adm_index, rows=sim.adm_index)
    admissions.attrs = _attrs(seed, scenario, "admission", len(sim.adm_index), missingness,
                              0.0, {})
    return SyntheticPopulation(community, admissions)
