"""How close is the generator to published figures? A table of target vs achieved.

:func:`realism_report` generates a default admission cohort (ISARIC UK wave 1
scenario) and a community cohort, measures them the way the published studies
did, and compares every figure with its target from ``published_targets.json``
(see ``clinical-figures.md`` for the sources). The tests assert every row.

Each row has a ``status``: ``"pass"`` (within its accepted range), ``"fail"``
(outside it) or ``"warning"``: an information row (no accepted range) whose
achieved value is more than 25% away from its published figure
(:data:`INFORMATION_WARNING`), such as the mortality of ventilated patients (early
New York figure 88.1%) -- shown so that a reader does not take "information" for
agreement. :data:`REALISM_NOTES` says what the checks can and cannot show; the
community odds-ratio block, in particular, re-estimates the generator's own
inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from covid_risk.metrics import roc_auc
from covid_risk.schema import COMORBIDITIES_4C, SETTING_OUTCOMES, as_float
from covid_risk.synthetic import _parameters as P
from covid_risk.synthetic._cohort import cohort_with_and_without_missingness, make_cohort
from covid_risk.synthetic._population import COMORBIDITY_NAMES

__all__ = ["INFORMATION_WARNING", "REALISM_NOTES", "RealismReport", "realism_report",
           "admission_checks", "community_checks", "four_c_table", "community_odds_ratios"]

_COLUMNS = ["block", "check", "target", "low", "high", "achieved", "passed", "status", "source"]

INFORMATION_WARNING = 0.25
"""Relative distance from its published figure at which an information row is a warning."""

REALISM_NOTES: tuple[str, ...] = (
    "The community odds-ratio checks are not an independent validation. The generator's "
    "community death model takes the OpenSAFELY fully adjusted hazard ratios as its log "
    "odds ratios (synthetic/_parameters.py, OS_LOG_HR), and the check re-estimates them "
    "from the sampled deaths: agreement shows that sampling, missing BMI and the other "
    "covariates return the inputs, not that the generator matches data it was not built "
    "from.",
    "They also compare different quantities: odds ratios of death among infected adults "
    "with OpenSAFELY's hazard ratios of COVID-19 death in the whole adult population "
    "(infection and death together, over time). The two agree only when death is rare and "
    "the factor does not change the chance of infection; the generator assumes both.",
    "Rows marked warning are for information (no accepted range) but more than 25% away "
    "from their published figure; read them as disagreement, not as a pass. The mortality "
    "of ventilated patients, 88.1% (Richardson et al., JAMA 2020), counts only the 2,634 of "
    "5,700 patients whose stay had ended, when many ventilated patients were still in "
    "hospital; the generator was not tuned to it, and gives about half that.",
)
"""What the realism checks can and cannot show, in words (printed with the report)."""


@dataclass(frozen=True)
class RealismReport:
    """Target vs achieved for every realism check.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per check: ``block``, ``check``, ``target`` (published value),
        ``low``/``high`` (accepted range), ``achieved``, ``passed``, ``status``
        (``"pass"``, ``"warning"`` or ``"fail"``), ``source``. Rows with ``low``
        and ``high`` missing are for information: they never fail, but are a
        ``"warning"`` when more than :data:`INFORMATION_WARNING` (relative) away
        from a published target.
    four_c : pandas.DataFrame
        Per 4C score: published and achieved share of patients and mortality.
    odds_ratios : pandas.DataFrame
        Community death odds ratios re-estimated by logistic regression next to
        the OpenSAFELY hazard ratios.
    n_admission, n_community : int
        Cohort sizes used.
    seed : int
        Seed of both cohorts.
    notes : tuple of str
        What the checks can and cannot show (:data:`REALISM_NOTES`).
    """

    table: pd.DataFrame
    four_c: pd.DataFrame
    odds_ratios: pd.DataFrame
    n_admission: int
    n_community: int
    seed: int
    notes: tuple[str, ...] = REALISM_NOTES

    @property
    def passed(self) -> bool:
        """Whether every check is within its accepted range (warnings do not fail)."""
        return bool(self.table["passed"].all())

    @property
    def warnings(self) -> pd.DataFrame:
        """Information rows far from their published figure."""
        return self.table[self.table["status"] == "warning"]

    @property
    def failures(self) -> pd.DataFrame:
        """The rows that missed their target."""
        return self.table[~self.table["passed"]]

    @property
    def summary(self) -> pd.DataFrame:
        """Number of checks and failures per block."""
        status = self.table["status"]
        g = self.table.assign(failed=status == "fail", warned=status == "warning").groupby(
            "block", sort=False)
        return pd.DataFrame({"checks": g.size(), "failed": g["failed"].sum(),
                             "warnings": g["warned"].sum()})

    def __repr__(self) -> str:
        n_fail = int((~self.table["passed"]).sum())
        n_warn = int((self.table["status"] == "warning").sum())
        return (f"RealismReport(checks={len(self.table)}, failed={n_fail}, warnings={n_warn}, "
                f"n_admission={self.n_admission}, n_community={self.n_community})")

    def to_markdown(self) -> str:
        """Return the table as Markdown (for the data card and README)."""
        lines = ["| block | check | target | accepted | achieved | ok | source |",
                 "|---|---|---|---|---|---|---|"]
        shown = {"pass": "yes", "warning": "warning", "fail": "**NO**"}
        for r in self.table.itertuples(index=False):
            rng = "" if pd.isna(r.low) else f"{_fmt(r.low)} to {_fmt(r.high)}"
            lines.append(f"| {r.block} | {r.check} | {_fmt(r.target)} | {rng} | "
                         f"{_fmt(r.achieved)} | {shown[r.status]} | {r.source} |")
        if self.notes:
            lines += ["", *(f"* {n}" for n in self.notes)]
        return "\n".join(lines)


def _fmt(x: object) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, float):
        return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"
    return str(x)


def _status(target, low, high, achieved) -> str:
    """Return ``"pass"``, ``"fail"`` or ``"warning"`` for one row.

    Against the accepted range when there is one; an information row (no range) is a
    ``"warning"`` when more than INFORMATION_WARNING (relative) from a non-zero target.
    """
    if low is not None:
        return "pass" if low <= achieved <= high else "fail"
    if target is None or not np.isfinite(target) or target == 0 or not np.isfinite(achieved):
        return "pass"
    far = abs(achieved - target) > INFORMATION_WARNING * abs(target)
    return "warning" if far else "pass"


def _row(block, check, target, low, high, achieved, source) -> dict:
    informative = low is None
    status = _status(target, low, high, achieved)
    return {"block": block, "check": check, "target": target,
            "low": np.nan if informative else float(low),
            "high": np.nan if informative else float(high),
            "achieved": float(achieved), "passed": status != "fail", "status": status,
            "source": source}


# --------------------------------------------------------------------------- 4C
def four_c_table(df: pd.DataFrame) -> pd.DataFrame:
    """Share of patients and mortality per 4C Mortality Score, published vs achieved.

    Patients whose score cannot be computed (a component missing) are left out.
    """
    from covid_risk.features import four_c_mortality

    t = P.published_targets()["isaric_4c_mortality_validation"]
    total = four_c_mortality(df)["total"].to_numpy(dtype=float, na_value=np.nan)
    death = as_float(df, "death")
    ok = ~np.isnan(total)
    score = total[ok].astype(int)
    n = np.bincount(score, minlength=22)[:22]
    deaths = np.bincount(score, weights=death[ok], minlength=22)[:22]
    pub_n = np.asarray(t["score_histogram_n"], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mort = np.where(n > 0, 100.0 * deaths / np.maximum(n, 1), np.nan)
    return pd.DataFrame({
        "score": np.arange(22),
        "published_share": pub_n / pub_n.sum(),
        "achieved_share": n / max(n.sum(), 1),
        "published_mortality_pct": np.asarray(t["mortality_pct_by_score"], dtype=float),
        "achieved_mortality_pct": mort,
        "n": n,
    })


def _four_c_checks(df: pd.DataFrame, rows: list, label: str) -> pd.DataFrame:
    from covid_risk.features import four_c_mortality

    t = P.published_targets()["isaric_4c_mortality_validation"]
    src = "4C-BMJ validation (clinical-figures 1c-1d)"
    table = four_c_table(df)
    tvd = 0.5 * np.abs(table["published_share"] - table["achieved_share"]).sum()
    rows.append(_row("4C", f"score histogram, total variation distance{label}", 0.0, 0.0,
                     0.05, tvd, src))
    w = table["published_share"].to_numpy()
    diff = np.abs(table["achieved_mortality_pct"] - table["published_mortality_pct"]).to_numpy()
    wmad = float(np.nansum(w * diff) / np.sum(w[~np.isnan(diff)]))
    rows.append(_row("4C", f"mortality per score, mean abs. difference (pp, weighted by "
                     f"published share){label}", 0.0, 0.0, 2.5, wmad, src))
    big = table["n"].to_numpy() >= 0.01 * table["n"].sum()
    rows.append(_row("4C", f"mortality per score, largest abs. difference (pp, scores with "
                     f">=1% of patients){label}", 0.0, 0.0, 6.0, float(np.nanmax(diff[big])), src))
    score = four_c_mortality(df)["total"].to_numpy(dtype=float, na_value=np.nan)
    death = as_float(df, "death")
    ok = ~np.isnan(score)
    for name, g in t["risk_groups"].items():
        lo, hi = g["scores"]
        sel = ok & (score >= lo) & (score <= hi)
        rows.append(_row("4C", f"share of patients in {name} risk group (%){label}",
                         g["pct_of_cohort"], None, None, 100.0 * sel.sum() / ok.sum(), src))
        rows.append(_row("4C", f"mortality in {name} risk group (%){label}",
                         g["mortality_pct"], g["mortality_pct"] - 2.0, g["mortality_pct"] + 2.0,
                         100.0 * death[sel].mean(), src))
    auc = roc_auc(death[ok], score[ok] / 21.0)  # any increasing map keeps the AUROC
    rows.append(_row("4C", f"AUROC of the 4C score for death{label}", t["auroc"],
                     t["auroc"] - 0.015, t["auroc"] + 0.015, auc, src))
    return table


# --------------------------------------------------------------------------- admission
def admission_checks(df: pd.DataFrame, df_complete: pd.DataFrame | None = None) -> tuple[
        pd.DataFrame, pd.DataFrame]:
    """Check an admission cohort against the published figures.

    Parameters
    ----------
    df : pandas.DataFrame
        Admission cohort generated with ``missingness=True``.
    df_complete : pandas.DataFrame, optional
        The same cohort generated with ``missingness=False`` (same seed): the 4C
        checks use it, because the published 4C figures come from multiply
        imputed data, i.e. as if every component had been measured.

    Returns
    -------
    (table, four_c) : tuple of pandas.DataFrame
    """
    targets = P.published_targets()
    rows: list[dict] = []
    full = df if df_complete is None else df_complete
    four_c = _four_c_checks(full, rows, "")
    if df_complete is not None:
        cc = four_c_table(df)
        tvd = 0.5 * np.abs(cc["published_share"] - cc["achieved_share"]).sum()
        rows.append(_row("4C", "score histogram TVD, complete cases of the charted cohort "
                         "(information)", 0.0, None, None, tvd, "4C-BMJ"))
        rows.append(_row("4C", "share of patients with a complete 4C score (%) (information)",
                         None, None, None, 100.0 * cc["n"].sum() / len(df), "-"))

    death = as_float(df, "death")
    mort = targets["isaric_4c_mortality_validation"]["overall_mortality_pct"]
    rows.append(_row("outcomes", "in-hospital mortality (%)", mort, 28.0, 32.0,
                     100 * death.mean(), "4C-BMJ validation 30.1%"))
    det = targets["isaric_4c_deterioration"]["deterioration_pct"]
    rows.append(_row("outcomes", "deterioration (%)", det, det - 3.0, det + 3.0,
                     100 * as_float(df, "deterioration").mean(), "Gupta 2021: 43.2%"))
    comp = targets["complications_in_hospital"]
    icu = 100 * as_float(df, "icu").mean()
    imv = 100 * as_float(df, "imv").mean()
    rows.append(_row("outcomes", "ICU admission (%)", comp["icu_pct_nyc_richardson"], 12.2, 19.1,
                     icu, "Richardson 14.2%, Bradley 17.1% (range widened by 2 pp)"))
    rows.append(_row("outcomes", "invasive ventilation (%)", comp["imv_pct_nyc_richardson"],
                     8.0, 14.0, imv, "Richardson 12.2%; 58-88% of ICU patients"))
    rows.append(_row("outcomes", "invasive ventilation among ICU patients (%)", 79.1, 58.0,
                     88.0, 100 * imv / max(icu, 1e-9),
                     "Dongelmans 79.1% (wave 1) to 58%, Grasselli 88%"))
    lo, hi = comp["aki_pct"]["range"]
    rows.append(_row("outcomes", "acute kidney injury (%)", comp["aki_pct"]["pooled"], lo, hi,
                     100 * as_float(df, "aki").mean(), "Silver meta-analysis 28% (22-34%)"))
    vte = comp["vte_pct"]
    rows.append(_row("outcomes", "venous thromboembolism (%)", vte["overall"], vte["non_icu"],
                     vte["overall"], 100 * as_float(df, "vte").mean(),
                     "Nopp: 7.9% outside ICU, 14.1% pooled"))
    icu_b = as_float(df, "icu") == 1
    rows.append(_row("outcomes", "VTE in ICU patients (%)", vte["icu"], vte["icu"] - 6.0,
                     vte["icu"] + 6.0, 100 * as_float(df, "vte")[icu_b].mean(), "Nopp 22.7%"))
    rows.append(_row("outcomes", "VTE outside ICU (%)", vte["non_icu"], vte["non_icu"] - 3.0,
                     vte["non_icu"] + 3.0, 100 * as_float(df, "vte")[~icu_b].mean(), "Nopp 7.9%"))
    imv_b = as_float(df, "imv") == 1
    aki = as_float(df, "aki")
    rows.append(_row("outcomes", "AKI in ventilated patients (%)", 89.7, None, None,
                     100 * aki[imv_b].mean(), "Hirsch (information)"))
    rows.append(_row("outcomes", "AKI in non-ventilated patients (%)", 21.7, None, None,
                     100 * aki[~imv_b].mean(), "Hirsch (information)"))
    rows.append(_row("outcomes", "mortality of ventilated patients (%)",
                     comp["imv_mortality_pct_nyc_richardson"], None, None,
                     100 * death[imv_b].mean(), "Richardson 88.1% (early NYC; information)"))

    # ceiling of care
    age = as_float(df, "age")
    old, mid = age >= 80, (age >= 60) & (age < 80)
    rows.append(_row("ceiling of care", "ICU (%) aged >=80 minus aged 60-79 (must be < 0)",
                     None, -100.0, -0.5, 100 * (as_float(df, "icu")[old].mean()
                                                 - as_float(df, "icu")[mid].mean()),
                     "UK practice 2020 (assumption)"))
    rows.append(_row("ceiling of care", "mortality (%) aged >=80 minus aged 60-79 (must be > 0)",
                     None, 0.5, 100.0, 100 * (death[old].mean() - death[mid].mean()),
                     "Docherty, 4C-BMJ"))

    # true-risk ceiling
    for o in SETTING_OUTCOMES["admission"]:
        auc = roc_auc(as_float(df, o), df[f"true_risk_{o}"].to_numpy())
        if o == "death":
            rows.append(_row("true-risk ceiling", "AUROC of the true risk for death", 0.825,
                             0.80, 0.85, auc,
                             "between 4C 0.767 and above XGBoost 0.796 (4C-BMJ)"))
        else:
            rows.append(_row("true-risk ceiling", f"AUROC of the true risk for {o}", None, None,
                             None, auc, "information"))
        p = df[f"true_risk_{o}"].to_numpy()
        rows.append(_row("true-risk ceiling", f"mean true risk minus observed rate, {o} (pp)",
                         0.0, -1.0, 1.0, 100 * (p.mean() - as_float(df, o).mean()),
                         "sampling check"))

    # admitted mix
    mix = targets["isaric_uk_admissions"]
    rows.append(_row("admitted mix", "median age", mix["age_median"], mix["age_median"] - 2,
                     mix["age_median"] + 2, float(np.median(age)), "Docherty"))
    q1, q3 = np.percentile(age, [25, 75])
    rows.append(_row("admitted mix", "age lower quartile", mix["age_iqr"][0],
                     mix["age_iqr"][0] - 3, mix["age_iqr"][0] + 3, q1, "Docherty"))
    rows.append(_row("admitted mix", "age upper quartile", mix["age_iqr"][1],
                     mix["age_iqr"][1] - 3, mix["age_iqr"][1] + 3, q3, "Docherty"))
    male = (df["sex"] == "male").to_numpy(dtype=bool, na_value=False)
    rows.append(_row("admitted mix", "male (%)", mix["male_pct"], mix["male_pct"] - 3,
                     mix["male_pct"] + 3, 100 * male.mean(), "Docherty"))
    for key, col in (("chronic_cardiac", "chronic_cardiac"), ("diabetes", "diabetes"),
                     ("chronic_pulmonary", "chronic_pulmonary"),
                     ("chronic_kidney", "chronic_kidney")):
        v = mix["comorbidity_pct"][key]
        rows.append(_row("admitted mix", f"{col} (%)", v, v - 4, v + 4,
                         100 * as_float(df, col).mean(), "Docherty"))
    anyc = np.zeros(len(df), dtype=bool)
    for c in COMORBIDITY_NAMES:
        anyc |= as_float(df, c) == 1
    v = mix["comorbidity_pct"]["none"]
    rows.append(_row("admitted mix", "no comorbidity (%)", v, v - 5, v + 5,
                     100 * (~anyc).mean(), "Docherty (none of the recorded comorbidities)"))
    n4c = np.sum([as_float(df, c) for c in COMORBIDITIES_4C], axis=0)
    for k, label in ((0, "0"), (1, "1"), (2, ">=2")):
        share = (n4c == k).mean() if k < 2 else (n4c >= 2).mean()
        rows.append(_row("admitted mix", f"4C comorbidity count {label} (%)", None, None, None,
                         100 * share, "information"))
    return pd.DataFrame(rows, columns=_COLUMNS), four_c


# --------------------------------------------------------------------------- community
_OS_CHECKED = {
    "age_18_39 [50-59]": "age_18_39", "age_40_49 [50-59]": "age_40_49",
    "age_60_69 [50-59]": "age_60_69", "age_70_79 [50-59]": "age_70_79",
    "age_80_plus [50-59]": "age_80_plus", "male [female]": "male",
    "obese_30_34.9 [not obese]": "obese_30_35", "obese_35_39.9 [not obese]": "obese_35_40",
    "obese_40_plus [not obese]": "obese_40_plus",
}


def _community_design(df: pd.DataFrame) -> pd.DataFrame:
    """Design matrix of the OpenSAFELY-style logistic model on charted community records."""
    age = as_float(df, "age")
    bmi = as_float(df, "bmi")
    X = {
        "age_18_39": age < 40, "age_40_49": (age >= 40) & (age < 50),
        "age_60_69": (age >= 60) & (age < 70), "age_70_79": (age >= 70) & (age < 80),
        "age_80_plus": age >= 80,
        "male": (df["sex"] == "male").to_numpy(dtype=bool, na_value=False),
        # missing BMI counts as "no record of obesity", as in OpenSAFELY
        "obese_30_35": (bmi >= 30) & (bmi < 35), "obese_35_40": (bmi >= 35) & (bmi < 40),
        "obese_40_plus": bmi >= 40,
    }
    for c in ("former", "current"):
        X[f"smoke_{c}"] = (df["smoking"] == c).to_numpy(dtype=bool, na_value=False)
    for e in ("south_asian", "black", "mixed", "other"):
        X[f"eth_{e}"] = (df["ethnicity"] == e).to_numpy(dtype=bool, na_value=False)
    X["eth_missing"] = df["ethnicity"].isna().to_numpy()
    dep = as_float(df, "deprivation_quintile")
    for q in range(2, 6):
        X[f"dep{q}"] = dep == q
    for c in COMORBIDITY_NAMES:
        if c != "obesity":
            X[c] = as_float(df, c) == 1
    X["care_home"] = as_float(df, "care_home") == 1
    return pd.DataFrame({k: np.asarray(v, dtype=float) for k, v in X.items()})


def _loglik(Xa: np.ndarray, y: np.ndarray, w: np.ndarray, beta: np.ndarray) -> float:
    eta = Xa @ beta
    return float(np.sum(w * (y * eta - np.logaddexp(0.0, eta))))


def logistic_fit(
    X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, max_iter: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Unpenalised (weighted) logistic regression by Newton's method with step halving.

    Returns ``(beta, se)`` with the intercept first. BLAS is limited to one thread:
    on small machines multi-threaded ``X.T @ X`` on a million rows can be many
    times slower than single-threaded.
    """
    from threadpoolctl import threadpool_limits

    n, p = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    Xa = np.column_stack([np.ones(n), X])
    beta = np.zeros(p + 1)
    m = float(np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6))
    beta[0] = np.log(m / (1 - m))
    with threadpool_limits(limits=1, user_api="blas"):
        ll = _loglik(Xa, y, w, beta)
        for _ in range(max_iter):
            mu = 1.0 / (1.0 + np.exp(-(Xa @ beta)))
            H = (Xa * (w * mu * (1 - mu))[:, None]).T @ Xa + 1e-9 * np.eye(p + 1)
            step = np.linalg.solve(H, Xa.T @ (w * (y - mu)))
            t = 1.0
            while True:
                new = beta + t * step
                ll_new = _loglik(Xa, y, w, new)
                if ll_new >= ll - 1e-9 or t < 1e-6:
                    break
                t /= 2.0
            beta, gain, ll = new, ll_new - ll, ll_new
            if gain < 1e-8:
                break
        mu = 1.0 / (1.0 + np.exp(-(Xa @ beta)))
        H = (Xa * (w * mu * (1 - mu))[:, None]).T @ Xa
        se = np.sqrt(np.diag(np.linalg.inv(H)))
    return beta, se


def _compress(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collapse identical rows of a 0/1 design (and outcome) into weighted unique rows."""
    bits = np.column_stack([X, y]).astype(np.uint64)
    key = np.zeros(len(X), dtype=np.uint64)
    for j in range(bits.shape[1]):
        key |= bits[:, j] << np.uint64(j)
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    return X[first], y[first], counts.astype(float)


def community_odds_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Re-estimate death odds ratios with a logistic model (OpenSAFELY covariates).

    The model has OpenSAFELY's fully adjusted covariates (age bands, sex, BMI
    classes, smoking, ethnicity, deprivation, comorbidities) plus care-home
    residence, fitted to the sampled ``death`` outcome of a community cohort.

    Returns
    -------
    pandas.DataFrame
        Indexed by covariate: ``odds_ratio``, ``ci_low``, ``ci_high`` and the
        OpenSAFELY fully adjusted hazard ratio ``os_hr`` where published.
    """
    X = _community_design(df)
    y = as_float(df, "death")
    # every covariate is 0/1, so identical rows are collapsed into weights (same fit, faster)
    Xu, yu, wu = _compress(X.to_numpy(), y)
    beta, se = logistic_fit(Xu, yu, wu)
    beta, se = beta[1:], se[1:]
    os_hr = {v: np.exp(P.OS_LOG_HR[v]) if v in P.OS_LOG_HR else np.nan for v in X.columns}
    for key, name in _OS_CHECKED.items():
        os_hr[name] = P.published_targets()["opensafely_death_fully_adjusted_hr"][key]
    return pd.DataFrame({
        "odds_ratio": np.exp(beta), "ci_low": np.exp(beta - 1.96 * se),
        "ci_high": np.exp(beta + 1.96 * se), "os_hr": [os_hr[c] for c in X.columns],
    }, index=X.columns)


def community_checks(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compare re-estimated community odds ratios with OpenSAFELY (within 25%).

    Not an independent check: the generator takes the OpenSAFELY hazard ratios as
    its log odds ratios of death among the infected, and this re-estimates them
    (see :data:`REALISM_NOTES`).
    """
    ors = community_odds_ratios(df)
    rows = []
    os_t = P.published_targets()["opensafely_death_fully_adjusted_hr"]
    checked = {**{v: k for k, v in _OS_CHECKED.items()},
               "diabetes": "diabetes (weighted OS categories)",
               "chronic_kidney": "egfr_below_30 [>60]"}
    for name, label in checked.items():
        target = float(ors.loc[name, "os_hr"]) if name not in ("chronic_kidney",) else \
            os_t["egfr_below_30 [>60]"]
        rows.append(_row("community ORs", f"death OR {label}", target, target * 0.75,
                         target * 1.25, float(ors.loc[name, "odds_ratio"]),
                         "OpenSAFELY fully adjusted HR (clinical-figures 5a), a generator "
                         "input: the check re-estimates it"))
    for name in ors.index:
        if name not in checked and not np.isnan(ors.loc[name, "os_hr"]):
            rows.append(_row("community ORs", f"death OR {name} (information)",
                             float(ors.loc[name, "os_hr"]), None, None,
                             float(ors.loc[name, "odds_ratio"]),
                             "OpenSAFELY (5a), a generator input"))
    y = as_float(df, "death")
    h = as_float(df, "hospitalisation")
    rows.append(_row("community", "28-day mortality (%)", None, None, None, 100 * y.mean(),
                     "information"))
    rows.append(_row("community", "hospitalisation (%)", None, None, None, 100 * h.mean(),
                     "information"))
    rows.append(_row("community", "deaths that occurred in hospital (%)", None, None, None,
                     100 * (y * h).sum() / max(y.sum(), 1), "information"))
    for o in SETTING_OUTCOMES["community"]:
        rows.append(_row("true-risk ceiling", f"AUROC of the true risk for community {o}",
                         None, None, None,
                         roc_auc(as_float(df, o), df[f"true_risk_{o}"].to_numpy()),
                         "information"))
    return pd.DataFrame(rows, columns=_COLUMNS), ors


def realism_report(
    n_admission: int = 100_000,
    n_community: int = 1_500_000,
    *,
    random_state: int = 0,
) -> RealismReport:
    """Generate default cohorts and compare them with published figures.

    Parameters
    ----------
    n_admission : int, default=100_000
        Admitted patients (default scenario ``wild_type_2020``).
    n_community : int, default=1_500_000
        Infected adults for the odds-ratio checks (enough deaths for stable
        odds ratios in the youngest age band).
    random_state : int, default=0
        Seed of both cohorts.

    Returns
    -------
    RealismReport
        ``report.table`` lists every check; ``report.passed`` is True when all
        are within range.

    Examples
    --------
    >>> import covid_risk as cr
    >>> report = cr.realism_report(20_000, 200_000, random_state=0)  # doctest: +SKIP
    >>> report.table[["check", "target", "achieved", "passed"]]  # doctest: +SKIP
    """
    adm, adm_full = cohort_with_and_without_missingness(
        n_admission, setting="admission", scenario="wild_type_2020", random_state=random_state)
    table_a, four_c = admission_checks(adm, adm_full)
    com = make_cohort(n_community, setting="community", random_state=random_state)
    table_c, ors = community_checks(com)
    table = pd.concat([table_a, table_c], ignore_index=True)
    return RealismReport(table=table, four_c=four_c, odds_ratios=ors,
                         n_admission=n_admission, n_community=n_community, seed=random_state)
