"""One self-contained HTML report of an evaluation, with the model card.

:func:`render_report` writes a single HTML file that opens anywhere without a
network: CSS is inline, every figure is a base64-embedded PNG and nothing links
outside the file. It holds, in order:

1. the title and a not-for-clinical-use banner;
2. the model card (:mod:`covid_risk.evaluation.card`): intended use, population,
   outcomes, predictors, the synthetic training data, development, limitations;
3. performance with bootstrap 95% confidence intervals;
4. ROC, calibration and decision curves (the evaluation's own ``plot_*`` figures);
5. the subgroup table;
6. global SHAP importance (mean absolute SHAP value per feature and outcome);
7. the comparison with the clinical-score baselines and the true-risk ceiling;
8. the TRIPOD+AI checklist with links to where each item is answered.

``Evaluation.to_html(path, **kw)`` is a thin wrapper around :func:`render_report`.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covid_risk._version import __version__
from covid_risk.evaluation.card import NOT_FOR_CLINICAL_USE, REPORT_SECTIONS, ModelCard, model_card
from covid_risk.labels import category_text, feature_label
from covid_risk.schema import FIELDS

__all__ = ["SECTION_TITLES", "render_report", "report_html"]

SECTION_TITLES: dict[str, str] = {
    "model_card": "Model card",
    **REPORT_SECTIONS,
    "tripod": "TRIPOD+AI checklist",
}
"""Top-level sections of the report (anchor -> heading), in order."""

_CSS = """
:root { --ink:#1d2733; --muted:#5b6b7b; --line:#d5dde5; --accent:#1f5f8b; --warn:#9b1c1c; }
* { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); margin: 0; background: #f6f8fa; line-height: 1.45; font-size: 15px; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 1.55em; margin: 0.2em 0 0.4em; }
h2 { font-size: 1.3em; border-bottom: 2px solid var(--accent); padding-bottom: 4px;
     margin-top: 2.2em; }
h3 { font-size: 1.08em; margin: 1.6em 0 0.4em; color: var(--accent); }
p, dd { max-width: 78ch; }
.banner { border: 2px solid var(--warn); background: #fdf1f1; color: var(--warn);
          padding: 10px 14px; font-weight: 600; border-radius: 4px; }
.meta { color: var(--muted); font-size: 0.9em; }
.note { color: var(--muted); font-size: 0.92em; font-style: italic; }
nav ol { columns: 2; font-size: 0.95em; }
dl { display: grid; grid-template-columns: minmax(180px, 26%) 1fr; gap: 4px 16px; margin: 0.6em 0; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.86em; }
th, td { border: 1px solid var(--line); padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #eef3f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafbfc; }
figure { margin: 0.8em 0 1.4em; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.9em; }
details summary { cursor: pointer; color: var(--accent); margin: 0.4em 0; }
"""


def render_report(
    evaluation: Any,
    path: str | Path,
    *,
    model: Any = None,
    importance: pd.DataFrame | None = None,
    cohort: pd.DataFrame | None = None,
    card: ModelCard | None = None,
    title: str | None = None,
    extra_sections: Sequence[tuple[str, str, str]] = (),
) -> Path:
    """Write one self-contained HTML report of an evaluation and return its path.

    Parameters
    ----------
    evaluation : Evaluation
        The result of :func:`covid_risk.evaluate`; its ``summary``, ``comparison``,
        ``subgroups`` and ``plot_roc`` / ``plot_calibration`` / ``plot_decision_curve``
        fill the result sections.
    path : str or Path
        Where to write the file (parent folders are created; ``.html`` is not added).
    model : RiskModel, optional
        The evaluated model; its metadata fills the model card. Default: the evaluation's
        ``model`` attribute when it has one.
    importance : pandas.DataFrame, optional
        Global importance, one row per feature and one column per outcome (mean absolute
        SHAP value in log-odds), as returned by
        :func:`covid_risk.explanation.global_importance`. When ``None`` and both ``model``
        and ``cohort`` are given, it is computed with that function.
    cohort : pandas.DataFrame, optional
        Rows to compute the global importance on (only used when ``importance`` is None).
    card : ModelCard, optional
        A ready model card; default ``model_card(model, evaluation=evaluation)``.
    title : str, optional
        Page title; default: the model card's title.
    extra_sections : sequence of (str, str, str), default=()
        More sections as ``(anchor, heading, html)``, placed before the TRIPOD+AI
        checklist and listed in the contents (e.g. retraining gates and drift). The
        HTML is inserted as given: it must be self-contained too.

    Returns
    -------
    pathlib.Path
        The file written. The same inputs give the same bytes (no time stamp is written;
        the model's creation time is in the model card).

    Examples
    --------
    >>> ev = covid_risk.evaluate(model, test_cohort)          # doctest: +SKIP
    >>> render_report(ev, "report.html", model=model)         # doctest: +SKIP
    PosixPath('report.html')
    """
    text = report_html(
        evaluation, model=model, importance=importance, cohort=cohort, card=card, title=title,
        extra_sections=extra_sections,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def report_html(
    evaluation: Any,
    *,
    model: Any = None,
    importance: pd.DataFrame | None = None,
    cohort: pd.DataFrame | None = None,
    card: ModelCard | None = None,
    title: str | None = None,
    extra_sections: Sequence[tuple[str, str, str]] = (),
) -> str:
    """Return the report of :func:`render_report` as an HTML string (same parameters)."""
    extra = [(str(k), str(t), str(h)) for k, t, h in extra_sections]
    clash = [k for k, _, _ in extra
             if k in SECTION_TITLES or not re.fullmatch(r"[A-Za-z][\w-]*", k)]
    if clash:
        raise ValueError(
            f"extra_sections anchors {clash} clash with the report's own sections or are not "
            "simple names; use letters, digits, '_' or '-' and avoid "
            f"{', '.join(SECTION_TITLES)}."
        )
    if model is None:
        model = getattr(evaluation, "model", None)
    outcomes = _outcomes(evaluation)
    if card is None:
        card = model_card(
            model,
            evaluation=evaluation,
            setting=_setting(model, evaluation),
            outcomes=outcomes if model is None and outcomes else None,
        )
    if importance is None and model is not None and cohort is not None:
        importance = _compute_importance(model, cohort)
    title = title or card.title

    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="banner">{_e(NOT_FOR_CLINICAL_USE)}</p>',
        f'<p class="meta">{_e(_generated_line(evaluation, model))}</p>',
        _toc(extra),
        _section("model_card", _card_html(card)),
        _section("performance", _performance_html(evaluation)),
        _section("roc", _figure_html(evaluation, "plot_roc", outcomes,
                                     "ROC curve per outcome; the diagonal is chance.")),
        _section("calibration", _figure_html(
            evaluation, "plot_calibration", outcomes,
            "Observed event rate against mean predicted risk in bins; the diagonal is perfect "
            "calibration.")),
        _section("decision_curve", _figure_html(
            evaluation, "plot_decision_curve", outcomes,
            "Net benefit across threshold probabilities against treating everyone and no one.")),
        _section("subgroups", _subgroups_html(evaluation)),
        _section("importance", _importance_html(importance)),
        _section("comparison", _comparison_html(evaluation)),
        *(f'<section id="{k}">\n<h2>{_e(t)}</h2>\n{h}\n</section>' for k, t, h in extra),
        _section("tripod", _tripod_html(card)),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------------


def _section(key: str, inner: str) -> str:
    return f'<section id="{key}">\n<h2>{_e(SECTION_TITLES[key])}</h2>\n{inner}\n</section>'


def _toc(extra: Sequence[tuple[str, str, str]] = ()) -> str:
    entries = list(SECTION_TITLES.items())
    entries[-1:-1] = [(k, t) for k, t, _ in extra]  # before the checklist
    items = "".join(f'<li><a href="#{k}">{_e(t)}</a></li>' for k, t in entries)
    return f"<nav><strong>Contents</strong><ol>{items}</ol></nav>"


def _card_html(card: ModelCard) -> str:
    parts = [s.to_html(level=3) for s in card.sections if s.key != "tripod"]
    return "\n".join(parts)


def _tripod_html(card: ModelCard) -> str:
    items = card.items
    titles = {s.key: s.title for s in card.sections}
    rows = []
    for t in items:
        if t.where == "title":
            where = "Title"
        elif t.where in titles:
            where = f'<a href="#{t.where}">{_e(titles[t.where])}</a>'
        elif t.where in REPORT_SECTIONS:
            where = f'<a href="#{t.where}">{_e(REPORT_SECTIONS[t.where])}</a>'
        else:
            where = _e(t.where)
        rows.append(
            f"<tr><td>{_e(t.item)}</td><td>{_e(t.topic)}</td><td>{where}</td>"
            f"<td>{_e(t.status)}</td><td>{_e(t.note)}</td></tr>"
        )
    intro = card["tripod"].paragraphs if "tripod" in card else ()
    head = "<tr><th>item</th><th>topic</th><th>where answered</th><th>status</th><th>note</th></tr>"
    return "\n".join(
        [*(f"<p>{_e(p)}</p>" for p in intro),
         f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"]
    )


def _performance_html(evaluation: Any) -> str:
    settings = getattr(evaluation, "settings", None) or {}
    n_boot = settings.get("n_bootstrap") if isinstance(settings, Mapping) else None
    boot = f"{n_boot} bootstrap resamples of patients" if n_boot else "bootstrap resamples"
    parts = [
        f"<p>Point estimates with 95% confidence intervals (percentile intervals over {boot}) "
        "on the evaluation cohort. AUROC: discrimination; Brier score and log loss: overall "
        "accuracy; calibration intercept (ideal 0) and slope (ideal 1); O/E: observed over "
        "expected events. On simulated cohorts the true risk of each patient is known: the "
        "ceiling is the AUROC of the true risk, and the last rows compare predicted with true "
        "probabilities.</p>",
        _CALIBRATION_NOTE,
    ]
    counts = _table(evaluation, "counts")
    if counts is not None:
        parts.append(_df_html(_counts_by_outcome(counts)))
    summary = _table(evaluation, "summary")
    if summary is None:
        parts.append('<p class="note">The evaluation has no summary table.</p>')
    else:
        parts.append(_df_html(_metrics_by_outcome(summary)))
    notes = getattr(evaluation, "notes", None)
    if notes:
        items = "".join(f"<li>{_e(str(n))}</li>" for n in notes)
        parts.append(f'<p class="note">Notes:</p><ul class="note">{items}</ul>')
    return "\n".join(parts)


_CALIBRATION_NOTE = (
    "<p>Calibration error. ECE averages |observed - predicted| over ten bins of predicted "
    "risk; each bin's observed rate carries sampling noise, so ECE is biased upward and even "
    "predictions that are exactly right show about 0.01 on 10,000 patients. ICI, E50 and E90 "
    "(Austin &amp; Steyerberg, Stat Med 2019) are the mean, median and 90th percentile over "
    "patients of |c(p) - p|, where c is the smoothed calibration curve (logistic regression "
    "of the outcome on a restricted cubic spline of logit p with four knots). They have a "
    "smaller noise floor, shown in the row \u201cICI of a perfectly calibrated "
    "predictor\u201d: the ICI the same predictions would show if they were exactly right "
    "(labels redrawn from them 100 times; its range is over those redraws). <b>Well "
    "calibrated</b> means an ICI within that range; an ICI above its upper end is "
    "miscalibration this cohort can detect, and E90 says how large it gets for the tenth of "
    "patients the model fits worst.</p>"
)


def _counts_by_outcome(counts: pd.DataFrame) -> pd.DataFrame:
    """Patients, events and exclusions per outcome as a small text table (outcomes as columns)."""
    labels = {
        "n": "patients evaluated",
        "events": "events",
        "prevalence": "event rate",
        "n_missing_label": "excluded: outcome not recorded",
        "n_missing_prediction": "excluded: no prediction",
    }
    rows = []
    for key, label in labels.items():
        if key not in counts.columns:
            continue
        values = counts[key]
        if key.startswith("n_missing") and not (pd.to_numeric(values, errors="coerce") > 0).any():
            continue
        if key == "prevalence":
            cells = [f"{100 * float(v):.1f}%" for v in values]
        else:
            cells = [f"{int(v):,}" for v in values]
        rows.append([label, *cells])
    columns = ["", *[_outcome_label(str(o)) for o in counts.index]]
    return pd.DataFrame(rows, columns=columns)


def _metrics_by_outcome(summary: pd.DataFrame) -> pd.DataFrame:
    """Pivot a long ``(outcome, metric)`` summary to metrics x outcomes of "est [lo, hi]" text."""
    df = summary.reset_index() if _has_named_index(summary) else summary.copy()
    if not {"outcome", "estimate"} <= set(df.columns):
        return _with_ci_text(df)
    lo = next((c for c in _LOWER if c in df.columns), None)
    hi = next((c for c in _UPPER if c in df.columns), None)
    label = "label" if "label" in df.columns else "metric"
    df["text"] = [
        _ci_text(e, a, b)
        for e, a, b in zip(
            df["estimate"],
            df[lo] if lo else [np.nan] * len(df),
            df[hi] if hi else [np.nan] * len(df),
            strict=True,
        )
    ]
    order = list(dict.fromkeys(df[label]))
    outcomes = list(dict.fromkeys(df["outcome"]))
    wide = df.pivot(index=label, columns="outcome", values="text").reindex(order)[outcomes]
    wide.columns = [_outcome_label(str(o)) for o in outcomes]
    wide = wide.fillna("")
    wide.index.name = "metric"
    return wide.reset_index()


def _figure_html(evaluation: Any, method: str, outcomes: tuple[str, ...], caption: str) -> str:
    plot = getattr(evaluation, method, None)
    if not callable(plot):
        return f'<p class="note">The evaluation has no {method}() method.</p>'
    try:
        fig = plot()
    except Exception as exc:  # a failing plot must not lose the rest of the report
        warnings.warn(f"{method}() failed ({exc}); the report shows a note instead.",
                      stacklevel=3)
        return f'<p class="note">{_e(method)}() failed: {_e(str(exc))}</p>'
    return _img(fig, caption + (f" Outcomes: {', '.join(outcomes)}." if outcomes else ""))


_SUBGROUP_COLUMNS = {
    "variable": "variable",
    "group": "group",
    "n": "n",
    "events": "events",
    "observed_rate": "observed rate",
    "mean_predicted": "mean predicted",
    "oe_ratio": "O/E [95% CI]",
    "calibration_intercept": "calibration-in-the-large",
    "auroc": "AUROC [95% CI]",
}


def _subgroups_html(evaluation: Any) -> str:
    sub = _table(evaluation, "subgroups")
    intro = (
        "<p>Per group: patients, events, observed event rate, mean predicted risk, observed over "
        "expected events (O/E) and calibration-in-the-large (ideal 0), and AUROC (shown as a "
        "dash, never zero, when a group has only one class). Missing group values form their "
        "own group. Small groups have wide intervals.</p>"
    )
    if sub is None or len(sub) == 0:
        return intro + '<p class="note">No subgroup table in the evaluation.</p>'
    sub = sub.reset_index() if _has_named_index(sub) else sub.copy()
    for est, lo, hi in (("oe_ratio", "oe_lower", "oe_upper"),
                        ("auroc", "auroc_lower", "auroc_upper")):
        if {est, lo, hi} <= set(sub.columns):
            sub[est] = [_ci_text(e, a, b) for e, a, b in zip(sub[est], sub[lo], sub[hi],
                                                               strict=True)]
    if {"variable", "group"} <= set(sub.columns):
        sub["group"] = [_group_label(str(v), str(g)) for v, g in zip(sub["variable"],
                                                                      sub["group"], strict=True)]
        sub["variable"] = [_variable_label(str(v)) for v in sub["variable"]]
    parts = [intro]
    groups = sub.groupby("outcome", sort=False) if "outcome" in sub.columns else [("", sub)]
    for outcome, frame in groups:
        cols = [c for c in _SUBGROUP_COLUMNS if c in frame.columns]
        table = frame[cols].rename(columns=_SUBGROUP_COLUMNS) if cols else frame
        heading = f"<h3>{_e(_outcome_label(str(outcome)))}</h3>" if outcome != "" else ""
        parts.append(heading + "\n" + _df_html(table))
    return "\n".join(parts)


def _group_label(variable: str, group: str) -> str:
    if group == "missing":
        return "Not recorded"
    f = FIELDS.get(variable)
    if f is not None and f.kind == "category" and group in f.categories:
        try:
            text = category_text(group)
        except ImportError:
            text = group.replace("_", " ")
        return text[:1].upper() + text[1:]
    return group


def _variable_label(name: str) -> str:
    special = {"age_band": "Age band", "vaccination": "Vaccination"}
    if name in special:
        return special[name]
    f = FIELDS.get(name)
    return f.label if f is not None else name.replace("_", " ")


def _importance_html(importance: pd.DataFrame | None) -> str:
    intro = (
        "<p>Mean absolute SHAP value (log-odds) per feature and outcome, from exact TreeSHAP on "
        "the boosters: how much, on average, each feature moves a patient's predicted risk.</p>"
    )
    if importance is None or len(importance) == 0:
        return intro + (
            '<p class="note">Not computed: pass importance= (from '
            "covid_risk.explanation.global_importance) or model= and cohort= to the report.</p>"
        )
    imp = importance.copy()
    imp = imp.select_dtypes(include="number")
    labels = [_feature_label(str(n)) for n in imp.index]
    imp.index = pd.Index(labels, name="feature")
    order = imp.mean(axis=1).sort_values(ascending=False).index
    imp = imp.loc[order]
    parts = [intro, _img(_importance_figure(imp), "Top features per outcome (mean |SHAP|).")]
    top = imp.head(20).reset_index()
    parts.append("<details><summary>Table: top 20 features</summary>"
                 + _df_html(top) + "</details>")
    return "\n".join(parts)


_COMPARISON_COLUMNS = {
    "outcome": "outcome",
    "predictor": "predictor",
    "auroc": "AUROC [95% CI]",
    "delta_auroc": "AUROC minus model's [95% CI]",
    "auprc": "AUPRC",
    "brier": "Brier",
    "calibration_intercept": "calibration intercept",
    "calibration_slope": "calibration slope",
    "ece": "ECE",
    "ici": "ICI",
    "oe_ratio": "O/E",
    "mae_true": "MAE vs true risk",
    "true_calibration_slope": "slope vs true risk",
}


def _comparison_html(evaluation: Any) -> str:
    comp = _table(evaluation, "comparison")
    intro = (
        "<p>The model against the baselines, evaluated by the same code on the same patients "
        "(logistic regression, and clinical scores turned into probabilities by a logistic "
        "recalibration on the training cohort) and, on simulated data, against the true risk "
        "used by the simulator, whose AUROC is the ceiling no model can beat on average. The "
        "AUROC difference from the model is paired (same bootstrap resamples); an interval "
        "below zero means the baseline is worse.</p>"
    )
    if comp is None or len(comp) == 0:
        return intro + (
            '<p class="note">No baselines were evaluated (pass baselines= to '
            "covid_risk.evaluate).</p>"
        )
    comp = comp.reset_index() if _has_named_index(comp) else comp.copy()
    baselines = getattr(evaluation, "baselines", None)
    note = ""
    if baselines is not None and not baselines:
        note = (
            '<p class="note">No baselines were evaluated, so only the model and the ceiling are '
            "shown: pass baselines= to covid_risk.evaluate (e.g. covid_risk.models.fit_baselines "
            "on the training cohort).</p>"
        )
    fig = _comparison_figure(comp)
    comp = _with_ci_text(comp)
    comp = comp.dropna(axis=1, how="all")
    cols = [c for c in _COMPARISON_COLUMNS if c in comp.columns]
    table = comp[cols].rename(columns=_COMPARISON_COLUMNS) if len(cols) > 2 else comp
    if "outcome" in table.columns:
        table["outcome"] = [_outcome_label(str(o)) for o in table["outcome"]]
    parts = [intro + note]
    if fig is not None:
        parts.append(_img(fig, "AUROC of the model, each baseline and the true risk (ceiling), "
                               "with 95% intervals."))
    parts.append(_df_html(table))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------


def _img(fig: Any, caption: str) -> str:
    return (
        f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{_png_base64(fig)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _png_base64(fig: Any) -> str:
    """Encode a matplotlib figure as base64 PNG and close it."""
    buf = io.BytesIO()
    # a figure with a layout engine is already laid out; "tight" would draw it twice
    tight = None if fig.get_layout_engine() is not None else "tight"
    fig.savefig(buf, format="png", dpi=96, bbox_inches=tight, metadata={"Software": None})
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _importance_figure(imp: pd.DataFrame, top: int = 10) -> Any:
    from matplotlib.figure import Figure

    cols = list(imp.columns)
    ncol = min(3, max(1, len(cols)))
    nrow = math.ceil(len(cols) / ncol)
    fig = Figure(figsize=(4.2 * ncol, 0.32 * top * nrow + 1.0 * nrow), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for ax, col in zip(axes, cols, strict=False):
        s = imp[col].sort_values(ascending=False).head(top)[::-1]
        ax.barh(range(len(s)), s.to_numpy(), color="#1f5f8b")
        ax.set_yticks(range(len(s)), [_short(str(i), 36) for i in s.index], fontsize=8)
        ax.set_title(_outcome_label(str(col)), fontsize=10)
        ax.set_xlabel("mean |SHAP| (log-odds)", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
    for ax in axes[len(cols):]:
        ax.set_visible(False)
    return fig


def _comparison_figure(comp: pd.DataFrame) -> Any:
    """Dot plot of AUROC (with intervals) per outcome and predictor; None without AUROC."""
    cols = {str(c).lower(): c for c in comp.columns}
    auc_col = next((cols[c] for c in ("auroc", "auc", "roc_auc") if c in cols), None)
    who = next((cols[c] for c in ("predictor", "model", "name", "source") if c in cols), None)
    if auc_col is None or who is None or "outcome" not in comp.columns:
        return None
    data = comp.copy()
    data["_auc"] = pd.to_numeric(data[auc_col], errors="coerce")
    data = data[np.isfinite(data["_auc"].to_numpy(dtype="float64"))]
    if data.empty:
        return None
    lo_col = next((f"{auc_col}_{s}" for s in _LOWER if f"{auc_col}_{s}" in data.columns), None)
    hi_col = next((f"{auc_col}_{s}" for s in _UPPER if f"{auc_col}_{s}" in data.columns), None)
    from matplotlib.figure import Figure

    outcomes = list(dict.fromkeys(data["outcome"]))
    names = list(dict.fromkeys(data[who]))
    step = min(0.12, 0.8 / max(1, len(names)))
    fig = Figure(figsize=(9, 0.9 * len(outcomes) + 1.2), layout="constrained")
    ax = fig.subplots()
    markers = "osD^vP*Xh<>"
    for j, name in enumerate(names):
        d = data[data[who] == name]
        y = np.array([outcomes.index(o) for o in d["outcome"]]) + (j - (len(names) - 1) / 2) * step
        x = d["_auc"].to_numpy(dtype="float64")
        err = None
        if lo_col and hi_col:
            lo = pd.to_numeric(d[lo_col], errors="coerce").to_numpy(dtype="float64")
            hi = pd.to_numeric(d[hi_col], errors="coerce").to_numpy(dtype="float64")
            err = np.vstack([np.nan_to_num(x - lo), np.nan_to_num(hi - x)])
        ax.errorbar(x, y, xerr=err, fmt=markers[j % len(markers)], ms=5, capsize=2, lw=1,
                    label=str(name))
    ax.set_yticks(range(len(outcomes)), [_outcome_label(str(o)) for o in outcomes])
    ax.set_ylim(len(outcomes) - 0.5, -0.5)
    for k in range(1, len(outcomes)):
        ax.axhline(k - 0.5, color="#dddddd", lw=0.8)
    ax.set_xlabel("AUROC")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------

_CI_TEXT = re.compile(r"^-?[0-9][0-9.,]*( \[-?[0-9.,]+, -?[0-9.,]+\])?%?$")
_LOWER = ("ci_low", "ci_lower", "lower", "low", "lo", "ci_lo")
_UPPER = ("ci_high", "ci_upper", "upper", "high", "hi", "ci_hi")


def _with_ci_text(df: pd.DataFrame) -> pd.DataFrame:
    """Replace ``x``/``x_ci_low``/``x_ci_high`` style column triples by one "x [lo, hi]" column."""
    df = df.reset_index() if _has_named_index(df) else df.copy()
    cols = [str(c) for c in df.columns]
    df.columns = cols
    out = df.copy()
    # long format: estimate + lower + upper columns
    est = next((c for c in ("estimate", "value", "point") if c in cols), None)
    lo = next((c for c in _LOWER if c in cols), None)
    hi = next((c for c in _UPPER if c in cols), None)
    if est and lo and hi:
        out[est] = [_ci_text(e, a, b) for e, a, b in zip(df[est], df[lo], df[hi], strict=True)]
        return out.drop(columns=[lo, hi]).rename(columns={est: "estimate [95% CI]"})
    # wide format: metric, metric_<lower>, metric_<upper>
    for c in cols:
        lo_c = next((f"{c}_{s}" for s in _LOWER if f"{c}_{s}" in cols), None)
        hi_c = next((f"{c}_{s}" for s in _UPPER if f"{c}_{s}" in cols), None)
        if lo_c and hi_c:
            out[c] = [_ci_text(e, a, b) for e, a, b in zip(df[c], df[lo_c], df[hi_c], strict=True)]
            out = out.drop(columns=[lo_c, hi_c])
    return out


def _ci_text(est: Any, lo: Any, hi: Any) -> str:
    if not _is_number(est):
        return "" if est is None else str(est)
    if _is_number(lo) and _is_number(hi) and math.isfinite(lo) and math.isfinite(hi):
        return f"{_num(est)} [{_num(lo)}, {_num(hi)}]"
    return _num(est)


_TEXT_COLUMNS = frozenset({"", "outcome", "predictor", "metric", "variable", "group", "feature"})


def _df_html(df: pd.DataFrame, max_rows: int = 400) -> str:
    df = df.reset_index() if _has_named_index(df) else df
    if len(df) > max_rows:
        note = f'<p class="note">First {max_rows} of {len(df)} rows.</p>'
        df = df.head(max_rows)
    else:
        note = ""
    head = "".join(f"<th>{_e(str(c))}</th>" for c in df.columns)
    text_cols = [str(c) in _TEXT_COLUMNS for c in df.columns]
    rows = []
    for row in df.itertuples(index=False):
        cells = []
        for v, is_text in zip(row, text_cols, strict=True):
            if is_text:
                cells.append(f"<td>{_e(_cell(v))}</td>")
            elif _is_number(v):
                cells.append(f'<td class="num">{_e(_num(v))}</td>')
            elif isinstance(v, str) and _CI_TEXT.match(v):
                cells.append(f'<td class="num">{_e(v)}</td>')
            else:
                cells.append(f"<td>{_e(_cell(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _table(evaluation: Any, name: str) -> pd.DataFrame | None:
    """Return ``evaluation.<name>`` as a DataFrame (attribute or method), or None."""
    value = getattr(evaluation, name, None)
    if callable(value) and not isinstance(value, pd.DataFrame):
        value = value()
    return value if isinstance(value, pd.DataFrame) else None


def _outcomes(evaluation: Any) -> tuple[str, ...]:
    for attr in ("outcomes", "outcomes_"):
        v = getattr(evaluation, attr, None)
        if v is not None and not callable(v):
            return tuple(str(o) for o in v)
    return ()


def _setting(model: Any, evaluation: Any) -> str | None:
    for obj in (model, evaluation):
        meta = getattr(obj, "metadata_", None)
        if isinstance(meta, Mapping) and meta.get("setting") in ("community", "admission"):
            return str(meta["setting"])
        s = getattr(obj, "setting", None)
        if s in ("community", "admission"):
            return str(s)
    outs = set(_outcomes(evaluation))
    if outs and outs <= {"hospitalisation", "death"} and "hospitalisation" in outs:
        return "community"
    return None


def _compute_importance(model: Any, cohort: pd.DataFrame) -> pd.DataFrame | None:
    try:
        from covid_risk.explanation import global_importance
    except ImportError:
        return None
    return global_importance(model, cohort)


def _generated_line(evaluation: Any, model: Any) -> str:
    parts = [f"Generated by covid_risk {__version__}"]
    name = getattr(model, "name", None) or getattr(evaluation, "model_name", None)
    if name:
        parts.append(f"model: {name}")
    n = getattr(evaluation, "n", None)
    if isinstance(n, (int, np.integer)):
        parts.append(f"evaluation cohort: {int(n):,} patients")
    return " · ".join(parts)


def _feature_label(name: str) -> str:
    try:
        return feature_label(name)
    except (ImportError, KeyError):
        return name.replace("_", " ")


def _outcome_label(name: str) -> str:
    f = FIELDS.get(name)
    return f.label if f is not None else name


def _has_named_index(df: pd.DataFrame) -> bool:
    return any(n is not None for n in df.index.names)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)
    )


def _num(v: Any) -> str:
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    v = float(v)
    if math.isnan(v):
        return "–"
    if v != 0 and (abs(v) >= 1000):
        return f"{v:,.0f}"
    text = f"{v:.3f}"
    return "0.000" if text == "-0.000" else text


def _cell(v: Any) -> str:
    if v is None or v is pd.NA:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    return str(v)


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _e(s: str) -> str:
    return html.escape(s, quote=True)

