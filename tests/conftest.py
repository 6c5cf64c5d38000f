"""Shared test set-up: a headless plotting backend and quiet, deterministic runs."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
