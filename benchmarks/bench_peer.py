"""covid_risk against the hand-rolled peer: quality and speed on the same cohorts.

The peer
--------
What a data scientist writes today on the same cohort, with library defaults:

* per outcome, ``CalibratedClassifierCV(Pipeline([SimpleImputer(), LGBMClassifier()]),
  method="sigmoid", cv=3)`` (scikit-learn and LightGBM defaults: 100 trees of 31
  leaves), with one LightGBM thread like covid_risk (``--peer-threads 0`` gives
  LightGBM's default of all cores; on a busy machine that is much slower, because
  OpenMP threads wait for each other);
* the same inputs as covid_risk's model matrix, encoded with pandas (categories coded
  by their schema position, booleans 0/1, the same derived features), from a one-row
  ``pandas.DataFrame`` per patient at prediction time (no validation);
* explanations with ``shap.TreeExplainer`` on the first calibrated estimator's
  LightGBM model, top 5 features by absolute SHAP value.

The speed-tuned contestant
--------------------------
covid_risk trained with :data:`SPEED_TUNED` (``learning_rate=0.1,
early_stopping_rounds=30, refit=False``, one thread like the default): a
demonstration of the time/accuracy trade-off, not the library default. A higher
learning rate (the default is 0.05) needs fewer trees, a shorter patience stops
sooner, and without the refit on the boosting and early-stopping rows each outcome
is boosted once instead of twice; the price is what accuracy those steps buy. It is trained and
evaluated exactly like covid_risk with default settings (training time and quality
only; prediction speed depends on the model, not on how it was trained).

What is compared
----------------
* **training** (all outcomes of the setting, with calibration) on the same training
  cohort, for covid_risk, the peer and the speed-tuned covid_risk: wall time (median
  over ``--repeats-training`` runs in fresh processes, the three in turn, order
  reversed each round) and peak memory;
* **quality** of all three on an independent test cohort: AUROC, calibration slope,
  log loss and mean absolute error to the true risk, per outcome;
* **single-patient latency** end to end from a dict, with and without explanation;
* **batch throughput** of a DataFrame (rows per second);
* **SHAP rows per second** (all outcomes).

Results go to ``benchmarks/results/bench_peer.json``; ``python -m benchmarks.run_all``
adds them to ``RESULTS.md``.

Usage::

    python -m benchmarks.bench_peer                 # 100,000 train / 50,000 test
    python -m benchmarks.bench_peer --quick         # tiny smoke run
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._common import (
    alternate,
    apply_quick,
    cohort,
    latency_stats,
    machine,
    model_facts,
    patients_as_dicts,
    publish,
    ratio,
    run_child,
    settings,
    time_calls,
    to_score,
)

SEEDS = {"train": 1001, "test": 2002, "patients": 3003}

SPEED_TUNED = {"learning_rate": 0.1, "early_stopping_rounds": 30, "refit": False, "n_jobs": 1}
"""``covid_risk.train`` options of the speed-tuned contestant (``n_jobs`` as the default's).

A demonstration of what trading accuracy for training time gives, not the library
default; see the module docstring.
"""

TRAIN_OPTIONS: dict[str, dict[str, Any]] = {"ours": {}, "speed_tuned": SPEED_TUNED}
"""The covid_risk contestants and their ``covid_risk.train`` options beyond the defaults."""

CONTESTANTS = ("ours", "peer", "speed_tuned")
"""Every contestant, in the order of the first training round."""


def train_options(who: str, quick: bool = False) -> dict[str, Any]:
    """``covid_risk.train`` options of a covid_risk contestant (``--quick``: small models)."""
    from benchmarks._common import FAST_TRAINING

    return {**(FAST_TRAINING if quick else {}), **TRAIN_OPTIONS[who]}


# ------------------------------------------------------------------------------ the peer
def _codes() -> dict[str, dict[str, int]]:
    from covid_risk.schema import FIELDS

    return {n: {c: i for i, c in enumerate(f.categories)} for n, f in FIELDS.items()
            if f.kind == "category"}


def peer_features(df: pd.DataFrame, setting: str) -> pd.DataFrame:
    """Encode records the way a data scientist would with pandas (same columns as covid_risk).

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical records, or a one-row frame made from a patient dict.
    setting : {"admission", "community"}
        Fixes the columns (:func:`covid_risk.features.matrix.feature_names`).
    """
    from covid_risk.features.matrix import feature_names
    from covid_risk.schema import COMORBIDITIES_4C, FIELDS

    names = list(feature_names(setting))
    base = [n for n in names if n in FIELDS]
    X = df.reindex(columns=base)
    codes = _codes()
    X = X.assign(**{c: X[c].map(codes[c]) for c in base if c in codes}).astype("float64")
    derived = {}
    for name in names:
        if name in FIELDS:
            continue
        if name == "comorbidity_count":
            derived[name] = df.reindex(columns=list(COMORBIDITIES_4C)).astype(
                "float64").fillna(0).sum(axis=1)
        elif name == "nlr":
            derived[name] = X["neutrophils"] / X["lymphocytes"].where(X["lymphocytes"] > 0)
        elif name == "spo2_fio2":
            fio2 = X["fio2"].where(X["fio2"].notna() | (X["on_oxygen"] != 0), 0.21)
            derived[name] = X["spo2"] / fio2.where(fio2 > 0)
        elif name == "urea_creatinine_ratio":
            derived[name] = X["urea"] * 1000.0 / X["creatinine"].where(X["creatinine"] > 0)
        else:  # pragma: no cover - a new derived feature needs a line here
            raise KeyError(f"the peer does not know how to compute {name!r}")
    return pd.concat([X, pd.DataFrame(derived, index=X.index)], axis=1)[names]


class Peer:
    """The hand-rolled peer: one calibrated scikit-learn pipeline per outcome."""

    def __init__(self, setting: str, outcomes: tuple[str, ...], random_state: int = 0,
                 n_jobs: int | None = 1):
        self.setting = setting
        self.outcomes = tuple(outcomes)
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.models: dict[str, Any] = {}
        self._explainers: dict[str, Any] = {}

    def _estimator(self) -> Any:
        from lightgbm import LGBMClassifier
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline

        pipe = Pipeline([
            ("impute", SimpleImputer()),
            ("lgbm", LGBMClassifier(random_state=self.random_state, n_jobs=self.n_jobs,
                                    verbose=-1)),
        ])
        return CalibratedClassifierCV(pipe, method="sigmoid", cv=3)

    def fit(self, cohort: pd.DataFrame) -> Peer:
        """Fit one calibrated pipeline per outcome (rows with a missing label left out)."""
        X = peer_features(cohort, self.setting)
        for o in self.outcomes:
            y = cohort[o].astype("boolean")
            keep = y.notna().to_numpy()
            self.models[o] = self._estimator().fit(X[keep], y[keep].astype(bool).to_numpy())
        return self

    def predict_frame(self, df: pd.DataFrame) -> dict[str, np.ndarray]:
        """Probabilities of every outcome for a frame of records."""
        X = peer_features(df, self.setting)
        return {o: self.models[o].predict_proba(X)[:, 1] for o in self.outcomes}

    def explainer(self, outcome: str) -> Any:
        """``shap.TreeExplainer`` of the first calibrated estimator's LightGBM model."""
        if outcome not in self._explainers:
            import shap

            first = self.models[outcome].calibrated_classifiers_[0].estimator
            self._explainers[outcome] = (first.named_steps["impute"],
                                         shap.TreeExplainer(first.named_steps["lgbm"]))
        return self._explainers[outcome]

    def predict_one(self, patient: dict, *, explain: bool = False, top: int = 5) -> dict:
        """One patient from a dict: a one-row DataFrame, probabilities, optionally top factors."""
        X = peer_features(pd.DataFrame([patient]), self.setting)
        out: dict[str, Any] = {}
        for o in self.outcomes:
            p = float(self.models[o].predict_proba(X)[0, 1])
            if explain:
                imputer, tree = self.explainer(o)
                names = imputer.get_feature_names_out()  # all-missing columns were dropped
                values = np.asarray(tree.shap_values(imputer.transform(X)))
                values = values.reshape(-1, len(names))[-1]
                order = np.argsort(-np.abs(values))[:top]
                out[o] = (p, [(names[j], float(values[j])) for j in order])
            else:
                out[o] = p
        return out

    def shap_rows(self, df: pd.DataFrame) -> None:
        """SHAP values of every outcome for a frame (for rows-per-second)."""
        X = peer_features(df, self.setting)
        for o in self.outcomes:
            imputer, tree = self.explainer(o)
            tree.shap_values(imputer.transform(X))


# ------------------------------------------------------------------------ training steps
def train_child(who: str, n: int, setting: str, seed: int, save: str | None = None,
                model_seed: int = 0, quick: bool = False, peer_threads: int | None = 1,
                outcomes: list[str] | None = None, n_jobs: int | None = None) -> dict:
    """Train ``who`` (one of :data:`CONTESTANTS`) on ``n`` generated patients.

    Runs in a fresh process. Libraries are imported before the resident size is read,
    so the peak increase is the memory of training itself. ``peer_threads``: LightGBM
    threads of the peer; ``n_jobs``: those of a covid_risk contestant (None: its
    options' own, one thread).
    """
    if who not in CONTESTANTS:
        raise ValueError(f"unknown contestant {who!r}; known: {', '.join(CONTESTANTS)}")
    import lightgbm  # noqa: F401
    import sklearn.calibration  # noqa: F401
    import sklearn.impute  # noqa: F401
    import sklearn.pipeline  # noqa: F401

    import covid_risk.models  # noqa: F401
    from benchmarks._common import mark_memory
    from covid_risk import train
    from covid_risk.schema import SETTING_OUTCOMES

    t = time.perf_counter()
    data = cohort(n, setting=setting, random_state=seed)
    generate = time.perf_counter() - t
    before = mark_memory()
    t, c = time.perf_counter(), time.process_time()
    wanted = tuple(outcomes) if outcomes else SETTING_OUTCOMES[setting]
    if who == "peer":
        model = Peer(setting, wanted, random_state=model_seed, n_jobs=peer_threads).fit(data)
    else:
        options = train_options(who, quick)
        if n_jobs is not None:
            options["n_jobs"] = n_jobs
        model = train(data, setting=setting, outcomes=list(wanted), random_state=model_seed,
                      **options)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    if save:
        if who == "peer":
            with open(save, "wb") as fh:
                pickle.dump(model.models, fh)
        else:
            model.save(save, hmac_key=b"")
    out = {"who": who, "n": n, "outcomes": list(wanted), "seconds": round(seconds, 2),
           "cpu_seconds": round(cpu, 2), "dropped_impossible": data.attrs["dropped_impossible"],
           "generate_seconds": round(generate, 2), "rss_before_mb": round(before, 1)}
    if who != "peer":
        out["trees"] = model_facts(model)["trees"]
        params = model.get_params()  # the settings the model was trained with
        out["settings"] = {k: params[k] for k in SPEED_TUNED}
        out["threads"] = params["n_jobs"]
    else:
        out["threads"] = peer_threads
    return out


def load_trained(who: str, path: str, setting: str, peer_threads: int | None = 1) -> Any:
    """Load a model saved by :func:`train_child`."""
    from covid_risk.models import load
    from covid_risk.schema import SETTING_OUTCOMES

    if who != "peer":
        return load(path, hmac_key=b"")
    peer = Peer(setting, SETTING_OUTCOMES[setting], n_jobs=peer_threads)
    with open(path, "rb") as fh:  # our own temporary file, written just before
        peer.models = pickle.load(fh)  # noqa: S301
    return peer


# -------------------------------------------------------------------------------- quality
def predictions(model: Any, test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Probabilities of every outcome from a covid_risk model or the peer."""
    if isinstance(model, Peer):
        return model.predict_frame(test)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = model.predict_proba(test)
    return {o: p[o].to_numpy() for o in model.outcomes_}


def quality(proba: dict[str, np.ndarray], test: pd.DataFrame) -> dict[str, dict]:
    """AUROC, calibration slope, log loss, MAE to the true risk, per outcome."""
    from covid_risk import metrics

    out = {}
    for o, p in proba.items():
        y = test[o].astype("boolean").to_numpy(dtype="float64", na_value=np.nan)
        keep = ~np.isnan(y)
        yk, pk = y[keep], np.clip(np.asarray(p, dtype="float64")[keep], 1e-15, 1 - 1e-15)
        truth = test[f"true_risk_{o}"].to_numpy(dtype="float64")
        out[o] = {
            "auroc": round(float(metrics.roc_auc(yk, pk)), 4),
            "calibration_slope": round(float(metrics.calibration_slope(yk, pk)), 4),
            "log_loss": round(float(metrics.log_loss(yk, pk)), 5),
            "mae_true_risk": round(float(np.nanmean(np.abs(np.asarray(p) - truth))), 5),
        }
    return out


def at_least_as_accurate(q: dict[str, dict], q_peer: dict[str, dict]) -> dict[str, dict]:
    """Per outcome and measure, whether ``q`` is at least as good as the peer's ``q_peer``."""
    return {o: {"auroc": q[o]["auroc"] >= q_peer[o]["auroc"],
                "log_loss": q[o]["log_loss"] <= q_peer[o]["log_loss"],
                "mae_true_risk": q[o]["mae_true_risk"] <= q_peer[o]["mae_true_risk"]}
            for o in q}


# ----------------------------------------------------------------------------------- run
_START = time.perf_counter()


def _log(message: str) -> None:
    print(f"  [{time.perf_counter() - _START:7.1f} s] {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    """Run the comparison and return the results."""
    from covid_risk.prediction import _predict as api
    from covid_risk.schema import PREDICTORS

    setting = "admission"
    res: dict[str, Any] = {"benchmark": "bench_peer", "machine": machine(),
                           "settings": settings(args)}
    work = Path(tempfile.mkdtemp(prefix="covid_risk_bench_peer_"))
    saved = {who: work / f"{who}.model" for who in CONTESTANTS}

    # training: each run in a fresh process (time and peak memory)
    training: dict[str, Any] = {}
    all_runs: dict[str, list[dict]] = {who: [] for who in CONTESTANTS}
    if args.trained:  # models and their training runs from bench_training --save-dir
        shared = Path(args.trained)
        loaded = json.loads((shared / "training.json").read_text())
        if any(r["n"] != args.n_train for runs in loaded.values() for r in runs):
            raise SystemExit(f"--trained holds models of another size than {args.n_train:,}")
        all_runs.update(loaded)
        saved.update({who: shared / f"{who}.model" for who in loaded})
        here = [who for who in CONTESTANTS if who not in loaded]
        training["source"] = (
            f"{' and '.join(loaded)}: bench_training (same cohort seed, runs in fresh "
            f"processes); {' and '.join(here) or 'none'}: trained here in fresh processes")
    todo = [who for who in CONTESTANTS if not all_runs[who]]  # all but those of --trained
    for r in range(args.repeats_training):  # in turn, order reversed each round
        for who in (todo if r % 2 == 0 else todo[::-1]):
            all_runs[who].append(run_child(
                "benchmarks.bench_peer:train_child", who=who, n=args.n_train, setting=setting,
                seed=SEEDS["train"], save=str(saved[who]) if r == 0 else None,
                quick=args.quick, peer_threads=args.peer_threads))
            _log(f"trained {who} on {args.n_train:,}: {all_runs[who][-1]['seconds']} s")
    for who, runs in all_runs.items():
        training[who] = {
            "median_seconds": float(np.median([x["seconds"] for x in runs])),
            "median_cpu_seconds": float(np.median([x["cpu_seconds"] for x in runs])),
            "peak_increase_mb": float(np.median([x["peak_increase_mb"] for x in runs])),
            "runs": runs,
        }
        if who in TRAIN_OPTIONS:
            training[who]["options"] = train_options(who, args.quick)
    peer_seconds = training["peer"]["median_seconds"]
    for who in TRAIN_OPTIONS:
        training[f"{who}_over_peer"] = ratio(training[who]["median_seconds"], peer_seconds)
    training["speed_tuned_no_slower_than_peer"] = bool(
        training["speed_tuned"]["median_seconds"] <= peer_seconds)
    res["training"] = training
    models = {who: load_trained(who, str(saved[who]), setting, args.peer_threads)
              for who in CONTESTANTS}
    ours, peer = models["ours"], models["peer"]
    res["model"] = model_facts(ours)
    res["model_speed_tuned"] = model_facts(models["speed_tuned"])

    # quality on an independent test cohort
    test = cohort(args.n_test, setting=setting, random_state=SEEDS["test"])
    q = {who: quality(predictions(m, test), test) for who, m in models.items()}
    X_check = ours.model_matrix(test.head(2000)).to_numpy()
    same = np.allclose(peer_features(test.head(2000), setting).to_numpy(), X_check,
                       equal_nan=True, rtol=1e-12, atol=0)
    res["quality"] = {"n_test": args.n_test, **q,
                      "peer_features_equal_model_matrix": bool(same)}
    for who in TRAIN_OPTIONS:
        res["quality"][f"{who}_at_least_as_accurate"] = at_least_as_accurate(q[who], q["peer"])

    _log("quality done")
    # single-patient latency, end to end from a dict
    pool = cohort(args.patients * 2, setting=setting, random_state=SEEDS["patients"])
    dicts = patients_as_dicts(pool, PREDICTORS)
    from covid_risk.prediction._fastpath import parse_patient

    clean = [d for d in dicts if parse_patient(d) is not None][: args.patients]
    peer_sample = clean[: args.peer_patients]
    latency: dict[str, Any] = {"patients": len(clean), "peer_patients": len(peer_sample)}
    for label, explain in (("without_explanation", False), ("with_top5_factors", True)):
        for p in clean[:20]:  # warm-up (compilation, caches)
            api.predict_risk(p, model=ours, explain=explain)
        s_ours = latency_stats(*time_calls(
            lambda p, e=explain: api.predict_risk(p, model=ours, explain=e), clean, args.repeats))
        for p in peer_sample[:5]:
            peer.predict_one(p, explain=explain)
        s_peer = latency_stats(*time_calls(
            lambda p, e=explain: peer.predict_one(p, explain=e), peer_sample, args.repeats))
        latency[label] = {"ours": s_ours, "peer": s_peer,
                          "peer_over_ours_median": ratio(s_peer["median_ms"], s_ours["median_ms"])}
    res["latency"] = latency

    _log("latency done")
    # batch throughput and SHAP rows per second
    batch = to_score(test.head(args.batch_rows))
    times = alternate({"ours": lambda: api.predict_risk(batch, model=ours),
                       "peer": lambda: peer.predict_frame(batch)}, args.repeats)
    t_ours, t_peer = float(np.median(times["ours"])), float(np.median(times["peer"]))
    res["batch"] = {"rows": len(batch), "ours_rows_per_second": round(len(batch) / t_ours),
                    "peer_rows_per_second": round(len(batch) / t_peer),
                    "ours_over_peer": ratio(t_peer, t_ours), "runs_seconds": times}
    from covid_risk.explanation import explain as explain_all

    shap_rows = to_score(test.head(args.shap_rows))
    times = alternate({"ours": lambda: explain_all(shap_rows, model=ours),
                       "peer": lambda: peer.shap_rows(shap_rows)}, args.repeats)
    t_ours, t_peer = float(np.median(times["ours"])), float(np.median(times["peer"]))
    _log("batch and SHAP done")
    res["shap"] = {"rows": len(shap_rows), "ours_rows_per_second": round(len(shap_rows) / t_ours),
                   "peer_rows_per_second": round(len(shap_rows) / t_peer),
                   "ours_over_peer": ratio(t_peer, t_ours),
                   "peer_trees_per_outcome": "3 folds x 100 trees x 31 leaves (first fold "
                                             "explained)",
                   "runs_seconds": times}
    return res


_MEASURES = (("auroc", "AUROC", ".4f"), ("calibration_slope", "calibration slope", ".3f"),
             ("log_loss", "log loss", ".5f"), ("mae_true_risk", "MAE to true risk", ".4f"))
"""Quality measures of the Markdown table: key, label, number format."""
_NAMES = {key: label for key, label, _ in _MEASURES}


def _call(options: dict[str, Any]) -> str:
    """Keyword arguments as written in a call: ``learning_rate=0.1, refit=False``."""
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def markdown(res: dict) -> str:
    """A short Markdown section of the results."""
    t = res["training"]
    lines = [
        "## covid_risk vs the hand-rolled peer",
        "",
        f"Training cohort {res['settings']['n_train']:,} admitted patients, all "
        f"{len(res['model']['outcomes'])} outcomes with calibration; test cohort "
        f"{res['quality']['n_test']:,}. Peer: CalibratedClassifierCV(Pipeline(SimpleImputer, "
        "LGBMClassifier), sigmoid, cv=3) per outcome, shap.TreeExplainer, one-row DataFrame "
        f"per patient; peer LightGBM threads: {res['settings']['peer_threads'] or 'all cores'}, "
        "covid_risk: 1. Speed-tuned: covid_risk.train("
        f"{_call(t['speed_tuned']['options'])}), a demonstration of the time/accuracy "
        "trade-off, not the library default.",
        "",
        "| measure | covid_risk | peer | ratio |",
        "|---|---|---|---|",
        f"| training (median s) | {t['ours']['median_seconds']:.1f} | "
        f"{t['peer']['median_seconds']:.1f} | ours/peer {t['ours_over_peer']} |",
        f"| training peak memory increase (MiB) | {t['ours']['peak_increase_mb']:.0f} | "
        f"{t['peer']['peak_increase_mb']:.0f} | |",
        f"| training, covid_risk speed-tuned (median s) | "
        f"{t['speed_tuned']['median_seconds']:.1f} | {t['peer']['median_seconds']:.1f} | "
        f"speed-tuned/peer {t['speed_tuned_over_peer']} |",
    ]
    for label in ("without_explanation", "with_top5_factors"):
        lat = res["latency"][label]
        lines.append(
            f"| one patient {label.replace('_', ' ')}: median / p99 (ms) | "
            f"{lat['ours']['median_ms']:.3f} / {lat['ours']['p99_ms']:.3f} | "
            f"{lat['peer']['median_ms']:.2f} / {lat['peer']['p99_ms']:.2f} | "
            f"peer/ours {lat['peer_over_ours_median']} |")
    b, s = res["batch"], res["shap"]
    lines += [
        f"| batch scoring, rows/s ({b['rows']:,} rows) | {b['ours_rows_per_second']:,} | "
        f"{b['peer_rows_per_second']:,} | ours/peer {b['ours_over_peer']} |",
        f"| SHAP rows/s, all outcomes ({s['rows']:,} rows) | {s['ours_rows_per_second']:,} | "
        f"{s['peer_rows_per_second']:,} | ours/peer {s['ours_over_peer']} |",
        "",
        "| outcome | " + " | ".join(f"{label} ours / peer / speed-tuned"
                                      for _, label, _ in _MEASURES) + " |",
        "|---|" + "---|" * len(_MEASURES),
    ]
    q = res["quality"]
    for o in q["ours"]:
        cells = [" / ".join(f"{q[who][o][key]:{fmt}}" for who in CONTESTANTS)
                 for key, _, fmt in _MEASURES]
        lines.append(f"| {o} | " + " | ".join(cells) + " |")
    verdict = []
    for o, ok in q["speed_tuned_at_least_as_accurate"].items():
        worse = [m for m in ("auroc", "log_loss") if not ok[m]]
        verdict.append(f"{o} " + (f"no ({' and '.join(_NAMES[m] for m in worse)} worse)"
                                  if worse else "yes"))
    no_slower = "yes" if t["speed_tuned_no_slower_than_peer"] else "no"
    lines += [
        "",
        f"Speed-tuned vs the peer -- trains no slower: {no_slower} "
        f"({t['speed_tuned']['median_seconds']:.1f} s vs {t['peer']['median_seconds']:.1f} s); "
        "at least as accurate on both AUROC and log loss: " + ", ".join(verdict) + ".",
    ]
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_peer",
                                description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=100_000)
    p.add_argument("--n-test", type=int, default=50_000)
    p.add_argument("--patients", type=int, default=1000, help="patients timed one by one")
    p.add_argument("--peer-patients", type=int, default=200,
                   help="patients timed one by one for the (slow) peer")
    p.add_argument("--batch-rows", type=int, default=50_000)
    p.add_argument("--shap-rows", type=int, default=5_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--repeats-training", type=int, default=2)
    p.add_argument("--peer-threads", type=int, default=1,
                   help="LightGBM threads of the peer (default 1, like covid_risk; 0 = "
                        "LightGBM's default, all cores)")
    p.add_argument("--trained", default=None,
                   help="folder from bench_training --save-dir: reuse its models and times")
    p.add_argument("--quick", action="store_true", help="tiny sizes, fast training: a smoke run")
    p.add_argument("--out", type=Path, default=None, help="results folder")
    return p


QUICK = {"n_train": 2000, "n_test": 1000, "patients": 40, "peer_patients": 10,
         "batch_rows": 1000, "shap_rows": 200, "repeats": 2, "repeats_training": 1}
"""Smoke-run sizes. 2,000 training patients: below that ``train`` switches to its
small-cohort regime, where the contestants' differing options (refit, patience) coincide."""


def main(argv: list[str] | None = None) -> dict:
    """Run from the command line (or from ``run_all``); write and return the results."""
    args = parser().parse_args(argv)
    if args.peer_threads == 0:
        args.peer_threads = None
    warnings.simplefilter("ignore")  # the peer's library warnings would drown the report
    apply_quick(args, QUICK)
    return publish("bench_peer", run(args), markdown, args.out)


if __name__ == "__main__":  # pragma: no cover
    main()
