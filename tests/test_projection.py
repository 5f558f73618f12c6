"""In-year projection and its backtest (domain/kpis/projection.py)."""

import pandas as pd
import pytest

from kenpo_pipeline.domain.calendar import fiscal_months
from kenpo_pipeline.domain.kpis.projection import AT_RISK, ON_TRACK, add_projection, backtest, project, projected_status

COLS = ["fiscal_year", "as_of_month", "branch_code", "measure", "value", "numerator", "denominator", "months_covered", "complete"]


def cumulative(fy, branch, measure, monthly_num, den, scale=100):
    rows, total = [], 0
    for k, (month, n) in enumerate(zip(fiscal_months(fy), monthly_num)):
        total += n
        rows.append((fy, month, branch, measure, total / den * scale, float(total), float(den), k + 1, True))
    return rows


def test_projection_follows_the_previous_years_profile():
    # screenings completions: the previous year did 10% of its year by June; this year 6,000 by June
    profile = [200, 300, 500, 1500, 1500, 1500, 1500, 1000, 800, 500, 400, 300]  # sums to 10,000
    prior = pd.DataFrame(cumulative(2023, "22", "lifestyle_screening_rate", profile, 20_000), columns=COLS)
    current = pd.DataFrame(cumulative(2024, "22", "lifestyle_screening_rate", [1200, 1800, 3000], 20_000), columns=COLS)
    p = project(2024, current, prior, "2024-06").set_index(["branch_code", "measure"])
    row = p.loc[("22", "lifestyle_screening_rate")]
    assert row["projected_value"] == pytest.approx(6_000 * 10_000 / 1_000 / 20_000 * 100)  # 300%: six times last year's pace
    assert row["method"] == "previous-year profile"


def test_without_a_previous_year_a_flow_uses_the_year_to_date_pace():
    current = pd.DataFrame(cumulative(2024, "22", "postal_rate", [90, 90, 90], 100), columns=COLS)
    # postal_rate: numerator and denominator are both flows; the denominator here is fixed at 100 for the test
    current["denominator"] = [100.0, 200.0, 300.0]
    p = project(2024, current, None, "2024-06").set_index(["branch_code", "measure"]).loc[("22", "postal_rate")]
    assert p["projected_value"] == pytest.approx(270 * 4 / (300 * 4) * 100) and p["method"] == "year-to-date pace"


def test_projected_status():
    assert projected_status(61.7, ">=", 62.0) == ON_TRACK
    assert projected_status(61.7, ">=", 61.0) == AT_RISK
    assert projected_status(15.0, "<=", 14.0) == ON_TRACK and projected_status(15.0, "<=", 16.0) == AT_RISK
    assert projected_status(None, None, 10.0) == ""  # 毎月（12か月）: no numeric target
    assert projected_status(61.7, None, 62.0) == ""  # no comparison known: no outlook rather than a guess


def test_add_projection_only_to_rows_with_a_numeric_target():
    table = pd.DataFrame([
        {"branch_code": "22", "measure": "lifestyle_screening_rate", "target_value": 70.0, "target_text": "70.0%以上", "target_op": ">=",
         "display_precision": 1},
        {"branch_code": "22", "measure": "committee_insured_rate,committee_offices", "target_value": None, "target_text": "50%以上、…",
         "target_op": ">=", "display_precision": 1},
    ])
    projections = pd.DataFrame([("22", "lifestyle_screening_rate", 69.64, "previous-year profile")], columns=["branch_code", "measure", "projected_value", "method"])
    out = add_projection(table, projections)
    assert list(out["projected_status"]) == [AT_RISK, ""] and out["projected_text"][0] == "69.6%"


def test_backtest_on_sample_data_gets_better_through_the_year(tmp_path):
    from kenpo_pipeline.domain.kpis.aggregates import aggregate_month
    from kenpo_pipeline.domain.intake.feeds import check_feed_file
    from kenpo_pipeline.domain.intake.landing import find_feed_file
    from kenpo_pipeline.domain.kpis.measures import compute_actuals
    from kenpo_pipeline.domain.reference import FEED_IDS
    from kenpo_pipeline.domain.intake.sample import write_sample

    write_sample(tmp_path, 2023, 2024, scale=0.002)

    def actuals(fy):
        parts = []
        for m in fiscal_months(fy):
            parts.append(aggregate_month(m, {f: check_feed_file(find_feed_file(tmp_path, f, m), f, m).frame for f in FEED_IDS}))
        return compute_actuals(fy, pd.concat(parts, ignore_index=True))

    table = backtest(2024, actuals(2024), actuals(2023))
    assert list(table["as_of_month"]) == fiscal_months(2024)[:-1]
    errors = table["median_abs_error_pct"].tolist()
    assert errors[-1] < errors[0] and errors[-1] < 1.0
