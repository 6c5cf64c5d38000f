"""Coherence of the nested outcomes: the rules and the one closure every path uses.

The outcomes of the admission setting are nested -- invasive ventilation implies
ICU admission, and death, ICU admission and invasive ventilation each imply
deterioration (ISARIC 4C definition). After calibration the probability of a
containing outcome is raised to the largest probability of the outcomes it
contains (:func:`apply_coherence`). :func:`coherence_closure` says which outcomes
must be computed to give a set of outcomes coherently; the model, the explanation
and the compiled single-patient view all use it. This module imports numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["COHERENCE_RULES", "apply_coherence", "coherence_closure"]

COHERENCE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("icu", ("imv",)),
    ("deterioration", ("death", "icu", "imv")),
)
"""(containing outcome, outcomes it contains), applied in this order after calibration."""


def apply_coherence(probabilities: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raise each containing outcome to the largest probability of the outcomes it contains.

    Parameters
    ----------
    probabilities : mapping of str to ndarray
        Calibrated probabilities per outcome (any subset of outcomes).

    Returns
    -------
    dict of str to ndarray
        The same outcomes; see :data:`COHERENCE_RULES`. Rules whose containing
        outcome is absent are skipped; contained outcomes that are absent are
        ignored.

    Examples
    --------
    >>> import numpy as np
    >>> out = apply_coherence({"death": np.array([0.4]), "deterioration": np.array([0.3])})
    >>> float(out["deterioration"][0])
    0.4
    """
    out = {k: np.asarray(v, dtype="float64") for k, v in probabilities.items()}
    for container, parts in COHERENCE_RULES:
        if container not in out:
            continue
        present = [out[p] for p in parts if p in out]
        if present:
            out[container] = np.maximum.reduce([out[container], *present])
    return out


def coherence_closure(
    wanted: Iterable[str], available: Sequence[str] | None = None
) -> list[str]:
    """Return ``wanted`` plus every outcome their coherence rules read, transitively.

    Parameters
    ----------
    wanted : iterable of str
        Outcomes asked for, in the caller's order (they come first in the result).
    available : sequence of str, optional
        Outcomes the model has; contained outcomes outside it are left out.
        Default: no restriction.

    Returns
    -------
    list of str
        ``wanted`` followed by the outcomes their rules contain, first listed first.

    Examples
    --------
    >>> coherence_closure(["deterioration"], ["death", "icu", "imv", "deterioration"])
    ['deterioration', 'death', 'icu', 'imv']
    >>> coherence_closure(["icu", "vte"], ["icu", "vte"])
    ['icu', 'vte']
    """
    need = list(wanted)
    changed = True
    while changed:
        changed = False
        for container, parts in COHERENCE_RULES:
            if container in need:
                for part in parts:
                    if (available is None or part in available) and part not in need:
                        need.append(part)
                        changed = True
    return need
