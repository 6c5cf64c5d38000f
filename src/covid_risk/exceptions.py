"""Error and warning types raised by covid_risk.

Every error subclasses a builtin (mostly :class:`ValueError`) so callers that
already catch builtins keep working, and every message says what was wrong,
where, what is allowed and what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CalibrationWarning",
    "CovidRiskError",
    "DataQualityWarning",
    "IncompatibleModelError",
    "ModelFileError",
    "ModelIntegrityError",
    "NotAModelFileError",
    "NotFittedError",
    "Problem",
    "SampleSizeWarning",
    "ValidationError",
]


class CovidRiskError(Exception):
    """Base class of every error raised on purpose by covid_risk."""


@dataclass(frozen=True)
class Problem:
    """One problem found in the input.

    Parameters
    ----------
    field : str
        Canonical field name (or the column name as given when it is unknown).
    message : str
        Human-readable description naming the value and what is allowed.
    row : int or None, default=None
        Zero-based position of the offending row, ``None`` when not row-specific.
    value : Any, default=None
        The offending value as received.
    """

    field: str
    message: str
    row: int | None = None
    value: Any = None

    def __str__(self) -> str:
        # Most messages already say "(row i)"; only prefix the row when they do not.
        if self.row is None or f"row {self.row}" in self.message:
            return self.message
        return f"row {self.row}: {self.message}"


class ValidationError(CovidRiskError, ValueError):
    """Input that cannot be turned into a canonical patient record.

    Several problems are reported together; ``problems`` holds them all and the
    message lists up to ``max_listed`` of them.

    Parameters
    ----------
    problems : sequence of Problem or str
        What was wrong; a plain string becomes a problem with field ``"<input>"``.
    max_listed : int, default=20
        How many problems to spell out in the message.
    """

    def __init__(self, problems: Sequence[Problem | str] | Problem | str, *, max_listed: int = 20):
        if isinstance(problems, (Problem, str)):
            problems = [problems]
        self.problems: list[Problem] = [
            p if isinstance(p, Problem) else Problem(field="<input>", message=str(p))
            for p in problems
        ]
        lines = [str(p) for p in self.problems[:max_listed]]
        more = len(self.problems) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more problem(s); see ValidationError.problems")
        if len(self.problems) == 1:
            message = lines[0]
        else:
            message = f"{len(self.problems)} problems in the input:\n  - " + "\n  - ".join(lines)
        super().__init__(message)

    @property
    def fields(self) -> list[str]:
        """Names of the fields with problems, in order of first appearance."""
        return list(dict.fromkeys(p.field for p in self.problems))


class NotFittedError(CovidRiskError, ValueError, AttributeError):
    """A model was used before it was fitted."""


class ModelFileError(CovidRiskError, ValueError):
    """A model file could not be loaded safely."""


class NotAModelFileError(ModelFileError):
    """The file is not a covid_risk model file (for example a pickle)."""


class ModelIntegrityError(ModelFileError):
    """The file was changed, truncated or has parts that do not match its manifest."""


class IncompatibleModelError(ModelFileError):
    """The file was written by an incompatible version of covid_risk."""


class DataQualityWarning(UserWarning):
    """Input values are implausible or important fields are missing."""


class CalibrationWarning(UserWarning):
    """Calibration was fitted on too few events to be trusted."""


class SampleSizeWarning(UserWarning):
    """The training cohort is smaller than the minimum for its predictors and outcome rate."""
