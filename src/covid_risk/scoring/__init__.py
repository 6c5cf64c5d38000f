"""Scoring whole files: streaming with bounded memory on one machine, or on a Dask cluster.

:func:`score_file` reads a Parquet or CSV file chunk by chunk, validates each
chunk, writes calibrated risks (and optionally the top factors) and a rejects
file, and never leaves a partial output behind; ``engine="dask"`` spreads the
same work over a cluster.
"""

from __future__ import annotations

from covid_risk.scoring._chunks import ENGINES, TABLE_FORMATS, ScoreReport
from covid_risk.scoring._score_file import score_file

__all__ = ["ENGINES", "TABLE_FORMATS", "ScoreReport", "score_file"]
