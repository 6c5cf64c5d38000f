"""Benchmarks of covid_risk: speed, memory and quality against baselines measured in the same run.

Run them all with ``python -m benchmarks.run_all`` (``make bench``); ``--quick`` is a
smoke run with tiny sizes. Results are written to ``benchmarks/results/*.json`` and
summarised in ``benchmarks/results/RESULTS.md``.
"""
