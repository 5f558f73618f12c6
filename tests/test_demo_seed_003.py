"""Issue 12 §10: the demo's 静岡 (22) FY2023 is seed 003's KPI実績一覧表, row by row.

The demo's sample files (``kenpo demo``'s own scale and seed, FY2022 and FY2023) go through the
functions the pipeline's steps run — the loader's parse and checks (``check_feed_file``), the
``monthly_aggregates`` step (``aggregate_month``), ``kpi_actuals`` (``compute_actuals``) and
``pdca_evaluation`` (``evaluate`` with the shipped catalogs) — and every one of the table's 19 rows
must read as printed: 実績 and ＜参考＞前年度実績 at the table's precision, and 達成状況.
(``tests/test_demo.py`` checks the same on the warehouse a real ``kenpo demo`` wrote.)
"""

from decimal import Decimal

import pandas as pd
import pytest

from kenpo_pipeline.cli_args import build_parser
from kenpo_pipeline.domain.calendar import fiscal_months
from kenpo_pipeline.domain.intake.feeds import check_feed_file
from kenpo_pipeline.domain.intake.landing import find_feed_file
from kenpo_pipeline.domain.intake.sample import write_sample
from kenpo_pipeline.domain.kpis.aggregates import aggregate_month, evaluation_as_of
from kenpo_pipeline.domain.kpis.catalog import require_catalogs
from kenpo_pipeline.domain.kpis.judgement import evaluate
from kenpo_pipeline.domain.kpis.measures import compute_actuals
from kenpo_pipeline.domain.reference import FEED_IDS
from kenpo_pipeline.settings import ASSETS_DIR
from seed_003 import KPI_TABLE, differences, printed

pytestmark = pytest.mark.xdist_group("demo_seed_003")


@pytest.fixture(scope="session")  # session, not module: a worker may run another module's tests in between
def demo_years(tmp_path_factory):
    """kpi_actuals of FY2022 and FY2023 computed from the demo's sample files, and the aggregates."""
    demo = build_parser({"demo": lambda args: 0}).parse_args(["demo"])
    landing = tmp_path_factory.mktemp("demo_landing")
    write_sample(landing, 2022, 2023, scale=demo.scale, seed=demo.seed)
    out = {}
    for fy in (2022, 2023):
        parts = []
        for month in fiscal_months(fy):
            frames = {}
            for feed in FEED_IDS:
                check = check_feed_file(find_feed_file(landing, feed, month), feed, month)
                assert check.rows_quarantined == 0, (feed, month, check.quarantine[:3])
                frames[feed] = check.frame
            parts.append(aggregate_month(month, frames))
        aggregates = pd.concat(parts, ignore_index=True)
        out[fy] = (compute_actuals(fy, aggregates), evaluation_as_of(fy, aggregates))
    return out


def test_the_demos_shizuoka_fy2023_is_seed_003s_kpi_table(demo_years):
    (prior, _), (current, as_of) = demo_years[2022], demo_years[2023]
    assert as_of == "2024-03"
    table, warnings = evaluate(2023, require_catalogs(ASSETS_DIR / "catalogs")[2023], current, prior, as_of)
    assert differences(table, current, prior) == []
    # the plan's printed previous-year values (0.334%, 6,615円, 89.00% …) are the demo's FY2022 actuals
    assert warnings == [] and set(table["warnings"]) == {""}
    rows = table.set_index("kpi_id")
    for kid, actual, status, previous in KPI_TABLE:
        if kid != "FY2023-22-01":  # 100.00% (the measure's two decimals) against the printed 100％
            assert rows.loc[kid, "actual_text"] == actual and rows.loc[kid, "prior_year_text"] == previous, kid
    assert rows.loc["FY2023-22-01", ["actual_text", "prior_year_text", "status"]].tolist() == ["100.00%", "100.00%", "達成"]


def test_the_comparison_sees_a_row_that_differs(demo_years):
    """The comparison is not vacuous: one 静岡 FY2023 flow changed by a little shows up."""
    (prior, _), (current, as_of) = demo_years[2022], demo_years[2023]
    changed = current.copy()
    sel = (changed["branch_code"] == "22") & (changed["measure"] == "card_recovery_rate") & (changed["as_of_month"] == "2024-03")
    changed.loc[sel, "numerator"] = changed.loc[sel, "numerator"] + changed.loc[sel, "denominator"] * 0.0001  # 84.12% → 84.13%
    table, _ = evaluate(2023, require_catalogs(ASSETS_DIR / "catalogs")[2023], changed, prior, as_of)
    assert differences(table, changed, prior) == ["FY2023-22-07 実績 84.13% (= 84.13 at 2 decimals) ≠ 84.12%"]


def test_printed_values_are_read_at_their_precision():
    assert [printed(t) for t in ("100％", "7,135円", "0.452%", "6,766事業所")] == [
        (100, 0, "%"), (7135, 0, "円"), (Decimal("0.452"), 3, "%"), (6766, 0, "事業所")]
    assert printed("実施") is None
