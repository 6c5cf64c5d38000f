"""Import Dask on demand and find the client: shared by Dask scoring and Dask training.

Dask is the optional extra ``pip install 'covid-risk[dask]'``; nothing here imports
it at module level, and this module imports nothing else from covid_risk, so both
:mod:`covid_risk.scoring._dask` (scoring) and :mod:`covid_risk.models._dask_train`
(training) can use it without depending on each other.
"""

from __future__ import annotations

from typing import Any

__all__ = ["INSTALL_HINT", "require_dask", "resolve_client"]

INSTALL_HINT = "pip install 'covid-risk[dask]'"
"""How to install the optional Dask extra (quoted in every ImportError)."""


def require_dask() -> tuple[Any, Any]:
    """Import and return ``(dask.dataframe, distributed)``, or say how to install them.

    Raises
    ------
    ImportError
        Naming ``pip install 'covid-risk[dask]'`` when Dask is not installed.
    """
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError as exc:
        raise ImportError(
            f"engine='dask' needs the optional Dask extra, which is not installed (missing "
            f"module {exc.name!r}). Install it with: {INSTALL_HINT}"
        ) from exc
    return dd, distributed


def resolve_client(client: Any) -> Any:
    """Return ``client`` after checking it is a Dask client, else the current client.

    Parameters
    ----------
    client : dask.distributed.Client or None
        The cluster to use; ``None`` takes the current client.

    Raises
    ------
    TypeError
        When ``client`` is not a ``dask.distributed.Client``.
    ValueError
        When ``client`` is ``None`` and no client is running, saying how to start one.
    """
    _, distributed = require_dask()
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(
                "client must be a dask.distributed.Client, e.g. "
                "Client('tcp://scheduler:8786'); got " + type(client).__name__ + "."
            )
        return client
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError(
            "engine='dask' needs a Dask client: pass client=Client('tcp://scheduler:8786') "
            "for an existing cluster, or client=Client(LocalCluster()) for this machine."
        ) from None
