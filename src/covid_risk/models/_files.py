r"""Model files: one file, no pickle, verified before anything is built.

Layout (all integers big-endian)
--------------------------------
========  =========  ===========================================================
offset    size       content
========  =========  ===========================================================
0         14         magic ``b"\x89COVIDRISK\r\n\x1a\n"`` (PNG-style: catches
                     text-mode and truncating transfers)
14        8          length ``m`` of the manifest
22        32         SHA-256 of the manifest
54        32         HMAC-SHA256 of the manifest, or 32 zero bytes if unsigned
86        ``m``      manifest: UTF-8 JSON
86 + m    ...        the parts, concatenated in manifest order
========  =========  ===========================================================

The manifest records the format (``"covid_risk.model"``) and its version, the
covid_risk and LightGBM versions, the schema hash, the model-matrix hash, the
setting, outcomes, creation time and, for every part, its name, size and
SHA-256. The parts are

* ``model.json``: the model's settings, outcomes, feature names and metadata;
* ``schema.json``: the schema hash and the model-matrix specification
  (columns, category codes, monotone directions);
* ``boosters/<outcome>.txt``: LightGBM's own text model;
* ``calibrators/<outcome>.json``: the calibrator's parameters.

:func:`load` checks, in this order and before building any booster: the magic
(a pickle, zip, JSON or LightGBM text file is refused as foreign and never
executed), the header and manifest lengths (truncation), the manifest hash, the
HMAC signature when a key is given, the format and versions, the schema and
matrix hashes, the total length, the set of parts, and the hash of every part.
Each failure raises a specific :class:`~covid_risk.exceptions.ModelFileError`:
:class:`~covid_risk.exceptions.NotAModelFileError` for foreign files,
:class:`~covid_risk.exceptions.ModelIntegrityError` for changed, truncated or
mismatched content, :class:`~covid_risk.exceptions.IncompatibleModelError` for a
newer format, another LightGBM major version or a different schema.

Signing
-------
With a key (the ``hmac_key`` argument, else the ``COVID_RISK_MODEL_KEY``
environment variable) :meth:`RiskModel.save` signs the manifest and
:func:`load` refuses a file whose signature is missing or wrong. SHA-256 alone
detects accidents; only the signature detects a deliberate change.

Byte identity
-------------
Every part is written deterministically (sorted-key JSON, LightGBM text), and
nothing time-dependent is written unless the model's ``created`` setting asks
for it, so the same cohort and seed give the same bytes. The thread count is not
written either: in LightGBM's deterministic mode the trees do not depend on it
(each booster text records ``num_threads: 0`` and ``n_jobs`` is left out of the
settings), so training with 1 or 2 threads gives the same file.

Booster texts are proven well-formed (:func:`check_booster_text`, a strict
parser of LightGBM's text format in :mod:`._booster_text`) before LightGBM parses
them, because its parser trusts its input: on a damaged or crafted text it can
abort, crash, loop forever or allocate without bound instead of raising. With
the sizes bounded (:data:`MAX_FILE_BYTES`, :data:`MAX_MANIFEST_BYTES`,
:data:`MAX_JSON_PART_BYTES` and the booster limits of :mod:`._booster_text`)
and every JSON part read with bounded depth and number size, no file that
passes can crash or hang the process, and every number a model is built from
is finite. This makes unsigned files (the default) safe to load; it does not
make a forged model *right*: only the signature detects a deliberate change.

Limits
------
:data:`MAX_FILE_BYTES` 512 MiB per file, :data:`MAX_MANIFEST_BYTES` 1 MiB,
:data:`MAX_JSON_PART_BYTES` 16 MiB per JSON part (the bundled admission file is
1.8 MB, its manifest 2.5 KB, its largest JSON part 7 KB).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib.metadata
import json
import os
import re
import struct
import tempfile
from pathlib import Path
from typing import Any

from covid_risk._json import bounded_loads, to_jsonable
from covid_risk.exceptions import (
    IncompatibleModelError,
    ModelIntegrityError,
    NotAModelFileError,
)
from covid_risk.features.matrix import matrix_spec, matrix_spec_hash
from covid_risk.models._booster_text import (
    MAX_BOOSTER_BYTES,
    BoosterTextError,
    parse_booster_text,
)
from covid_risk.schema import SETTING_OUTCOMES, schema_hash

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "KEY_ENV",
    "MAGIC",
    "MAX_FILE_BYTES",
    "MAX_JSON_PART_BYTES",
    "MAX_MANIFEST_BYTES",
    "check_booster_text",
    "check_manifest",
    "check_parts",
    "lightgbm_version",
    "model_to_bytes",
    "read_manifest",
    "save_model",
    "split_file",
    "verified_parts",
]

MAGIC = b"\x89COVIDRISK\r\n\x1a\n"
FORMAT = "covid_risk.model"
FORMAT_VERSION = "1.0"
KEY_ENV = "COVID_RISK_MODEL_KEY"
MAX_FILE_BYTES = 512 * 1024 * 1024
"""Largest model file read (the bundled admission model is 1.8 MB)."""
MAX_MANIFEST_BYTES = 1024 * 1024
"""Largest manifest read (the bundled ones are under 3 KB)."""
MAX_JSON_PART_BYTES = 16 * 1024 * 1024
"""Largest JSON part read (the bundled ones are under 8 KB)."""
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEADER = struct.Struct(">Q32s32s")
_UNSIGNED = bytes(32)
_PREFIX = len(MAGIC) + _HEADER.size


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=True) + "\n").encode("ascii")


def _key(hmac_key: str | bytes | None) -> bytes | None:
    """Resolve the signing key: argument, else environment; empty means none."""
    if hmac_key is None:
        hmac_key = os.environ.get(KEY_ENV) or None
    if hmac_key is None or len(hmac_key) == 0:
        return None
    return hmac_key.encode("utf-8") if isinstance(hmac_key, str) else bytes(hmac_key)


def _major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        raise ModelIntegrityError(f"Unreadable version {version!r} in the model file.") from None


@functools.cache
def lightgbm_version() -> str:
    """Return the installed LightGBM version, read without importing the package (it is slow)."""
    return importlib.metadata.version("lightgbm")


# ----------------------------------------------------------------------------- writing
def model_to_bytes(model: Any, *, hmac_key: str | bytes | None = None) -> bytes:
    """Serialise a fitted :class:`RiskModel` (checked by the caller) to the model-file bytes."""
    settings = to_jsonable(model.get_params())
    settings.pop("n_jobs", None)  # a runtime choice: the trees do not depend on it
    parts: list[tuple[str, bytes]] = [
        (
            "model.json",
            _dumps(
                {
                    "settings": settings,
                    "outcomes": list(model.outcomes_),
                    "feature_names": list(model.feature_names_),
                    "version": model.version_,
                    "metadata": model.metadata_,
                }
            ),
        ),
        (
            "schema.json",
            _dumps({"schema_hash": schema_hash(), "matrix": matrix_spec(model.setting)}),
        ),
    ]
    for outcome in model.outcomes_:
        text = model.boosters_[outcome].model_to_string()
        parts.append((f"boosters/{outcome}.txt", text.encode("utf-8")))
    for outcome in model.outcomes_:
        cal = {"outcome": outcome, **model.calibrators_[outcome].to_dict()}
        parts.append((f"calibrators/{outcome}.json", _dumps(cal)))
    key = _key(hmac_key)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": model.version_,
        "lightgbm_version": lightgbm_version(),
        "schema_hash": schema_hash(),
        "matrix_hash": matrix_spec_hash(setting=model.setting),
        "setting": model.setting,
        "outcomes": list(model.outcomes_),
        "created": model.metadata_.get("created"),
        "signed": key is not None,
        "parts": [
            {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in parts
        ],
    }
    manifest_bytes = _dumps(manifest)
    signature = hmac.new(key, manifest_bytes, hashlib.sha256).digest() if key else _UNSIGNED
    header = _HEADER.pack(len(manifest_bytes), hashlib.sha256(manifest_bytes).digest(), signature)
    return b"".join([MAGIC, header, manifest_bytes, *(data for _, data in parts)])


def save_model(model: Any, path: Any, *, hmac_key: str | bytes | None = None) -> None:
    """Write ``model`` to ``path`` atomically (temporary file, then rename)."""
    data = model_to_bytes(model, hmac_key=hmac_key)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------- reading
def _foreign(data: bytes, source: str) -> NotAModelFileError:
    head = data[:16]
    if head[:1] == b"\x80" or head[:1] in (b"(", b"]", b"}", b"c") and b"\n" not in head[:2]:
        what = (
            "It looks like a Python pickle (or joblib file). covid_risk never unpickles: "
            "loading a pickle can run arbitrary code"
        )
    elif head.startswith(b"PK\x03\x04"):
        what = "It is a zip archive"
    elif head.startswith(b"\x1f\x8b"):
        what = "It is gzip-compressed"
    elif head.lstrip()[:1] in (b"{", b"["):
        what = "It looks like JSON"
    elif head.startswith(b"tree") or head.startswith(b"version="):
        what = "It looks like a bare LightGBM text model"
    elif len(data) == 0:
        what = "It is empty"
    else:
        what = "It does not start with the covid_risk model signature"
    return NotAModelFileError(
        f"{source} is not a covid_risk model file. {what}. Load files written by "
        "RiskModel.save (usually *.crmodel), or retrain with covid_risk.train."
    )


def split_file(
    data: bytes, source: str, hmac_key: str | bytes | None
) -> tuple[dict, memoryview]:
    """Verify magic, header, manifest hash and signature; return (manifest, payload view)."""
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data) and data:
            raise ModelIntegrityError(f"{source} is truncated: it ends inside the signature.")
        raise _foreign(data, source)
    if len(data) < _PREFIX:
        raise ModelIntegrityError(
            f"{source} is truncated: {len(data)} bytes, shorter than the {_PREFIX}-byte header."
        )
    if len(data) > MAX_FILE_BYTES:
        raise ModelIntegrityError(
            f"{source} is {len(data)} bytes; model files of at most {MAX_FILE_BYTES} are read."
        )
    length, digest, signature = _HEADER.unpack_from(data, len(MAGIC))
    if length > MAX_MANIFEST_BYTES:
        raise ModelIntegrityError(
            f"{source} states a manifest of {length} bytes; at most {MAX_MANIFEST_BYTES} allowed."
        )
    end = _PREFIX + length
    if end > len(data):
        raise ModelIntegrityError(
            f"{source} is truncated: the manifest needs {length} bytes but only "
            f"{len(data) - _PREFIX} follow the header."
        )
    manifest_bytes = data[_PREFIX:end]
    if hashlib.sha256(manifest_bytes).digest() != digest:
        raise ModelIntegrityError(
            f"{source} has been changed or corrupted: its manifest does not match its SHA-256."
        )
    key = _key(hmac_key)
    if key is not None:
        if signature == _UNSIGNED:
            raise ModelIntegrityError(
                f"{source} is not signed, but a signing key was given (argument or "
                f"{KEY_ENV}); refusing an unsigned file. Pass hmac_key=b'' to skip the check."
            )
        expected = hmac.new(key, manifest_bytes, hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise ModelIntegrityError(
                f"{source} has a signature that does not match the key: it was changed or "
                "signed with another key."
            )
    manifest = bounded_loads(
        manifest_bytes, f"{source} has an unreadable manifest; it", ModelIntegrityError
    )
    if not isinstance(manifest, dict):
        raise ModelIntegrityError(f"{source} has a manifest that is not a JSON object.")
    if (manifest.get("signed") is True) == (signature == _UNSIGNED):
        state = ("says it is signed but has no signature" if signature == _UNSIGNED
                 else "says it is unsigned but its signature slot is not empty")
        raise ModelIntegrityError(f"{source} has been changed or corrupted: it {state}.")
    return manifest, memoryview(data)[end:]  # no copy: parts are sliced and hashed in place


_MANIFEST_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "format_version": (str,),
    "library_version": (str,),
    "lightgbm_version": (str,),
    "schema_hash": (str,),
    "matrix_hash": (str,),
    "setting": (str,),
    "outcomes": (list,),
    "created": (str, type(None)),
    "signed": (bool,),
    "parts": (list,),
}


def _check_manifest_types(manifest: dict, source: str) -> None:
    """Every manifest field present and of its JSON type (a list where a name belongs...)."""
    for key, types in _MANIFEST_TYPES.items():
        if key not in manifest:
            raise ModelIntegrityError(f"{source} has a manifest without the field {key!r}.")
        value = manifest[key]
        if key.endswith("version") and not isinstance(value, str):
            raise ModelIntegrityError(
                f"Unreadable version {str(value)[:40]!r} in the field {key!r} of {source}; "
                "allowed: a version string such as '1.0'."
            )
        if not isinstance(value, types):
            allowed = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ModelIntegrityError(
                f"{source} has a manifest field {key!r} of {str(value)[:60]!r}; allowed: {allowed}."
            )
    if not all(isinstance(o, str) for o in manifest["outcomes"]):
        raise ModelIntegrityError(
            f"{source} has manifest outcomes {str(manifest['outcomes'])[:80]!r}; allowed: names."
        )
    for entry in manifest["parts"]:
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and type(entry.get("size")) is int
            and isinstance(entry.get("sha256"), str)
            and _SHA256.fullmatch(entry["sha256"]) is not None
        )
        if not ok:
            raise ModelIntegrityError(
                f"{source} has a manifest part entry {str(entry)[:80]!r}; allowed: an object "
                "with a name, an integer size and a hexadecimal sha256."
            )


def check_manifest(manifest: dict, source: str) -> None:
    """Check a manifest's format, versions, schema and matrix against this covid_risk."""
    if manifest.get("format") != FORMAT:
        raise NotAModelFileError(
            f"{source} is not a covid_risk model file "
            f"(format {str(manifest.get('format'))[:60]!r})."
        )
    _check_manifest_types(manifest, source)
    version = str(manifest.get("format_version", ""))
    if _major(version) > _major(FORMAT_VERSION):
        raise IncompatibleModelError(
            f"{source} uses model-file format {version}, newer than the {FORMAT_VERSION} this "
            "covid_risk reads. Upgrade covid_risk or re-save the model with this version."
        )
    from covid_risk._version import __version__

    if _major(manifest.get("library_version", "0")) > _major(__version__):
        raise IncompatibleModelError(
            f"{source} was written by covid_risk {manifest['library_version']}, a newer major "
            f"version than the installed {__version__}. Upgrade covid_risk."
        )
    file_lgb = str(manifest.get("lightgbm_version", "0"))
    if _major(file_lgb) != _major(lightgbm_version()):
        raise IncompatibleModelError(
            f"{source} holds LightGBM {file_lgb} models, but LightGBM {lightgbm_version()} is "
            "installed; text models do not load across major versions. Install LightGBM "
            f"{_major(file_lgb)}.x or retrain."
        )
    if manifest.get("schema_hash") != schema_hash():
        raise IncompatibleModelError(
            f"{source} was trained on a different patient schema (schema hash "
            f"{str(manifest.get('schema_hash'))[:12]}... vs {schema_hash()[:12]}...). "
            "Retrain the model with this version of covid_risk."
        )
    setting = manifest.get("setting")
    if setting not in SETTING_OUTCOMES:
        raise ModelIntegrityError(f"{source} names an unknown setting {setting!r}.")
    if manifest.get("matrix_hash") != matrix_spec_hash(setting=setting):
        raise IncompatibleModelError(
            f"{source} was trained on a different model matrix (features or their encoding "
            "changed since). Retrain the model with this version of covid_risk."
        )


def check_parts(manifest: dict, payload: bytes | memoryview, source: str) -> dict[str, bytes]:
    outcomes = manifest.get("outcomes")
    entries = manifest.get("parts")
    if not isinstance(outcomes, list) or not isinstance(entries, list) or not outcomes:
        raise ModelIntegrityError(f"{source} has a manifest without outcomes or parts.")
    unknown = [o for o in outcomes if o not in SETTING_OUTCOMES[manifest["setting"]]]
    if unknown:
        raise ModelIntegrityError(f"{source} names unknown outcome(s) {unknown!r}.")
    try:
        names = [str(e["name"]) for e in entries]
        sizes = [int(e["size"]) for e in entries]
        digests = [str(e["sha256"]) for e in entries]
    except (KeyError, TypeError, ValueError):
        raise ModelIntegrityError(f"{source} has a malformed list of parts.") from None
    expected = ["model.json", "schema.json"]
    expected += [f"boosters/{o}.txt" for o in outcomes]
    expected += [f"calibrators/{o}.json" for o in outcomes]
    if sorted(names) != sorted(expected) or len(set(names)) != len(names):
        raise ModelIntegrityError(
            f"{source} has parts {names} but a model of {outcomes} needs exactly {expected}."
        )
    for name, size in zip(names, sizes, strict=True):
        limit = MAX_BOOSTER_BYTES if name.startswith("boosters/") else MAX_JSON_PART_BYTES
        if size > limit:
            raise ModelIntegrityError(
                f"{source}: part {name!r} is {size} bytes; at most {limit} are allowed."
            )
    if min(sizes) < 0 or sum(sizes) != len(payload):
        problem = "truncated" if sum(sizes) > len(payload) else "longer than its manifest says"
        raise ModelIntegrityError(
            f"{source} is {problem}: the manifest lists {sum(sizes)} bytes of parts, "
            f"{len(payload)} are present."
        )
    parts: dict[str, bytes] = {}
    offset = 0
    for name, size, digest in zip(names, sizes, digests, strict=True):
        data = payload[offset : offset + size]
        offset += size
        if hashlib.sha256(data).hexdigest() != digest:
            raise ModelIntegrityError(
                f"{source}: part {name!r} does not match its SHA-256 in the manifest; the file "
                "was changed, corrupted or its parts were rearranged."
            )
        parts[name] = bytes(data)
    return parts


def read_manifest(path: Any, *, hmac_key: str | bytes | None = b"") -> dict:
    """Return a model file's verified manifest without building the model.

    Parameters
    ----------
    path : str, path-like or bytes
        Model file, or its bytes.
    hmac_key : str or bytes, optional
        Checked as in :func:`load`; by default the signature is not checked.
    """
    if isinstance(path, (bytes, bytearray)):
        data, source = bytes(path), "The data"
    else:
        data, source = Path(path).read_bytes(), repr(str(path))
    manifest, payload = split_file(data, source, hmac_key)
    check_manifest(manifest, source)
    check_parts(manifest, payload, source)
    return manifest


def check_booster_text(
    text: str, n_features: int, where: str, feature_names: list[str] | None = None
) -> None:
    """Prove a LightGBM text model well-formed before LightGBM parses it.

    LightGBM's parser aborts, crashes or hangs the process on some damaged or
    crafted texts instead of raising, so every text is first read by
    :func:`~covid_risk.models._booster_text.parse_booster_text` (header, every
    tree, sizes and limits). This catches accidents and crafted texts alike;
    against deliberate tampering with the model's *content*, sign the file.

    Parameters
    ----------
    text : str
        The booster text.
    n_features : int
        The model's number of features.
    where : str
        The part's description for the message.
    feature_names : list of str, optional
        The model's feature names, which the text must repeat.

    Raises
    ------
    covid_risk.exceptions.ModelIntegrityError
        Naming the part, the problem and what is allowed.
    """
    try:
        parse_booster_text(text, n_features, feature_names)
    except BoosterTextError as exc:
        raise ModelIntegrityError(
            f"{where} {exc}; the file is damaged or was edited. Sign model files to detect "
            "deliberate changes."
        ) from None


def verified_parts(data: bytes, *, hmac_key: str | bytes | None = None,
                   source: str = "The data") -> tuple[dict, dict[str, bytes]]:
    """Run every check on model-file bytes and return ``(manifest, parts)``.

    The checks, in order: :func:`split_file` (magic, lengths, manifest hash,
    signature), :func:`check_manifest` (format, versions, schema and matrix hashes)
    and :func:`check_parts` (the set of parts and each part's hash). Nothing of the
    model is built here.
    """
    manifest, payload = split_file(data, source, hmac_key)
    check_manifest(manifest, source)
    return manifest, check_parts(manifest, payload, source)
