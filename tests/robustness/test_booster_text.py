"""The red-team report's forged files, one by one: each refused with ModelIntegrityError.

Every case recomputes the part and manifest hashes (an unsigned file), so only the
content checks (the booster-text reader, the bounded JSON reader, the manifest types
and the calibrator ranges) can refuse it. The harness in
``test_forged_model_files.py`` covers 1,000 random variations in child processes.
"""

from __future__ import annotations

import json
import re

import pytest

from covid_risk.exceptions import ModelIntegrityError
from covid_risk.models._booster_text import parse_booster_text
from covid_risk.models._load import load_bytes

from .forging import forge, split


@pytest.fixture(scope="module")
def base(admission_file) -> bytes:
    return admission_file.read_bytes()


def _edit_booster(base: bytes, pattern: str, repl: str, count: int = 1) -> bytes:
    _, _, parts = split(base)
    text = parts["boosters/death.txt"].decode()
    edited = re.sub(pattern, repl, text, count=count, flags=re.MULTILINE)
    assert edited != text
    return forge(base, parts={"boosters/death.txt": edited.encode()})


def test_the_untouched_file_loads_and_its_boosters_parse(base, admission_model):
    model = load_bytes(base, hmac_key=b"")
    for outcome in model.outcomes_:
        summary = parse_booster_text(admission_model.boosters_[outcome].model_to_string(),
                                     len(model.feature_names_), list(model.feature_names_))
        assert summary.n_trees >= 1 and summary.max_leaves <= 1024


@pytest.mark.parametrize(("pattern", "repl", "words"), [
    (r"^num_leaves=(\d)$", "num_leaves=9", "num_leaves|values|size"),
    (r"^num_leaves=\d+$", "num_leaves=0", "num_leaves"),
    (r"^left_child=\S+", "left_child=0", "reached twice|cycle"),
    (r"^left_child=\S+", "left_child=99", "child 99"),
    (r"^decision_type=\S+", "decision_type=255", "decision_type"),
    (r"^num_tree_per_iteration=1$", "num_tree_per_iteration=0", "num_tree_per_iteration"),
    (r"^leaf_value=\S+", "leaf_value=nan", "not a finite"),
    (r"^threshold=\S+", "threshold=inf", "not a finite|not finite"),
    (r"^num_cat=0$", "num_cat=1", "num_cat"),
    (r"^max_feature_idx=\d+$", "max_feature_idx=999", "features"),
    (r"^pandas_categorical:null$", "pandas_categorical:" + "[" * 5000 + "]" * 5000, "last line"),
])
def test_a_forged_booster_is_refused_with_the_reason(base, pattern, repl, words):
    with pytest.raises(ModelIntegrityError, match=words):
        load_bytes(_edit_booster(base, pattern, repl), hmac_key=b"")


def test_a_junk_line_beyond_the_size_limit_is_refused_before_parsing(base, monkeypatch):
    import covid_risk.models._files as files

    monkeypatch.setattr(files, "MAX_BOOSTER_BYTES", 1_000_000)  # keeps the test small
    forged = _edit_booster(base, r"^Tree=1$", "x" * 1_100_000 + "\nTree=1")
    with pytest.raises(ModelIntegrityError, match="at most 1000000"):
        load_bytes(forged, hmac_key=b"")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e999", '"0.1"', "null", "-1e9"])
def test_a_non_finite_or_mistyped_calibrator_parameter_is_refused(base, value):
    _, _, parts = split(base)
    doc = json.loads(parts["calibrators/death.json"])
    key = "intercept" if doc["method"] == "sigmoid" else "x"
    body = json.dumps({**doc, key: "@@"}).replace('"@@"', value)
    with pytest.raises(ModelIntegrityError):
        load_bytes(forge(base, parts={"calibrators/death.json": body.encode()}), hmac_key=b"")


@pytest.mark.parametrize(("key", "value", "words"), [
    ("setting", '["admission"]', "setting"),
    ("outcomes", '[["death"]]', "outcomes"),
    ("signed", '"no"', "signed"),
    ("created", "1" * 5000, "5000 characters"),
    ("parts", "[" * 100_000 + "]" * 100_000, "nested deeper"),
])
def test_a_mistyped_deep_or_huge_manifest_is_refused(base, key, value, words):
    manifest = split(base)[0]
    text = json.dumps({**manifest, key: "@@"}, sort_keys=True, indent=1).replace('"@@"', value)
    with pytest.raises(ModelIntegrityError, match=words):
        load_bytes(forge(base, manifest_text=(text + "\n").encode()), hmac_key=b"")
