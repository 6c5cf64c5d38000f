"""``covid_risk.train``: the one-call way to fit a :class:`RiskModel`."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from covid_risk.models._risk_model import RiskModel

__all__ = ["train"]


def train(
    cohort: Any,
    *,
    setting: str = "admission",
    outcomes: Sequence[str] | None = None,
    random_state: int | None = None,
    engine: str = "local",
    client: Any = None,
    **options: Any,
) -> RiskModel:
    """Train a calibrated LightGBM risk model on a cohort.

    Parameters
    ----------
    cohort : pandas.DataFrame or records
        Patient records in the canonical schema with one boolean column per
        outcome -- a synthetic cohort from :func:`covid_risk.make_cohort` or your
        own data after :func:`covid_risk.validate`. ``true_risk_*`` columns,
        when present, are never used as features.
    setting : {"admission", "community"}, default="admission"
        Clinical setting.
    outcomes : sequence of str, optional
        Outcomes to model; default all of the setting's.
    random_state : int or None, default=None
        Seed of the internal splits and of LightGBM. With the same cohort and
        seed the saved model file is byte-identical.
    engine : {"local", "dask"}, default="local"
        ``"local"`` trains in this process. ``"dask"`` trains with
        ``lightgbm.dask`` across the workers of a Dask cluster
        (:mod:`covid_risk.models._dask_train`; needs ``pip install
        covid-risk[dask]``): ``cohort`` may then also be a Parquet file or
        folder, or a Dask DataFrame, larger than any one worker's memory.
    client : dask.distributed.Client, optional
        Cluster to train on with ``engine="dask"`` (default: the current
        client); ``Client("tcp://scheduler:8786")`` points at an existing one.
    **options
        Any other :class:`RiskModel` setting (``monotone``, ``calibration``,
        ``learning_rate``, ``num_leaves``, ``split``, ``created``, ...).

    Returns
    -------
    RiskModel
        Fitted; ``metadata_`` records the split sizes, calibration choices and
        held-out metrics.

    Notes
    -----
    Below 2,000 patients (:data:`covid_risk.models._small_cohort.SMALL_COHORT_ROWS`)
    the settings still at their defaults are scaled to the data and the rounds and
    calibration come from 5-fold cross-validation instead of thin splits
    (``metadata_["small_cohort"]``). A booster that made no split is an error. The
    cohort is checked against the minimum sample size of Riley et al. (2020) for
    its predictors and outcome rates (:func:`covid_risk.sample_size`): a
    :class:`~covid_risk.exceptions.SampleSizeWarning` and ``metadata_["sample_size"]``
    when it falls short (recorded for every small cohort). With a cohort of a few
    hundred patients, :func:`covid_risk.recalibrate` of the bundled model is usually
    the better choice.

    Examples
    --------
    >>> import covid_risk as cr  # doctest: +SKIP
    >>> model = cr.train(cr.make_cohort(20000, random_state=1), random_state=0)  # doctest: +SKIP
    >>> model.save("admission.crmodel")  # doctest: +SKIP
    """
    if engine not in ("local", "dask"):
        raise ValueError(f"engine={engine!r} is not known; allowed: 'local' or 'dask'.")
    if client is not None and engine != "dask":
        raise ValueError(
            "client= is only used with engine='dask'; pass engine='dask' to train on the "
            "cluster, or drop client= to train in this process."
        )
    allowed = set(inspect.signature(RiskModel).parameters) - {"setting", "outcomes", "random_state"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(
            f"train() got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"allowed options: {', '.join(sorted(allowed))}."
        )
    if engine == "dask":
        from covid_risk.models._dask_train import train_dask

        return train_dask(cohort, client=client, setting=setting, outcomes=outcomes,
                          random_state=random_state, **options)
    model = RiskModel(setting=setting, outcomes=outcomes, random_state=random_state, **options)
    return model.fit(cohort)
