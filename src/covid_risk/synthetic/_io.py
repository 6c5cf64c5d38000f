"""Save and load synthetic cohorts as Parquet, keeping their generation settings.

``df.attrs`` (generator version, seed, scenario, setting, ...) is written as JSON
under the ``covid_risk.cohort`` key of the Parquet schema metadata. Writing is
deterministic: the same cohort gives the same bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["save_cohort", "load_cohort", "METADATA_KEY"]

METADATA_KEY = b"covid_risk.cohort"
"""Parquet schema-metadata key holding ``df.attrs`` as JSON."""


def save_cohort(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a cohort to Parquet with its ``attrs`` in the file's metadata.

    Parameters
    ----------
    df : pandas.DataFrame
        A cohort from :func:`make_cohort` (any DataFrame whose ``attrs`` are
        JSON-serialisable works).
    path : str or path-like
        Destination; the name should end in ``.parquet``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        If ``path`` does not end in ``.parquet`` or ``df.attrs`` cannot be written as JSON.
    """
    path = Path(path)
    if path.suffix != ".parquet":
        raise ValueError(
            f"Cannot save a cohort to {path.name!r}: give a path ending in '.parquet' "
            "(the format that keeps column types and the generation settings)."
        )
    try:
        meta = json.dumps(df.attrs, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"df.attrs cannot be stored as JSON ({exc}); keep only numbers, strings, "
            "lists and dicts in attrs."
        ) from None
    table = pa.Table.from_pandas(df, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[METADATA_KEY] = meta.encode("utf-8")
    table = table.replace_schema_metadata(metadata)
    pq.write_table(table, path, compression="zstd", write_statistics=False)
    return path


def load_cohort(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a cohort written by :func:`save_cohort`, restoring dtypes and ``attrs``.

    Parameters
    ----------
    path : str or path-like
        A ``.parquet`` file written by :func:`save_cohort`.

    Returns
    -------
    pandas.DataFrame
        The cohort, with ``attrs`` as saved.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file has no cohort metadata (it was not written by :func:`save_cohort`).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No cohort file at {str(path)!r}.")
    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    if METADATA_KEY not in metadata:
        raise ValueError(
            f"{path.name!r} has no {METADATA_KEY.decode()!r} metadata, so it was not written "
            "by covid_risk.save_cohort; read it with pandas.read_parquet and check it with "
            "covid_risk.validate instead."
        )
    df = table.to_pandas()
    df.attrs = json.loads(metadata[METADATA_KEY].decode("utf-8"))
    return df
