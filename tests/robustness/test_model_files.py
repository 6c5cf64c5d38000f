"""Model-file faults: every damaged, foreign or forged file is refused with a specific error.

Complements ``tests/models/test_model_files.py`` (which checks one example of each
fault) with property tests over every byte and every pair of parts, pickles of
every protocol that are never unpickled, forged files that carry a valid SHA-256
(caught only by the HMAC signature), and version checks that only the version
can fail.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import pickle
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from unittest import mock

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from covid_risk.exceptions import (
    IncompatibleModelError,
    ModelFileError,
    ModelIntegrityError,
    NotAModelFileError,
)
from covid_risk.models import load
from covid_risk.models._files import FORMAT_VERSION, KEY_ENV, MAGIC
from covid_risk.models._load import load_bytes

from .strategies import bounded, fuzz_settings

HEADER = struct.Struct(">Q32s32s")
PREFIX = len(MAGIC) + HEADER.size
KEY = b"robustness-test-key"


# ------------------------------------------------------------------------------ file surgery
def split(data: bytes) -> tuple[dict, bytes, dict[str, bytes]]:
    """(manifest, signature, {part name: bytes}) of a model file."""
    length, _, signature = HEADER.unpack_from(data, len(MAGIC))
    manifest = json.loads(data[PREFIX : PREFIX + length])
    parts, offset = {}, PREFIX + length
    for entry in manifest["parts"]:
        parts[entry["name"]] = data[offset : offset + entry["size"]]
        offset += entry["size"]
    return manifest, signature, parts


def forge(data: bytes, *, parts: dict[str, bytes] | None = None, manifest: dict | None = None,
          key: bytes | None = None, signature: bytes | None = None) -> bytes:
    """Rewrite a model file consistently: part sizes and SHA-256s, manifest hash, signature.

    This is what someone editing the file on purpose does; only a signature made
    with a key they do not have can tell.
    """
    old_manifest, old_signature, old_parts = split(data)
    manifest = json.loads(json.dumps(manifest if manifest is not None else old_manifest))
    parts = {**old_parts, **(parts or {})}
    for entry in manifest["parts"]:
        entry["size"] = len(parts[entry["name"]])
        entry["sha256"] = hashlib.sha256(parts[entry["name"]]).hexdigest()
    body = (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode()
    if key is not None:
        signature = hmac.new(key, body, hashlib.sha256).digest()
    elif signature is None:
        signature = old_signature
    header = HEADER.pack(len(body), hashlib.sha256(body).digest(), signature)
    return MAGIC + header + body + b"".join(parts[e["name"]] for e in manifest["parts"])


class _Trap:
    """Unpickling this object creates a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _never(*args, **kwargs):
    raise AssertionError("a model file was unpickled")


@pytest.fixture
def no_unpickling(monkeypatch):
    """Make every way of unpickling fail loudly during the test."""
    import joblib

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, _never)
    monkeypatch.setattr(joblib, "load", _never)


@pytest.fixture(scope="module")
def unsigned(community_model) -> bytes:
    """An unsigned small community model file."""
    return community_model.to_bytes(hmac_key=b"")


@pytest.fixture(scope="module")
def signed(community_model) -> bytes:
    """The same model signed with KEY."""
    return community_model.to_bytes(hmac_key=KEY)


# ------------------------------------------------------------------------------ any byte
@fuzz_settings(120)
@given(st.data())
def test_any_damage_anywhere_is_refused_before_anything_is_built(unsigned, signed, data):
    """A flipped bit, changed byte, cut, insertion or deletion anywhere is a file error."""
    is_signed = data.draw(st.booleans())
    original = signed if is_signed else unsigned
    kind = data.draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
    i = data.draw(st.integers(0, len(original) - 1))
    damaged = bytearray(original)
    if kind == "flip":
        damaged[i] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "set":
        damaged[i] = data.draw(st.integers(0, 255).filter(lambda b: b != original[i]))
    elif kind == "truncate":
        del damaged[i:]
    elif kind == "insert":
        damaged[i:i] = data.draw(st.binary(min_size=1, max_size=8))
    else:
        del damaged[i : i + data.draw(st.integers(1, 64))]
    with mock.patch.object(lgb, "Booster", side_effect=AssertionError("built")):
        with pytest.raises(ModelFileError) as refused:
            bounded(load_bytes, bytes(damaged), hmac_key=KEY if is_signed else b"")
    event(type(refused.value).__name__)
    if kind == "truncate":
        expected = "empty" if i == 0 else "truncated"
        assert expected in str(refused.value)


def test_every_pair_of_parts_swapped_is_refused(admission_model):
    """Exchanging the bytes of any two of the 14 parts (manifest left alone) is refused."""
    data = admission_model.to_bytes(hmac_key=b"")
    manifest, _, parts = split(data)
    names = [e["name"] for e in manifest["parts"]]
    start = len(data) - sum(len(p) for p in parts.values())
    head = data[:start]
    pairs = list(itertools.combinations(names, 2))
    assert len(pairs) == 91
    for a, b in pairs:
        swapped = {**parts, a: parts[b], b: parts[a]}
        content = head + b"".join(swapped[n] for n in names)
        with pytest.raises(ModelIntegrityError, match="SHA-256|truncated|longer than"):
            load_bytes(content, hmac_key=b"")


# ------------------------------------------------------------------------------ pickles
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickles_of_every_protocol_are_refused_unread(tmp_path, no_unpickling, protocol):
    """A pickle (any protocol) named like a model is refused as foreign and never unpickled."""
    marker = tmp_path / "executed"
    path = tmp_path / "model.crmodel"
    with open(path, "wb") as fh:
        pickle.Pickler(fh, protocol=protocol).dump(_Trap(marker))
    with pytest.raises(NotAModelFileError, match="not a covid_risk model file"):
        load(path, hmac_key=b"")
    assert not marker.exists()


def test_a_compressed_joblib_file_is_refused_unread(tmp_path, no_unpickling):
    """joblib.dump(..., compress=3) output is not a model file either."""
    import joblib

    marker = tmp_path / "executed"
    path = tmp_path / "model.crmodel"
    with mock.patch.object(joblib, "load", _never):
        joblib.dump(_Trap(marker), path, compress=3)
    with pytest.raises(NotAModelFileError):
        load(path, hmac_key=b"")
    assert not marker.exists()


def test_a_pickle_behind_a_valid_header_is_refused_unread(tmp_path, no_unpickling):
    """Magic and a correct manifest hash around a pickled 'manifest': unreadable, not unpickled."""
    marker = tmp_path / "executed"
    body = pickle.dumps(_Trap(marker))
    content = MAGIC + HEADER.pack(len(body), hashlib.sha256(body).digest(), bytes(32)) + body
    with pytest.raises(ModelIntegrityError, match="unreadable manifest"):
        load_bytes(content, hmac_key=b"")
    assert not marker.exists()


@pytest.mark.parametrize("part", ["model.json", "schema.json", "calibrators/death.json",
                                  "boosters/death.txt"])
def test_a_pickle_forged_in_as_a_part_is_refused_unread(unsigned, tmp_path, no_unpickling, part):
    """A part replaced by a pickle, with SHA-256s rewritten to match: refused, never unpickled."""
    marker = tmp_path / "executed"
    forged = forge(unsigned, parts={part: pickle.dumps(_Trap(marker))})
    with pytest.raises(ModelIntegrityError):
        load_bytes(forged, hmac_key=b"")
    assert not marker.exists()


# ------------------------------------------------------------------------------ versions
@pytest.mark.parametrize(("field", "value", "words"), [
    ("format_version", "2.0", "newer than"),
    ("format_version", "10.3", "newer than"),
    ("library_version", "1.0.0", "newer major version"),
])
def test_a_newer_major_version_is_refused_even_when_correctly_signed(signed, field, value,
                                                                     words):
    """Manifest edited, re-hashed and re-signed with the right key: only the version check fails."""
    manifest, _, _ = split(signed)
    manifest[field] = value
    forged = forge(signed, manifest=manifest, key=KEY)
    with pytest.raises(IncompatibleModelError, match=words):
        load_bytes(forged, hmac_key=KEY)


def test_a_newer_minor_format_version_still_loads(signed, community_model):
    """A minor version bump (same major) is readable and predicts the same."""
    manifest, _, _ = split(signed)
    major = FORMAT_VERSION.split(".")[0]
    manifest["format_version"] = f"{major}.9"
    again = load_bytes(forge(signed, manifest=manifest, key=KEY), hmac_key=KEY)
    assert again.outcomes_ == community_model.outcomes_


@pytest.mark.parametrize("value", ["two", "", None, "v2"])
def test_an_unreadable_version_is_an_integrity_error(unsigned, value):
    """A version that is not a number is refused as damage, not with a crash."""
    manifest, _, _ = split(unsigned)
    manifest["format_version"] = value
    with pytest.raises(ModelIntegrityError, match="Unreadable version"):
        load_bytes(forge(unsigned, manifest=manifest), hmac_key=b"")


# ------------------------------------------------------------------------------ signing
def _shift_calibrator(data: bytes, outcome: str = "death") -> dict[str, bytes]:
    """A calibrator part with its intercept moved by +2 (predictions visibly change)."""
    _, _, parts = split(data)
    doc = json.loads(parts[f"calibrators/{outcome}.json"])
    doc["intercept"] = doc["intercept"] + 2.0
    text = json.dumps(doc, sort_keys=True, indent=1) + "\n"
    return {f"calibrators/{outcome}.json": text.encode()}


def test_a_file_edited_with_its_manifest_is_refused_with_the_key_from_the_environment(
        community_model, tmp_path, monkeypatch):
    """COVID_RISK_MODEL_KEY set: a calibrator changed and every hash redone is still refused."""
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    path = tmp_path / "signed.crmodel"
    community_model.save(path)  # signed with the key from the environment
    original = path.read_bytes()
    assert split(original)[0]["signed"] is True
    forged = forge(original, parts=_shift_calibrator(original))
    (tmp_path / "forged.crmodel").write_bytes(forged)
    with pytest.raises(ModelIntegrityError, match="signature that does not match"):
        load(tmp_path / "forged.crmodel")
    # the edit is material: without the key (SHA-256 only) it loads and predicts otherwise
    monkeypatch.delenv(KEY_ENV)
    edited = load(tmp_path / "forged.crmodel")
    patient = {"age": 70, "sex": "male"}
    assert (edited.predict_proba(patient)["death"].iloc[0]
            > community_model.predict_proba(patient)["death"].iloc[0])


def test_a_stripped_or_transplanted_signature_is_refused(community_model, signed, monkeypatch):
    """Signature zeroed (and 'signed' set false), or copied from another signed file: refused."""
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    manifest, _, _ = split(signed)
    manifest["signed"] = False
    stripped = forge(signed, manifest=manifest, parts=_shift_calibrator(signed),
                     signature=bytes(32))
    with pytest.raises(ModelIntegrityError, match="not signed"):
        load_bytes(stripped)
    _, other_signature, _ = split(community_model.to_bytes(hmac_key=b"another key"))
    transplanted = forge(signed, signature=other_signature)
    with pytest.raises(ModelIntegrityError, match="signature that does not match"):
        load_bytes(transplanted)
    wrong_key = forge(signed, parts=_shift_calibrator(signed), key=b"guessed key")
    with pytest.raises(ModelIntegrityError, match="signature that does not match"):
        load_bytes(wrong_key)


def test_a_forged_booster_never_reaches_lightgbm_when_signed(signed, monkeypatch):
    """With a key, a cut booster with rewritten hashes is refused before LightGBM parses it."""
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    _, _, parts = split(signed)
    booster = parts["boosters/death.txt"]
    forged = forge(signed, parts={"boosters/death.txt": booster[: len(booster) // 2]})
    with mock.patch.object(lgb, "Booster", side_effect=AssertionError("built")):
        with pytest.raises(ModelIntegrityError, match="signature"):
            load_bytes(forged)


def test_the_unsigned_signature_slot_is_checked_too(unsigned):
    """An unsigned file has 32 zero bytes where a signature would be; anything else is damage."""
    manifest, _, _ = split(unsigned)
    assert manifest["signed"] is False
    for i in (0, 17, 31):
        damaged = bytearray(unsigned)
        damaged[len(MAGIC) + 8 + 32 + i] ^= 0x20
        with pytest.raises(ModelIntegrityError):
            load_bytes(bytes(damaged), hmac_key=b"")


# ------------------------------------------------------------------------------ unsigned forgeries
def _model_json(data: bytes, change) -> dict[str, bytes]:
    _, _, parts = split(data)
    doc = json.loads(parts["model.json"])
    change(doc)
    return {"model.json": json.dumps(doc).encode()}


@pytest.mark.parametrize("case", [
    "model.json is a list", "unknown setting in model.json", "schema.json is a list",
    "calibrator of an unknown method", "calibrator without parameters", "booster not UTF-8",
    "booster is not a LightGBM model", "booster is empty",
])
def test_malformed_parts_with_matching_hashes_are_integrity_errors(unsigned, case):
    """Parts rewritten with valid SHA-256s but unusable content: ModelIntegrityError, no crash."""
    _, _, parts = split(unsigned)
    cal = json.loads(parts["calibrators/death.json"])
    replace = {
        "model.json is a list": {"model.json": b"[1, 2]"},
        "unknown setting in model.json": _model_json(
            unsigned, lambda d: d["settings"].update(bogus=1)),
        "schema.json is a list": {"schema.json": b"[]"},
        "calibrator of an unknown method": {"calibrators/death.json": json.dumps(
            {**cal, "method": "magic"}).encode()},
        "calibrator without parameters": {"calibrators/death.json": json.dumps(
            {"outcome": "death", "method": cal["method"]}).encode()},
        "booster not UTF-8": {"boosters/death.txt": b"\xff\xfe tree"},
        "booster is not a LightGBM model": {"boosters/death.txt": b"tree\nhello\n"},
        "booster is empty": {"boosters/death.txt": b""},
    }[case]
    with pytest.raises(ModelIntegrityError):
        load_bytes(forge(unsigned, parts=replace), hmac_key=b"")


def test_a_cut_booster_with_matching_hashes_does_not_kill_the_process(unsigned, tmp_path):
    """Unsigned file, booster cut in half, hashes redone: refused in a child process, no abort."""
    _, _, parts = split(unsigned)
    booster = parts["boosters/death.txt"]
    path = tmp_path / "cut.crmodel"
    path.write_bytes(forge(unsigned, parts={"boosters/death.txt": booster[: len(booster) // 2]}))
    script = textwrap.dedent(f"""
        from covid_risk.exceptions import ModelIntegrityError
        from covid_risk.models import load
        try:
            load({str(path)!r}, hmac_key=b"")
        except ModelIntegrityError:
            print("refused")
    """)
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=120)
    assert child.returncode == 0 and child.stdout.strip() == "refused", child.stderr[-300:]


def test_random_bytes_with_the_magic_are_refused(data_seed=5):
    """Random bytes after a correct magic (any length) are a damaged file, never anything else."""
    rng = np.random.default_rng(data_seed)
    for n in (0, 1, 8, 71, 72, 500, 5000):
        with pytest.raises(ModelIntegrityError):
            load_bytes(MAGIC + rng.bytes(n), hmac_key=b"")
