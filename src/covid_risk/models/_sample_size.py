"""Minimum sample size for developing a risk model with a binary outcome.

The three criteria of Riley et al. (2020), *Calculating the sample size required
for developing a clinical prediction model*, BMJ 368:m441 (the R and Stata
package ``pmsampsize``), for ``parameters`` candidate predictor parameters, an
outcome prevalence ``phi`` and an anticipated Cox-Snell R-squared ``R2cs``:

(i) small overfitting -- expected uniform shrinkage ``S`` of at least 0.9::

        n1 = parameters / ((S - 1) * ln(1 - R2cs / S))

(ii) small optimism in the apparent Nagelkerke R-squared (at most ``delta =
     0.05``): criterion (i) with the shrinkage::

        S2 = R2cs / (R2cs + delta * max_R2cs)
        max_R2cs = 1 - (phi**phi * (1 - phi)**(1 - phi))**2

     (the largest Cox-Snell R-squared a model of that prevalence can reach);
     the shrinkage used is ``max(S, S2)``;

(iii) precise overall risk -- the intercept-only model's risk within a margin of
      error ``0.05`` (95 % confidence)::

        n3 = (1.96 / 0.05)**2 * phi * (1 - phi)

The minimum sample size is the largest of the three, rounded up.

When only an anticipated C statistic (AUROC) is known, ``R2cs`` is derived from it
as in Riley, Van Calster and Collins (2021), *A note on estimating the Cox-Snell
R2 from a reported C statistic*, Stat Med 40:859-864 (what ``pmsampsize`` does
with ``cstatistic=``): the linear predictor is normal with unit variance in
non-events and events, its means ``sqrt(2) * Phi^-1(C)`` apart; the paper
simulates a million patients, this module integrates the same expectation by
Gauss-Hermite quadrature, so the result is deterministic (the logistic model on
that linear predictor is exactly right, so the large-sample fit has the true
coefficients).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["SampleSize", "cox_snell_r2_from_c", "max_cox_snell_r2", "sample_size"]


@dataclass(frozen=True)
class SampleSize:
    """Minimum sample size by each criterion of Riley et al. (2020).

    Attributes
    ----------
    n : int
        Minimum number of patients (the largest of the three criteria).
    events : int
        Expected events among ``n`` patients (``ceil(n * prevalence)``).
    epp : float
        Events per candidate predictor parameter at ``n``.
    criteria : dict of str to int
        ``"shrinkage"``, ``"optimism"`` and ``"overall_risk"``: patients each
        criterion needs.
    binding : str
        The criterion that sets ``n``.
    shrinkage : float
        Expected uniform shrinkage at ``n`` (``max(S, S2)``).
    parameters : int
        Candidate predictor parameters.
    prevalence : float
        Anticipated outcome prevalence.
    r2_cs : float
        Anticipated Cox-Snell R-squared (given, or derived from the C statistic).
    max_r2_cs : float
        Largest Cox-Snell R-squared possible at that prevalence.
    nagelkerke_r2 : float
        ``r2_cs / max_r2_cs``.
    """

    n: int
    events: int
    epp: float
    criteria: dict
    binding: str
    shrinkage: float
    parameters: int
    prevalence: float
    r2_cs: float
    max_r2_cs: float
    nagelkerke_r2: float

    def adequate(self, n_patients: int) -> bool:
        """Return whether ``n_patients`` meets every criterion."""
        return int(n_patients) >= self.n

    def to_dict(self) -> dict:
        """Return the result as a JSON-able dict."""
        return asdict(self)


def max_cox_snell_r2(prevalence: float) -> float:
    """Return the largest Cox-Snell R-squared of a binary outcome with this prevalence."""
    phi = _check_prevalence(prevalence)
    log_lik_null = phi * math.log(phi) + (1 - phi) * math.log(1 - phi)
    return 1.0 - math.exp(2.0 * log_lik_null)


def cox_snell_r2_from_c(cstatistic: float, prevalence: float) -> float:
    """Return the Cox-Snell R-squared implied by a C statistic (Riley et al. 2021).

    Parameters
    ----------
    cstatistic : float
        Anticipated C statistic (AUROC), in (0.5, 1).
    prevalence : float
        Anticipated outcome prevalence, in (0, 1).
    """
    from scipy.special import log_expit
    from scipy.stats import norm

    phi = _check_prevalence(prevalence)
    if not 0.5 < cstatistic < 1.0:
        raise ValueError(f"cstatistic must be in (0.5, 1); got {cstatistic!r}.")
    mu = math.sqrt(2.0) * float(norm.ppf(cstatistic))
    # with LP ~ N(0, 1) | non-event and N(mu, 1) | event the true log-odds are linear:
    # logit P(event | x) = logit(phi) + mu * x - mu**2 / 2
    nodes, weights = np.polynomial.hermite_e.hermegauss(200)
    weights = weights / weights.sum()
    alpha = math.log(phi / (1 - phi)) - mu * mu / 2

    def eta(x: np.ndarray) -> np.ndarray:
        return alpha + mu * x

    log_lik = (phi * float(np.sum(weights * log_expit(eta(nodes + mu))))
               + (1 - phi) * float(np.sum(weights * log_expit(-eta(nodes)))))
    log_lik_null = phi * math.log(phi) + (1 - phi) * math.log(1 - phi)
    return 1.0 - math.exp(-2.0 * (log_lik - log_lik_null))


def sample_size(
    *,
    parameters: int,
    prevalence: float,
    r2_cs: float | None = None,
    cstatistic: float | None = None,
    shrinkage: float = 0.9,
    optimism: float = 0.05,
    margin: float = 0.05,
) -> SampleSize:
    """Return the minimum sample size to develop a model with a binary outcome.

    Riley et al. (2020), BMJ 368:m441, criteria (i)-(iii); see the module docstring.

    Parameters
    ----------
    parameters : int
        Candidate predictor parameters (every coefficient the modelling could
        estimate, not only those kept).
    prevalence : float
        Anticipated outcome prevalence, in (0, 1).
    r2_cs : float, optional
        Anticipated Cox-Snell R-squared (e.g. from an existing model:
        conservatively, ``0.15 * max_cox_snell_r2(prevalence)`` when nothing is known).
    cstatistic : float, optional
        Anticipated C statistic, used when ``r2_cs`` is not given.
    shrinkage : float, default=0.9
        Target expected uniform shrinkage (criterion i).
    optimism : float, default=0.05
        Largest acceptable optimism in the Nagelkerke R-squared (criterion ii).
    margin : float, default=0.05
        Margin of error of the overall risk (criterion iii).

    Returns
    -------
    SampleSize

    Examples
    --------
    >>> from covid_risk.models import sample_size
    >>> sample_size(parameters=24, prevalence=0.174, r2_cs=0.288).n
    662
    """
    phi = _check_prevalence(prevalence)
    if int(parameters) < 1 or int(parameters) != parameters:
        raise ValueError(f"parameters must be a positive integer; got {parameters!r}.")
    if r2_cs is None:
        if cstatistic is None:
            raise ValueError("Give the anticipated r2_cs or cstatistic.")
        r2_cs = cox_snell_r2_from_c(cstatistic, phi)
    max_r2 = max_cox_snell_r2(phi)
    if not 0 < r2_cs < max_r2:
        raise ValueError(
            f"r2_cs must be in (0, {max_r2:.3f}), the largest Cox-Snell R2 at prevalence "
            f"{phi}; got {r2_cs!r}."
        )
    if not 0 < shrinkage < 1:
        raise ValueError(f"shrinkage must be in (0, 1); got {shrinkage!r}.")

    def n_for(s: float) -> int:
        return math.ceil(parameters / ((s - 1) * math.log(1 - r2_cs / s)))

    s2 = r2_cs / (r2_cs + optimism * max_r2)
    s_used = max(shrinkage, s2)
    criteria = {
        "shrinkage": n_for(shrinkage),
        "optimism": n_for(s2) if s2 > shrinkage else n_for(shrinkage),
        "overall_risk": math.ceil((1.959964 / margin) ** 2 * phi * (1 - phi)),
    }
    binding = max(criteria, key=lambda k: criteria[k])
    n = criteria[binding]
    return SampleSize(
        n=n,
        events=math.ceil(n * phi),
        epp=round(n * phi / parameters, 2),
        criteria=criteria,
        binding=binding,
        shrinkage=round(s_used, 3),
        parameters=int(parameters),
        prevalence=phi,
        r2_cs=float(r2_cs),
        max_r2_cs=max_r2,
        nagelkerke_r2=float(r2_cs) / max_r2,
    )


def _check_prevalence(prevalence: float) -> float:
    phi = float(prevalence)
    if not 0 < phi < 1:
        raise ValueError(f"prevalence must be in (0, 1); got {prevalence!r}.")
    return phi
