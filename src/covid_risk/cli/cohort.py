"""``covid-risk cohort``: generate a synthetic cohort and save it."""

from __future__ import annotations

import argparse
import sys

from covid_risk.cli._common import positive_int
from covid_risk.cli._io import CliError, table_format
from covid_risk.schema import OUTCOMES, SETTINGS

__all__ = [
    "DESCRIPTION",
    "EPILOG",
    "add_arguments",
    "run",
]

DESCRIPTION = """\
Generate a synthetic cohort of people infected with SARS-CoV-2 and save it as
CSV or Parquet (chosen by the extension of --out). Every row carries the true
probability of each outcome (true_risk_<outcome> columns) as well as the sampled
outcome, so models can be graded against the truth. Synthetic data only."""

EPILOG = """\
examples:
  covid-risk cohort --n 5000 --setting admission --scenario wild_type_2020 \\
      --seed 1 --out cohort.parquet
  covid-risk cohort --n 20000 --setting community --out community.csv
  covid-risk cohort --n 1000 --seed 7 --out small.parquet --quiet"""

DEFAULT_SCENARIO = "wild_type_2020"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``cohort``."""
    parser.add_argument("--n", type=positive_int, default=5000, metavar="N",
                        help="number of people (default: 5000)")
    parser.add_argument("--setting", choices=SETTINGS, default="admission",
                        help="community (everyone with a positive test) or admission "
                        "(admitted to hospital) (default: admission)")
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO,
                        help=f"epidemic scenario (default: {DEFAULT_SCENARIO}); an unknown "
                        "name lists the available ones")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--out", required=True, metavar="PATH",
                        help="output file, .parquet or .csv")


def _scenarios() -> tuple[str, ...]:
    from covid_risk import synthetic

    names = getattr(synthetic, "SCENARIOS", None)
    return tuple(names) if names is not None else ()


def run(args: argparse.Namespace) -> int:
    """Generate, save and print a one-line summary of the cohort."""
    import covid_risk
    from covid_risk.cli._common import write_cohort
    from covid_risk.progress import stage

    table_format(args.out)  # fail on a bad extension before spending time
    scenarios = _scenarios()
    if scenarios and args.scenario not in scenarios:
        raise CliError(f"--scenario: unknown scenario {args.scenario!r}; "
                       f"choose one of {', '.join(scenarios)}")
    with stage(f"generating {args.n} {args.setting} records", quiet=args.quiet):
        cohort = covid_risk.make_cohort(
            args.n, setting=args.setting, scenario=args.scenario, random_state=args.seed
        )
    with stage(f"writing {args.out}", quiet=args.quiet):
        write_cohort(cohort, args.out)
    rates = []
    for outcome in OUTCOMES:
        if outcome in cohort.columns:
            rate = cohort[outcome].astype("Float64").mean()
            if rate is not None and rate == rate:
                rates.append(f"{outcome} {float(rate):.1%}")
    print(f"wrote {len(cohort)} {args.setting} records ({cohort.shape[1]} columns) to "
          f"{args.out}" + (f"; outcome rates: {', '.join(rates)}" if rates else ""),
          file=sys.stdout)
    return 0
