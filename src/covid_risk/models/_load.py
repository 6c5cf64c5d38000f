"""Loading a model file: verify every byte first (:mod:`._files`), then build the model.

:func:`load` and :func:`load_bytes` are the only ways a :class:`RiskModel` is made
from bytes. Nothing is built until :func:`~covid_risk.models._files.split_file`,
:func:`~covid_risk.models._files.check_manifest` and
:func:`~covid_risk.models._files.check_parts` have accepted the whole file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb

from covid_risk.exceptions import IncompatibleModelError, ModelFileError, ModelIntegrityError
from covid_risk.features.matrix import matrix_spec
from covid_risk.models._calibration import calibrator_from_dict
from covid_risk.models._files import check_booster_text, check_manifest, check_parts, split_file
from covid_risk.models._risk_model import RiskModel

__all__ = ["load", "load_bytes"]


def load_bytes(data: bytes, *, hmac_key: str | bytes | None = None, source: str = "The data"):
    """Build a :class:`RiskModel` from model-file bytes (see :func:`load`)."""
    data = bytes(data)
    manifest, payload = split_file(data, source, hmac_key)
    check_manifest(manifest, source)
    parts = check_parts(manifest, payload, source)
    try:
        return _build(manifest, parts, source)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, lgb.basic.LightGBMError) as exc:
        # parts whose hashes match but whose content is unusable: written by hand or forged
        raise ModelIntegrityError(
            f"{source} has a part that cannot be used ({type(exc).__name__}: {exc}); the file "
            "was edited together with its manifest. Sign model files to detect such edits."
        ) from None


def _build(manifest: dict, parts: dict[str, bytes], source: str):
    """Build the :class:`RiskModel` from verified parts."""
    # every byte is verified; only now is anything built
    try:
        doc = json.loads(parts["model.json"])
        schema_doc = json.loads(parts["schema.json"])
        calibrator_docs = {
            o: json.loads(parts[f"calibrators/{o}.json"]) for o in manifest["outcomes"]
        }
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelIntegrityError(f"{source} has an unreadable JSON part ({exc}).") from None
    setting = manifest["setting"]
    if schema_doc.get("matrix") != matrix_spec(setting):
        raise IncompatibleModelError(
            f"{source} describes a model matrix that differs from this covid_risk's; retrain."
        )
    if doc.get("outcomes") != manifest["outcomes"] or doc.get("settings", {}).get(
        "setting"
    ) != setting:
        raise ModelIntegrityError(f"{source}: model.json disagrees with the manifest.")
    for outcome, cal in calibrator_docs.items():
        if cal.get("outcome") != outcome:
            raise ModelIntegrityError(
                f"{source}: calibrators/{outcome}.json holds the calibrator of "
                f"{cal.get('outcome')!r}; parts were swapped."
            )
    texts = {}
    for outcome in manifest["outcomes"]:
        try:
            texts[outcome] = parts[f"boosters/{outcome}.txt"].decode("utf-8")
        except UnicodeDecodeError:
            raise ModelIntegrityError(
                f"{source}: the booster of {outcome!r} is not text."
            ) from None
        check_booster_text(
            texts[outcome], len(doc["feature_names"]), f"{source}: the booster of {outcome!r}"
        )
    settings = dict(doc["settings"])
    if isinstance(settings.get("split"), list):
        settings["split"] = tuple(settings["split"])
    if isinstance(settings.get("calibration_prior_sd"), list):
        settings["calibration_prior_sd"] = tuple(settings["calibration_prior_sd"])
    if isinstance(settings.get("outcomes"), list):
        settings["outcomes"] = tuple(settings["outcomes"])
    model = RiskModel(**settings)
    boosters = {}
    for outcome in manifest["outcomes"]:
        booster = lgb.Booster(model_str=texts[outcome])
        if tuple(booster.feature_name()) != tuple(doc["feature_names"]):
            raise ModelIntegrityError(
                f"{source}: the booster of {outcome!r} has features that differ from the model's."
            )
        boosters[outcome] = booster
    model.outcomes_ = tuple(manifest["outcomes"])
    model.boosters_ = boosters
    model.calibrators_ = {
        o: calibrator_from_dict({k: v for k, v in c.items() if k != "outcome"})
        for o, c in calibrator_docs.items()
    }
    model.feature_names_ = tuple(doc["feature_names"])
    model.version_ = doc["version"]
    model.metadata_ = doc["metadata"]
    import pandas as pd

    held_out = pd.DataFrame.from_dict(model.metadata_.get("metrics", {}), orient="index")
    model.held_out_ = held_out.reindex([o for o in model.outcomes_ if o in held_out.index])
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
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"No model file at {str(path)!r}.") from None
    return load_bytes(data, hmac_key=hmac_key, source=repr(str(path)))
