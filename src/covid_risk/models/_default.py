"""The default models shipped inside the package (so ``predict_risk`` needs no model)."""

from __future__ import annotations

import functools
from importlib import resources

from covid_risk.schema import SETTINGS

__all__ = ["DEFAULT_MODEL_FILES", "default_model", "default_model_bytes", "default_view"]

DEFAULT_MODEL_FILES: dict[str, str] = {
    "admission": "default_admission.crmodel",
    "community": "default_community.crmodel",
}
"""Setting -> file name of the bundled model in ``covid_risk/data``.

Regenerate both, byte for byte, with ``python -m covid_risk.models.build_default``.
"""


def default_model_bytes(setting: str = "admission") -> bytes:
    """Return the bytes of the bundled model file of ``setting``."""
    if setting not in SETTINGS:
        raise ValueError(
            f"setting must be one of {', '.join(repr(s) for s in SETTINGS)}; got {setting!r}."
        )
    ref = resources.files("covid_risk") / "data" / DEFAULT_MODEL_FILES[setting]
    if not ref.is_file():
        raise FileNotFoundError(
            f"The bundled default {setting} model ({DEFAULT_MODEL_FILES[setting]}) is missing "
            "from the installed package; rebuild it with "
            "'python -m covid_risk.models.build_default' or pass a model explicitly."
        )
    return ref.read_bytes()


@functools.cache
def default_model(setting: str = "admission"):
    """Return the bundled default :class:`RiskModel` of ``setting`` (loaded once, cached).

    The default models were trained on fixed-seed synthetic cohorts (see
    :mod:`covid_risk.models.build_default`); they are verified like any model file
    but not signature-checked (they are unsigned; ``COVID_RISK_MODEL_KEY`` applies
    to your own files only).

    Parameters
    ----------
    setting : {"admission", "community"}, default="admission"
        Clinical setting.
    """
    from covid_risk.models._load import load_bytes

    data = default_model_bytes(setting)
    return load_bytes(data, hmac_key=b"", source=f"The bundled {setting} model")


@functools.cache
def default_view(setting: str = "admission"):
    """Return the bundled model of ``setting`` as a verified :class:`ModelView` (cached).

    The same file and checks as :func:`default_model`, without building LightGBM
    boosters: the one-patient path compiles the view straight from the booster texts,
    so a fresh process answers its first ``predict_risk`` without importing the
    ``lightgbm`` package or scikit-learn.
    """
    from covid_risk.models._view import read_model_file

    data = default_model_bytes(setting)
    return read_model_file(data, hmac_key=b"", source=f"The bundled {setting} model")
