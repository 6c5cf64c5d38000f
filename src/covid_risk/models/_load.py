"""Loading a model file: verify every byte first (:mod:`._files`), then build the model.

:func:`load` and :func:`load_bytes` are the only ways a :class:`RiskModel` is made
from bytes. Nothing is built until :func:`~covid_risk.models._files.split_file`,
:func:`~covid_risk.models._files.check_manifest` and
:func:`~covid_risk.models._files.check_parts` have accepted the whole file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb

from covid_risk.exceptions import ModelFileError, ModelIntegrityError
from covid_risk.models._files import MAX_FILE_BYTES
from covid_risk.models._risk_model import RiskModel
from covid_risk.models._view import ModelView, read_model_file

__all__ = ["load", "load_bytes"]


def load_bytes(data: bytes, *, hmac_key: str | bytes | None = None, source: str = "The data"):
    """Build a :class:`RiskModel` from model-file bytes (see :func:`load`)."""
    view = read_model_file(data, hmac_key=hmac_key, source=source)
    try:
        return _build(view, source)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, lgb.basic.LightGBMError) as exc:
        # parts whose hashes match but whose content is unusable: written by hand or forged
        raise ModelIntegrityError(
            f"{source} has a part that cannot be used ({type(exc).__name__}: {exc}); the file "
            "was edited together with its manifest. Sign model files to detect such edits."
        ) from None


def _build(view: ModelView, source: str) -> RiskModel:
    """Build the :class:`RiskModel` from a verified file's parts."""
    boosters = {}
    for outcome in view.outcomes_:
        booster = lgb.Booster(model_str=view.booster_texts[outcome])
        if tuple(booster.feature_name()) != view.feature_names_:
            raise ModelIntegrityError(
                f"{source}: the booster of {outcome!r} has features that differ from the model's."
            )
        boosters[outcome] = booster
    model = RiskModel(**view.settings)
    model._set_fitted(
        outcomes=view.outcomes_, boosters=boosters, calibrators=dict(view.calibrators_),
        feature_names=view.feature_names_, version=view.version_, metadata=view.metadata_,
    )
    return model


def load(path: Any, *, hmac_key: str | bytes | None = None):
    """Load a model file written by :meth:`RiskModel.save`, verifying it first.

    Parameters
    ----------
    path : str or path-like
        The model file.
    hmac_key : str or bytes, optional
        Key to check the HMAC-SHA256 signature with. Default: the
        ``COVID_RISK_MODEL_KEY`` environment variable if set; with a key, an
        unsigned or wrongly signed file is refused. Pass ``b""`` to skip.

    Returns
    -------
    RiskModel
        Fitted, with identical predictions to the saved model.

    Raises
    ------
    covid_risk.exceptions.NotAModelFileError
        For a file that is not a covid_risk model (a pickle is never unpickled).
    covid_risk.exceptions.ModelIntegrityError
        For a changed, truncated or rearranged file, or a bad signature.
    covid_risk.exceptions.IncompatibleModelError
        For a newer format, another LightGBM major version or another schema.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ModelIntegrityError(
                f"{str(path)!r} is {size} bytes; model files of at most {MAX_FILE_BYTES} are read."
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"No model file at {str(path)!r}.") from None
    return load_bytes(data, hmac_key=hmac_key, source=repr(str(path)))
