"""The ``covid-risk`` command line: one module per subcommand, :func:`main` the entry point."""

from __future__ import annotations

from covid_risk.cli._main import COMMANDS, USAGE_ERRORS, build_parser, main

__all__ = ["COMMANDS", "USAGE_ERRORS", "build_parser", "main"]
