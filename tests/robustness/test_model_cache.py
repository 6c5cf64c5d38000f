"""The model cache of ``predict_risk(..., model=path)`` follows the file's bytes and the key."""

from __future__ import annotations

import json
import os

import pytest

import covid_risk as cr
from covid_risk.exceptions import ModelIntegrityError
from covid_risk.models._files import KEY_ENV

from .forging import forge, split

PATIENT = {"age": 81, "sex": "male", "urea": 9.1, "spo2": 91}


def test_setting_the_signing_key_refuses_a_cached_unsigned_model(admission_file, tmp_path,
                                                                 monkeypatch):
    path = tmp_path / "m.crmodel"
    path.write_bytes(admission_file.read_bytes())
    monkeypatch.delenv(KEY_ENV, raising=False)
    cr.predict_risk(PATIENT, model=path)  # cached, unsigned
    monkeypatch.setenv(KEY_ENV, "a-key")
    with pytest.raises(ModelIntegrityError, match="not signed"):
        cr.load(path)
    with pytest.raises(ModelIntegrityError, match="not signed"):
        cr.predict_risk(PATIENT, model=path)


def test_changed_bytes_are_reloaded_even_with_the_old_size_and_time(admission_file, tmp_path,
                                                                    monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "m.crmodel"
    base = admission_file.read_bytes()
    path.write_bytes(base)
    before = cr.predict_risk(PATIENT, model=path).probabilities["death"]
    _, _, parts = split(base)
    doc = json.loads(parts["calibrators/death.json"])
    assert doc["method"] == "sigmoid"
    doc["intercept"] += 1.0  # a different but valid calibrator: higher risks
    edited = forge(base, parts={"calibrators/death.json": json.dumps(doc).encode()})
    stat = path.stat()
    path.write_bytes(edited)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime as before
    after = cr.predict_risk(PATIENT, model=path).probabilities["death"]
    assert after > before
