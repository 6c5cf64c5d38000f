"""Outcomes and their exact probabilities.

In hospital (all probit, given the full admission record ``r``)::

    D    death              P = p_D(r)
    E    ICU eligible       P = e(x)                   ceiling of care; x = community record
    C    needs critical care P = c(r) or c(r)+ if D    (dying patients need it more)
    ICU  = E and C
    IMV  = ICU and M,       P(M) = i(r) or i(r)+ if D  (so IMV implies ICU)
    W    ward ventilatory support (NIV, CPAP, high-flow)  P = w(r)
    deterioration = D or ICU or W                      (ISARIC 4C Deterioration)
    AKI                     P = a(r) or a(r)+ if IMV
    VTE                     P = v(r) or v(r)+ if ICU

so that, exactly, ``P(ICU | r) = e (p_D c+ + (1 - p_D) c)``, ``P(IMV | r) = e (p_D c+ i+
+ (1 - p_D) c i)``, ``P(deterioration | r) = 1 - (1 - p_D)(1 - e c)(1 - w)``,
``P(AKI | r) = P(IMV) a+ + (1 - P(IMV)) a`` and ``P(VTE | r) = P(ICU) v+ + (1 - P(ICU)) v``.

In the community, ``p_H(x)`` is the probability of admission and ``pi(x)`` the
OpenSAFELY-based 28-day death risk. An admitted person's 28-day death is their
in-hospital death; for everyone else it is drawn with probability ``q(x) =
max(0, (pi - p_H m) / (1 - p_H))`` where ``m(x) = E[p_D(r) | x]`` is computed
exactly (the death probit is normal given ``x`` within each GCS level). The
exact community risk is ``p_H m + (1 - p_H) q``, which equals ``pi`` unless
``q`` was clipped at 0.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from covid_risk.synthetic import _parameters as P
from covid_risk.synthetic._admission import LATENT_NAMES, latent_mean, loading_matrix

__all__ = ["in_hospital_risks", "draw_in_hospital", "expected_hospital_death"]


def _gcs_shift(f: dict) -> np.ndarray:
    """Death probit added for the GCS band (0 for GCS 15)."""
    gcs = f["gcs"]
    out = np.zeros(len(gcs))
    for (lo, hi), shift in P.DEATH_GCS.items():
        out[(gcs >= lo) & (gcs <= hi)] = shift
    return out


def _gcs_band_probs() -> list[tuple[float, float]]:
    """(P(band | GCS < 15), death probit shift) for each GCS band."""
    levels = np.arange(14, 14 - len(P.GCS_LEVEL_PROBS), -1)
    probs = np.asarray(P.GCS_LEVEL_PROBS) / np.sum(P.GCS_LEVEL_PROBS)
    return [(float(probs[(levels >= lo) & (levels <= hi)].sum()), shift)
            for (lo, hi), shift in P.DEATH_GCS.items()]


def death_probit(f: dict, age: np.ndarray, scenario: P.Scenario) -> np.ndarray:
    """In-hospital death probit given the full admission record."""
    return P.DEATH.evaluate(f, age) + _gcs_shift(f) + scenario.inhosp_death_shift


def in_hospital_risks(f: dict, age: np.ndarray, scenario: P.Scenario) -> dict:
    """Return every in-hospital probability (exact, given the full record).

    Keys: the six outcome names (marginal risks) and the conditional parts used
    for sampling: ``p_death``, ``eligible``, ``crit``, ``crit_dies``, ``imv``,
    ``imv_dies``, ``ward``, ``aki``, ``aki_imv``, ``vte``, ``vte_icu``.
    """
    p_d = ndtr(death_probit(f, age, scenario))
    elig = ndtr(P.ICU_ELIGIBLE.evaluate(f, age))
    lp_c = P.CRITICAL.evaluate(f, age)
    crit, crit_d = ndtr(lp_c), ndtr(lp_c + P.CRITICAL_IF_DIES)
    lp_i = P.IMV_GIVEN_ICU.evaluate(f, age) + scenario.imv_shift
    imv, imv_d = ndtr(lp_i), ndtr(lp_i + P.IMV_IF_DIES)
    ward = ndtr(P.WARD_SUPPORT.evaluate(f, age))
    lp_a = P.AKI.evaluate(f, age)
    aki, aki_v = ndtr(lp_a), ndtr(lp_a + P.AKI_IF_IMV)
    lp_v = P.VTE.evaluate(f, age)
    vte, vte_i = ndtr(lp_v), ndtr(lp_v + P.VTE_IF_ICU)

    r_icu = elig * (p_d * crit_d + (1.0 - p_d) * crit)
    r_imv = elig * (p_d * crit_d * imv_d + (1.0 - p_d) * crit * imv)
    r_det = 1.0 - (1.0 - p_d) * (1.0 - elig * crit) * (1.0 - ward)
    r_aki = r_imv * aki_v + (1.0 - r_imv) * aki
    r_vte = r_icu * vte_i + (1.0 - r_icu) * vte
    return {
        "death": p_d, "icu": r_icu, "imv": r_imv, "deterioration": r_det, "aki": r_aki,
        "vte": r_vte, "p_death": p_d, "eligible": elig, "crit": crit, "crit_dies": crit_d,
        "imv_cond": imv, "imv_dies": imv_d, "ward": ward, "aki_cond": aki, "aki_imv": aki_v,
        "vte_cond": vte, "vte_icu": vte_i,
    }


def draw_in_hospital(risks: dict, rng: np.random.Generator) -> dict:
    """Sample the six in-hospital outcomes from the conditional parts of ``risks``."""
    n = len(risks["death"])
    u = rng.random((n, 7))
    death = u[:, 0] < risks["p_death"]
    eligible = u[:, 1] < risks["eligible"]
    crit = u[:, 2] < np.where(death, risks["crit_dies"], risks["crit"])
    icu = eligible & crit
    imv = icu & (u[:, 3] < np.where(death, risks["imv_dies"], risks["imv_cond"]))
    ward = u[:, 4] < risks["ward"]
    aki = u[:, 5] < np.where(imv, risks["aki_imv"], risks["aki_cond"])
    vte = u[:, 6] < np.where(icu, risks["vte_icu"], risks["vte_cond"])
    return {"death": death, "icu": icu, "imv": imv, "deterioration": death | icu | ward,
            "aki": aki, "vte": vte}


def _death_weights() -> tuple[np.ndarray, float]:
    """Coefficients of the centred latents in the death probit, and its noise variance."""
    beta = np.array([P.DEATH.coef.get(f"z_{name}", 0.0) for name in LATENT_NAMES])
    load = loading_matrix() @ beta
    return beta, float(load @ load)


def expected_hospital_death(f: dict, age: np.ndarray, scenario: P.Scenario) -> np.ndarray:
    """Return ``m(x) = E[p_D(r) | x]``: in-hospital death risk given the community record only.

    Exact: given ``x`` the death probit is ``mu + gcs_shift + N(0, v)``, so
    ``E[Phi(.)] = Phi((mu + gcs_shift) / sqrt(1 + v))``, summed over the GCS bands
    with their probabilities (GCS depends on ``x`` only).
    """
    beta, var = _death_weights()
    means = latent_mean(f, age, scenario)
    g = dict(f)
    for j, lat in enumerate(P.LATENTS):
        g[f"z_{lat.name}"] = means[lat.name] - lat.mean.intercept if beta[j] else 0.0
    g["gcs"] = np.full(len(age), 15.0)
    mu = death_probit(g, age, scenario)
    scale = 1.0 / np.sqrt(1.0 + var)
    p_imp = ndtr(P.GCS.evaluate(f, age))
    mixed = np.zeros(len(age))
    for p_band, shift in _gcs_band_probs():
        mixed += p_band * ndtr((mu + shift) * scale)
    return (1.0 - p_imp) * ndtr(mu * scale) + p_imp * mixed
