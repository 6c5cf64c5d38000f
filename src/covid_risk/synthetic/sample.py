"""Regenerate the committed synthetic samples and their data card.

Usage::

    python -m covid_risk.synthetic.sample data/synthetic        # or: make sample

Writes ``admission_sample.parquet`` (3,000 admitted patients), ``community_sample.parquet``
(5,000 infected adults), ``admission_sample_omicron.parquet`` (2,000 admitted patients,
Omicron 2022) and ``DATA_CARD.md`` (with the realism report; about half a minute). The
same version of the generator always writes the same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from covid_risk.synthetic._cohort import make_cohort
from covid_risk.synthetic._datacard import data_card
from covid_risk.synthetic._io import save_cohort

__all__ = ["SAMPLES", "main", "write_samples"]

SAMPLES: tuple[dict, ...] = (
    {"name": "admission_sample.parquet", "rows": 3000, "setting": "admission",
     "scenario": "wild_type_2020", "seed": 2020},
    {"name": "community_sample.parquet", "rows": 5000, "setting": "community",
     "scenario": "wild_type_2020", "seed": 2020},
    {"name": "admission_sample_omicron.parquet", "rows": 2000, "setting": "admission",
     "scenario": "omicron_2022", "seed": 2022},
)
"""The committed samples: file name, size, setting, scenario and seed."""


def write_samples(folder: str | Path, *, with_report: bool = True) -> list[Path]:
    """Write every sample and ``DATA_CARD.md`` into ``folder``; return the paths written.

    Parameters
    ----------
    folder : str or path-like
        Destination (created if needed).
    with_report : bool, default=True
        Run :func:`realism_report` (default sizes) and put its table in the card.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written, files = [], []
    for spec in SAMPLES:
        df = make_cohort(spec["rows"], setting=spec["setting"], scenario=spec["scenario"],
                         random_state=spec["seed"])
        written.append(save_cohort(df, folder / spec["name"]))
        files.append({**spec, "frame": df})
    report = None
    if with_report:
        from covid_risk.synthetic._realism import realism_report

        report = realism_report()
    card = folder / "DATA_CARD.md"
    card.write_text(data_card(files, report), encoding="utf-8")
    written.append(card)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m covid_risk.synthetic.sample",
                                description=__doc__.split("\n")[0])
    p.add_argument("folder", type=Path, help="where to write the samples, e.g. data/synthetic")
    p.add_argument("--no-report", action="store_true",
                   help="skip the realism report in the data card (faster)")
    args = p.parse_args(argv)
    for path in write_samples(args.folder, with_report=not args.no_report):
        print(f"written {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
