"""Robustness tests: fuzzed inputs, model-file faults, threads, determinism, privacy, kills."""
