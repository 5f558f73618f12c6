"""A corrected file for a past month flows all the way to that fiscal year's evaluation with no
further action: landing sensor → run → automation → kpi_actuals → pdca_evaluation (issue:
operations §2). Evaluated with Dagster's own sensor context and ``evaluate_automation_conditions``
on a real instance."""

import os

import dagster as dg

from conftest import dagster_resources
from kenpo_pipeline.defs.sensors import landing_sensor
from kenpo_pipeline.domain.intake.sample import write_sample

# Not marked `warehouse`: what is tested here is the command line / the automation / the file rules;
# the warehouse's reads and writes are covered on PostgreSQL by test_loading, test_concurrency,
# test_migrations, test_kpi_actuals, test_evaluation_asset, test_publication, test_operations,
# test_edges_intake, test_edges_runs, test_dagster_feeds and test_landing_sensor (keeps `make test`
# within its budget).

MONTHS = ["2024-04", "2024-05"]


def _requested(result) -> dict[str, set[str | None]]:
    """{asset: partitions} that an automation tick requested."""
    out = {}
    for r in result.results:
        parts = result.get_requested_partitions(r.key)
        if parts:
            out[r.key.to_user_string()] = set(parts)
    return out


def test_a_corrected_past_month_updates_its_fiscal_year_without_further_action(kenpo_env, dagster_instance):
    from kenpo_pipeline.definitions import defs as load_defs

    defs = load_defs()
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.003, months=MONTHS)
    resources = dagster_resources(kenpo_env)
    feeds_job = defs.resolve_job_def("monthly_feeds")
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=dagster_instance)  # the sensor's first tick
    for m in MONTHS:
        assert feeds_job.execute_in_process(partition_key=m, instance=dagster_instance).success
    first = dg.evaluate_automation_conditions(defs=defs, instance=dagster_instance, cursor=baseline.cursor)
    assert _requested(first).get("kpi_actuals") == {"2024"}  # the loaded months' year follows
    fy_job = defs.resolve_job_def("fiscal_year_kpis")
    assert fy_job.execute_in_process(partition_key="2024", instance=dagster_instance).success
    settled = dg.evaluate_automation_conditions(defs=defs, instance=dagster_instance, cursor=first.cursor)
    assert "kpi_actuals" not in _requested(settled)

    from kenpo_pipeline.warehouse.store import Warehouse

    wh = Warehouse(kenpo_env.warehouse_url)
    before = wh.read_table("kpi_actuals", fiscal_year=2024, branch_code="00", as_of_month="2024-05").set_index("measure")["denominator"]
    evaluated_before = wh.read_table("pdca_evaluation", fiscal_year=2024)

    # a corrected April file for the benefits feed: half of its rows withdrawn
    path = kenpo_env.landing / "benefits" / "202404.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[: 1 + (len(lines) - 1) // 2]) + "\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))

    # 1. the landing sensor asks for exactly that feed-month (and its aggregate)
    sensor_ctx = dg.build_sensor_context(instance=dagster_instance, resources={k: resources[k] for k in ("landing", "warehouse")})
    tick = landing_sensor(sensor_ctx)
    assert [(r.partition_key, r.asset_selection) for r in tick.run_requests] == [("2024-04", [dg.AssetKey("benefits"), dg.AssetKey("monthly_aggregates")])]
    request = tick.run_requests[0]
    assert feeds_job.execute_in_process(partition_key=request.partition_key, asset_selection=request.asset_selection, instance=dagster_instance, tags=request.tags).success

    # 2. the automation then asks for the fiscal year's actuals, and — once they are in — its evaluation
    tick1 = dg.evaluate_automation_conditions(defs=defs, instance=dagster_instance, cursor=settled.cursor)
    requested = _requested(tick1)
    assert requested.get("kpi_actuals") == {"2024"}
    assert requested.get("pdca_evaluation", {"2024"}) >= {"2024"}  # same tick (chained) or next
    for asset in ("kpi_actuals", "pdca_evaluation"):  # what the daemon would launch, in order
        result = fy_job.execute_in_process(partition_key="2024", asset_selection=[dg.AssetKey(asset)], instance=dagster_instance)
        assert result.success
    tick2 = dg.evaluate_automation_conditions(defs=defs, instance=dagster_instance, cursor=tick1.cursor)
    assert "kpi_actuals" not in _requested(tick2)

    after = wh.read_table("kpi_actuals", fiscal_year=2024, branch_code="00", as_of_month="2024-05").set_index("measure")["denominator"]
    assert after["postal_rate"] < before["postal_rate"]  # benefit decisions April–May, fewer after the correction
    assert after["review_amount_per_claim"] == before["review_amount_per_claim"]  # other feeds untouched
    evaluated_after = wh.read_table("pdca_evaluation", fiscal_year=2024)
    assert len(evaluated_after) == len(evaluated_before)
    assert wh.current_load("benefits", "2024-04")["rows_loaded"] < wh.loads().query("feed == 'benefits' and month == '2024-04' and status == 'superseded'")["rows_loaded"].iloc[0]


def test_a_rejected_month_holds_back_the_automation_below_it(kenpo_env, dagster_instance):
    """The `accepted` check is blocking: nothing downstream is requested for a rejected month."""
    from kenpo_pipeline.definitions import defs as load_defs

    defs = load_defs()
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.003, months=["2024-04"])
    (kenpo_env.landing / "benefits" / "202404.csv").write_bytes("支部コード\n".encode("utf-8"))  # a required column missing
    first = dg.evaluate_automation_conditions(defs=defs, instance=dagster_instance)
    result = defs.resolve_job_def("monthly_feeds").execute_in_process(
        partition_key="2024-04", asset_selection=[dg.AssetKey("benefits")], instance=dagster_instance, raise_on_error=False
    )
    assert not result.success
    history = dagster_instance.event_log_storage.get_asset_check_execution_history(dg.AssetCheckKey(dg.AssetKey("benefits"), "accepted"), limit=10)
    assert [(r.partition, r.event.dagster_event.event_specific_data.passed) for r in history] == [("2024-04", False)]
    tick = dg.evaluate_automation_conditions(defs=defs, instance=dagster_instance, cursor=first.cursor)
    assert "monthly_aggregates" not in _requested(tick) and "kpi_actuals" not in _requested(tick)


def test_every_asset_below_the_feeds_follows_them_and_the_sensors_are_on():
    from kenpo_pipeline.definitions import defs as load_defs

    defs = load_defs()
    graph = defs.resolve_asset_graph()
    following = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).automation_condition is not None}
    assert following == {"monthly_aggregates", "kpi_actuals", "pdca_evaluation", "incentive_ranking", "pdca_workbooks", "data_quality", "action_plan_view"}
    for name in ("landing_sensor", "kpi_automation", "run_failure_notifier", "late_feed_sensor"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING, name
    assert defs.resolve_schedule_def("monthly_feeds_schedule").default_status == dg.DefaultScheduleStatus.RUNNING
