"""``make demo``: the main job end to end on a generated cohort.

Generates a synthetic admitted cohort, trains the calibrated models, evaluates them
on an independent cohort against the clinical scores and the true risk, writes the
HTML report, and prints one patient's prediction with the factors behind it.
Run with ``python -m covid_risk.demo [--n 20000] [--out out]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["main"]

EXAMPLE_PATIENT = {
    "age": 78, "sex": "male", "bmi": 31.5, "chronic_cardiac": True, "diabetes": True,
    "chronic_kidney": False, "respiratory_rate": 28, "spo2": 90, "on_oxygen": False,
    "heart_rate": 104, "systolic_bp": 118, "diastolic_bp": 70, "temperature": 38.4, "gcs": 15,
    "urea": 11.2, "creatinine": 135, "crp": 140, "lymphocytes": 0.6, "neutrophils": 8.1,
    "chest_infiltrates": True,
}
"""A plausible admitted patient used by the demo and the README quickstart."""


def _step(message: str) -> float:
    print(f"-> {message}", flush=True)
    return time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the process exit code."""
    import covid_risk as cr

    parser = argparse.ArgumentParser(prog="python -m covid_risk.demo", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="admitted patients to train on")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the report")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    t = _step(f"generating {args.n:,} synthetic admitted patients (wild type 2020)")
    train_cohort = cr.make_cohort(args.n, setting="admission", random_state=1)
    test_cohort = cr.make_cohort(args.n // 2, setting="admission", random_state=2)
    print(f"   done in {time.perf_counter() - t:.1f} s")

    t = _step("training one calibrated LightGBM model per outcome")
    model = cr.train(train_cohort, setting="admission", random_state=0)
    model_path = args.out / "demo.crmodel"
    model.save(model_path)
    print(f"   done in {time.perf_counter() - t:.1f} s; saved {model_path}")

    t = _step("evaluating on an independent cohort against clinical scores and the true risk")
    from covid_risk.models import fit_baselines

    baselines = fit_baselines(train_cohort, setting="admission", random_state=0)
    evaluation = cr.evaluate(model, test_cohort, baselines=baselines, n_bootstrap=50,
                             random_state=0)
    print(evaluation)
    print(evaluation.comparison.round(3).to_string())
    report = evaluation.to_html(args.out / "report.html", model=model)
    print(f"   done in {time.perf_counter() - t:.1f} s; report written to {report}")

    _step("one patient, as a clinician's tool would ask")
    print("   patient:", EXAMPLE_PATIENT)
    prediction = cr.predict_risk(EXAMPLE_PATIENT, model=model_path, top=3)
    print(f"   {prediction!r}")
    for risk in prediction.risks:
        print(f"   {risk.label}: {100 * risk.probability:.1f} % ({risk.band})")
        for f in risk.raising:
            print(f"      raises  {f.percentage_points:+6.1f} pp  {f.text}")
        for f in risk.lowering:
            print(f"      lowers  {f.percentage_points:+6.1f} pp  {f.text}")
    for w in prediction.warnings:
        print(f"   warning: {w}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
