"""The ``covid-risk`` command line.

Subcommands are listed in :data:`COMMANDS`; each lives in a private module
``covid_risk.cli.<name>`` with ``DESCRIPTION``, ``EPILOG``, ``add_arguments(parser)``
and ``run(args) -> int``, and imports the heavy parts of the library only when it
runs, so ``--help`` is quick.

Exit status: 0 on success, 2 for bad usage or bad input (one line on standard
error, no traceback), 1 for an internal error (one line and a hint to re-run with
``--debug``, which shows the traceback), 130 when interrupted.

Examples
--------
From a shell::

    covid-risk cohort --n 5000 --setting admission --seed 1 --out cohort.parquet
    covid-risk train cohort.parquet --outcomes death,icu --out model.crmodel
    echo '{"age": 81, "sex": "male", "urea": 9.1}' | covid-risk predict

From Python (tests do this)::

    >>> from covid_risk.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    0
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

from covid_risk.cli._io import CliError
from covid_risk.exceptions import (
    CalibrationWarning,
    CovidRiskError,
    DataQualityWarning,
    ValidationError,
)

__all__ = ["COMMANDS", "USAGE_ERRORS", "Command", "build_parser", "main"]

PROG = "covid-risk"


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one-line help and the module implementing it."""

    name: str
    help: str
    module: str

    def load(self) -> ModuleType:
        """Import and return the implementing module."""
        return importlib.import_module(self.module)


COMMANDS: tuple[Command, ...] = (
    Command("cohort", "generate a synthetic cohort and save it (CSV or Parquet)",
            "covid_risk.cli.cohort"),
    Command("train", "train a risk model on a cohort and save it", "covid_risk.cli.train"),
    Command("evaluate", "evaluate a model on a cohort: summary table, HTML and JSON reports",
            "covid_risk.cli.evaluate"),
    Command("predict", "predict risks for a file, or for JSON patients on standard input",
            "covid_risk.cli.predict"),
    Command("explain", "show the factors behind one patient's predicted risk",
            "covid_risk.cli.explain"),
    Command("scores", "compute clinical scores (4C, CURB-65, NEWS2, qSOFA) for a file",
            "covid_risk.cli.scores"),
    Command("retrain", "retrain on fresh synthetic cohorts and check quality gates "
            "(exit 3 when a gate fails)", "covid_risk.cli.retrain"),
    Command("serve", "serve predictions over HTTP: JSON, FHIR R4, CDS Hooks and a calculator page",
            "covid_risk.cli.serve"),
    Command("recalibrate", "update a model's calibration on local patients with outcomes",
            "covid_risk.cli.recalibrate"),
)
"""The subcommands, in the order ``--help`` lists them."""

# Errors caused by what the user typed or gave us: exit 2, one line, no traceback.
USAGE_ERRORS: tuple[type[BaseException], ...] = (
    CliError,
    CovidRiskError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

_MAX_PROBLEMS = 3
_MAX_WARNINGS = 5


def _version() -> str:
    from covid_risk._version import __version__

    return __version__


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line pointing at ``--help``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print ``covid-risk: error: <message>`` and exit with status 2."""
        self.exit(2, f"{PROG}: error: {' '.join(message.split())}; see '{self.prog} --help'\n")


def _add_global_flags(parser: argparse.ArgumentParser, *, sub: bool) -> None:
    # On subcommands the default is SUPPRESS so that "covid-risk --quiet train"
    # is not undone by the subparser's own default.
    default = argparse.SUPPRESS if sub else False
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default,
        help="no progress display (for CI and scripts); results and errors are still printed",
    )
    parser.add_argument(
        "--debug", action="store_true", default=default,
        help="on an error, show the full Python traceback instead of one line",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand of :data:`COMMANDS`.

    Returns
    -------
    argparse.ArgumentParser
        Parsed arguments carry ``command`` (the subcommand name) and ``run``
        (the function to call with them).
    """
    parser = _Parser(
        prog=PROG,
        description="Calibrated, explained risk of COVID-19 complications. "
        "Synthetic data only: not for clinical decisions.",
        epilog=f"Run '{PROG} COMMAND --help' for the options and examples of each command.\n"
        "Exit status: 0 success, 2 bad usage or input (one-line message), 1 internal error "
        "(re-run with --debug for the traceback).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    _add_global_flags(parser, sub=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS:
        module = command.load()
        sub = subparsers.add_parser(
            command.name,
            help=command.help,
            description=getattr(module, "DESCRIPTION", command.help),
            epilog=getattr(module, "EPILOG", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        _add_global_flags(sub, sub=True)
        sub.set_defaults(run=module.run)
    return parser


def _one_line(exc: BaseException) -> str:
    """Return the error message of ``exc`` on a single line."""
    if isinstance(exc, ValidationError) and len(exc.problems) > 1:
        shown = "; ".join(str(p) for p in exc.problems[:_MAX_PROBLEMS])
        more = len(exc.problems) - _MAX_PROBLEMS
        tail = f"; and {more} more" if more > 0 else ""
        text = f"{len(exc.problems)} problems in the input: {shown}{tail}"
    elif isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.strerror.lower()}: {exc.filename}"
    elif isinstance(exc, KeyError) and len(exc.args) == 1:
        text = str(exc.args[0])
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _is_ours(w: warnings.WarningMessage) -> bool:
    """Whether a warning comes from covid_risk (others are library noise for CLI users)."""
    if issubclass(w.category, (DataQualityWarning, CalibrationWarning)):
        return True
    parts = os.path.normpath(str(w.filename)).split(os.sep)
    return "covid_risk" in parts and issubclass(w.category, UserWarning)


def _report_warnings(caught: list[warnings.WarningMessage], *, debug: bool = False) -> None:
    """Print each distinct warning once, on one line; third-party ones only with --debug."""
    seen: dict[str, None] = {}
    for w in caught:
        if debug or _is_ours(w):
            seen.setdefault(" ".join(str(w.message).split()), None)
    messages = list(seen)
    for message in messages[:_MAX_WARNINGS]:
        print(f"{PROG}: warning: {message}", file=sys.stderr)
    if len(messages) > _MAX_WARNINGS:
        print(f"{PROG}: warning: ... and {len(messages) - _MAX_WARNINGS} more warning(s)",
              file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``covid-risk`` command line and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 success, 1 internal error, 2 bad usage or input, 130 interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and argparse's own usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    if args.command is None:
        print(f"{PROG}: error: choose a command: " + ", ".join(c.name for c in COMMANDS)
              + f"; see '{PROG} --help'", file=sys.stderr)
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            status = int(args.run(args) or 0)
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # The reader went away (e.g. "| head"): not our failure, say nothing more.
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            return 1
        except USAGE_ERRORS as exc:
            if args.debug:
                raise
            _report_warnings(caught, debug=args.debug)
            print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        except Exception as exc:
            if args.debug:
                raise
            _report_warnings(caught, debug=args.debug)
            print(f"{PROG}: error: internal error ({type(exc).__name__}): {_one_line(exc)}",
                  file=sys.stderr)
            print(f"{PROG}: run with --debug for the traceback", file=sys.stderr)
            return 1
    _report_warnings(caught, debug=args.debug)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
