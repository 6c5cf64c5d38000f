"""A verified model file as plain parts: what every loader builds from.

:func:`read_model_file` runs every check of :mod:`covid_risk.models._files` (magic,
lengths, manifest hash, signature, versions, schema, every part's hash) and then reads
the parts: the settings and metadata, the calibrators and the booster texts (each
checked structurally before anything could hand it to LightGBM). The result, a
:class:`ModelView`, holds no LightGBM object, so it is cheap to make:

* :func:`covid_risk.models.load` builds a :class:`~covid_risk.models.RiskModel` from it;
* the one-patient path compiles it directly (:meth:`ModelView.compile`: LightGBM's
  C library loads the texts; neither the ``lightgbm`` package nor scikit-learn is
  imported), which is what makes the first ``predict_risk`` of a fresh process fast.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from covid_risk._json import bounded_loads
from covid_risk.exceptions import IncompatibleModelError, ModelFileError, ModelIntegrityError
from covid_risk.features.matrix import matrix_spec
from covid_risk.models._calibration import calibrator_from_dict
from covid_risk.models._files import check_booster_text, verified_parts

__all__ = ["MODEL_NAME", "ModelView", "read_model_file"]

MODEL_NAME = "lightgbm"
"""What a covid_risk model file holds (``RiskModel.name``; it appears in ``model_version``)."""

_TUPLE_SETTINGS = ("split", "calibration_prior_sd", "outcomes")
"""Settings written as JSON lists that the model takes as tuples."""


@dataclass(frozen=True, eq=False)
class ModelView:
    """The parts of a verified model file, without any LightGBM object.

    Attributes
    ----------
    setting : str
        Clinical setting.
    settings : dict
        The model's constructor settings (as :class:`~covid_risk.models.RiskModel` takes them).
    outcomes_ : tuple of str
        Outcomes, in the model's order.
    feature_names_ : tuple of str
        Model-matrix columns, in order.
    version_ : str
        covid_risk version that wrote the model.
    metadata_ : dict
        Training metadata.
    calibrators_ : dict
        Outcome -> calibrator.
    booster_texts : dict
        Outcome -> LightGBM text model (already checked structurally).
    """

    setting: str
    settings: dict
    outcomes_: tuple[str, ...]
    feature_names_: tuple[str, ...]
    version_: str
    metadata_: dict
    calibrators_: dict
    booster_texts: dict
    _compiled: list = field(default_factory=list, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False)

    name = MODEL_NAME

    def compile(self) -> Any:
        """Return the compiled view of these boosters and calibrators (built once).

        Returns
        -------
        CompiledModel
            LightGBM's C library holds the boosters; the ``lightgbm`` package is not
            imported.
        """
        if not self._compiled:
            with self._lock:
                if not self._compiled:
                    from covid_risk.models._compiled import CompiledModel

                    self._compiled.append(CompiledModel.from_texts(
                        setting=self.setting, feature_names=self.feature_names_,
                        booster_texts=self.booster_texts, calibrators=self.calibrators_))
        return self._compiled[0]

    def __repr__(self) -> str:
        return (f"ModelView({self.setting}, {len(self.outcomes_)} outcomes, "
                f"{len(self.feature_names_)} features)")


def _json_part(parts: Mapping[str, bytes], name: str, source: str) -> dict:
    """Read a JSON part with bounded depth and number size; it must be an object."""
    value = bounded_loads(parts[name], f"{source} has an unreadable JSON part {name!r}; it",
                          ModelIntegrityError)
    if not isinstance(value, dict):
        raise ModelIntegrityError(f"{source}: part {name!r} is not a JSON object.")
    return value


def _settings(doc: Mapping[str, Any]) -> dict:
    settings = dict(doc["settings"])
    for key in _TUPLE_SETTINGS:
        if isinstance(settings.get(key), list):
            settings[key] = tuple(settings[key])
    return settings


def read_model_file(data: bytes, *, hmac_key: str | bytes | None = None,
                    source: str = "The data") -> ModelView:
    """Verify model-file bytes and return their parts as a :class:`ModelView`.

    Parameters
    ----------
    data : bytes
        The whole model file.
    hmac_key : str or bytes, optional
        As for :func:`covid_risk.load`.
    source : str
        How errors name the file.

    Raises
    ------
    covid_risk.exceptions.ModelFileError
        For anything but an intact, compatible model file (see :func:`covid_risk.load`).
    """
    manifest, parts = verified_parts(bytes(data), hmac_key=hmac_key, source=source)
    try:
        return _view(manifest, parts, source)
    except ModelFileError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # parts whose hashes match but whose content is unusable: written by hand or forged
        raise ModelIntegrityError(
            f"{source} has a part that cannot be used ({type(exc).__name__}: {exc}); the file "
            "was edited together with its manifest. Sign model files to detect such edits."
        ) from None


def _view(manifest: Mapping[str, Any], parts: Mapping[str, bytes], source: str) -> ModelView:
    """Read the verified parts into a :class:`ModelView`."""
    outcomes = manifest["outcomes"]
    doc = _json_part(parts, "model.json", source)
    schema_doc = _json_part(parts, "schema.json", source)
    calibrator_docs = {o: _json_part(parts, f"calibrators/{o}.json", source) for o in outcomes}
    names = doc.get("feature_names")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ModelIntegrityError(
            f"{source}: model.json has feature_names {str(names)[:80]!r}; allowed: a list of "
            "names."
        )
    if not isinstance(doc.get("settings"), dict) or not isinstance(doc.get("metadata"), dict):
        raise ModelIntegrityError(f"{source}: model.json lacks its settings or metadata object.")
    setting = manifest["setting"]
    if schema_doc.get("matrix") != matrix_spec(setting):
        raise IncompatibleModelError(
            f"{source} describes a model matrix that differs from this covid_risk's; retrain."
        )
    if doc.get("outcomes") != outcomes or doc.get("settings", {}).get("setting") != setting:
        raise ModelIntegrityError(f"{source}: model.json disagrees with the manifest.")
    for outcome, cal in calibrator_docs.items():
        if cal.get("outcome") != outcome:
            raise ModelIntegrityError(
                f"{source}: calibrators/{outcome}.json holds the calibrator of "
                f"{cal.get('outcome')!r}; parts were swapped."
            )
    texts = {}
    for outcome in outcomes:
        try:
            texts[outcome] = parts[f"boosters/{outcome}.txt"].decode("utf-8")
        except UnicodeDecodeError:
            raise ModelIntegrityError(
                f"{source}: the booster of {outcome!r} is not text.") from None
        check_booster_text(
            texts[outcome], len(names), f"{source}: the booster of {outcome!r}", names
        )
    calibrators = {
        o: calibrator_from_dict({k: v for k, v in c.items() if k != "outcome"})
        for o, c in calibrator_docs.items()
    }
    return ModelView(
        setting=setting, settings=_settings(doc), outcomes_=tuple(outcomes),
        feature_names_=tuple(doc["feature_names"]), version_=doc["version"],
        metadata_=doc["metadata"], calibrators_=calibrators, booster_texts=texts,
    )
