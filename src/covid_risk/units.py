"""Unit spellings and exact linear conversions to canonical units.

A conversion is ``canonical = value * scale + offset``. Only conversions that are
exact by definition (or by a fixed molar mass) are listed; approximate ones, such
as D-dimer DDU to FEU, are refused rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CREATININE_UMOL_PER_MG_DL",
    "IDENTITY",
    "UREA_MMOL_PER_BUN_MG_DL",
    "UREA_MMOL_PER_UREA_MG_DL",
    "Conversion",
    "normalise_unit",
]

# Urea and BUN: 1 mmol of urea carries 2 nitrogen atoms = 28.014 mg N, so
# BUN 1 mg/dL = 10 mg/L / 28.014 mg/mmol = 0.35697 mmol/L urea.
UREA_MMOL_PER_BUN_MG_DL = 10.0 / 28.014
# Urea itself (CH4N2O, 60.06 g/mol) reported in mg/dL.
UREA_MMOL_PER_UREA_MG_DL = 10.0 / 60.06
# Creatinine, 113.12 g/mol: 1 mg/dL = 10 mg/L / 0.11312 mg/umol = 88.40 umol/L.
CREATININE_UMOL_PER_MG_DL = 10_000.0 / 113.12


@dataclass(frozen=True)
class Conversion:
    """A linear conversion to the canonical unit: ``canonical = value * scale + offset``.

    Parameters
    ----------
    scale : float
        Multiplier applied to the value.
    offset : float, default=0.0
        Added after scaling (only temperature needs it).
    note : str, default=""
        Where the factor comes from.
    """

    scale: float
    offset: float = 0.0
    note: str = ""

    def apply(self, values: np.ndarray | float) -> np.ndarray | float:
        """Convert ``values`` to the canonical unit."""
        return values * self.scale + self.offset

    def invert(self, values: np.ndarray | float) -> np.ndarray | float:
        """Convert canonical ``values`` back to this unit."""
        return (values - self.offset) / self.scale


IDENTITY = Conversion(1.0, 0.0, "canonical unit")

_SPACES = re.compile(r"\s+")


def normalise_unit(unit: str) -> str:
    """Return a comparable spelling of a unit string.

    Lower-cases, removes spaces, maps micro signs (``µ``, ``μ``, ``mc``) to ``u``,
    ``^``, superscripts and ``x10`` spellings to one form, ``l`` for litre and
    ``/min`` spellings to one form.

    Parameters
    ----------
    unit : str
        A unit as written by a person or a lab system, e.g. ``"µmol/L"``.

    Returns
    -------
    str
        The normalised spelling, e.g. ``"umol/l"``.

    Examples
    --------
    >>> normalise_unit(" µmol / L ")
    'umol/l'
    >>> normalise_unit("10^9/L") == normalise_unit("x10⁹/l")
    True
    """
    u = _SPACES.sub("", str(unit)).lower()
    u = u.replace("µ", "u").replace("μ", "u").replace("mcg", "ug").replace("mcmol", "umol")
    u = u.replace("⁹", "9").replace("³", "3").replace("²", "2").replace("^", "")
    u = u.replace("×", "x").replace("*", "x")
    u = u.replace("x109", "109").replace("x103", "103")
    u = u.replace("°", "deg").replace("degc", "c").replace("degf", "f")
    u = u.replace("/minute", "/min").replace("perminute", "/min").replace("permin", "/min")
    u = u.replace("litre", "l").replace("liter", "l")
    return u
