"""Every parameter of the synthetic cohort generator, with where its value comes from.

Conventions
-----------
* Community models (comorbidity prevalence, hospitalisation, 28-day death) are
  logistic; coefficients are log odds ratios.
* In-hospital models are probit (so that the 28-day death risk of a person can
  be integrated exactly over the admission record, see ``_outcomes``);
  coefficients are on the probit scale (about 1/1.7 of a log odds ratio).
* "Tuned" means the value was set by hand with an offline script that compared
  a generated cohort with the targets in ``published_targets.json`` (nothing is
  fitted at run time); the target it was tuned to is named.
* "Assumption" means no published figure was available; the value is a
  clinically plausible choice, stated so that it can be challenged.

Sources are abbreviated as in ``clinical-figures.md`` (reference notes of the
project): 4C-BMJ (Knight 2020), OS (OpenSAFELY, Williamson 2020, fully adjusted
HRs), Docherty (ISARIC CCP-UK 2020), Gupta (4C Deterioration 2021), Hirsch
(AKI 2020), Nopp (VTE 2020), Twohig (Delta 2022), Nyberg (Omicron 2022), UKHSA
(vaccine effectiveness Jan 2022), Dongelmans (NL ICU waves 2022).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from covid_risk.synthetic._spec import Latent, LinearPredictor

__all__ = [
    "ADMISSION_AGE_REF",
    "AGE_DENSITY",
    "AGE_KNOTS",
    "AKI",
    "AKI_IF_IMV",
    "BMI_LOG_SD",
    "BMI_MEDIAN",
    "BMI_UPPER_STRETCH",
    "COMMUNITY_DEATH",
    "COMORBIDITIES",
    "COMORBIDITY_LATENT_SD",
    "COMORBIDITY_TARGET_PCT",
    "CORRUPTIONS",
    "CRITICAL",
    "CRITICAL_IF_DIES",
    "DEATH",
    "DEATH_GCS",
    "DEPRIVATION_PROBS",
    "ETHNICITY_AGE_KNOTS",
    "ETHNICITY_PROBS",
    "FIO2_LEVELS",
    "GCS",
    "GCS_LEVEL_PROBS",
    "GENERATOR_VERSION",
    "HOSPITALISATION",
    "ICU_ELIGIBLE",
    "IMV_GIVEN_ICU",
    "IMV_IF_DIES",
    "INFILTRATES",
    "LATENTS",
    "LN",
    "MALE_SHARE",
    "MEASUREMENT_NOISE",
    "MISSING_ADMISSION",
    "MISSING_COMMUNITY",
    "NOSOCOMIAL",
    "OBESE_CURVE",
    "OBESITY_RECORDED",
    "ONSET_TO_ADMISSION_GAMMA",
    "ONSET_TO_TEST_GAMMA",
    "ON_OXYGEN",
    "OS_LOG_HR",
    "OXYGEN_UPLIFT",
    "ROUNDING",
    "RR_EVEN_DIGIT_SHARE",
    "SCENARIOS",
    "SEVERITY",
    "SEVERITY_CORRELATION",
    "SMOKING",
    "SYSTEMIC",
    "Scenario",
    "VTE",
    "VTE_IF_ICU",
    "WARD_SUPPORT",
    "published_targets",
]

GENERATOR_VERSION = "1.0.0"
"""Bumped whenever the same seed would give different data."""

LN = math.log

# ============================================================================ targets


@lru_cache(maxsize=1)
def published_targets() -> dict[str, Any]:
    """Return the published figures the generator is tuned to (``published_targets.json``)."""
    text = resources.files("covid_risk").joinpath("data", "published_targets.json").read_text(
        encoding="utf-8"
    )
    return json.loads(text)


# ============================================================================ population

AGE_KNOTS: tuple[float, ...] = (18, 30, 40, 50, 60, 70, 80, 90, 100)
"""Ages (years) at which the density of infected adults is given."""

AGE_DENSITY: tuple[float, ...] = (2.85, 2.517, 2.114, 1.93, 1.502, 1.25, 1.043, 0.456, 0.043)
"""Relative number of infected adults per single year of age at ``AGE_KNOTS``.

Source: the adult age structure of England and Wales (ONS mid-2019 estimates,
rounded, per single year of age in millions), with more infections among young
adults and ages 80+ weighted up for the care-home outbreaks of 2020 (assumption);
tuned together with the hospitalisation age curve so that the admitted cohort
has median age 73-74 (Docherty: 73, IQR 58-82).
"""

MALE_SHARE = 0.50
"""Share of men among infected adults (England and Wales population, rounded)."""

ETHNICITY_AGE_KNOTS: tuple[float, ...] = (18, 40, 60, 80, 100)
"""Ages at which ``ETHNICITY_PROBS`` are given (linear in between)."""
ETHNICITY_PROBS: dict[str, tuple[float, ...]] = {
    # columns follow ETHNICITY_AGE_KNOTS; rows sum to 1 at every knot
    "white": (0.78, 0.82, 0.89, 0.95, 0.97),
    "south_asian": (0.09, 0.08, 0.05, 0.025, 0.015),
    "black": (0.05, 0.045, 0.03, 0.013, 0.008),
    "mixed": (0.04, 0.02, 0.01, 0.004, 0.002),
    "other": (0.04, 0.035, 0.02, 0.008, 0.005),
}
"""Ethnic group by age (2011 census of England and Wales, rounded; assumption for the age trend)."""

DEPRIVATION_PROBS: dict[str, tuple[float, ...]] = {
    "white": (0.21, 0.21, 0.20, 0.19, 0.19),
    "minority": (0.10, 0.13, 0.17, 0.25, 0.35),
}
"""Deprivation quintile 1 (least) .. 5 (most) by ethnic group (assumption: minorities
live in more deprived areas, as in the English indices of deprivation)."""

SMOKING = {
    "current": LinearPredictor(
        intercept=0.0, age_knots=(18, 40, 60, 80, 100),
        age_values=(-1.45, -1.45, -1.85, -2.75, -3.5), coef={"dep": 0.22},
        source="Assumption close to ONS adult smoking prevalence (about 14-20% current under 60).",
    ),
    "former": LinearPredictor(
        intercept=0.0, age_knots=(18, 40, 60, 80, 100),
        age_values=(-2.4, -1.3, -0.55, -0.2, -0.2), coef={},
        source="Assumption (former smoking rises with age to about 45%).",
    ),
}
"""Multinomial logit of smoking status (reference: never)."""

BMI_MEDIAN = LinearPredictor(
    intercept=-1.2, age_knots=(18, 30, 45, 60, 75, 90, 100),
    age_values=(23.8, 25.8, 27.2, 27.8, 27.2, 25.0, 24.0),
    coef={"dep": 0.35, "eth_black": 1.2, "eth_south_asian": -0.8},
    link="identity",
    source="Assumption tuned to Health Survey for England obesity shares (obese I about 17%, "
           "II about 6%, III about 3%).",
)
BMI_LOG_SD = 0.15
"""Standard deviation of log BMI around its median (below the median)."""

BMI_UPPER_STRETCH = 0.5
"""Above the median the log-BMI deviation is stretched by 1.5, giving the long right tail
of BMI (tuned to obese I/II/III about 17/6.5/3%)."""

COMORBIDITY_LATENT_SD = 1.0
"""Standard deviation of the hidden multimorbidity factor ``u`` (it only links the
comorbidities; no outcome depends on it)."""

_K5 = (18, 40, 60, 80, 100)


COMORBIDITY_TARGET_PCT: dict[str, tuple[float, ...]] = {
    "hypertension": (2.0, 10.0, 30.0, 52.0, 55.0),
    "diabetes": (0.7, 4.0, 13.0, 18.0, 13.0),
    "chronic_cardiac": (0.3, 2.0, 11.0, 34.5, 44.5),
    "chronic_pulmonary": (0.3, 1.6, 7.8, 17.5, 16.5),
    "asthma": (13.0, 11.0, 10.0, 9.0, 8.0),
    "chronic_kidney": (0.12, 0.4, 2.8, 13.7, 22.5),
    "liver_disease": (0.3, 1.0, 1.6, 1.3, 0.8),
    "dementia": (0.01, 0.1, 0.9, 6.7, 25.0, 47.5),
    "chronic_neuro": (0.5, 1.3, 3.9, 11.0, 14.0),
    "connective_tissue": (0.8, 2.7, 5.8, 8.4, 8.4),
    "hiv": (0.15, 0.3, 0.2, 0.05, 0.03),
    "malignancy": (0.3, 1.4, 5.8, 12.0, 13.0),
    "immunosuppression": (0.8, 1.0, 1.4, 1.6, 1.2),
    "organ_transplant": (0.05, 0.1, 0.12, 0.07, 0.02),
    "haematological_cancer": (0.1, 0.2, 0.6, 1.4, 1.5),
    "care_home": (0.06, 0.2, 1.1, 8.3, 30.5, 45.5),
}
"""Marginal prevalence (%) among infected adults at the age knots of each model below.

Starting points were assumptions near QOF / Health Survey for England prevalences by
age; they were then raised where the admitted mix required it (Docherty: cardiac 31%,
chronic pulmonary 18%, CKD 16%; dementia, chronic neurological disease, malignancy and
rheumatological disease near ISARIC's 10-16%, with care-home outbreaks making dementia
and care-home residence common among infected people over 80 in 2020). The age curves
below were calibrated offline so that, with every covariate and the multimorbidity
factor, the prevalence at each knot age equals these (within sampling error)."""


COMORBIDITIES: dict[str, LinearPredictor] = {
    # generated in this order; later ones may depend on earlier ones
    "hypertension": LinearPredictor(
        0.0, _K5, (-3.9, -2.46, -1.08, 0.08, 0.46),
        {"bmi5": 0.45, "eth_black": 0.45, "male": 0.15, "u": 0.5},
        source="Assumption near Health Survey for England diagnosed hypertension by age.",
    ),
    "diabetes": LinearPredictor(
        0.0, _K5, (-5.47, -4.19, -2.99, -2.43, -2.51),
        {"bmi5": 0.65, "eth_south_asian": 1.0, "eth_black": 0.6, "dep": 0.12,
         "male": 0.25, "hypertension": 0.6, "u": 0.5},
        source="Assumption near QOF diabetes prevalence (about 7% of adults); obesity, "
               "South Asian and Black ethnicity and hypertension raise it.",
    ),
    "chronic_cardiac": LinearPredictor(
        0.0, _K5, (-6.69, -4.8, -3.18, -1.72, -1.2),
        {"male": 0.55, "diabetes": 0.55, "hypertension": 0.6, "smoke_current": 0.4,
         "smoke_former": 0.25, "dep": 0.08, "u": 0.6},
        source="Assumption near QOF coronary heart disease and heart failure prevalence; "
               "tuned to 31% in admitted patients (Docherty).",
    ),
    "chronic_pulmonary": LinearPredictor(
        0.0, _K5, (-7.02, -5.3, -3.61, -2.59, -2.65),
        {"smoke_current": 1.3, "smoke_former": 1.0, "dep": 0.15, "male": 0.1, "u": 0.6},
        source="Assumption near QOF COPD prevalence; tuned to 18% in admitted patients (Docherty).",
    ),
    "asthma": LinearPredictor(
        0.0, _K5, (-1.83, -2.13, -2.27, -2.34, -2.38), {"bmi5": 0.15, "u": 0.3},
        source="Assumption near QOF asthma prevalence (about 12% with a code).",
    ),
    "chronic_kidney": LinearPredictor(
        0.0, _K5, (-7.0, -5.9, -4.36, -2.9, -2.2),
        {"diabetes": 0.9, "hypertension": 0.7, "chronic_cardiac": 0.5, "eth_black": 0.3,
         "u": 0.6},
        source="Schema: severe CKD (4C: eGFR 30 or less). Tuned to 16% in admitted patients "
               "(Docherty).",
    ),
    "liver_disease": LinearPredictor(
        0.0, _K5, (-6.21, -5.04, -4.6, -4.8, -5.17), {"dep": 0.15, "bmi5": 0.2, "u": 0.5},
        source="Assumption (chronic liver disease about 1% of adults).",
    ),
    "dementia": LinearPredictor(
        0.0, (18, 55, 65, 75, 85, 95), (-9.38, -6.91, -4.8, -2.7, -1.15, -0.1),
        {"u": 0.4},
        source="Assumption near Alzheimer's Society prevalence by age (7% at 80-84, 25%+ at 90+).",
    ),
    "chronic_neuro": LinearPredictor(
        0.0, _K5, (-5.4, -4.56, -3.49, -2.42, -2.16), {"hypertension": 0.4, "u": 0.5},
        source="Assumption (stroke, Parkinson's disease, MS and other chronic neurological "
               "disease).",
    ),
    "connective_tissue": LinearPredictor(
        0.0, _K5, (-4.69, -3.45, -2.64, -2.22, -2.23), {"male": -0.5, "u": 0.4},
        source="Assumption (RA, SLE, psoriasis: OS category about 4-5% of adults).",
    ),
    "hiv": LinearPredictor(
        0.0, _K5, (-6.93, -6.36, -6.61, -7.87, -8.65), {"eth_black": 1.8, "male": 0.5},
        source="Assumption (UKHSA: about 0.15% of adults diagnosed with HIV).",
    ),
    "malignancy": LinearPredictor(
        0.0, _K5, (-5.98, -4.44, -2.94, -2.09, -1.97), {"smoke_current": 0.4, "u": 0.4},
        source="Assumption (solid cancer diagnosed in the past 5 years, by age).",
    ),
    "immunosuppression": LinearPredictor(
        0.0, _K5, (-4.95, -4.74, -4.54, -4.52, -4.83), {"connective_tissue": 1.6, "u": 0.4},
        source="Assumption (OS other immunosuppression plus immunosuppressive treatment).",
    ),
    "organ_transplant": LinearPredictor(
        0.0, _K5, (-7.57, -6.94, -6.91, -7.84, -9.18), {"chronic_kidney": 2.0},
        source="Assumption (about 0.1% of adults; kidney transplants most common).",
    ),
    "haematological_cancer": LinearPredictor(
        0.0, _K5, (-7.23, -6.43, -5.29, -4.48, -4.38), {"male": 0.3, "u": 0.3},
        source="Assumption (leukaemia, lymphoma or myeloma diagnosed in the past 5 years).",
    ),
    "care_home": LinearPredictor(
        0.0, (18, 60, 70, 80, 90, 100), (-7.54, -6.31, -4.87, -3.26, -2.03, -1.48),
        {"dementia": 2.4, "chronic_neuro": 0.8, "u": 0.3},
        source="Assumption: care-home residence among infected adults, weighted up for the "
               "2020 care-home outbreaks; dementia is the strongest predictor.",
    ),
}
"""Logistic prevalence models of the comorbidities, in generation order. ``u`` is the
hidden multimorbidity factor; ``bmi5`` is (BMI - 28)/5; ``dep`` is quintile - 1."""

OBESITY_RECORDED = {"bmi_30_plus": 0.50, "bmi_below_30": 0.01}
"""Probability that clinician-defined obesity is recorded given BMI (assumption:
obesity is under-recorded, as in ISARIC where about 10% of admissions had it)."""

ONSET_TO_TEST_GAMMA = (2.0, 1.3)
"""Gamma (shape, scale) of days from symptom onset to the positive test (assumption)."""

ONSET_TO_ADMISSION_GAMMA = (1.6, 3.2)
"""Gamma (shape, scale) of days from onset to admission: median about 4 days (Docherty)."""

# ============================================================================ community outcomes

OS_LOG_HR = {k: LN(v) for k, v in {
    "male": 1.59,
    "obese_30_35": 1.05, "obese_35_40": 1.40, "obese_40_plus": 1.92,
    "smoke_former": 1.19, "smoke_current": 0.89,
    "eth_mixed": 1.43, "eth_south_asian": 1.44, "eth_black": 1.48, "eth_other": 1.33,
    "dep2": 1.12, "dep3": 1.23, "dep4": 1.51, "dep5": 1.80,
    "hypertension": 0.89, "chronic_pulmonary": 1.63, "asthma": 0.99, "chronic_cardiac": 1.17,
    "diabetes": 1.53, "malignancy": 1.15, "haematological_cancer": 2.10,
    "chronic_kidney": 2.52, "liver_disease": 1.75, "dementia": 2.16, "chronic_neuro": 2.16,
    "organ_transplant": 3.55, "connective_tissue": 1.19, "immunosuppression": 1.70,
    "hiv": 1.70,
}.items()}
"""OpenSAFELY fully adjusted hazard ratios for COVID-19 death (OS, clinical-figures 5a),
used as log odds ratios (death is rare). Derived entries: diabetes 1.53 is the
geometric mean of controlled 1.31, uncontrolled 1.95 and no-HbA1c 1.90 weighted
0.58/0.28/0.14 (approximate OS prevalences); malignancy 1.15 and haematological
cancer 2.10 average the <1 y, 1-5 y and >5 y categories; chronic_kidney uses eGFR
<30 (2.52) because the schema defines CKD as eGFR 30 or less; chronic_neuro uses
"stroke or dementia" (2.16); hiv uses "other immunosuppression" (1.70, assumption)."""

COMMUNITY_DEATH = LinearPredictor(
    intercept=LN(0.0045 / 0.9955),
    age_knots=(18, 29, 39, 45, 55, 65, 75, 82, 90, 100),
    age_values=(-3.53, -2.98, -2.18, -1.18, 0.00, 0.87, 1.81, 2.70, 3.50, 4.20),
    coef={**{k: v for k, v in OS_LOG_HR.items() if not k.startswith("obese")},
          "obese_curve": 1.0, "care_home": LN(1.5), "vaccine_death": 1.0},
    source="OS fully adjusted HRs (clinical-figures 5a) as log odds ratios; age curve tuned "
           "so that a logistic model with OS age bands re-estimates 0.06/0.30/1/2.40/6.08/20.61; "
           "intercept tuned to about 1.5% 28-day mortality among infected adults in 2020; "
           "care home 1.5 is an assumption (OS did not report it).",
)
"""28-day death of an infected adult given the community record (logit). The exact
community risk equals this whenever the out-of-hospital part is non-negative."""

OBESE_CURVE = ((30.0, 32.5, 37.5, 42.5, 50.0), (0.0, 0.07, 0.43, 0.76, 0.91))
"""Log OR of death by BMI (piecewise linear, 0 below 30): tuned so that OS obesity classes
(1.05 / 1.40 / 1.92) are re-estimated by a class-based logistic model."""

HOSPITALISATION = LinearPredictor(
    intercept=LN(0.030 / 0.970),
    age_knots=(18, 30, 40, 50, 60, 70, 80, 90, 100),
    age_values=(-2.078, -1.752, -1.289, -0.676, -0.113, 0.55, 1.113, 1.376, 1.439),
    coef={"male": 0.45, "bmi_obese": 0.25, "chronic_cardiac": 0.20, "chronic_pulmonary": 0.45,
          "chronic_kidney": 0.60, "liver_disease": 0.30, "dementia": 0.35, "chronic_neuro": 0.35,
          "connective_tissue": 0.15, "diabetes": 0.35, "hiv": 0.20, "malignancy": 0.10,
          "hypertension": -0.05, "asthma": 0.05, "immunosuppression": 0.30,
          "organ_transplant": 0.40, "haematological_cancer": 0.40, "care_home": -0.25,
          "dep": 0.12, "smoke_current": -0.12, "eth_south_asian": 0.25, "eth_black": 0.30,
          "vaccine_hosp": 1.0},
    source="Tuned so that the admitted cohort matches Docherty (median age 73, IQR 58-82, 60% "
           "male, cardiac 31%, diabetes 21%, chronic pulmonary 18%, CKD 16%) and so that "
           "in-hospital deaths never exceed the OS-based 28-day death risk; care-home residents "
           "were admitted less often in 2020 (assumption).",
)
"""Hospitalisation within 28 days of a positive test (logit)."""

# ============================================================================ scenarios


@dataclass(frozen=True)
class Scenario:
    """A variant period with its vaccination coverage and effects.

    Log effects are relative to the wild-type 2020 default scenario.
    """

    name: str
    variant: str
    description: str
    hosp_log_or: float = 0.0
    hosp_log_or_age: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    death_log_or: float = 0.0
    inhosp_death_shift: float = 0.0
    severity_shift: float = 0.0
    imv_shift: float = 0.0
    coverage_age_knots: tuple[float, ...] = (18, 30, 50, 70, 100)
    coverage: dict[int, tuple[float, ...]] = field(default_factory=lambda: {0: (1, 1, 1, 1, 1)})
    days_since_dose: dict[int, tuple[float, float]] = field(default_factory=dict)
    vaccine_log_hr: dict[int, tuple[float, float]] = field(default_factory=dict)
    waning_days: float = 150.0
    sources: dict[str, str] = field(default_factory=dict)


_NO_VACCINE = {0: (1.0, 1.0, 1.0, 1.0, 1.0)}

SCENARIOS: dict[str, Scenario] = {
    "wild_type_2020": Scenario(
        name="wild_type_2020", variant="wild_type",
        description="Wild-type SARS-CoV-2, first UK wave (Feb-Jun 2020); no vaccination. "
                    "Tuned to ISARIC UK wave 1.",
        coverage=_NO_VACCINE,
    ),
    "alpha_2020": Scenario(
        name="alpha_2020", variant="alpha",
        description="Alpha (B.1.1.7), UK winter 2020/21; vaccination had barely begun.",
        hosp_log_or=LN(1.52), death_log_or=LN(1.64),
        inhosp_death_shift=-0.03, severity_shift=0.10,
        coverage=_NO_VACCINE,
        sources={
            "hosp_log_or": "Nyberg et al., BMJ 2021;373:n1412: alpha vs wild type HR admission "
                           "1.52 (outside clinical-figures.md)",
            "death_log_or": "Challen et al., BMJ 2021;372:n579: HR death 1.64 (outside "
                            "clinical-figures.md)",
            "inhosp_death_shift": "Assumption: dexamethasone and experience (about -0.13, "
                                  "OR 0.80, Dongelmans) partly offset by Alpha's severity",
        },
    ),
    "delta_2021": Scenario(
        name="delta_2021", variant="delta",
        description="Delta (B.1.617.2), UK Jun-Nov 2021, two doses for most adults and "
                    "boosters starting in the oldest.",
        hosp_log_or=LN(1.52) + LN(2.26), death_log_or=LN(1.64) + LN(2.26) + LN(0.80),
        inhosp_death_shift=-0.13, severity_shift=0.20,
        coverage={0: (0.42, 0.30, 0.10, 0.05, 0.05), 1: (0.25, 0.12, 0.04, 0.02, 0.02),
                  2: (0.33, 0.58, 0.84, 0.80, 0.80), 3: (0.0, 0.0, 0.02, 0.13, 0.13)},
        days_since_dose={1: (21, 90), 2: (14, 200), 3: (14, 60)},
        vaccine_log_hr={1: (LN(0.35), LN(0.30)), 2: (LN(0.08), LN(0.05)),
                        3: (LN(0.05), LN(0.05))},
        waning_days=150.0,
        sources={
            "hosp_log_or": "Alpha vs wild type 1.52 (Nyberg 2021) x Delta vs Alpha 2.26 "
                           "(Twohig 2022)",
            "death_log_or": "Admission effect used for death (assumption) x OR 0.80 for "
                            "2021 treatment (Dongelmans third wave)",
            "vaccine_log_hr": "2 doses vs hospitalisation 92% (PHE, Delta), vs death 95% early "
                              "(UKHSA); 1 dose about 65-70% (assumption); effects are applied "
                              "to infected people (they overstate protection given infection)",
            "waning_days": "Derived: 95% -> 60% protection against death at 6 months (UKHSA) "
                           "gives log-HR decay with time constant 180/ln(3.27) = 152 days",
            "coverage": "Assumption near UK coverage among infected adults (Twohig: 74% of "
                        "cases unvaccinated in spring 2021, lower by autumn)",
            "inhosp_death_shift": "Probit -0.13 (about OR 0.80, Dongelmans third wave)",
        },
    ),
    "omicron_2022": Scenario(
        name="omicron_2022", variant="omicron",
        description="Omicron (BA.1), UK Jan-Mar 2022, boosters in most older adults.",
        hosp_log_or=LN(1.52) + LN(2.26) + LN(0.41),
        hosp_log_or_age=((18, 55, 65, 75, 85), (0.0, 0.0, LN(0.25 / 0.41), LN(0.35 / 0.41),
                                                LN(0.47 / 0.41))),
        death_log_or=LN(1.64) + LN(2.26) + LN(0.80) + LN(0.31),
        inhosp_death_shift=-0.13 - 0.20, severity_shift=-0.15, imv_shift=-0.25,
        coverage={0: (0.25, 0.18, 0.07, 0.04, 0.04), 1: (0.08, 0.05, 0.02, 0.01, 0.01),
                  2: (0.30, 0.22, 0.13, 0.06, 0.06), 3: (0.37, 0.55, 0.78, 0.89, 0.89)},
        days_since_dose={1: (90, 300), 2: (90, 240), 3: (14, 120)},
        vaccine_log_hr={1: (LN(0.60), LN(0.45)), 2: (LN(0.35), LN(0.25)),
                        3: (LN(0.10), LN(0.05))},
        waning_days=166.0,
        sources={
            "hosp_log_or": "Omicron vs Delta HR admission 0.41, 0.25 at 60-69 y and 0.47 at "
                           ">=80 y (Nyberg 2022)",
            "death_log_or": "Omicron vs Delta HR death 0.31 (Nyberg 2022)",
            "vaccine_log_hr": "Booster vs hospitalisation 90%, vs death 95% (UKHSA); 2 doses "
                              "about 65% vs hospitalisation against Omicron (assumption; "
                              "Nyberg: >70% protection with booster)",
            "waning_days": "Derived: 90% -> 75% vs hospitalisation at 10-14 weeks (UKHSA) "
                           "gives 84/ln(1.66) = 166 days",
            "inhosp_death_shift": "Treatment (-0.13) and Omicron's milder course once admitted "
                                  "(-0.20, assumption consistent with death HR 0.31 < "
                                  "admission HR 0.41)",
            "imv_shift": "Less invasive ventilation in later waves (Dongelmans: 79% -> 58% of "
                         "ICU patients)",
        },
    ),
}
"""The scenarios ``make_cohort`` accepts. ``wild_type_2020`` is the default."""

# ============================================================================ admission record

ADMISSION_AGE_REF = 70.0
"""Admission features use ``age10 = (age - 70)/10`` and ``bmi5 = (BMI - 28)/5``."""

SEVERITY = LinearPredictor(
    intercept=0.0,
    coef={"age10": -0.093, "male": 0.10, "bmi_obese": 0.10, "diabetes": 0.05, "vacc": -0.30,
          "care_home": -0.10},
    link="identity",
    notes={"vacc": "Full unwaned vaccine protection (1 = fresh booster). Derived: UKHSA protection "
                   "95% against death vs 90% against admission implies death given admission "
                   "halved (log OR -0.69); part comes through lower severity (SEVERITY), the "
                   "rest through this shift (assumption)."},
    source="Assumption: men and obese patients present with more severe pneumonitis "
           "(Docherty); younger patients are admitted only when sicker (the age slope was "
           "tuned to the 4C histogram); vaccinated patients have milder disease.",
)
"""Mean of the latent respiratory/inflammatory severity ``S`` given the community record."""

SYSTEMIC = LinearPredictor(
    intercept=0.0,
    coef={"age10": 0.10, "chronic_cardiac": 0.15, "chronic_kidney": 0.15,
          "malignancy": 0.10, "care_home": 0.15},
    link="identity",
    source="Assumption: older and comorbid patients are more often shocked or dehydrated.",
)
"""Mean of the latent systemic/circulatory severity ``T`` given the community record."""

SEVERITY_CORRELATION = 0.45
"""Correlation of ``S`` and ``T`` given the community record (assumption)."""


def _lat(name, transform, intercept, coef, l_s=0.0, l_t=0.0, l_r=0.0, sigma=0.0, cap=None,
         source=""):
    return Latent(
        name=name, transform=transform,
        mean=LinearPredictor(intercept=intercept, coef=coef, link="identity", source=source),
        l_s=l_s, l_t=l_t, l_r=l_r, sigma=sigma, cap=cap,
    )


LATENTS: tuple[Latent, ...] = (
    _lat("respiratory_rate", "exp_plus_10", 2.455, {"age10": 0.02, "chronic_pulmonary": 0.10,
         "bmi5": 0.03}, l_s=0.253, l_t=0.10, sigma=0.38, cap=45.0,
         source="log(RR - 10); median 22/min; tuned to the 4C RR bands via the 4C histogram"),
    _lat("spo2", "spo2", 2.099, {"age10": 0.05, "chronic_pulmonary": 0.45,
         "chronic_cardiac": 0.10, "bmi5": 0.08}, l_s=0.384, sigma=0.50,
         source="log room-air SpO2 deficit; median 94.5%; COPD lowers SpO2"),
    _lat("heart_rate", "exp", LN(92.0), {"age10": -0.02}, l_s=0.05, l_t=0.08, sigma=0.15,
         source="log heart rate; median 92/min (assumption)"),
    _lat("systolic_bp", "exp", LN(132.0), {"age10": 0.02, "hypertension": 0.06}, l_t=-0.07,
         sigma=0.13, source="log SBP; median 132 mmHg (assumption)"),
    _lat("diastolic_ratio", "identity", 0.0, {"age10": -0.10}, sigma=0.70,
         source="logit-scale share of SBP: DBP = SBP x (0.42 + 0.28 expit(z)) (assumption)"),
    _lat("temperature", "identity", 37.5, {"age10": -0.10}, l_s=0.35, sigma=0.65,
         source="degrees C; about 30% febrile at triage (Richardson)"),
    _lat("urea", "exp", 1.847, {"age10": 0.10, "chronic_kidney": 0.70, "chronic_cardiac": 0.12,
         "diabetes": 0.08, "male": 0.08}, l_s=0.08, l_t=0.22, l_r=0.25, sigma=0.38,
         source="log urea; median about 7 mmol/L; CKD raises it; tuned to the 4C urea bands"),
    _lat("creatinine", "exp", LN(86.0), {"age10": 0.06, "chronic_kidney": 0.95, "male": 0.20,
         "diabetes": 0.05, "chronic_cardiac": 0.08}, l_t=0.18, l_r=0.30, sigma=0.25,
         source="log creatinine; median 86 umol/L; CKD raises it (assumption)"),
    _lat("crp", "exp", 4.34, {"age10": 0.03, "bmi5": 0.05}, l_s=0.566, sigma=0.70, cap=450.0,
         source="log CRP; Danish cohort medians 60-80 mg/L (clinical-figures 6b)"),
    _lat("lymphocytes", "exp", LN(0.92), {"age10": -0.06, "hiv": -0.40,
         "immunosuppression": -0.20, "organ_transplant": -0.30}, l_s=-0.22, sigma=0.45,
         source="log lymphocytes; 1.0 (0.7-1.4) survivors vs 0.8 (0.6-1.1) deaths (6b)"),
    _lat("neutrophils", "exp", LN(5.2), {"age10": 0.02}, l_s=0.18, l_t=0.12, sigma=0.42,
         source="log neutrophils; 4.8 vs 5.7 (6b)"),
    _lat("platelets", "exp", LN(215.0), {"haematological_cancer": -0.30, "liver_disease": -0.30},
         l_s=-0.05, l_t=-0.05, sigma=0.33, source="log platelets (assumption)"),
    _lat("ldh", "exp", LN(300.0), {"age10": 0.0}, l_s=0.30, sigma=0.30,
         source="log LDH; 272 vs 292 U/L (6b)"),
    _lat("d_dimer", "exp", LN(1.05), {"age10": 0.12, "malignancy": 0.35}, l_s=0.35, l_t=0.30,
         sigma=0.75, source="log D-dimer; 0.9 (0.5-2.1) vs 1.8 (0.8-4.4) mg/L (6b)"),
    _lat("ferritin", "exp", LN(550.0), {"male": 0.30}, l_s=0.40, sigma=0.85,
         source="log ferritin (assumption)"),
    _lat("troponin", "exp", LN(14.0), {"age10": 0.30, "chronic_cardiac": 0.60,
         "chronic_kidney": 0.60}, l_s=0.10, l_t=0.45, sigma=0.80,
         source="log hs-troponin; cardiac disease and CKD raise it (assumption)"),
    _lat("albumin", "identity", 35.5, {"age10": -0.60, "liver_disease": -4.0}, l_s=-2.0,
         l_t=-1.0, sigma=4.0, source="g/L (assumption)"),
)
"""Admission vital signs and labs driven by the latents (see :class:`Latent`)."""

GCS = LinearPredictor(
    intercept=-1.305, coef={"age10": 0.151, "dementia": 1.10, "care_home": 0.50,
                           "chronic_neuro": 0.35},
    link="probit",
    source="Assumption tuned to the 4C histogram (GCS <15 in about 17% of admissions, mostly "
           "older patients with dementia).",
)
"""Probit of GCS < 15; it depends on the community record only, which keeps the 28-day
death risk exactly computable."""

GCS_LEVEL_PROBS: tuple[float, ...] = (0.40, 0.18, 0.10, 0.07, 0.05, 0.04, 0.03, 0.03, 0.03,
                                     0.02, 0.02, 0.03)
"""P(GCS = 14, 13, ..., 3 | GCS < 15), twelve levels (assumption: most impaired patients
score 13-14)."""

NOSOCOMIAL = LinearPredictor(
    intercept=-2.55, coef={"age10": 0.20, "care_home": 0.30, "dementia": 0.40,
                           "malignancy": 0.30},
    source="Assumption: about 8% of admissions with hospital-acquired COVID-19.",
)

INFILTRATES = LinearPredictor(
    intercept=0.75, coef={"S": 0.70}, link="probit",
    source="Assumption: about 75% of admissions have chest infiltrates; more with severity.",
)

ON_OXYGEN = LinearPredictor(
    intercept=-0.75, coef={"z_spo2": 1.10, "z_respiratory_rate": 0.50}, link="probit",
    source="Assumption: about 28% on oxygen when SpO2 was measured (Richardson 27.8%).",
)
"""Probit of being on oxygen at the SpO2 measurement, given centred log deficit and log RR."""

FIO2_LEVELS: tuple[float, ...] = (0.24, 0.28, 0.35, 0.40, 0.60)
"""FiO2 given to patients on oxygen, chosen by how low the room-air SpO2 is (assumption:
Venturi masks 24-40%, 60% for the most hypoxaemic)."""
OXYGEN_UPLIFT = 4.0
"""On oxygen the SpO2 deficit is multiplied by ``exp(-4.0*(FiO2 - 0.21))`` (assumption:
FiO2 0.40 halves the deficit)."""

# ============================================================================ in-hospital outcomes

DEATH = LinearPredictor(
    intercept=-1.024,
    age_knots=(18, 40, 50, 60, 70, 80, 90, 100),
    age_values=(-1.438, -0.882, -0.56, -0.195, -0.022, 0.13, 0.267, 0.361),
    coef={"male": 0.177, "chronic_cardiac": 0.045, "chronic_pulmonary": 0.045,
          "chronic_kidney": 0.056, "liver_disease": 0.111, "dementia": 0.1,
          "chronic_neuro": 0.045, "connective_tissue": 0.022, "diabetes": 0.034, "hiv": 0.056,
          "malignancy": 0.089, "obese_death": 0.028, "immunosuppression": 0.083,
          "organ_transplant": 0.111, "haematological_cancer": 0.139, "care_home": 0.1,
          "vacc": -0.25, "z_respiratory_rate": 0.194, "z_spo2": 0.212, "z_urea": 0.253,
          "z_crp": 0.147, "z_lymphocytes": -0.217, "z_ldh": 0.13, "z_albumin": -0.018,
          "z_troponin": 0.052, "z_d_dimer": 0.035, "z_neutrophils": 0.13,
          "z_systolic_bp": -0.521, "z_heart_rate": 0.348},
    link="probit",
    notes={"vacc": "Full unwaned vaccine protection (1 = fresh booster). Derived: UKHSA protection "
                   "95% against death vs 90% against admission implies death given admission "
                   "halved (log OR -0.69); part comes through lower severity (SEVERITY), the "
                   "rest through this shift (assumption)."},
    source="Tuned offline (Nelder-Mead on a fixed simulated cohort, with a penalty keeping "
           "every group of effects near its clinically expected size) so that the 4C score "
           "computed on the records reproduces the 4C validation mortality per score and per "
           "risk group (4C-BMJ), overall mortality is 30.1% and the true risk reaches AUROC "
           "about 0.815. The relative sizes of the RR, SpO2, urea and CRP effects follow the "
           "4C points (0.33 : 0.36 : 0.43 : 0.25 per log unit); directions from Docherty, "
           "4C-BMJ and the survivor/non-survivor labs in clinical-figures 6b.",
)
"""In-hospital death (probit). ``z_*`` are the centred latents (log scale for log-normal
measurements, so e.g. ``z_urea`` is log(urea / 6.05)); GCS adds ``DEATH_GCS``."""

DEATH_GCS: dict[tuple[int, int], float] = {(13, 14): 0.226, (9, 12): 0.366, (3, 8): 0.616}
"""Probit added to in-hospital death by GCS band (mild, moderate, severe impairment);
0 for GCS 15 (4C: +2 points for GCS < 15). Tuned with ``DEATH``: about 0.20 for any
impairment plus 0.05 per point below 14, averaged within each band."""

ICU_ELIGIBLE = LinearPredictor(
    intercept=0.0,
    age_knots=(18, 60, 70, 75, 80, 85, 90),
    age_values=(2.2, 1.8, 1.0, 0.40, -0.40, -1.0, -1.6),
    coef={"care_home": -1.2, "dementia": -1.0, "n_comorbid": -0.15, "malignancy": -0.30,
          "chronic_pulmonary": -0.20},
    link="probit",
    source="Assumption (ceiling of care): ICU is offered less to the very old, frail "
           "(care home, dementia) and multimorbid, as in UK practice in 2020.",
)

CRITICAL = LinearPredictor(
    intercept=-1.222,
    coef={"z_spo2": 0.60, "z_respiratory_rate": 0.50, "z_crp": 0.20, "bmi5": 0.10, "male": 0.10,
          "infiltrates": 0.30, "z_lymphocytes": -0.15},
    link="probit",
    source="Tuned to ICU 12-19% (Richardson 14.2%, Bradley 17.1%); the need for critical care "
           "rises with hypoxaemia, tachypnoea and inflammation.",
)
CRITICAL_IF_DIES = 0.60
"""Probit added to the need for critical care when the patient dies (assumption)."""

IMV_GIVEN_ICU = LinearPredictor(
    intercept=0.232, coef={"z_spo2": 0.30, "bmi5": 0.10},
    link="probit",
    source="Tuned to 58-88% of ICU patients ventilated (Dongelmans 79% wave 1, Grasselli 88%).",
)
IMV_IF_DIES = 0.50
"""Probit added to invasive ventilation in ICU when the patient dies (assumption)."""

WARD_SUPPORT = LinearPredictor(
    intercept=-1.796, coef={"z_spo2": 0.55, "z_respiratory_rate": 0.35, "infiltrates": 0.25,
                           "age10": 0.0},
    link="probit",
    source="Tuned so that deterioration (any ventilatory support, ICU or death) is about 43% "
           "(Gupta); non-invasive support on the ward.",
)

AKI = LinearPredictor(
    intercept=-1.409, coef={"z_creatinine": 0.60, "z_urea": 0.30, "chronic_kidney": 0.25,
                           "diabetes": 0.10, "hypertension": 0.10, "age10": 0.05, "male": 0.10,
                           "chronic_cardiac": 0.10},
    link="probit",
    source="Tuned to 28% (22-34%, Silver meta-analysis); ventilation raises it (Hirsch: 89.7% "
           "vs 21.7%).",
)
AKI_IF_IMV = 2.0
"""Probit added to AKI for ventilated patients: tuned to Hirsch (AKI in 89.7% of ventilated vs
21.7% of non-ventilated patients; achieved about 78% vs 21%)."""

VTE = LinearPredictor(
    intercept=-1.54, coef={"z_d_dimer": 0.30, "malignancy": 0.30, "bmi5": 0.06, "male": 0.05},
    link="probit",
    source="Tuned to 7.9% outside and 22.7% in ICU (Nopp meta-analysis).",
)
VTE_IF_ICU = 0.60
"""Probit added to VTE for ICU patients: tuned to Nopp (22.7% in ICU vs 7.9% outside)."""

# ============================================================================ measurement

MEASUREMENT_NOISE: dict[str, tuple[str, float]] = {
    # field: ("add" sd in unit | "mul" coefficient of variation)
    "respiratory_rate": ("add", 1.0),
    "spo2": ("add", 0.7),
    "heart_rate": ("add", 3.0),
    "systolic_bp": ("add", 4.0),
    "diastolic_bp": ("add", 3.0),
    "temperature": ("add", 0.15),
    "urea": ("mul", 0.03),
    "creatinine": ("mul", 0.04),
    "crp": ("mul", 0.05),
    "lymphocytes": ("mul", 0.05),
    "neutrophils": ("mul", 0.04),
    "platelets": ("mul", 0.04),
    "ldh": ("mul", 0.05),
    "d_dimer": ("mul", 0.08),
    "ferritin": ("mul", 0.06),
    "troponin": ("mul", 0.08),
    "albumin": ("add", 1.0),
    "bmi": ("add", 0.4),
}
"""Measurement noise (assumption: analytical CVs of routine assays, charting of vitals)."""

ROUNDING: dict[str, float] = {
    "respiratory_rate": 1.0, "spo2": 1.0, "heart_rate": 1.0, "systolic_bp": 1.0,
    "diastolic_bp": 1.0, "temperature": 0.1, "urea": 0.1, "creatinine": 1.0, "crp": 1.0,
    "lymphocytes": 0.01, "neutrophils": 0.01, "platelets": 1.0, "ldh": 1.0, "d_dimer": 0.01,
    "ferritin": 1.0, "troponin": 1.0, "albumin": 1.0, "bmi": 0.1,
}
"""Resolution values are charted at (whole breaths, whole percent, ...)."""

RR_EVEN_DIGIT_SHARE = 0.30
"""Share of respiratory rates charted to the nearest even number (digit preference;
assumption)."""

MISSING_ADMISSION: dict[str, tuple[float, float]] = {
    # field: (base probit of missing, change per unit of latent severity S: negative = the
    # sicker are measured more often)
    "respiratory_rate": (-1.95, -0.10),
    "spo2": (-1.95, -0.10),
    "heart_rate": (-2.10, -0.10),
    "systolic_bp": (-1.95, -0.10),
    "diastolic_bp": (-1.90, -0.10),
    "temperature": (-1.80, -0.10),
    "gcs": (-1.30, -0.10),
    "on_oxygen": (-1.40, -0.10),
    "urea": (-1.20, -0.30),
    "creatinine": (-1.30, -0.30),
    "crp": (-1.05, -0.30),
    "lymphocytes": (-1.25, -0.30),
    "neutrophils": (-1.25, -0.30),
    "platelets": (-1.30, -0.30),
    "ldh": (0.10, -0.30),
    "d_dimer": (0.35, -0.25),
    "ferritin": (0.25, -0.25),
    "troponin": (0.25, -0.25),
    "albumin": (-0.85, -0.30),
    "chest_infiltrates": (-1.05, -0.30),
    "days_since_onset": (-0.90, 0.0),
}
"""Missingness of admission measurements (probit); labs are missing more often in the
less sick, troponin, D-dimer, ferritin and LDH are often not ordered (assumption near
ISARIC completeness)."""

MISSING_COMMUNITY: dict[str, float] = {
    "bmi": 0.15, "ethnicity": 0.08, "smoking": 0.10, "deprivation_quintile": 0.02,
    "days_since_onset": 0.25,
}
"""Probability that a community field is not recorded (assumption near OpenSAFELY
completeness: BMI and ethnicity are the least complete)."""

CORRUPTIONS: dict[str, tuple[str, float]] = {
    "creatinine": ("mg/dL", 1.0 / 88.42),
    "urea": ("mg/dL BUN", 28.014 / 10.0),
    "temperature": ("°F", 0.0),
    "crp": ("mg/dL", 0.1),
    "lymphocytes": ("/uL", 1000.0),
    "d_dimer": ("ng/mL FEU", 1000.0),
    "albumin": ("g/dL", 0.1),
}
"""Unit errors written when ``corruption > 0`` (value written in this unit without
saying so); half of corrupted values are transcription errors instead (decimal
point shifted one place)."""
