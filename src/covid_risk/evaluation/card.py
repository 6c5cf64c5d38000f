"""The model card: what a fitted risk model is for, what it was trained on, and its limits.

:func:`model_card` reads a fitted model's ``metadata_`` (and, when given, an
:class:`~covid_risk.Evaluation`) and returns a :class:`ModelCard`: ordered
sections of plain facts and tables, plus a TRIPOD+AI checklist saying where in
the card or the HTML report each reporting item that applies is answered.

The card renders to Markdown (:meth:`ModelCard.to_markdown`, for a model file's
companion ``MODEL_CARD.md``), to a JSON-able dict (:meth:`ModelCard.to_dict`) and
into the HTML report (:func:`covid_risk.evaluation.report.render_report`).

Every model in this library is trained on **simulated** patients. The card says
so in its first lines and again in its limitations: it is not a medical device
and must not be used to make decisions about real patients.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from covid_risk._json import to_jsonable
from covid_risk.schema import FIELDS, SETTING_OUTCOMES

__all__ = [
    "NOT_FOR_CLINICAL_USE",
    "REPORT_SECTIONS",
    "TRIPOD_ITEMS",
    "CardSection",
    "ModelCard",
    "model_card",
]

NOT_FOR_CLINICAL_USE = (
    "NOT FOR CLINICAL USE. This model was trained and evaluated on simulated patients only. "
    "It is software for research, teaching and testing of clinical decision-support pipelines; "
    "it is not a medical device, has not been validated on real patients, and must not be used "
    "to make or support decisions about the care of any person."
)
"""The statement every card and report opens with."""

REPORT_SECTIONS: dict[str, str] = {
    "performance": "Performance with 95% confidence intervals",
    "roc": "Discrimination: ROC curves",
    "calibration": "Calibration",
    "decision_curve": "Clinical utility: decision curves",
    "subgroups": "Subgroups",
    "importance": "Global feature importance (SHAP)",
    "comparison": "Comparison with clinical scores and baselines",
}
"""Result sections of the HTML report (key -> heading) that TRIPOD+AI items point to."""

_SETTING_TEXT: dict[str, dict[str, str]] = {
    "community": {
        "population": (
            "People of any age with a positive SARS-CoV-2 test in the community (primary care or "
            "population testing), assessed at the time of the positive test."
        ),
        "pathway": (
            "At diagnosis, before any hospital contact: to rank people for outreach, early "
            "treatment or shielding advice."
        ),
        "eligibility": (
            "Inclusion: a positive SARS-CoV-2 test. Exclusion: none by design; the simulated "
            "population has no vital signs or laboratory results at this point."
        ),
        "horizon": "28 days from the positive test.",
        "setting": "Community (primary care / population testing); no centres (simulated).",
    },
    "admission": {
        "population": (
            "Adults admitted to hospital with COVID-19, assessed with the demographics, "
            "comorbidities, vital signs, laboratory results and chest imaging recorded at "
            "admission."
        ),
        "pathway": (
            "At hospital admission (the first observations and blood tests): to support triage, "
            "the level of monitoring and conversations about escalation of care."
        ),
        "eligibility": (
            "Inclusion: admission to hospital with confirmed COVID-19 (community- or "
            "hospital-acquired). Exclusion: none by design."
        ),
        "horizon": "In-hospital events during the admission.",
        "setting": (
            "Secondary care (acute hospital admission); simulated to resemble the ISARIC 4C "
            "UK cohort (260 hospitals, England, Scotland and Wales, 2020)."
        ),
    },
}

_SOURCES = (
    "ISARIC 4C Mortality and Deterioration (Knight et al., BMJ 2020 and Gupta et al., Lancet "
    "Respir Med 2021): score histogram, mortality per score, outcome rates of admitted "
    "patients; OpenSAFELY (Williamson et al., Nature 2020): adjusted hazard ratios for death in "
    "the community; published variant and vaccination effects for the delta and omicron scenarios."
)


@dataclass(frozen=True)
class TripodItem:
    """One TRIPOD+AI reporting item and where the card or report answers it.

    Parameters
    ----------
    item : str
        Item number in the TRIPOD+AI checklist (Collins et al., BMJ 2024;385:e078378).
    topic : str
        Short name of the item.
    where : str
        Key of the card section (:attr:`ModelCard.sections`) or of the report section
        (:data:`REPORT_SECTIONS`) that answers it.
    status : {"answered", "partly", "not applicable"}
        How fully it is answered for a model trained on simulated data.
    note : str, default=""
        Why an item is only partly answered or not applicable.
    """

    item: str
    topic: str
    where: str
    status: str = "answered"
    note: str = ""


TRIPOD_ITEMS: tuple[TripodItem, ...] = (
    TripodItem("1", "Title: target population, outcome, modelling approach", "title"),
    TripodItem("3a", "Healthcare context and rationale", "intended_use"),
    TripodItem("3b", "Target population, place in the care pathway, intended users",
               "intended_use"),
    TripodItem("3c", "Known health inequalities between groups", "fairness"),
    TripodItem("4", "Objectives (development and internal evaluation)", "intended_use"),
    TripodItem("5a", "Data sources and their representativeness", "training_data", "partly",
               "simulated data; parameters taken from published cohorts"),
    TripodItem("5b", "Dates of data accrual and end of follow-up", "training_data", "partly",
               "no accrual dates: simulated patients; scenario names the period imitated"),
    TripodItem("6a", "Setting and centres", "population"),
    TripodItem("6b", "Eligibility criteria", "population"),
    TripodItem("6c", "Treatments received", "limitations", "not applicable",
               "treatment is not simulated; stated as a limitation"),
    TripodItem("7", "Data preparation and quality checks", "development"),
    TripodItem("8a", "Outcome definitions and time horizon", "outcomes"),
    TripodItem("9a", "Choice of predictors", "predictors"),
    TripodItem("9b", "Predictor definitions, units and timing of measurement", "predictors"),
    TripodItem("10", "Sample size", "training_data"),
    TripodItem("11", "Missing data", "development"),
    TripodItem("12c", "Model type, building steps, hyperparameters, internal validation",
               "development"),
    TripodItem("12e", "Performance measures: discrimination, calibration, clinical utility",
               "performance"),
    TripodItem("12f", "Recalibration / model updating", "development"),
    TripodItem("13", "Class imbalance", "development"),
    TripodItem("14", "Fairness: approach and subgroup analyses", "subgroups"),
    TripodItem("15", "Model output (calibrated probabilities) and any thresholds", "development"),
    TripodItem("16", "Differences between development and evaluation data", "held_out"),
    TripodItem("18e", "Data availability", "open_science"),
    TripodItem("18f", "Code availability", "open_science"),
    TripodItem("19", "Patient and public involvement", "open_science", "not applicable",
               "none: simulated data, software project"),
    TripodItem("21", "Numbers of participants and outcome events", "training_data"),
    TripodItem("22", "Full model specification / access to the model", "open_science"),
    TripodItem("23a", "Performance estimates with confidence intervals", "performance"),
    TripodItem("23b", "Heterogeneity of performance across groups", "subgroups"),
    TripodItem("25", "Comparison with existing models", "comparison"),
    TripodItem("26", "Limitations", "limitations"),
    TripodItem("27a", "Handling of poor-quality or unavailable input data", "limitations"),
)
"""The TRIPOD+AI items that apply to a model trained on simulated data, with where each is
answered. Item numbers follow the TRIPOD+AI checklist (Collins et al., BMJ 2024)."""


@dataclass(frozen=True, eq=False)
class CardSection:
    """One section of a model card.

    Parameters
    ----------
    key : str
        Stable identifier (``"intended_use"``, ``"training_data"``, ...).
    title : str
        Heading.
    paragraphs : tuple of str, default=()
        Free text, one paragraph each.
    facts : tuple of (str, str), default=()
        Label and value pairs, rendered as a definition list.
    table : pandas.DataFrame or None, default=None
        An optional table (outcomes, predictors, metrics, checklist).
    """

    key: str
    title: str
    paragraphs: tuple[str, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()
    table: pd.DataFrame | None = None

    def __repr__(self) -> str:
        shape = "" if self.table is None else f", table {self.table.shape[0]}x{self.table.shape[1]}"
        return f"CardSection({self.key!r}, {len(self.facts)} facts{shape})"

    def to_markdown(self, level: int = 2) -> str:
        """Return the section as Markdown with a heading of the given ``level``."""
        out = [f"{'#' * level} {self.title}", ""]
        for p in self.paragraphs:
            out += [p, ""]
        for label, value in self.facts:
            out.append(f"- **{label}**: {_md_escape(value)}")
        if self.facts:
            out.append("")
        if self.table is not None and len(self.table):
            out += [_markdown_table(self.table), ""]
        return "\n".join(out)

    def to_html(self, level: int = 2) -> str:
        """Return the section as an HTML fragment with an ``id`` equal to its key."""
        h = f"h{level}"
        out = [f'<section id="{self.key}"><{h}>{html.escape(self.title)}</{h}>']
        for p in self.paragraphs:
            out.append(f"<p>{html.escape(p)}</p>")
        if self.facts:
            out.append("<dl>")
            for label, value in self.facts:
                out.append(f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>")
            out.append("</dl>")
        if self.table is not None and len(self.table):
            out.append(_html_table(self.table))
        out.append("</section>")
        return "\n".join(out)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict of the section."""
        return {
            "key": self.key,
            "title": self.title,
            "paragraphs": list(self.paragraphs),
            "facts": {label: value for label, value in self.facts},
            "table": None if self.table is None else to_jsonable(
                self.table.to_dict(orient="records")
            ),
        }


@dataclass(frozen=True, eq=False)
class ModelCard:
    """A model card: ordered sections and a TRIPOD+AI checklist.

    Build it with :func:`model_card`. ``card["training_data"]`` returns a section.

    Attributes
    ----------
    title : str
        Names the target population, the outcomes and the method (TRIPOD+AI item 1).
    sections : tuple of CardSection
        In reading order; the last one is the TRIPOD+AI checklist.
    """

    title: str
    sections: tuple[CardSection, ...]
    items: tuple[TripodItem, ...] = field(default=TRIPOD_ITEMS, repr=False)

    def __repr__(self) -> str:
        return (
            f"ModelCard({self.title!r}, {len(self.sections)} sections, "
            f"{len(self.items)} TRIPOD+AI items)"
        )

    def __getitem__(self, key: str) -> CardSection:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(
            f"No section {key!r} in the model card; sections are: "
            f"{', '.join(s.key for s in self.sections)}."
        )

    def __contains__(self, key: object) -> bool:
        return any(s.key == key for s in self.sections)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per section: key, title, number of facts and TRIPOD+AI items answered there."""
        rows = []
        for s in self.sections:
            answered = [t.item for t in self.items if t.where == s.key]
            rows.append(
                {
                    "section": s.key,
                    "title": s.title,
                    "facts": len(s.facts),
                    "tripod_items": ", ".join(answered),
                }
            )
        return pd.DataFrame(rows)

    @property
    def tripod(self) -> pd.DataFrame:
        """The TRIPOD+AI checklist: item, topic, where answered (section title), status, note."""
        return _tripod_table(self.items, {s.key: s.title for s in self.sections})

    def to_markdown(self) -> str:
        """Return the whole card as one Markdown document."""
        parts = [f"# {_md_escape(self.title)}", "", f"> **{NOT_FOR_CLINICAL_USE}**", ""]
        parts += [s.to_markdown(level=2) for s in self.sections]
        return "\n".join(parts).rstrip() + "\n"

    def to_html(self, level: int = 2) -> str:
        """Return the sections as HTML fragments (no page wrapper; the report adds one)."""
        return "\n".join(s.to_html(level=level) for s in self.sections)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dict: title, not-for-clinical-use statement, sections, checklist."""
        return {
            "title": self.title,
            "not_for_clinical_use": NOT_FOR_CLINICAL_USE,
            "sections": [s.to_dict() for s in self.sections],
            "tripod": to_jsonable(self.tripod.to_dict(orient="records")),
        }

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


# --------------------------------------------------------------------------------------------
# building the card
# --------------------------------------------------------------------------------------------


def model_card(
    model: Any = None,
    *,
    evaluation: Any = None,
    setting: str | None = None,
    outcomes: Sequence[str] | None = None,
    title: str | None = None,
) -> ModelCard:
    """Build the model card of a fitted risk model.

    Parameters
    ----------
    model : RiskModel, optional
        A fitted model; its ``metadata_`` (versions, training cohort, splits, calibration,
        held-out metrics), ``outcomes_`` and ``feature_names_`` fill the card. Without a
        model the card describes the setting only and says which facts are unknown.
    evaluation : Evaluation, optional
        An evaluation on a separate cohort; its headline metrics are added to the
        performance section.
    setting : {"community", "admission"}, optional
        Clinical setting; default: the model's, else ``"admission"``.
    outcomes : sequence of str, optional
        Outcomes described; default: the model's, else all outcomes of the setting.
    title : str, optional
        Card title; default names the population, the outcomes and the method.

    Returns
    -------
    ModelCard
        Sections ``model_details``, ``intended_use``, ``population``, ``outcomes``,
        ``predictors``, ``training_data``, ``development``, ``held_out``, ``fairness``,
        ``limitations``, ``open_science`` and ``tripod``.

    Examples
    --------
    >>> from covid_risk.evaluation.card import model_card
    >>> card = model_card(setting="community")
    >>> card["intended_use"].title
    'Intended use'
    """
    meta = _metadata(model)
    setting = setting or _first(meta, "setting") or getattr(model, "setting", None) or "admission"
    if setting not in _SETTING_TEXT:
        raise ValueError(
            f"Unknown setting {setting!r}; use one of {', '.join(map(repr, _SETTING_TEXT))}."
        )
    outcomes = tuple(outcomes) if outcomes else _outcomes(model, meta, setting)
    name = _model_name(model)
    title = title or _default_title(setting, outcomes, name)
    sections = (
        _details_section(model, meta, setting, outcomes, name),
        _intended_use_section(setting),
        _population_section(setting),
        _outcomes_section(setting, outcomes),
        _predictors_section(model, setting),
        _training_data_section(meta, setting, outcomes),
        _development_section(model, meta),
        _performance_section(meta, evaluation, outcomes),
        *_local_data_sections(meta),
        _fairness_section(),
        _limitations_section(setting),
        _open_science_section(meta),
    )
    checklist = CardSection(
        key="tripod",
        title="TRIPOD+AI checklist",
        paragraphs=(
            "Reporting items of TRIPOD+AI (Collins et al., BMJ 2024;385:e078378) that apply to a "
            "model developed and evaluated on simulated data, and where each is answered. Items "
            "about human participants (ethics approval, recruitment flow) do not apply.",
        ),
        table=_tripod_table(TRIPOD_ITEMS, {s.key: s.title for s in sections}),
    )
    return ModelCard(title=title, sections=(*sections, checklist))


def _default_title(setting: str, outcomes: Sequence[str], name: str) -> str:
    labels = [_lower_first(FIELDS[o].label) if o in FIELDS else o for o in outcomes]
    who = (
        "people with a positive SARS-CoV-2 test in the community"
        if setting == "community"
        else "adults admitted to hospital with COVID-19"
    )
    what = _join_words(labels) if labels else "complications"
    method = "gradient-boosted trees (LightGBM), calibrated" if name == "lightgbm" else name
    return f"Risk of {what} in {who}: {method}, trained on simulated data"


def _details_section(model, meta, setting, outcomes, name) -> CardSection:
    facts = [
        ("Model", name),
        ("Setting", setting),
        ("Outcomes", ", ".join(outcomes)),
        ("covid_risk version", _text(_first(meta, "covid_risk_version", "library_version",
                                            "version") or getattr(model, "version_", None))),
        ("LightGBM version", _text(_first(meta, "lightgbm_version"))),
        ("Schema hash", _text(_first(meta, "schema_hash"))),
        ("Created", _text(_first(meta, "created", "creation_time", "created_at"))),
    ]
    return CardSection(
        key="model_details",
        title="Model details",
        facts=tuple(facts),
    )


def _intended_use_section(setting: str) -> CardSection:
    t = _SETTING_TEXT[setting]
    return CardSection(
        key="intended_use",
        title="Intended use",
        paragraphs=(
            "Context: early in the COVID-19 pandemic hundreds of prediction models were published, "
            "most at high risk of bias; clinical scores such as ISARIC 4C are simple but leave "
            "information unused. This library shows, end to end and reproducibly, how a calibrated "
            "and explained model is built, evaluated against those scores and retrained.",
            "Objective: development and internal evaluation of a model estimating the probability "
            "of each outcome for one person, with the factors that drove it.",
        ),
        facts=(
            ("Intended use", "Research, teaching and testing of decision-support software."),
            ("Intended users",
             "Data scientists and developers of clinical decision-support tools; clinicians only "
             "as testers of such tools, never for patient care."),
            ("Place in the care pathway (as simulated)", t["pathway"]),
            ("Out of scope", "Any decision about a real patient; populations or periods not "
                             "simulated; children."),
            ("Clinical use", "None: not for clinical use (see the statement at the top)."),
        ),
    )


def _population_section(setting: str) -> CardSection:
    t = _SETTING_TEXT[setting]
    return CardSection(
        key="population",
        title="Population and setting",
        facts=(
            ("Population", t["population"]),
            ("Setting", t["setting"]),
            ("Eligibility", t["eligibility"]),
            ("Time of prediction", t["pathway"].split(":")[0]),
        ),
    )


def _outcomes_section(setting: str, outcomes: Sequence[str]) -> CardSection:
    horizon = _SETTING_TEXT[setting]["horizon"]
    rows = [
        {
            "outcome": o,
            "label": FIELDS[o].label if o in FIELDS else o,
            "definition": FIELDS[o].description if o in FIELDS else "",
            "horizon": "28 days" if setting == "community" else "in hospital",
        }
        for o in outcomes
    ]
    return CardSection(
        key="outcomes",
        title="Outcomes",
        paragraphs=(
            f"Each outcome is a binary event; time horizon: {horizon} In the simulated data "
            "outcomes are drawn from known probabilities, so there is no outcome assessment or "
            "blinding; the true probability of every patient is stored alongside the label.",
        ),
        table=pd.DataFrame(rows, columns=["outcome", "label", "definition", "horizon"]),
    )


_GROUP_TITLES = {
    "demographics": "Demographics",
    "context": "Context (vaccination, variant, timing)",
    "comorbidity": "Comorbidities",
    "vital": "Vital signs",
    "lab": "Laboratory results",
    "imaging": "Imaging",
    "derived": "Derived features",
}


def _predictors_section(model: Any, setting: str) -> CardSection:
    names = list(getattr(model, "feature_names_", None) or [])
    groups: dict[str, list[str]] = {}
    for n in names:
        f = FIELDS.get(n)
        group = f.group if f is not None else "derived"
        unit = f.unit if f is not None else _feature_unit(n)
        text = _feature_label(n) + (f" ({unit})" if unit else "")
        groups.setdefault(group, []).append(text)
    rows = [
        {"group": _GROUP_TITLES.get(g, g), "n": len(items), "features": ", ".join(items)}
        for g, items in groups.items()
    ]
    timing = (
        "recorded at the positive test"
        if setting == "community"
        else "the first value recorded at admission (a long lab table is reduced to one snapshot "
        "per admission with covid_risk.features.snapshot)"
    )
    paragraphs = [
        "Predictors are the fields of the covid_risk schema (canonical units, limits and "
        f"definitions in covid_risk.field_table()), {timing}, plus derived features computed "
        "from them. Categories are coded by their position in the schema's vocabulary.",
    ]
    if not names:
        paragraphs.append("No fitted model was given, so the exact feature list is not shown.")
    return CardSection(
        key="predictors",
        title="Predictors",
        paragraphs=tuple(paragraphs),
        facts=(("Number of model features", str(len(names)) if names else "unknown"),),
        table=pd.DataFrame(rows, columns=["group", "n", "features"]) if rows else None,
    )


def _training_data_section(meta: Mapping, setting: str, outcomes: Sequence[str]) -> CardSection:
    cohort = _first(meta, "training_cohort", "cohort", "training_data", "data") or {}
    if not isinstance(cohort, Mapping):
        cohort = {"description": cohort}
    n = _first(cohort, "n_patients", "n_rows", "n") or _first(meta, "n_train_total", "n_rows")
    events = _first(cohort, "events", "n_events", "outcome_events")
    facts = [
        ("Nature of the data",
         "Simulated patients from covid_risk.synthetic (make_cohort); no real patient data."),
        ("Generator version", _text(_first(cohort, "generator_version"))),
        ("Scenario", _text(_first(cohort, "scenario"))),
        ("Seed", _text(_first(cohort, "seed", "random_state"))),
        ("Setting", _text(_first(cohort, "setting") or setting)),
        ("Number of patients", f"{int(n):,}" if isinstance(n, (int, np.integer)) else _text(n)),
    ]
    data_hash = _first(cohort, "data_hash", "sha256", "hash")
    if data_hash:
        facts.append(("Data hash", _text(data_hash)))
    if isinstance(events, Mapping) and events:
        facts.append(("Outcome events", ", ".join(f"{k} {_text(v)}" for k, v in events.items())))
    facts += [
        ("Sources of the simulation parameters", _SOURCES),
        ("Dates", "No accrual dates: the patients are simulated. The scenario names the period "
                  "imitated (e.g. wild_type_2020 = ISARIC UK wave 1, February to June 2020)."),
    ]
    return CardSection(
        key="training_data",
        title="Training data",
        paragraphs=(
            "The training cohort is synthetic: a simulator draws one coherent infected population "
            "whose parameters were set so that published figures come out of it (score "
            "histograms, mortality per score, outcome rates, adjusted hazard ratios). Outcome "
            "rates are therefore properties of the simulator, not observations; the generator's "
            "data card (data/synthetic/DATA_CARD.md) lists every parameter and its source.",
        ),
        facts=tuple(facts),
    )


_PARAM_KEYS = (
    "n_estimators", "learning_rate", "num_leaves", "min_child_samples", "reg_lambda",
    "feature_fraction", "bagging_fraction", "max_bin", "monotone_method",
    "early_stopping_rounds", "split", "random_state",
)


def _development_section(model: Any, meta: Mapping) -> CardSection:
    splits = _first(meta, "splits", "split_sizes", "n_rows_per_split")
    params = _first(meta, "params", "lightgbm_params", "hyperparameters", "options")
    if isinstance(params, Mapping):
        params = {k: params[k] for k in _PARAM_KEYS if k in params} or params
    best = _first(meta, "best_iteration")
    facts = [
        ("Model type",
         "One LightGBM gradient-boosted tree ensemble per outcome, then a calibrator fitted on "
         "the raw log-odds of a held-out split; outcomes made coherent (deterioration is never "
         "below death, ICU or ventilation)."),
        ("Splits (disjoint, inside train)", _text(splits)),
        ("Calibration", _calibration_text(_first(meta, "calibration", "calibration_method"))),
        ("Coherence", _text(_first(meta, "coherence"))),
        ("Hyperparameters", _text(params)),
        ("Boosting rounds kept (early stopping)", _text(best)),
        ("Data preparation",
         "Records are validated once at the boundary (covid_risk.validate): units converted "
         "exactly, impossible values rejected with an error naming field, row and allowed range, "
         "implausible values kept and flagged."),
        ("Missing data",
         "No imputation: LightGBM routes missing values down a learned branch; missingness in "
         "the simulated data depends on the patient, as in practice."),
        ("Class imbalance", "None applied (no resampling or class weights), because they "
                            "distort probabilities."),
        ("Model output",
         "A calibrated probability per outcome, with per-patient SHAP factors; no decision "
         "threshold is recommended (see the decision curves)."),
    ]
    monotone = _first(meta, "monotone", "monotone_constraints")
    table = _monotone_table(monotone)
    if table is None:
        facts.append(("Monotone constraints", "none" if monotone == {} else _text(monotone)))
    return CardSection(
        key="development",
        title="Model development",
        paragraphs=(
            ("Monotone constraints (the table): risk may not fall when a 'never falls with' "
             "input rises, nor rise when a 'never rises with' input rises, all else fixed.",)
            if table is not None else ()
        ),
        facts=tuple(facts),
        table=table,
    )


def _calibration_text(info: Any) -> str:
    """Summarise per-outcome calibration choices: method -> outcomes (and the reason)."""
    if not isinstance(info, Mapping) or not info:
        return _text(info)
    if not all(isinstance(v, Mapping) for v in info.values()):
        return _text(info)
    by_method: dict[str, list[str]] = {}
    for outcome, v in info.items():
        method = str(v.get("method", "?"))
        n, events = v.get("n"), v.get("events")
        detail = f"{outcome} ({events}/{n} events)" if n is not None else str(outcome)
        by_method.setdefault(method, []).append(detail)
    text = "; ".join(f"{m}: {', '.join(o)}" for m, o in by_method.items())
    return text + " -- fitted on the raw log-odds of the calibration split."


def _monotone_table(monotone: Any) -> pd.DataFrame | None:
    """Per outcome, the inputs risk never falls / never rises with, or None."""
    if not isinstance(monotone, Mapping) or not monotone:
        return None
    if not all(isinstance(v, Mapping) for v in monotone.values()):
        return None
    rows = []
    for outcome, directions in monotone.items():
        up = [_feature_label(k) for k, d in directions.items() if d > 0]
        down = [_feature_label(k) for k, d in directions.items() if d < 0]
        rows.append(
            {"outcome": outcome, "never falls with": ", ".join(up) or "-",
             "never rises with": ", ".join(down) or "-"}
        )
    return pd.DataFrame(rows, columns=["outcome", "never falls with", "never rises with"])


def _performance_section(meta: Mapping, evaluation: Any, outcomes: Sequence[str]) -> CardSection:
    held_out = _first(meta, "metrics", "held_out_metrics", "validation_metrics")
    table = _metrics_frame(held_out)
    split = _first(meta, "metrics_split")
    where = f"the {str(split).replace('_', '-')} split" if split else "a held-out split"
    paragraphs = [
        f"Metrics on {where} of the training cohort, recorded at training time (internal "
        "validation, after calibration). The HTML report adds metrics with bootstrap 95% "
        "confidence intervals on a separate evaluation cohort.",
    ]
    facts: list[tuple[str, str]] = []
    if evaluation is not None:
        n = getattr(evaluation, "n", None)
        facts.append(("Evaluation cohort", f"{_text(n)} patients, a separate simulated cohort "
                                           "(different seed; possibly another scenario)"))
        settings = getattr(evaluation, "settings", None)
        if isinstance(settings, Mapping) and "n_bootstrap" in settings:
            facts.append(("Confidence intervals",
                          f"{_text(settings.get('n_bootstrap'))} bootstrap resamples of patients, "
                          "percentile intervals"))
    if table is None:
        paragraphs.append("No held-out metrics were recorded in the model's metadata.")
    return CardSection(
        key="held_out",
        title="Performance on held-out data",
        paragraphs=tuple(paragraphs),
        facts=tuple(facts),
        table=table,
    )


def _fairness_section() -> CardSection:
    return CardSection(
        key="fairness",
        title="Health inequalities and fairness",
        paragraphs=(
            "COVID-19 outcomes differ by age, sex, ethnicity and deprivation (e.g. OpenSAFELY "
            "found higher adjusted risks of death in Black and South Asian people and in the most "
            "deprived quintile). The simulator reproduces these published differences, so the "
            "model learns them as risk factors; it is not constrained to equalise predictions.",
            "Performance is reported per subgroup (sex, age band, ethnicity, deprivation quintile, "
            "vaccination) with AUROC and calibration-in-the-large, so that a group for which the "
            "model is worse is visible. Small groups give wide uncertainty and undefined AUROC is "
            "shown as missing, never as zero.",
        ),
    )


def _limitations_section(setting: str) -> CardSection:
    items = [
        "Simulated data only: every association the model learned was put there by the "
        "simulator's parameters; performance on real patients is unknown.",
        "Good agreement with the simulator's true risk shows the method works, not that the "
        "simulator resembles any real hospital.",
        "Treatments (dexamethasone, antivirals, ventilation policy) are not simulated; real "
        "risks changed as treatment improved.",
        "Period and variant: the scenarios imitate wild type 2020, delta 2021 and omicron "
        "2022 only; later variants, vaccines and immunity are not represented.",
        "Impossible inputs are rejected; values outside the plausible range are accepted and "
        "flagged; missing predictors are allowed and lower the information available.",
    ]
    if setting == "admission":
        items.append(
            "Ceiling of care: ICU and ventilation outcomes reflect simulated escalation decisions "
            "(fewer in the very old and frail), so low predicted ICU risk does not mean low need."
        )
    return CardSection(
        key="limitations",
        title="Limitations",
        paragraphs=tuple(items),
    )


def _open_science_section(meta: Mapping) -> CardSection:
    return CardSection(
        key="open_science",
        title="Open science",
        facts=(
            ("Code", "The covid_risk Python package (MIT licence), including the simulator, "
                     "training, evaluation and this report."),
            ("Data", "No real data. Every cohort is regenerated exactly from its generator "
                     "version, scenario and seed (recorded above)."),
            ("Model", "One model file without pickle: LightGBM text models, calibrators and "
                      "schema as JSON, and a manifest with versions and SHA-256 of every part; "
                      "covid_risk.load verifies it before building anything."),
            ("Patient and public involvement", "None (software project on simulated data)."),
        ),
    )


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _metadata(model: Any) -> Mapping[str, Any]:
    meta = getattr(model, "metadata_", None) if model is not None else None
    return meta if isinstance(meta, Mapping) else {}


def _first(meta: Any, *keys: str) -> Any:
    """Return the first present, non-empty value among ``keys`` in a mapping."""
    if not isinstance(meta, Mapping):
        return None
    for k in keys:
        v = meta.get(k)
        if v is not None and not (isinstance(v, (str, Mapping, list, tuple)) and len(v) == 0):
            return v
    return None


def _outcomes(model: Any, meta: Mapping, setting: str) -> tuple[str, ...]:
    outs = getattr(model, "outcomes_", None) or _first(meta, "outcomes")
    return tuple(outs) if outs else SETTING_OUTCOMES[setting]


def _model_name(model: Any) -> str:
    if model is None:
        return "lightgbm"
    name = getattr(model, "name", None)
    return str(name) if name else type(model).__name__


def _feature_label(name: str) -> str:
    try:
        from covid_risk.labels import feature_label

        return feature_label(name)
    except (ImportError, KeyError):
        f = FIELDS.get(name)
        return f.label if f is not None else name.replace("_", " ")


def _feature_unit(name: str) -> str:
    try:
        from covid_risk.labels import feature_unit

        return feature_unit(name)
    except (ImportError, KeyError):
        return ""


def _metrics_frame(metrics: Any) -> pd.DataFrame | None:
    """Turn held-out metrics (outcome -> {metric: value}) into a table, or ``None``."""
    if isinstance(metrics, pd.DataFrame):
        return metrics.reset_index()
    if not isinstance(metrics, Mapping) or not metrics:
        return None
    rows = []
    for outcome, values in metrics.items():
        if isinstance(values, Mapping):
            row = {"outcome": outcome}
            row.update({k: v for k, v in values.items() if _is_scalar(v)})
            rows.append(row)
    if not rows:
        flat = {k: v for k, v in metrics.items() if _is_scalar(v)}
        return pd.DataFrame([flat]) if flat else None
    return pd.DataFrame(rows)


def _tripod_table(items: Sequence[TripodItem], titles: Mapping[str, str]) -> pd.DataFrame:
    def where(key: str) -> str:
        if key == "title":
            return "Title"
        if key in titles:
            return titles[key]
        if key in REPORT_SECTIONS:
            return f"HTML report: {REPORT_SECTIONS[key]}"
        return key

    return pd.DataFrame(
        [
            {"item": t.item, "topic": t.topic, "where": where(t.where), "status": t.status,
             "note": t.note}
            for t in items
        ],
        columns=["item", "topic", "where", "status", "note"],
    )


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (int, float, str, bool, np.integer, np.floating)) or v is None


def _text(v: Any) -> str:
    """Render a metadata value as short readable text."""
    if v is None:
        return "not recorded"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, Mapping):
        return "; ".join(f"{k}: {_text(x)}" for k, x in v.items()) or "none"
    if isinstance(v, (list, tuple)):
        return ", ".join(_text(x) for x in v) or "none"
    return str(v)


def _lower_first(label: str) -> str:
    """Lower-case the first letter unless the first word is an acronym (``"ICU admission"``)."""
    if len(label) > 1 and label[1].isupper():
        return label
    return label[:1].lower() + label[1:]


def _join_words(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _fmt_cell(v: Any) -> str:
    if v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)):
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.3f}"
    return str(v)


_MD_SPECIAL = re.compile(r"([\\`*\[\]])")


def _md_escape(text: Any) -> str:
    """Make metadata text inert in Markdown: no raw HTML, links, images, code or emphasis.

    ``<``, ``>`` and ``&`` become HTML entities (Markdown passes raw HTML through),
    backslash, backtick, ``*``, ``[`` and ``]`` are backslash-escaped, and line
    breaks become spaces (so a value cannot start a heading, list or block).
    Underscores are kept: identifiers such as ``wild_type_2020`` stay readable
    and an intra-word underscore does not emphasise in CommonMark.
    """
    text = html.escape(str(text), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\r", " ").replace("\n", " ")


def _markdown_table(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [_md_escape(_fmt_cell(v)).replace("|", "\\|") for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = "".join(f"<td>{html.escape(_fmt_cell(v))}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"



# ---------------------------------------------------------------- local data (recalibration)
def _local_data_sections(meta: Mapping) -> tuple[CardSection, ...]:
    """Sections on the training sample size and any recalibration on local patients.

    Empty for a model with neither record (the bundled models), so their cards are unchanged.
    """
    out: list[CardSection] = []
    adequacy = meta.get("sample_size") if isinstance(meta, Mapping) else None
    if isinstance(adequacy, Mapping) and adequacy:
        rows = [{"outcome": o, **{k: v.get(k) for k in
                                  ("n", "events", "required_n", "binding", "adequate")}}
                for o, v in adequacy.items() if isinstance(v, Mapping)]
        out.append(CardSection(
            key="sample_size",
            title="Sample size adequacy",
            paragraphs=(
                "Whether the training cohort meets the minimum sample size of Riley et al. "
                "(2020, BMJ 368:m441) for the candidate predictor parameters and the outcome "
                "rate: expected shrinkage >= 0.9, optimism in Nagelkerke R2 <= 0.05 and the "
                "overall risk within 0.05. A cohort below the minimum gives a model that is "
                "likely overfitted; prefer recalibrating an existing model.",
            ),
            table=pd.DataFrame(rows),
        ))
    updates = meta.get("recalibration") if isinstance(meta, Mapping) else None
    if isinstance(updates, list) and updates:
        rows = []
        for i, update in enumerate(updates, 1):
            if not isinstance(update, Mapping):
                continue
            for o, v in (update.get("outcomes") or {}).items():
                if not isinstance(v, Mapping):
                    continue
                row = {"update": i, "outcome": o, "method": v.get("method"),
                       "n": v.get("n"), "events": v.get("events")}
                for when in ("before", "after"):
                    m = v.get(when) or {}
                    row[f"O/E {when}"] = _estimate_ci(m.get("oe"), m.get("oe_ci"))
                    row[f"slope {when}"] = _estimate_ci(m.get("slope"), m.get("slope_ci"))
                rows.append(row)
        out.append(CardSection(
            key="recalibration",
            title="Recalibration on local patients",
            paragraphs=(
                "The trees were kept and each listed outcome's calibrator was updated on local "
                "patients with known outcomes (model-updating ladder: intercept only, intercept "
                "and slope, or a refit of the calibrator; Steyerberg, Clinical Prediction Models, "
                "ch. 20). Observed/expected events and calibration slope on those patients, with "
                "95% confidence intervals; 'after' is cross-fitted in 5 folds. Check calibration "
                "again on later local patients.",
            ),
            table=pd.DataFrame(rows),
        ))
    return tuple(out)


def _estimate_ci(value: Any, ci: Any) -> str:
    if not _is_scalar(value) or value is None:
        return "-"
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"{float(value):.2f} ({float(ci[0]):.2f}-{float(ci[1]):.2f})"
    return f"{float(value):.2f}"
