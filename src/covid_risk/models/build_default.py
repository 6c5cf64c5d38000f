"""Rebuild the default models bundled in ``covid_risk/data``, byte for byte.

Usage::

    python -m covid_risk.models.build_default            # rewrite both bundled files
    python -m covid_risk.models.build_default --check    # exit 1 if they differ
    python -m covid_risk.models.build_default --out DIR  # write somewhere else

Each default model is trained with :func:`covid_risk.train` (default settings
except the fixed seed and creation time below) on a synthetic cohort drawn by
:func:`covid_risk.make_cohort` with a fixed seed (:data:`RECIPES`). Training is
deterministic, so the same covid_risk and LightGBM versions always produce the
same bytes; the test suite rebuilds both files and compares them with the
bundled ones. Change a recipe, the generator, the model matrix or a default
setting, and the bundled files must be rebuilt with this command.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from covid_risk.models._default import DEFAULT_MODEL_FILES

__all__ = ["CREATED", "RECIPES", "Recipe", "build", "main"]

CREATED = "2026-11-29T00:00:00+00:00"
"""Creation time written into the bundled models (fixed, so rebuilding is byte-identical)."""


@dataclass(frozen=True)
class Recipe:
    """How one bundled model is made.

    Parameters
    ----------
    n_patients : int
        Size of the synthetic training cohort.
    cohort_seed : int
        ``random_state`` of :func:`covid_risk.make_cohort`.
    model_seed : int
        ``random_state`` of :func:`covid_risk.train`.
    scenario : str or None
        Generator scenario (``None``: the generator's default, wild type 2020).
    """

    n_patients: int
    cohort_seed: int
    model_seed: int
    scenario: str | None = None


RECIPES: dict[str, Recipe] = {
    "admission": Recipe(n_patients=30_000, cohort_seed=2020_04, model_seed=0),
    "community": Recipe(n_patients=200_000, cohort_seed=2020_03, model_seed=0),
}
"""Setting -> recipe of its bundled model."""


def build(setting: str = "admission") -> bytes:
    """Train the default model of ``setting`` from its recipe and return the file bytes."""
    from covid_risk.models._train import train
    from covid_risk.synthetic import make_cohort

    recipe = RECIPES[setting]
    kwargs = {} if recipe.scenario is None else {"scenario": recipe.scenario}
    cohort = make_cohort(
        recipe.n_patients, setting=setting, random_state=recipe.cohort_seed, **kwargs
    )
    model = train(cohort, setting=setting, random_state=recipe.model_seed, created=CREATED)
    return model.to_bytes(hmac_key=b"")


def _data_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "data"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m covid_risk.models.build_default", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=None,
                        help="folder to write to (default: the package's data folder)")
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if a rebuilt file differs from the bundled one")
    parser.add_argument("--setting", choices=sorted(RECIPES), action="append",
                        help="only this setting (repeatable; default both)")
    args = parser.parse_args(argv)
    out = args.out or _data_dir()
    status = 0
    for setting in args.setting or list(RECIPES):
        data = build(setting)
        target = out / DEFAULT_MODEL_FILES[setting]
        if args.check:
            same = target.is_file() and target.read_bytes() == data
            print(f"{target.name}: {'identical' if same else 'DIFFERS'} ({len(data)} bytes)")
            status |= 0 if same else 1
        else:
            out.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            print(f"wrote {target} ({len(data)} bytes)")
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
