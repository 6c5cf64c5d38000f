"""Retrain in CI: fresh synthetic cohort, train, evaluate, compare, gate, write.

:func:`retrain` is the job behind ``covid-risk retrain``. It

1. draws a training cohort and an independent evaluation cohort of one scenario
   with :func:`covid_risk.make_cohort`;
2. trains a :class:`~covid_risk.RiskModel` on the first;
3. evaluates it on the second with :func:`covid_risk.evaluate` -- together with the
   current (baseline) model when one is given, on the very same rows and bootstrap
   resamples, so the AUROC difference is paired;
4. measures drift (:func:`covid_risk.drift`) of the new training cohort from
   the baseline's training population (see *Drift reference* below);
5. checks the quality gates of a JSON config (:func:`load_gates`);
6. writes to the output folder:

   ``model.crmodel``
       the new model, when every gate passed; otherwise ``model.rejected.crmodel``
       (the same file under a name no deployment step picks up by mistake);
   ``gates.json``
       every gate with its threshold, value and pass/fail, the overall status and
       the exit code; written last, so its presence means the run finished;
   ``metrics.json``
       the evaluation (:meth:`Evaluation.to_dict`), the drift report, cohort sizes,
       seeds, versions and timings;
   ``report.html``
       the self-contained HTML report (model card, performance, figures, subgroups,
       comparison) with a *Retraining gates* and a *Drift* section;
   ``MODEL_CARD.md``
       the model card as Markdown.

   Files of those names left by an earlier run are removed first, so a rejected
   run can never leave a stale accepted ``model.crmodel`` behind.

Exit codes (:attr:`RetrainResult.exit_code`, and the command's exit status): 0 when
every gate passed, 3 when a gate failed; the command line adds 2 for bad arguments
(:class:`RetrainError`) and 1 for an internal error.

Seeds
-----
Everything random is derived from the one ``seed`` with
``numpy.random.SeedSequence(seed).spawn(5)``; child ``i`` gives the integer
``child.generate_state(1)[0]`` (a 32-bit seed) used for, in order: the training
cohort, the evaluation cohort, the model (its splits and LightGBM), the bootstrap
of the evaluation, and the drift reference sample. The two cohorts therefore have
different, independent seeds, and the same ``seed`` gives the same cohorts, the
same model bytes and the same evaluation numbers. :func:`derived_seeds` returns them; they
are also written to ``metrics.json``.

Drift reference
---------------
With a baseline whose metadata records the synthetic cohort it was trained on
(scenario, seed and size -- every model trained on :func:`make_cohort` output
does), that cohort is regenerated from the recipe and compared with the new
training cohort: "how far has the population moved since the current model was
trained". When the regenerated cohort's event counts differ from those recorded
(the generator changed since), the comparison still runs and a note says so. If
the recorded cohort is larger than ``max_reference`` rows, a sample of
``max_reference`` rows of the recorded scenario (drift-reference seed) is drawn
instead. Without a baseline, or with one trained on other data, the evaluation
cohort is compared with the training cohort (a check that they come from the same
population; expect no drift). Drift is reported, not gated: a new scenario is
expected to move the population, and the performance gates decide whether the
new model is fit for it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from covid_risk._json import bounded_loads, to_jsonable
from covid_risk.exceptions import CovidRiskError
from covid_risk.schema import OUTCOMES, SETTING_OUTCOMES, SETTINGS

__all__ = [
    "DEFAULT_N_BOOTSTRAP",
    "DEFAULT_N_EVAL",
    "DEFAULT_N_TRAIN",
    "EXIT_GATE_FAILED",
    "EXIT_OK",
    "GATES",
    "OUTPUT_FILES",
    "GateConfig",
    "GateResult",
    "RetrainError",
    "RetrainResult",
    "check_gates",
    "derived_seeds",
    "load_gates",
    "retrain",
]

DEFAULT_N_TRAIN = 20_000
"""Default size of the training cohort."""
DEFAULT_N_EVAL = 10_000
"""Default size of the evaluation cohort."""
DEFAULT_N_BOOTSTRAP = 1000
"""Default bootstrap resamples of the evaluation (as :func:`covid_risk.evaluate`; a
literal here so that importing this module stays light)."""
DEFAULT_MAX_REFERENCE = 100_000
"""Largest baseline training cohort regenerated in full for the drift comparison."""

EXIT_OK = 0
"""Exit code when every gate passed."""
EXIT_GATE_FAILED = 3
"""Exit code when at least one gate failed (the model is written as rejected)."""

MODEL_FILE = "model.crmodel"
REJECTED_MODEL_FILE = "model.rejected.crmodel"
OUTPUT_FILES: tuple[str, ...] = (
    MODEL_FILE, REJECTED_MODEL_FILE, "gates.json", "metrics.json", "report.html", "MODEL_CARD.md",
)
"""Every file :func:`retrain` may write to its output folder (and removes first)."""

BASELINE_NAME = "current model"
"""Name of the baseline model in the evaluation tables."""

GATES: dict[str, str] = {
    "min_auroc": "AUROC of the new model on the evaluation cohort is at least the threshold",
    "calibration_slope": "calibration slope on the evaluation cohort lies in [low, high]",
    "calibration_intercept": "calibration intercept (in the large) lies in [low, high]",
    "max_auroc_loss_vs_baseline": (
        "AUROC of the current model minus AUROC of the new model, on the same evaluation "
        "rows, is at most the threshold (skipped without a baseline)"
    ),
    "max_mae_to_truth": (
        "mean absolute difference between predicted and true risk is at most the threshold"
    ),
}
"""Gate name -> what it checks, in the order gates are listed."""

_RANGE_GATES = ("calibration_slope", "calibration_intercept")
_CONFIG_KEYS = {"description", "notes", "defaults", "outcomes"}


class RetrainError(CovidRiskError, ValueError):
    """A retrain argument or gates config is not usable (the command exits with 2)."""


# ============================================================================ seeds
_SEED_NAMES = ("train_cohort", "eval_cohort", "model", "bootstrap", "drift_reference")


def derived_seeds(seed: int) -> dict[str, int]:
    """Return the seeds :func:`retrain` derives from ``seed`` (see the module notes).

    Parameters
    ----------
    seed : int
        Non-negative seed of the run.

    Returns
    -------
    dict of str to int
        ``train_cohort``, ``eval_cohort``, ``model``, ``bootstrap``,
        ``drift_reference``: child ``i`` of ``numpy.random.SeedSequence(seed)``.

    Examples
    --------
    >>> s = derived_seeds(0)
    >>> list(s)
    ['train_cohort', 'eval_cohort', 'model', 'bootstrap', 'drift_reference']
    >>> s["train_cohort"] != s["eval_cohort"]
    True
    """
    import numpy as np

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RetrainError(f"seed={seed!r} is not allowed: give a whole number, 0 or more.")
    children = np.random.SeedSequence(int(seed)).spawn(len(_SEED_NAMES))
    return {name: int(child.generate_state(1)[0]) for name, child in
            zip(_SEED_NAMES, children, strict=True)}


# ============================================================================ gates config
@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the quality gates: defaults plus per-outcome overrides.

    Attributes
    ----------
    defaults : mapping
        Gate name -> threshold for every outcome: a number for ``min_auroc``,
        ``max_auroc_loss_vs_baseline`` and ``max_mae_to_truth``, a ``[low, high]``
        pair for ``calibration_slope`` and ``calibration_intercept``; ``None``
        switches a gate off.
    outcomes : mapping
        Outcome -> gate name -> threshold, overriding the defaults.
    source : str
        Where the config came from (a file name or ``"packaged defaults"``).
    description : str
        Free text from the file.
    """

    defaults: Mapping[str, Any]
    outcomes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = "packaged defaults"
    description: str = ""

    def for_outcome(self, outcome: str) -> dict[str, Any]:
        """Return the thresholds that apply to ``outcome`` (defaults, then overrides)."""
        return {**self.defaults, **self.outcomes.get(outcome, {})}

    def to_dict(self) -> dict[str, Any]:
        """Return the config as JSON-able data (the format :func:`load_gates` reads)."""
        return {
            "description": self.description,
            "defaults": dict(self.defaults),
            "outcomes": {o: dict(v) for o, v in self.outcomes.items()},
        }


def _check_threshold(gate: str, value: Any, where: str) -> Any:
    if value is None:
        return None
    if gate in _RANGE_GATES:
        ok = (isinstance(value, (list, tuple)) and len(value) == 2
              and all(_is_number(v) for v in value) and value[0] <= value[1])
        if not ok:
            raise RetrainError(
                f"{where}: {gate} must be a [low, high] pair of numbers with low <= high, or "
                f"null to switch the gate off; got {value!r}."
            )
        return [float(value[0]), float(value[1])]
    if not _is_number(value):
        raise RetrainError(f"{where}: {gate} must be a number, or null to switch the gate off; "
                           f"got {value!r}.")
    return float(value)


def _check_gate_block(block: Any, where: str) -> dict[str, Any]:
    if not isinstance(block, Mapping):
        raise RetrainError(f"{where} must be a JSON object of gate -> threshold; got "
                           f"{type(block).__name__}.")
    unknown = sorted(set(block) - set(GATES))
    if unknown:
        raise RetrainError(f"{where}: unknown gate(s) {', '.join(map(repr, unknown))}; the gates "
                           f"are {', '.join(GATES)}.")
    return {g: _check_threshold(g, block[g], where) for g in GATES if g in block}


def _parse_config(doc: Any, source: str) -> GateConfig:
    if not isinstance(doc, Mapping):
        raise RetrainError(f"{source}: the gates config must be a JSON object with 'defaults' "
                           "and optional 'outcomes'.")
    unknown = sorted(set(doc) - _CONFIG_KEYS)
    if unknown:
        raise RetrainError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
                           f"{', '.join(sorted(_CONFIG_KEYS))}.")
    if "defaults" not in doc:
        raise RetrainError(f"{source}: no 'defaults' object; give every gate a default threshold "
                           "(null switches a gate off).")
    defaults = _check_gate_block(doc["defaults"], f"{source}: defaults")
    missing = [g for g in GATES if g not in defaults]
    if missing:
        raise RetrainError(f"{source}: defaults lack {', '.join(missing)}; give each a threshold "
                           "or null to switch it off.")
    outcomes_doc = doc.get("outcomes", {}) or {}
    if not isinstance(outcomes_doc, Mapping):
        raise RetrainError(f"{source}: 'outcomes' must be an object of outcome -> gates.")
    bad = [o for o in outcomes_doc if o not in OUTCOMES]
    if bad:
        raise RetrainError(f"{source}: {', '.join(map(repr, bad))} not an outcome; outcomes are "
                           f"{', '.join(OUTCOMES)}.")
    outcomes = {o: _check_gate_block(v, f"{source}: outcomes.{o}")
                for o, v in outcomes_doc.items()}
    description = doc.get("description", "")
    if isinstance(description, list):
        description = " ".join(map(str, description))
    return GateConfig(defaults=defaults, outcomes=outcomes, source=source,
                      description=str(description))


def load_gates(config: Any = None) -> GateConfig:
    """Read a gates config.

    Parameters
    ----------
    config : str, path-like, mapping or GateConfig, optional
        A JSON file, an already parsed mapping, or a :class:`GateConfig`. Default:
        the defaults packaged with covid_risk (``covid_risk/data/retrain_gates.json``).

    Returns
    -------
    GateConfig

    Raises
    ------
    RetrainError
        When the file is missing or not JSON, a gate or outcome is unknown, or a
        threshold has the wrong shape.

    Examples
    --------
    >>> gates = load_gates()
    >>> sorted(gates.defaults) == sorted(GATES)
    True
    """
    if isinstance(config, GateConfig):
        return config
    if config is not None and not isinstance(config, (str, os.PathLike)):
        return _parse_config(config, "gates config")
    if config is None:
        ref = resources.files("covid_risk") / "data" / "retrain_gates.json"
        return _parse_config(json.loads(ref.read_text(encoding="utf-8")), "packaged defaults")
    path = Path(config)
    if not path.is_file():
        raise RetrainError(f"Gates config {str(path)!r} does not exist; give a JSON file (see "
                           "covid_risk/data/retrain_gates.json for the format) or omit it for "
                           "the packaged defaults.")
    # bounded depth and number size: a hostile file is a RetrainError, not a RecursionError
    doc = bounded_loads(path.read_bytes(), f"Gates config {str(path)!r}", RetrainError)
    return _parse_config(doc, path.name)


# ============================================================================ gate results
@dataclass(frozen=True)
class GateResult:
    """One gate checked for one outcome.

    Attributes
    ----------
    gate : str
        Gate name (a key of :data:`GATES`).
    outcome : str
        Outcome it applies to.
    threshold : float or list of float
        The threshold (a ``[low, high]`` pair for range gates).
    value : float or None
        The measured value (``None`` when the gate could not be measured).
    passed : bool or None
        ``True``/``False``; ``None`` when skipped (see ``note``).
    note : str
        Why a gate was skipped, or extra context (e.g. the paired interval).
    """

    gate: str
    outcome: str
    threshold: Any
    value: float | None
    passed: bool | None
    note: str = ""

    @property
    def status(self) -> str:
        """``"pass"``, ``"fail"`` or ``"skipped"``."""
        return "skipped" if self.passed is None else ("pass" if self.passed else "fail")

    def to_dict(self) -> dict[str, Any]:
        """Return ``{gate, outcome, threshold, value, passed, status, note}``."""
        return {"gate": self.gate, "outcome": self.outcome, "threshold": self.threshold,
                "value": self.value, "passed": self.passed, "status": self.status,
                "note": self.note}

    def describe(self) -> str:
        """Say in one line what was checked and what came out."""
        value = "n/a" if self.value is None else f"{self.value:.4f}"
        if self.gate in _RANGE_GATES:
            rule = f"in [{self.threshold[0]:g}, {self.threshold[1]:g}]"
        elif self.gate == "min_auroc":
            rule = f">= {self.threshold:g}"
        else:
            rule = f"<= {self.threshold:g}"
        return f"{self.gate}/{self.outcome}: {value} (needs {rule}) {self.status}"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _metric(evaluation: Any, predictor: str, outcome: str, metric: str) -> float | None:
    try:
        value = evaluation.results[predictor][outcome][metric]
    except KeyError:
        return None
    return float(value) if math.isfinite(value) else None


def check_gates(
    evaluation: Any,
    config: Any = None,
    *,
    baseline: str | None = None,
) -> tuple[GateResult, ...]:
    """Check every gate of ``config`` for every outcome of an evaluation.

    Parameters
    ----------
    evaluation : Evaluation
        The new model's evaluation (:func:`covid_risk.evaluate`), with the baseline
        among its baselines when one is compared.
    config : GateConfig, mapping or path, optional
        Thresholds; default the packaged defaults (see :func:`load_gates`).
    baseline : str, optional
        Name of the baseline predictor in ``evaluation`` for
        ``max_auroc_loss_vs_baseline``; without it that gate is skipped.

    Returns
    -------
    tuple of GateResult
        Per outcome, in :data:`GATES` order; switched-off gates are left out. A value
        that cannot be measured (e.g. AUROC when the evaluation cohort has one class)
        fails its gate.
    """
    gates = load_gates(config)
    model = evaluation.model_name
    out: list[GateResult] = []
    for outcome in evaluation.outcomes:
        thresholds = gates.for_outcome(outcome)
        for gate in GATES:
            threshold = thresholds.get(gate)
            if threshold is None:
                continue
            note = ""
            if gate == "min_auroc":
                value = _metric(evaluation, model, outcome, "auroc")
                passed = value is not None and value >= threshold
            elif gate in _RANGE_GATES:
                value = _metric(evaluation, model, outcome, gate)
                passed = value is not None and threshold[0] <= value <= threshold[1]
                if value is not None:
                    lo, hi = evaluation.results[model][outcome].interval(gate)
                    note = f"95% CI {lo:.3f} to {hi:.3f}" if math.isfinite(lo) else ""
            elif gate == "max_auroc_loss_vs_baseline":
                if baseline is None:
                    out.append(GateResult(gate, outcome, threshold, None, None,
                                          "no baseline model given"))
                    continue
                base = _metric(evaluation, baseline, outcome, "auroc")
                new = _metric(evaluation, model, outcome, "auroc")
                if base is None:
                    out.append(GateResult(gate, outcome, threshold, None, None,
                                          f"the {baseline} does not predict {outcome}"))
                    continue
                value = None if new is None else base - new
                passed = value is not None and value <= threshold
                note = _paired_note(evaluation, outcome, baseline, base, new)
            else:  # max_mae_to_truth
                value = _metric(evaluation, model, outcome, "mae_true")
                if value is None and not evaluation.has_truth:
                    out.append(GateResult(gate, outcome, threshold, None, None,
                                          "the evaluation cohort has no true risks"))
                    continue
                passed = value is not None and value <= threshold
            if value is None:
                note = note or "could not be measured on the evaluation cohort"
            out.append(GateResult(gate, outcome, threshold, value, bool(passed), note))
    return tuple(out)


def _paired_note(evaluation: Any, outcome: str, baseline: str, base: float | None,
                 new: float | None) -> str:
    try:
        row = evaluation.comparison.loc[(outcome, baseline)]
        lo, hi = float(row["delta_auroc_lower"]), float(row["delta_auroc_upper"])
    except (KeyError, TypeError, ValueError):
        return ""
    if not (math.isfinite(lo) and math.isfinite(hi)) or base is None or new is None:
        return ""
    return (f"AUROC {base:.4f} (current) vs {new:.4f} (new); paired 95% CI of the loss "
            f"{lo:.4f} to {hi:.4f}")


# ============================================================================ result
@dataclass(frozen=True, eq=False)
class RetrainResult:
    """What one :func:`retrain` run did and found.

    Attributes
    ----------
    passed : bool
        Whether every gate that was checked passed.
    exit_code : int
        0 (:data:`EXIT_OK`) when passed, 3 (:data:`EXIT_GATE_FAILED`) otherwise.
    out : pathlib.Path
        The output folder.
    model_path : pathlib.Path
        ``out/model.crmodel`` or, when rejected, ``out/model.rejected.crmodel``.
    gates : tuple of GateResult
        Every gate checked.
    model : RiskModel
        The new model.
    evaluation : Evaluation
        Its evaluation (with the baseline when given).
    drift : DriftReport
        Drift of the new training cohort (see the module notes for the reference).
    seeds : mapping
        Derived seeds (:func:`derived_seeds`).
    timings : mapping
        Seconds per step and in total.
    files : mapping
        Output kind (``"model"``, ``"gates"``, ``"metrics"``, ``"report"``,
        ``"model_card"``) -> path written.
    """

    passed: bool
    exit_code: int
    out: Path
    model_path: Path
    gates: tuple[GateResult, ...]
    model: Any = field(repr=False)
    evaluation: Any = field(repr=False)
    drift: Any = field(repr=False)
    seeds: Mapping[str, int] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    files: Mapping[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> tuple[GateResult, ...]:
        """The gates that failed."""
        return tuple(g for g in self.gates if g.passed is False)

    @property
    def summary(self):
        """One row per gate: gate, outcome, threshold, value, status and note."""
        import pandas as pd

        rows = [g.to_dict() for g in self.gates]
        cols = ["gate", "outcome", "threshold", "value", "status", "note"]
        return pd.DataFrame(rows, columns=[*cols, "passed"])[cols]

    def __repr__(self) -> str:
        checked = [g for g in self.gates if g.passed is not None]
        if self.passed:
            head = f"accepted: {len(checked)}/{len(checked)} gates passed"
        else:
            fails = self.failed
            shown = ", ".join(f"{g.gate}/{g.outcome}" for g in fails[:3])
            more = f", +{len(fails) - 3}" if len(fails) > 3 else ""
            head = f"rejected: {len(fails)} of {len(checked)} gates failed ({shown}{more})"
        return f"RetrainResult({head}; exit {self.exit_code}; model {self.model_path.name})"


# ============================================================================ helpers
def _check_size(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RetrainError(f"{name}={value!r} is not allowed: give a whole number of patients, "
                           f"{minimum} or more.")
    return int(value)


def _load_baseline(baseline: Any, setting: str) -> tuple[Any, str | None]:
    if baseline is None:
        return None, None
    source = None
    if isinstance(baseline, (str, os.PathLike)):
        from covid_risk.models import load

        path = Path(baseline)
        if not path.is_file():
            raise RetrainError(f"Baseline model {str(path)!r} does not exist; give the current "
                               "model file (.crmodel) or omit the baseline.")
        source = str(path)
        baseline = load(path)
    if not hasattr(baseline, "outcomes_") or not callable(getattr(baseline, "predict_proba",
                                                                  None)):
        raise RetrainError(f"The baseline must be a fitted RiskModel or a model file; got "
                           f"{type(baseline).__name__}.")
    base_setting = getattr(baseline, "setting", None)
    if base_setting != setting:
        raise RetrainError(f"The baseline model is for the {base_setting!r} setting but the "
                           f"retrain is for {setting!r}; pass --setting {base_setting} or a "
                           f"{setting} baseline.")
    return baseline, source


def _drift_reference(baseline: Any, setting: str, train_cohort: Any, eval_cohort: Any,
                     seeds: Mapping[str, int], max_reference: int) -> tuple[Any, Any, dict]:
    """Return (reference, current, description) for the drift comparison."""
    from covid_risk.synthetic import SCENARIOS, make_cohort

    recipe = {}
    if baseline is not None:
        meta = getattr(baseline, "metadata_", {}) or {}
        recipe = dict(meta.get("training_cohort", {}) or {})
    scenario, seed, n = recipe.get("scenario"), recipe.get("seed"), recipe.get("n_patients")
    if scenario in SCENARIOS and isinstance(n, int) and n > 0:
        if isinstance(seed, int) and seed >= 0 and n <= max_reference:
            reference = make_cohort(n, setting=setting, scenario=scenario, random_state=seed)
            recorded = recipe.get("events") or {}
            same = all(
                o in reference.columns and int(reference[o].sum()) == int(k)
                for o, k in recorded.items()
            ) and bool(recorded)
            text = (f"the current model's training cohort ({scenario}, {n:,} patients, seed "
                    f"{seed}) regenerated from the recipe in its metadata")
            note = ("" if same else "The regenerated cohort's event counts differ from those "
                    "recorded in the model (the generator changed since); it is a sample of the "
                    "same scenario, not the exact training data.")
        else:
            size = min(n, max_reference)
            reference = make_cohort(size, setting=setting, scenario=scenario,
                                    random_state=seeds["drift_reference"])
            text = (f"a {size:,}-patient sample of the current model's training scenario "
                    f"({scenario})")
            note = ""
        return reference, train_cohort, {
            "reference": text, "current": "the new training cohort", "note": note,
            "reference_name": "current model's training data", "current_name": "new training data",
        }
    note = ("No baseline model was given." if baseline is None else
            "The baseline's metadata does not record a synthetic training cohort.")
    return train_cohort, eval_cohort, {
        "reference": "the new training cohort", "current": "the evaluation cohort",
        "note": note + " The evaluation cohort is compared with the training cohort instead "
                "(same scenario, independent seeds: expect no drift).",
        "reference_name": "training cohort", "current_name": "evaluation cohort",
    }



def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_json(path: Path, doc: Any) -> None:
    _write_text(path, json.dumps(to_jsonable(doc), indent=2, allow_nan=False) + "\n")


def _gates_html(result_gates: Sequence[GateResult], passed: bool, config: GateConfig,
                model_file: str) -> str:
    import html

    e = html.escape
    status = ("<p><b>Accepted.</b> Every gate passed; the model was written as "
              f"<code>{e(model_file)}</code>.</p>" if passed else
              "<p class=\"banner\">REJECTED: at least one gate failed; the model was written as "
              f"<code>{e(model_file)}</code> and must not be deployed.</p>")
    rows = "".join(
        f"<tr><td>{e(g.gate)}</td><td>{e(g.outcome)}</td><td class=\"num\">"
        f"{e(_threshold_text(g))}</td><td class=\"num\">"
        f"{'' if g.value is None else f'{g.value:.4f}'}</td><td>{e(g.status)}</td>"
        f"<td>{e(g.note)}</td></tr>"
        for g in result_gates
    )
    defs = "".join(f"<li><b>{e(k)}</b>: {e(v)}</li>" for k, v in GATES.items())
    return (
        f"{status}<p>Thresholds from {e(config.source)}. {e(config.description)}</p>"
        f"<ul>{defs}</ul><table><thead><tr><th>gate</th><th>outcome</th><th>threshold</th>"
        f"<th>value</th><th>status</th><th>note</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _rejected_banner(gates: Sequence[GateResult], model_file: str) -> str:
    import html

    failed = [g for g in gates if g.passed is False]
    shown = "; ".join(g.describe() for g in failed[:5])
    more = f"; and {len(failed) - 5} more" if len(failed) > 5 else ""
    return html.escape(
        f"REJECTED by the retraining gates ({len(failed)} failed: {shown}{more}). The model was "
        f"written as {model_file} and must not replace the current model."
    )


def _threshold_text(g: GateResult) -> str:
    if g.gate in _RANGE_GATES:
        return f"[{g.threshold[0]:g}, {g.threshold[1]:g}]"
    return (">= " if g.gate == "min_auroc" else "<= ") + f"{g.threshold:g}"


def _report(evaluation: Any, model: Any, card: Any, importance_rows: Any, gates_html: str,
            drift_html: str, title: str, banner: str = "") -> str:
    """Return the HTML report (:mod:`covid_risk.evaluation.report`) with gates and drift."""
    from covid_risk.evaluation.report import report_html

    page = report_html(evaluation, model=model, card=card, cohort=importance_rows, title=title)
    extra = (f'<section id="retrain_gates">\n<h2>Retraining gates</h2>\n{gates_html}\n</section>\n'
             f'<section id="drift">\n<h2>Drift</h2>\n{drift_html}\n</section>\n')
    toc = ('<li><a href="#retrain_gates">Retraining gates</a></li>'
           '<li><a href="#drift">Drift</a></li>')
    anchor = '<section id="tripod">'
    page = page.replace(anchor, extra + anchor, 1) if anchor in page else page.replace(
        "</main>", extra + "</main>", 1)
    item = '<li><a href="#tripod">'
    page = page.replace(item, toc + item, 1) if item in page else page.replace(
        "</ol></nav>", toc + "</ol></nav>", 1)
    if banner:
        page = page.replace("</h1>", f"</h1>\n<p class=\"banner\">{banner}</p>", 1)
    return page


# ============================================================================ retrain()
def retrain(
    *,
    scenario: str = "wild_type_2020",
    seed: int = 0,
    baseline: Any = None,
    out: str | os.PathLike,
    config: Any = None,
    n_train: int = DEFAULT_N_TRAIN,
    n_eval: int = DEFAULT_N_EVAL,
    setting: str = "admission",
    outcomes: Sequence[str] | None = None,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    train_options: Mapping[str, Any] | None = None,
    importance_rows: int = 1000,
    max_reference: int = DEFAULT_MAX_REFERENCE,
    quiet: bool = False,
) -> RetrainResult:
    """Generate, train, evaluate against the current model, gate and write one retrain.

    Parameters
    ----------
    scenario : str, default="wild_type_2020"
        Generator scenario of both cohorts (:data:`covid_risk.synthetic.SCENARIOS`).
    seed : int, default=0
        Seed of the run; every other seed is derived from it (:func:`derived_seeds`).
    baseline : RiskModel, str or path-like, optional
        The current model (or its file), evaluated on the same rows for the
        ``max_auroc_loss_vs_baseline`` gate and used for the drift reference.
    out : str or path-like
        Output folder (created if needed); see the module notes for its files.
    config : str, path-like, mapping or GateConfig, optional
        Gates config (:func:`load_gates`); default the packaged defaults.
    n_train, n_eval : int, default=20000, 10000
        Sizes of the training and evaluation cohorts.
    setting : {"admission", "community"}, default="admission"
        Clinical setting.
    outcomes : sequence of str, optional
        Outcomes to model; default all of the setting's.
    n_bootstrap : int, default=1000
        Bootstrap resamples for the evaluation's intervals.
    train_options : mapping, optional
        Extra options of :func:`covid_risk.train` (e.g. ``{"learning_rate": 0.1}``).
    importance_rows : int, default=1000
        Evaluation rows used for the report's global SHAP importance (0: none).
    max_reference : int, default=100000
        Largest baseline training cohort regenerated in full for the drift section.
    quiet : bool, default=False
        No progress display.

    Returns
    -------
    RetrainResult
        ``exit_code`` 0 when every gate passed, 3 otherwise.

    Raises
    ------
    RetrainError
        For a bad argument, gates config or baseline (the command exits with 2).

    Examples
    --------
    >>> result = retrain(scenario="wild_type_2020", seed=1, out="retrain-out")  # doctest: +SKIP
    >>> result.exit_code, result.model_path.name                                # doctest: +SKIP
    (0, 'model.crmodel')
    """
    start = time.perf_counter()
    timings: dict[str, float] = {}
    # all arguments are checked before any work
    seeds, n_train, n_eval, outcomes = _check_arguments(
        scenario=scenario, setting=setting, seed=seed, n_train=n_train, n_eval=n_eval,
        n_bootstrap=n_bootstrap, outcomes=outcomes)
    gates_config = load_gates(config)
    baseline, baseline_source = _load_baseline(baseline, setting)
    out = _prepare_out(out)
    train_cohort, eval_cohort = _generate(timings, n_train=n_train, n_eval=n_eval,
                                          setting=setting, scenario=scenario, seeds=seeds,
                                          quiet=quiet)
    model, evaluation = _train_and_evaluate(
        timings, train_cohort, eval_cohort, baseline, setting=setting, outcomes=outcomes,
        seeds=seeds, n_bootstrap=n_bootstrap, train_options=train_options, quiet=quiet,
        sizes=(n_train, n_eval))
    with _timed(timings, "drift", "measuring drift", quiet):
        reference, current, drift_info = _drift_reference(
            baseline, setting, train_cohort, eval_cohort, seeds, max_reference)
        drift = _drift(reference, current)
    gates = check_gates(evaluation, gates_config,
                        baseline=BASELINE_NAME if baseline is not None else None)
    passed = all(g.passed is not False for g in gates)
    exit_code = EXIT_OK if passed else EXIT_GATE_FAILED
    model_path = out / (MODEL_FILE if passed else REJECTED_MODEL_FILE)
    with _timed(timings, "write", "writing model, report and model card", quiet):
        _write_model_and_report(out, model, model_path, evaluation, gates, passed, gates_config,
                                drift, drift_info,
                                eval_cohort.iloc[:importance_rows] if importance_rows else None)
    timings["total"] = time.perf_counter() - start
    sizes = {"n_train": n_train, "n_eval": n_eval, "n_drift_reference": len(reference),
             "n_drift_current": len(current), "n_bootstrap": n_bootstrap}
    _write_json(out / "metrics.json", _metrics_doc(
        passed=passed, setting=setting, scenario=scenario, seed=seed, seeds=seeds, sizes=sizes,
        model=model, baseline=baseline, baseline_source=baseline_source, timings=timings,
        evaluation=evaluation, drift=drift, drift_info=drift_info))
    _write_json(out / "gates.json", _gates_doc(gates, passed, exit_code, model_path,
                                               gates_config))
    files = {"model": model_path, "gates": out / "gates.json", "metrics": out / "metrics.json",
             "report": out / "report.html", "model_card": out / "MODEL_CARD.md"}
    return RetrainResult(passed=passed, exit_code=exit_code, out=out, model_path=model_path,
                         gates=gates, model=model, evaluation=evaluation, drift=drift,
                         seeds=seeds, timings=timings, files=files)


@contextlib.contextmanager
def _timed(timings: dict[str, float], key: str, message: str, quiet: bool) -> Iterator[None]:
    """Show ``message`` as a progress stage and record its seconds as ``timings[key]``."""
    from covid_risk.progress import stage

    t = time.perf_counter()
    with stage(message, quiet=quiet):
        yield
    timings[key] = time.perf_counter() - t


def _check_arguments(
    *, scenario: str, setting: str, seed: int, n_train: Any, n_eval: Any, n_bootstrap: Any,
    outcomes: Sequence[str] | None,
) -> tuple[dict[str, int], int, int, tuple[str, ...] | None]:
    """Refuse a bad argument with :class:`RetrainError`; return seeds, sizes and outcomes."""
    from covid_risk.synthetic import SCENARIOS

    if scenario not in SCENARIOS:
        raise RetrainError(f"scenario={scenario!r} is not one of {', '.join(SCENARIOS)}; the "
                           "default is 'wild_type_2020'.")
    if setting not in SETTINGS:
        raise RetrainError(f"setting={setting!r} is not one of {', '.join(SETTINGS)}.")
    seeds = derived_seeds(seed)
    n_train = _check_size("n_train", n_train, 100)
    n_eval = _check_size("n_eval", n_eval, 100)
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 0:
        raise RetrainError(f"n_bootstrap={n_bootstrap!r} is not allowed: give a whole number, "
                           "0 or more.")
    if outcomes is not None:
        outcomes = (outcomes,) if isinstance(outcomes, str) else tuple(outcomes)
        bad = [o for o in outcomes if o not in SETTING_OUTCOMES[setting]]
        if bad or not outcomes:
            raise RetrainError(f"outcomes {', '.join(map(repr, bad)) or '(none)'} not allowed "
                               f"for the {setting} setting; use some of "
                               f"{', '.join(SETTING_OUTCOMES[setting])}.")
    return seeds, n_train, n_eval, outcomes


def _prepare_out(out: str | os.PathLike) -> Path:
    """Create the output folder and remove the output files of an earlier run."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RetrainError(f"out={str(out)!r} is a file; give a folder for the retrain outputs.")
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:  # never leave a stale accepted model from an earlier run
        (out / name).unlink(missing_ok=True)
    return out


def _generate(
    timings: dict[str, float], *, n_train: int, n_eval: int, setting: str, scenario: str,
    seeds: Mapping[str, int], quiet: bool,
) -> tuple[Any, Any]:
    """Generate the training and the evaluation cohort from their own seeds."""
    from covid_risk.synthetic import make_cohort

    with _timed(timings, "generate",
                f"generating {n_train:,} + {n_eval:,} {setting} patients ({scenario})", quiet):
        train_cohort = make_cohort(n_train, setting=setting, scenario=scenario,
                                   random_state=seeds["train_cohort"])
        eval_cohort = make_cohort(n_eval, setting=setting, scenario=scenario,
                                  random_state=seeds["eval_cohort"])
    return train_cohort, eval_cohort


def _train_and_evaluate(
    timings: dict[str, float], train_cohort: Any, eval_cohort: Any, baseline: Any, *,
    setting: str, outcomes: Sequence[str] | None, seeds: Mapping[str, int], n_bootstrap: int,
    train_options: Mapping[str, Any] | None, quiet: bool, sizes: tuple[int, int],
) -> tuple[Any, Any]:
    """Train the candidate model, then evaluate it beside the baseline on the same rows.

    ``sizes`` is ``(n_train, n_eval)``, shown in the progress messages.
    """
    from covid_risk.evaluation import evaluate
    from covid_risk.models import train

    with _timed(timings, "train", f"training on {sizes[0]:,} patients", quiet):
        model = train(train_cohort, setting=setting, outcomes=outcomes,
                      random_state=seeds["model"], **dict(train_options or {}))
    with _timed(timings, "evaluate", f"evaluating on {sizes[1]:,} patients", quiet):
        evaluation = evaluate(
            model, eval_cohort,
            baselines={BASELINE_NAME: baseline} if baseline is not None else None,
            n_bootstrap=n_bootstrap, random_state=seeds["bootstrap"],
        )
    return model, evaluation


def _drift(reference: Any, current: Any) -> Any:
    """Return the drift report of ``current`` against ``reference``."""
    from covid_risk.evaluation.drift_report import drift as drift_report

    return drift_report(reference, current)


def _write_model_and_report(
    out: Path, model: Any, model_path: Path, evaluation: Any, gates: Sequence[GateResult],
    passed: bool, gates_config: GateConfig, drift: Any, drift_info: Mapping[str, Any],
    importance_rows: Any,
) -> None:
    """Save the model (accepted or rejected name), the HTML report and the model card."""
    from covid_risk.evaluation.card import model_card

    model.save(model_path)
    card = model_card(model, evaluation=evaluation)
    title = card.title if passed else f"REJECTED retrain: {card.title}"
    drift_html = (
        f"<p>Reference: {drift_info['reference']}. Current: {drift_info['current']}. "
        f"{drift_info['note']} Drift is reported, not gated.</p>"
        + drift.to_html_section(reference=drift_info["reference_name"],
                                current=drift_info["current_name"])
    )
    page = _report(evaluation, model, card, importance_rows,
                   _gates_html(gates, passed, gates_config, model_path.name), drift_html,
                   title, banner="" if passed else _rejected_banner(gates, model_path.name))
    _write_text(out / "report.html", page)
    _write_text(out / "MODEL_CARD.md", card.to_markdown())


def _metrics_doc(
    *, passed: bool, setting: str, scenario: str, seed: int, seeds: Mapping[str, int],
    sizes: Mapping[str, int], model: Any, baseline: Any, baseline_source: Any,
    timings: Mapping[str, float], evaluation: Any, drift: Any, drift_info: Mapping[str, Any],
) -> dict[str, Any]:
    """Return the content of ``metrics.json``: run, versions, timings, evaluation, drift."""
    import lightgbm

    from covid_risk._version import __version__
    from covid_risk.synthetic import GENERATOR_VERSION

    baseline_meta = getattr(baseline, "metadata_", {}) or {}
    return {
        "status": "accepted" if passed else "rejected",
        "setting": setting,
        "scenario": scenario,
        "seed": seed,
        "seeds": seeds,
        "seed_derivation": "child i of numpy.random.SeedSequence(seed).spawn(5), "
                           "generate_state(1)[0], in the order of 'seeds'",
        "sizes": dict(sizes),
        "outcomes": list(model.outcomes_),
        "baseline": None if baseline is None else {
            "file": Path(baseline_source).name if baseline_source else None,
            "name": BASELINE_NAME,
            "created": baseline_meta.get("created"),
            "training_cohort": baseline_meta.get("training_cohort"),
        },
        "versions": {"covid_risk": __version__, "lightgbm": lightgbm.__version__,
                     "generator": GENERATOR_VERSION},
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        "evaluation": evaluation.to_dict(),
        "drift": {**drift_info, **drift.to_dict()},
    }


def _gates_doc(
    gates: Sequence[GateResult], passed: bool, exit_code: int, model_path: Path,
    gates_config: GateConfig,
) -> dict[str, Any]:
    """Return the content of ``gates.json``: verdict, counts and every gate."""
    return {
        "passed": passed,
        "status": "accepted" if passed else "rejected",
        "exit_code": exit_code,
        "model_file": model_path.name,
        "config": gates_config.source,
        "n_gates": sum(g.passed is not None for g in gates),
        "n_failed": sum(g.passed is False for g in gates),
        "n_skipped": sum(g.passed is None for g in gates),
        "gates": [g.to_dict() for g in gates],
    }
