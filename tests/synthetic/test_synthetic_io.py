"""save_cohort / load_cohort: round trip, settings kept, deterministic bytes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from covid_risk.synthetic import load_cohort, make_cohort, save_cohort


@pytest.mark.parametrize("setting", ["admission", "community"])
def test_round_trip_keeps_data_dtypes_and_attrs(tmp_path, setting):
    """Loading a saved cohort gives the same frame, dtypes and attrs."""
    df = make_cohort(400, setting=setting, random_state=5, corruption=0.0)
    path = save_cohort(df, tmp_path / "c.parquet")
    back = load_cohort(path)
    pd.testing.assert_frame_equal(back, df)
    assert back.attrs == df.attrs


def test_same_seed_gives_identical_parquet_bytes(tmp_path):
    """The same seed writes byte-identical files; another seed does not."""
    a = save_cohort(make_cohort(300, random_state=9), tmp_path / "a.parquet")
    b = save_cohort(make_cohort(300, random_state=9), tmp_path / "b.parquet")
    c = save_cohort(make_cohort(300, random_state=10), tmp_path / "c.parquet")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_attrs_are_in_the_parquet_schema_metadata(tmp_path):
    """The generation settings are readable from the file's metadata without pandas."""
    import json

    path = save_cohort(make_cohort(50, random_state=1), tmp_path / "x.parquet")
    meta = json.loads(pq.read_schema(path).metadata[b"covid_risk.cohort"])
    assert meta["seed"] == 1 and meta["scenario"] == "wild_type_2020"


def test_wrong_suffix_and_foreign_files_are_refused(tmp_path):
    """A non-parquet name and a parquet file without cohort metadata raise ValueError."""
    df = make_cohort(20, random_state=1)
    with pytest.raises(ValueError, match=r"\.parquet"):
        save_cohort(df, tmp_path / "x.csv")
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1, 2]}).to_parquet(plain)
    with pytest.raises(ValueError, match="save_cohort"):
        load_cohort(plain)
    with pytest.raises(FileNotFoundError):
        load_cohort(tmp_path / "missing.parquet")


ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_committed_samples_are_what_the_generator_makes(index):
    """Committed samples equal a fresh cohort with the same settings (else run `make sample`)."""
    from covid_risk.synthetic.sample import SAMPLES

    spec = SAMPLES[index]
    path = ROOT / "data" / "synthetic" / spec["name"]
    if not path.exists():
        pytest.skip("samples are not part of this checkout")
    committed = load_cohort(path)
    fresh = make_cohort(spec["rows"], setting=spec["setting"], scenario=spec["scenario"],
                        random_state=spec["seed"])
    pd.testing.assert_frame_equal(committed, fresh)
    assert committed.attrs == fresh.attrs


def test_sample_command_writes_samples_and_card(tmp_path):
    """The sample command writes every sample and a data card listing every model."""
    from covid_risk.synthetic import _parameters as P
    from covid_risk.synthetic.sample import SAMPLES, main

    assert main([str(tmp_path), "--no-report"]) == 0
    for spec in SAMPLES:
        assert (tmp_path / spec["name"]).is_file()
    card = (tmp_path / "DATA_CARD.md").read_text()
    for name in ("HOSPITALISATION", "COMMUNITY_DEATH", "DEATH", "ICU_ELIGIBLE", "CRITICAL",
                 "AKI", "VTE", "COMORBIDITIES[dementia]", "urea", "MISSING_ADMISSION"):
        assert f"`{name}`" in card, name
    assert "## The true risk" in card and "Realism report not computed" in card
    assert P.GENERATOR_VERSION in card
