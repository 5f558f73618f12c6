"""kpi_actuals through Dagster, checked against an independent computation from the same files."""

import datetime as dt
import math

import dagster as dg

from conftest import dagster_resources
import pandas as pd
import pytest

from independent import compute as independent_compute
from kenpo_pipeline.defs.feeds import feed_assets
from kenpo_pipeline.defs.kpis import kpi_actuals, monthly_aggregates
from kenpo_pipeline.defs.partitions import fiscal_year_partitions
from kenpo_pipeline.domain.intake.feeds import check_feed_file
from kenpo_pipeline.domain.intake.landing import find_feed_file
from kenpo_pipeline.domain.reference import FEED_IDS, branch_codes
from kenpo_pipeline.domain.intake.sample import write_sample
from kenpo_pipeline.warehouse.store import Warehouse

pytestmark = pytest.mark.warehouse  # runs on SQLite and on PostgreSQL (see conftest.py)




def load_months(settings, instance, first, last):
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.materialize([*feed_assets, monthly_aggregates], instance=instance, resources=dagster_resources(settings), tags=tags, raise_on_error=False)


def compute_year(settings, instance, fy):
    return dg.materialize([kpi_actuals], instance=instance, resources=dagster_resources(settings), partition_key=str(fy))


def drop_indicator_rows(path, pairs):
    lines = path.read_text(encoding=_enc(path)).splitlines()
    keep = [lines[0]] + [l for l in lines[1:] if tuple(l.split(",")[:2]) not in pairs]
    path.write_text("\n".join(keep) + "\n", encoding=_enc(path))


def _enc(path):
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp932"


def test_kpi_actuals_agree_with_an_independent_computation(kenpo_env, dagster_instance):
    months = ["2023-04", "2023-05", "2023-06", "2023-07"]
    write_sample(kenpo_env.landing, 2023, 2023, scale=0.002, months=months)
    land = kenpo_env.landing
    # gaps that exercise coverage: indicator rows missing, a stock absent in April, a feed missing in June
    drop_indicator_rows(find_feed_file(land, "indicators", "2023-05"), {("22", "card_recovered_1m"), ("13", "receivable_due")})
    # … and a once-a-year count (特定保健指導対象者の減少率, April only) missing for a branch: incomplete all year
    drop_indicator_rows(find_feed_file(land, "indicators", "2023-04"),
                        {("13", "health_declaration_offices"), ("05", "insured_total"), ("47", "guidance_cohort_screened")})
    find_feed_file(land, "claims_review", "2023-06").unlink()
    result = load_months(kenpo_env, dagster_instance, "2023-04", "2023-07")
    assert not result.success  # claims_review 2023-06 is missing: that month fails, the rest loads
    dg.materialize([monthly_aggregates], instance=dagster_instance, resources=dagster_resources(kenpo_env),
                   tags={"dagster/asset_partition_range_start": "2023-04", "dagster/asset_partition_range_end": "2023-07"})
    compute_year(kenpo_env, dagster_instance, 2023)

    actuals = Warehouse(kenpo_env.warehouse_url).read_table("kpi_actuals", fiscal_year=2023)
    frames = {}
    for feed in FEED_IDS:
        for m in months:
            path = find_feed_file(land, feed, m)
            if path is not None:
                frames[(feed, m)] = check_feed_file(path, feed, m).frame
    expected = independent_compute(2023, frames, branch_codes())
    assert len(actuals) == len(expected)
    mismatches = []
    for r in actuals.itertuples():
        value, num, den, covered, complete = expected[(r.as_of_month, r.branch_code, r.measure)]
        same_value = (value is None and pd.isna(r.value)) or (value is not None and r.value == pytest.approx(value, rel=1e-12, abs=1e-9))
        if not same_value or covered != r.months_covered or bool(complete) != bool(r.complete):
            mismatches.append((r.as_of_month, r.branch_code, r.measure, r.value, value, r.months_covered, covered))
    assert mismatches == []
    # the gaps are visible
    a = actuals.set_index(["as_of_month", "branch_code", "measure"])
    assert a.loc[("2023-05", "22", "card_recovery_rate"), "months_covered"] == 1
    assert not a.loc[("2023-07", "00", "review_amount_per_claim"), "complete"]
    assert a.loc[("2023-07", "22", "review_amount_per_claim"), "months_covered"] == 3
    # the once-a-year April count carries through the year; without it a branch has no value at all
    assert a.loc[("2023-07", "22", "guidance_target_reduction_rate"), "complete"]
    assert a.loc[("2023-07", "47", "guidance_target_reduction_rate"), "months_covered"] == 0
    assert pd.isna(a.loc[("2023-07", "47", "guidance_target_reduction_rate"), "value"])
    assert 10 < a.loc[("2023-07", "22", "specific_screening_rate"), "value"] < 40  # April–July of a year's screenings


def test_the_fiscal_year_in_progress_is_a_partition_and_computes(kenpo_env, dagster_instance):
    today = dt.datetime.now()
    fy = today.year if today.month >= 4 else today.year - 1
    assert str(fy) in fiscal_year_partitions.get_partition_keys()
    months = [f"{fy}-04", f"{fy}-05"]
    write_sample(kenpo_env.landing, fy, fy, scale=0.002, months=months)
    assert load_months(kenpo_env, dagster_instance, months[0], months[-1]).success
    result = compute_year(kenpo_env, dagster_instance, fy)
    assert result.success
    actuals = Warehouse(kenpo_env.warehouse_url).read_table("kpi_actuals", fiscal_year=fy)
    assert sorted(actuals["as_of_month"].unique()) == months
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("kpi_actuals")).asset_materialization
    assert mat.partition == str(fy) and "生活習慣病予防健診実施率" in mat.metadata["national"].value


def test_a_corrected_month_changes_the_later_as_of_months(kenpo_env, dagster_instance):
    months = ["2023-04", "2023-05", "2023-06"]
    write_sample(kenpo_env.landing, 2023, 2023, scale=0.002, months=months)
    assert load_months(kenpo_env, dagster_instance, "2023-04", "2023-06").success
    compute_year(kenpo_env, dagster_instance, 2023)
    wh = Warehouse(kenpo_env.warehouse_url)
    before = wh.read_table("kpi_actuals", fiscal_year=2023).set_index(["as_of_month", "branch_code", "measure"])
    # correct May: drop every 窓口 application of branch 13
    path = find_feed_file(kenpo_env.landing, "benefits", "2023-05")
    enc = _enc(path)
    lines = path.read_text(encoding=enc).splitlines()
    path.write_text("\n".join([lines[0]] + [l for l in lines[1:] if not (l.startswith("13,") and "窓口" in l)]) + "\n", encoding=enc)
    dg.materialize([*feed_assets, monthly_aggregates], instance=dagster_instance, resources=dagster_resources(kenpo_env), partition_key="2023-05")
    compute_year(kenpo_env, dagster_instance, 2023)
    after = wh.read_table("kpi_actuals", fiscal_year=2023).set_index(["as_of_month", "branch_code", "measure"])
    key = ("2023-06", "13", "counter_rate")
    assert after.loc[("2023-04", "13", "counter_rate"), "value"] == before.loc[("2023-04", "13", "counter_rate"), "value"]
    assert after.loc[("2023-05", "13", "counter_rate"), "numerator"] < before.loc[("2023-05", "13", "counter_rate"), "numerator"]
    assert after.loc[key, "numerator"] < before.loc[key, "numerator"]
    assert after.loc[("2023-06", "00", "counter_rate"), "value"] < before.loc[("2023-06", "00", "counter_rate"), "value"]
    assert math.isclose(after.loc[("2023-06", "22", "counter_rate"), "value"], before.loc[("2023-06", "22", "counter_rate"), "value"])


def test_read_rows_gives_the_frame_read_table_gives(warehouse):
    # the evaluation reads kpi_actuals through the driver's cursor: same rows, same dtypes, NULLs too
    rows = pd.DataFrame({
        "fiscal_year": [2024, 2024, 2024], "as_of_month": ["2024-04", "2024-04", "2024-05"], "branch_code": ["00", "01", "01"],
        "measure": ["postal_rate", "postal_rate", "avg_days"], "value": [12.5, None, 3.25], "numerator": [25.0, 0.0, 13.0],
        "denominator": [200.0, 0.0, None], "months_covered": [1, 1, 2], "complete": [True, False, True],
    })
    warehouse.replace("kpi_actuals", {"fiscal_year": 2024}, rows)
    for conditions in ({"fiscal_year": 2024}, {"fiscal_year": 2019}, {"fiscal_year": 2024, "branch_code": "01"}):
        pd.testing.assert_frame_equal(warehouse.read_rows("kpi_actuals", **conditions), warehouse.read_table("kpi_actuals", **conditions))
    assert warehouse.read_rows("kpi_actuals", fiscal_year=2024)["complete"].tolist() == [True, False, True]
