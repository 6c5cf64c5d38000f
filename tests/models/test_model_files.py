from __future__ import annotations

import hashlib
import json
import pickle
import struct
import zipfile
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pytest

from covid_risk.exceptions import (
    IncompatibleModelError,
    ModelFileError,
    ModelIntegrityError,
    NotAModelFileError,
)
from covid_risk.models import load, read_manifest
from covid_risk.models._files import MAGIC

HEADER = struct.Struct(">Q32s32s")
PREFIX = len(MAGIC) + HEADER.size


def split(data: bytes) -> tuple[dict, bytes, bytes]:
    """Return (manifest, signature, payload) of model-file bytes."""
    length, _, signature = HEADER.unpack_from(data, len(MAGIC))
    manifest = json.loads(data[PREFIX : PREFIX + length])
    return manifest, signature, data[PREFIX + length :]


def rebuild(manifest: dict, payload: bytes, signature: bytes = bytes(32)) -> bytes:
    """Write a file with a (changed) manifest and a correctly recomputed manifest hash."""
    m = (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode()
    return MAGIC + HEADER.pack(len(m), hashlib.sha256(m).digest(), signature) + m + payload


def part_offset(data: bytes, name: str) -> tuple[int, int]:
    """Absolute offset and size of part ``name``."""
    manifest, _, payload = split(data)
    start = len(data) - len(payload)
    for entry in manifest["parts"]:
        if entry["name"] == name:
            return start, entry["size"]
        start += entry["size"]
    raise KeyError(name)


@pytest.fixture(scope="module")
def data(fitted) -> bytes:
    """The unsigned bytes of the fitted model."""
    return fitted.to_bytes(hmac_key=b"")


def write(tmp_path: Path, content: bytes, name: str = "model.crmodel") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_save_then_load_gives_identical_predictions(fitted, admission_test, tmp_path):
    """A saved and reloaded model predicts exactly the same probabilities and raw scores."""
    path = tmp_path / "m.crmodel"
    fitted.save(path, hmac_key=b"")
    again = load(path, hmac_key=b"")
    np.testing.assert_array_equal(
        again.predict_proba(admission_test).to_numpy(),
        fitted.predict_proba(admission_test).to_numpy(),
    )
    np.testing.assert_array_equal(
        again.predict_raw(admission_test, "death"), fitted.predict_raw(admission_test, "death")
    )
    assert again.get_params() == fitted.get_params()
    assert again.metadata_ == fitted.metadata_
    assert again.to_bytes(hmac_key=b"") == path.read_bytes()


def test_file_layout_and_manifest(data, tmp_path):
    """One file: magic, manifest with versions and a SHA-256 per part, then the parts."""
    assert data.startswith(MAGIC)
    manifest = read_manifest(write(tmp_path, data))
    assert manifest["format"] == "covid_risk.model"
    assert manifest["lightgbm_version"] == lgb.__version__
    names = [p["name"] for p in manifest["parts"]]
    assert names[:2] == ["model.json", "schema.json"]
    assert "boosters/death.txt" in names and "calibrators/vte.json" in names
    start, size = part_offset(data, "boosters/death.txt")
    text = data[start : start + size].decode()
    assert text.startswith("tree\nversion=")  # LightGBM's own text model, no pickle
    for entry in manifest["parts"]:
        s, n = part_offset(data, entry["name"])
        assert hashlib.sha256(data[s : s + n]).hexdigest() == entry["sha256"]


@pytest.mark.parametrize(
    "where",
    ["magic", "header-hash", "manifest", "model.json", "schema.json", "boosters/death.txt",
     "calibrators/icu.json", "last-byte"],
)
def test_a_flipped_byte_is_refused(data, tmp_path, where):
    """Changing any single byte is detected and named as an integrity (or foreign-file) error."""
    if where == "magic":
        offset = 3
    elif where == "header-hash":
        offset = len(MAGIC) + 8 + 5
    elif where == "manifest":
        offset = PREFIX + 40
    elif where == "last-byte":
        offset = len(data) - 1
    else:
        start, size = part_offset(data, where)
        offset = start + size // 2
    changed = bytearray(data)
    changed[offset] ^= 0x01
    expected = NotAModelFileError if where == "magic" else ModelIntegrityError
    with pytest.raises(expected):
        load(write(tmp_path, bytes(changed)), hmac_key=b"")


@pytest.mark.parametrize("keep", [5, 20, PREFIX + 10, -1000, -1])
def test_a_truncated_file_is_refused(data, tmp_path, keep):
    """A file cut anywhere (in the magic, header, manifest or a part) is refused as truncated."""
    with pytest.raises(ModelIntegrityError, match="truncated"):
        load(write(tmp_path, data[:keep]), hmac_key=b"")


def test_trailing_bytes_are_refused(data, tmp_path):
    """Bytes appended after the last part are refused."""
    with pytest.raises(ModelIntegrityError, match="longer than its manifest"):
        load(write(tmp_path, data + b"\x00"), hmac_key=b"")


def test_swapped_parts_are_refused(data, tmp_path):
    """Swapping two parts' bytes, or their manifest entries too, is refused."""
    manifest, _, payload = split(data)
    a_start, a_size = part_offset(data, "calibrators/death.json")
    b_start, b_size = part_offset(data, "calibrators/icu.json")
    a, b = data[a_start : a_start + a_size], data[b_start : b_start + b_size]
    # swap the contents, leave the manifest as it is
    swapped = data[:a_start] + b + data[a_start + a_size : b_start] + a + data[b_start + b_size :]
    if a_size == b_size:
        with pytest.raises(ModelIntegrityError, match="does not match its SHA-256"):
            load(write(tmp_path, swapped), hmac_key=b"")
    else:
        with pytest.raises(ModelIntegrityError):
            load(write(tmp_path, swapped), hmac_key=b"")
    # swap the manifest entries' hashes and sizes as well: every hash then matches
    entries = {e["name"]: e for e in manifest["parts"]}
    da, db = dict(entries["calibrators/death.json"]), dict(entries["calibrators/icu.json"])
    for entry in manifest["parts"]:
        if entry["name"] == "calibrators/death.json":
            entry.update(size=db["size"], sha256=db["sha256"])
        elif entry["name"] == "calibrators/icu.json":
            entry.update(size=da["size"], sha256=da["sha256"])
    payload_swapped = swapped[len(data) - len(payload) :]
    with pytest.raises(ModelIntegrityError, match="parts were swapped"):
        load(write(tmp_path, rebuild(manifest, payload_swapped)), hmac_key=b"")


class _Trap:
    """Unpickling this object would create a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_renamed_pickle_is_refused_without_running_it(tmp_path):
    """A pickle (and a joblib file) named like a model is refused and never unpickled."""
    import joblib

    marker = tmp_path / "executed"
    path = write(tmp_path, pickle.dumps(_Trap(marker)))
    with pytest.raises(NotAModelFileError, match="pickle"):
        load(path, hmac_key=b"")
    joblib.dump(_Trap(marker), tmp_path / "j.crmodel")
    with pytest.raises(NotAModelFileError):
        load(tmp_path / "j.crmodel", hmac_key=b"")
    assert not marker.exists()


def test_foreign_files_are_refused(fitted, tmp_path):
    """Zip, JSON, a bare LightGBM model, random and empty files are not model files."""
    zpath = tmp_path / "z.crmodel"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("model.json", "{}")
    booster_text = fitted.boosters_["death"].model_to_string().encode()
    cases = {
        "zip": zpath.read_bytes(),
        "json": b'{"format": "covid_risk.model"}',
        "lightgbm": booster_text,
        "random": np.random.default_rng(0).bytes(500),
        "empty": b"",
    }
    for name, content in cases.items():
        with pytest.raises(NotAModelFileError, match="not a covid_risk model file"):
            load(write(tmp_path, content, f"{name}.crmodel"), hmac_key=b"")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("format_version", "2.0", "newer than"),
        ("lightgbm_version", "3.3.5", "LightGBM 3.3.5"),
        ("schema_hash", "0" * 64, "different patient schema"),
        ("matrix_hash", "0" * 64, "different model matrix"),
        ("library_version", "9.0.0", "newer major version"),
    ],
)
def test_incompatible_versions_are_refused(data, tmp_path, field, value, message):
    """A newer format, another LightGBM major, another schema or matrix is incompatible."""
    manifest, _, payload = split(data)
    manifest[field] = value
    with pytest.raises(IncompatibleModelError, match=message):
        load(write(tmp_path, rebuild(manifest, payload)), hmac_key=b"")


def test_a_foreign_format_name_is_refused(data, tmp_path):
    """A well-formed container of another format is not a covid_risk model."""
    manifest, _, payload = split(data)
    manifest["format"] = "someone.else"
    with pytest.raises(NotAModelFileError):
        load(write(tmp_path, rebuild(manifest, payload)), hmac_key=b"")


def test_nothing_is_built_before_verification(data, tmp_path, monkeypatch):
    """A damaged booster is refused before any LightGBM booster is constructed."""
    start, size = part_offset(data, "boosters/icu.txt")
    changed = bytearray(data)
    changed[start + size - 3] ^= 0x04

    def boom(*args, **kwargs):
        raise AssertionError("a booster was built from unverified bytes")

    monkeypatch.setattr(lgb, "Booster", boom)
    with pytest.raises(ModelIntegrityError):
        load(write(tmp_path, bytes(changed)), hmac_key=b"")


def test_signed_files(fitted, tmp_path, monkeypatch):
    """HMAC signing: right key loads, wrong key and unsigned-with-key are refused."""
    path = tmp_path / "signed.crmodel"
    fitted.save(path, hmac_key="s3cret")
    assert load(path, hmac_key="s3cret").outcomes_ == fitted.outcomes_
    with pytest.raises(ModelIntegrityError, match="signature that does not match"):
        load(path, hmac_key="other")
    unsigned = tmp_path / "unsigned.crmodel"
    fitted.save(unsigned, hmac_key=b"")
    with pytest.raises(ModelIntegrityError, match="not signed"):
        load(unsigned, hmac_key="s3cret")
    # the key can come from the environment, for saving and for loading
    monkeypatch.setenv("COVID_RISK_MODEL_KEY", "from-env")
    env_path = tmp_path / "env.crmodel"
    fitted.save(env_path)
    assert read_manifest(env_path)["signed"] is True
    load(env_path)
    with pytest.raises(ModelIntegrityError):
        load(path)  # signed with another key
    # a changed manifest with a recomputed SHA-256 still fails the signature
    content = env_path.read_bytes()
    manifest, signature, payload = split(content)
    manifest["created"] = "1999-01-01T00:00:00+00:00"
    with pytest.raises(ModelIntegrityError, match="signature"):
        load(write(tmp_path, rebuild(manifest, payload, signature)))


def test_errors_are_model_file_errors(tmp_path):
    """Every refusal is a ModelFileError (and a ValueError) so callers can catch one type."""
    assert issubclass(NotAModelFileError, ModelFileError)
    assert issubclass(ModelIntegrityError, ValueError)
    with pytest.raises(FileNotFoundError, match="No model file"):
        load(tmp_path / "missing.crmodel")


@pytest.mark.parametrize("damage", ["cut", "tree-dropped", "features"])
def test_a_damaged_booster_with_recomputed_hashes_is_refused_before_parsing(data, tmp_path, damage):
    """A booster cut short, missing a tree or declaring other features never reaches LightGBM."""
    manifest, _, payload = split(data)
    start, size = part_offset(data, "boosters/death.txt")
    text = data[start : start + size].decode()
    if damage == "cut":
        bad = text[: len(text) // 2]
    elif damage == "tree-dropped":
        i, j = text.index("\nTree=1\n"), text.index("\nTree=2\n")
        bad = text[:i] + text[j:]
    else:
        bad = text.replace("max_feature_idx=", "max_feature_idx=1", 1)
    offset = start - (len(data) - len(payload))
    new_payload = payload[:offset] + bad.encode() + payload[offset + size :]
    for entry in manifest["parts"]:
        if entry["name"] == "boosters/death.txt":
            entry.update(size=len(bad.encode()), sha256=hashlib.sha256(bad.encode()).hexdigest())
    with pytest.raises(ModelIntegrityError, match="booster of 'death'"):
        load(write(tmp_path, rebuild(manifest, new_payload)), hmac_key=b"")
