"""The feed assets through Dagster's own APIs, on a real (temporary) instance and SQLite warehouse."""

import datetime as dt

import dagster as dg
import pytest

from conftest import HEADERS, write_csv, dagster_resources
from kenpo_pipeline.defs.feeds import feed_assets
from kenpo_pipeline.defs.partitions import fiscal_year_partitions, monthly_partitions
from kenpo_pipeline.defs.schedules import monthly_feeds_job, monthly_schedule
from kenpo_pipeline.domain.calendar import fiscal_months
from kenpo_pipeline.domain.reference import FEED_IDS
from kenpo_pipeline.domain.intake.sample import write_sample

pytestmark = pytest.mark.warehouse  # runs on SQLite and on PostgreSQL (see conftest.py)




def run(settings, instance, first, last=None, assets=feed_assets):
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last or first}
    return dg.materialize(assets, instance=instance, resources=dagster_resources(settings), tags=tags, raise_on_error=False)


def check_records(instance, feed, check="row_rules"):
    key = dg.AssetCheckKey(dg.AssetKey(feed), check)
    return instance.event_log_storage.get_asset_check_execution_history(key, limit=100)


def latest_evaluation(instance, feed, month, check="row_rules"):
    for rec in check_records(instance, feed, check):
        if rec.partition == month and rec.event and rec.event.dagster_event:
            return rec.event.dagster_event.event_specific_data
    return None


@pytest.mark.one_database
def test_definitions_load_with_assets_checks_job_and_schedule():
    from kenpo_pipeline.definitions import defs

    d = defs()
    assert {k.to_user_string() for k in d.resolve_all_asset_keys()} >= set(FEED_IDS) | {"monthly_aggregates", "kpi_actuals"}
    graph = d.resolve_asset_graph()
    check_keys = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert check_keys == {(f, c) for f in FEED_IDS for c in ("accepted", "row_rules", "consistency")}
    for f in FEED_IDS:  # the gate is `accepted`; row_rules' WARN must not hold back a month that loaded
        assert graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey(f), "accepted")).blocking
        assert not graph.get_check_spec(dg.AssetCheckKey(dg.AssetKey(f), "row_rules")).blocking
    assert d.resolve_job_def("monthly_feeds") is not None
    assert d.resolve_schedule_def("monthly_feeds_schedule").default_status == dg.DefaultScheduleStatus.RUNNING


@pytest.mark.one_database
def test_partitions():
    months = monthly_partitions.get_partition_keys(current_time=dt.datetime(2025, 5, 10))
    assert months[0] == "2020-04" and months[-1] == "2025-04"
    # the fiscal year in progress is a partition (end_offset=1)
    fys = fiscal_year_partitions.get_partition_keys(current_time=dt.datetime(2025, 11, 22))
    assert fys[0] == "2020" and fys[-1] == "2025"
    window = fiscal_year_partitions.time_window_for_partition_key("2024")
    assert (window.start.date(), window.end.date()) == (dt.date(2024, 4, 1), dt.date(2025, 4, 1))


@pytest.mark.one_database
def test_schedule_tick_requests_the_previous_month(dagster_instance):
    tokyo = dt.timezone(dt.timedelta(hours=9))
    ctx = dg.build_schedule_context(instance=dagster_instance, scheduled_execution_time=dt.datetime(2024, 5, 10, 7, 0, tzinfo=tokyo))
    data = monthly_schedule.evaluate_tick(ctx)
    assert [r.partition_key for r in data.run_requests] == ["2024-04"]
    ctx = dg.build_schedule_context(instance=dagster_instance, scheduled_execution_time=dt.datetime(2025, 4, 10, 7, 0, tzinfo=tokyo))
    assert [r.partition_key for r in monthly_schedule.evaluate_tick(ctx).run_requests] == ["2025-03"]
    assert monthly_schedule.cron_schedule == "0 7 10 * *" and monthly_schedule.execution_timezone == "Asia/Tokyo"
    assert monthly_schedule.job_name == monthly_feeds_job.name


def test_one_month_with_quarantined_rows_warns_and_loads(kenpo_env, dagster_instance):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.01, months=["2024-04"])
    path = kenpo_env.landing / "screenings" / "202404.csv"
    text = path.read_text(encoding="utf-8").splitlines()
    text[1] = text[1].replace("生活習慣病予防健診", "がん検診")  # one bad row out of 235 (< 1%)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = run(kenpo_env, dagster_instance, "2024-04")
    assert result.success
    evaluation = latest_evaluation(dagster_instance, "screenings", "2024-04")
    assert evaluation.passed is False and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["隔離行数"].value == 1
    assert "がん検診" in evaluation.metadata["隔離した行"].value
    assert "screenings.program.values" in evaluation.metadata["期待値ごと"].value
    # tied to the month's partition and to the materialization it judged; the load id is text
    assert evaluation.partition == "2024-04" and evaluation.target_materialization_data is not None
    assert isinstance(evaluation.metadata["取込ID"], dg.TextMetadataValue)
    for feed in ("benefits", "claims_review", "indicators"):
        assert latest_evaluation(dagster_instance, feed, "2024-04").passed
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("screenings")).asset_materialization
    assert mat.partition == "2024-04"
    assert mat.metadata["rows_quarantined"].value == 1 and mat.metadata["rows_loaded"].value == 234
    assert len(mat.metadata["sha256"].value) == 64
    assert mat.metadata["dagster/column_schema"].schema.columns[0].name == "branch_code"


def test_rejected_month_fails_the_materialization_and_keeps_the_previous_load(kenpo_env, dagster_instance):
    from kenpo_pipeline.warehouse.store import Warehouse

    write_sample(kenpo_env.landing, 2024, 2024, scale=0.005, months=["2024-04"])
    assert run(kenpo_env, dagster_instance, "2024-04").success
    wh = Warehouse(kenpo_env.warehouse_url)
    before = wh.current_load("benefits", "2024-04")
    write_csv(kenpo_env.landing / "benefits" / "202404.csv", HEADERS["benefits"][:3], [["22", "A", "傷病手当金"]])
    result = run(kenpo_env, dagster_instance, "2024-04", assets=[a for a in feed_assets if a.key.path[0] == "benefits"])
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "受付日" in failure.event_specific_data.error.message
    # the month's gate shows the rejection (ERROR) ...
    gate = latest_evaluation(dagster_instance, "benefits", "2024-04", "accepted")
    assert (gate.passed, gate.severity, gate.partition) == (False, dg.AssetCheckSeverity.ERROR, "2024-04")
    assert gate.description.startswith("2024-04（令和6年4月）: 却下 — ")
    assert f"前回の取込（load {before['load_id']}）のまま" in gate.description
    # ... the checks that could not run on a file without its columns are not failures: they show
    # what they found in the load the month still holds
    for name in ("row_rules", "consistency"):
        kept = latest_evaluation(dagster_instance, "benefits", "2024-04", name)
        assert kept.passed and kept.metadata["実施"].value == "いいえ（今回は未実施）"
        assert kept.metadata["取込ID"].value == str(before["load_id"]) and "取込時の結果" in kept.metadata
    assert wh.current_load("benefits", "2024-04") == before
    assert list(wh.loads().query("feed == 'benefits'")["status"]) == ["loaded", "rejected"]


@pytest.mark.one_database
def test_fiscal_year_backfill_is_a_single_run_of_twelve_partitions(kenpo_env, dagster_instance):
    write_sample(kenpo_env.landing, 2023, 2023, scale=0.002)
    result = run(kenpo_env, dagster_instance, "2023-04", "2024-03")
    assert result.success
    assert len(dagster_instance.get_run_records()) == 1
    for feed in FEED_IDS:
        assert dagster_instance.get_materialized_partitions(dg.AssetKey(feed)) == set(fiscal_months(2023))
        statuses = {r.partition: r.status.value for r in check_records(dagster_instance, feed) if r.partition}
        assert statuses == {m: "SUCCEEDED" for m in fiscal_months(2023)}
    # each month's latest materialization carries that month's own metadata
    recs = dagster_instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("benefits"), asset_partitions=["2023-07"]), limit=1
    ).records
    assert recs[0].asset_materialization.metadata["month"].value == "2023-07"


def test_range_with_a_rejected_month_loads_the_others_and_fails_that_month(kenpo_env, dagster_instance):
    write_sample(kenpo_env.landing, 2023, 2023, scale=0.002, months=["2023-04", "2023-05", "2023-06"])
    (kenpo_env.landing / "indicators" / "202305.csv").write_bytes("支部コード,値\n22,1\n".encode("utf-8"))
    result = run(kenpo_env, dagster_instance, "2023-04", "2023-06")
    assert not result.success
    assert dagster_instance.get_materialized_partitions(dg.AssetKey("indicators")) == {"2023-04", "2023-06"}
    assert dagster_instance.get_materialized_partitions(dg.AssetKey("benefits")) == {"2023-04", "2023-05", "2023-06"}
    gate = latest_evaluation(dagster_instance, "indicators", "2023-05", "accepted")
    assert (gate.passed, gate.severity) == (False, dg.AssetCheckSeverity.ERROR) and "この月のデータはまだありません" in gate.description
    not_run = latest_evaluation(dagster_instance, "indicators", "2023-05")  # row_rules never read the rows
    assert (not_run.passed, not_run.severity) == (True, dg.AssetCheckSeverity.WARN) and "未実施" in not_run.description
    for name in ("accepted", "row_rules", "consistency"):  # each month of the range has its own verdicts
        assert latest_evaluation(dagster_instance, "indicators", "2023-06", name).passed
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failure) == 1 and failure[0].step_key == "indicators"
    assert "2023-05" in failure[0].event_specific_data.error.message and "指標コード" in failure[0].event_specific_data.error.message


def test_unchanged_rerun_materializes_without_new_loads(kenpo_env, dagster_instance):
    from kenpo_pipeline.warehouse.store import Warehouse

    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04"])
    assert run(kenpo_env, dagster_instance, "2024-04").success
    n = len(Warehouse(kenpo_env.warehouse_url).loads())
    assert run(kenpo_env, dagster_instance, "2024-04").success
    assert len(Warehouse(kenpo_env.warehouse_url).loads()) == n == 4
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("benefits")).asset_materialization
    assert mat.metadata["status"].value == "unchanged"
