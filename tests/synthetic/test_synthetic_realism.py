"""The realism report: every published target on default cohorts (fails loudly).

Sizes: 100,000 admitted patients (the issue's size) and 1,500,000 infected adults for
the community odds ratios (about 200 deaths in the 18-39 band, so the youngest band's
odds ratio is within about 3 standard errors of the 25% tolerance).
"""

from __future__ import annotations

import numpy as np
import pytest

from covid_risk.synthetic import RealismReport, realism_report

pytestmark = pytest.mark.slow  # the realism report draws large cohorts


@pytest.fixture(scope="module")
def report() -> RealismReport:
    """The default realism report (seed 0)."""
    return realism_report()


def _assert_block(report: RealismReport, block: str) -> None:
    rows = report.table[report.table["block"] == block]
    assert len(rows) > 0, f"no rows in block {block!r}"
    failed = rows[~rows["passed"]]
    assert failed.empty, (
        f"{len(failed)} realism check(s) failed in block {block!r}:\n"
        + failed[["check", "target", "low", "high", "achieved"]].to_string()
        + "\n\nFull report:\n" + report.to_markdown())


@pytest.mark.parametrize("block", ["4C", "outcomes", "ceiling of care", "true-risk ceiling",
                                   "admitted mix", "community ORs"])
def test_realism_block_passes(report, block):
    """Every check of the block is within its accepted range (the table is printed if not)."""
    _assert_block(report, block)


def test_true_risk_ceiling_for_death_is_realistic(report):
    """The true risk's AUROC for death is between 0.80 and 0.85, above the 4C score's."""
    t = report.table.set_index("check")["achieved"]
    auc_truth = t["AUROC of the true risk for death"]
    auc_4c = t["AUROC of the 4C score for death"]
    assert 0.80 <= auc_truth <= 0.85 and auc_truth > auc_4c + 0.02


def test_report_objects(report):
    """The report has a short repr, a per-block summary and a per-score 4C table."""
    assert repr(report).startswith("RealismReport(checks=")
    assert report.passed == bool(report.table["passed"].all())
    assert set(report.summary.columns) == {"checks", "failed"}
    assert len(report.four_c) == 22
    np.testing.assert_allclose(report.four_c["published_share"].sum(), 1.0)
    assert "| block | check |" in report.to_markdown()
    assert {"odds_ratio", "ci_low", "ci_high", "os_hr"} <= set(report.odds_ratios.columns)
