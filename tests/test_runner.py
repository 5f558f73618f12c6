"""The application layer's runner (app/runner.py) on a real Dagster instance and warehouse: the
RunReport carries the feed-month outcomes the runs decided (read back from the runs' ``accepted``
check evaluations, never from the landing area), progress events come from the run's events, and
the command line's plan agrees with the daemon's automation on what follows a loaded month."""

import dagster as dg
import pytest

from conftest import write_csv
from kenpo_pipeline.app import runner, runplan
from kenpo_pipeline.domain.intake.status import FeedMonthStatus
from kenpo_pipeline.domain.intake.sample import write_sample
from kenpo_pipeline.warehouse.store import Warehouse

pytestmark = pytest.mark.warehouse

MONTH = "2024-04"


def test_the_run_report_carries_what_the_runs_decided(kenpo_env):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=[MONTH])
    rejected = write_csv(kenpo_env.landing / "screenings" / "202404.csv", ["支部コード", "区分"], [["22", "被保険者"]])
    for f in (kenpo_env.landing / "indicators").iterdir():
        f.unlink()  # indicators: no file for the month
    events = []
    plan = runner.plan_from_landing(kenpo_env, through="actuals")
    assert [c.months for c in plan.chunks] == [(MONTH,)]
    report = runner.run_plan(plan, kenpo_env, events.append)

    by_feed = {o.feed: o for o in report.outcomes}
    assert [(o.feed, o.month) for o in report.outcomes] == plan.feed_months
    wh = Warehouse(kenpo_env.warehouse_url)
    for feed in ("benefits", "claims_review"):
        current = wh.current_load(feed, MONTH)
        o = by_feed[feed]
        assert (o.status, o.load_id, o.rows_loaded, o.sha256) == (FeedMonthStatus.LOADED, current["load_id"], current["rows_loaded"], current["sha256"])
        assert o.message.endswith("行を取り込みました。")
    assert by_feed["screenings"].status is FeedMonthStatus.REJECTED and by_feed["screenings"].load_id is None
    assert by_feed["screenings"].message == f"{rejected} を却下しました：ヘッダー（1行目）に必須の列がありません：事業、対象者数、実施者数。"
    assert by_feed["indicators"].status is FeedMonthStatus.MISSING
    assert by_feed["indicators"].message == f"{kenpo_env.landing / 'indicators'} に 202404.csv も .xlsx もありません。"
    assert [o.feed for o in report.not_ok] == ["screenings", "indicators"] and not report.clean

    # the runs: the month failed (rejected and missing), its usable month's aggregate ran again, then the year
    assert [(r.kind, r.status) for r in report.runs] == [("feeds", "failure"), ("followers", "success"), ("year", "success")]
    feeds_run = report.runs[0]
    assert {f.step: f.kind for f in feeds_run.failures} == {"screenings": "rejected", "indicators": "rejected"}
    assert feeds_run.errors == [] and report.broken == [] and not report.stopped
    assert wh.read_table("monthly_aggregates", month=MONTH).shape[0] > 0

    # progress: one event per feed-month as the run decided it, from the run's own events
    done = [e.outcome for e in events if isinstance(e, runner.FeedMonthDone)]
    assert sorted(done, key=lambda o: o.feed) == sorted(report.outcomes, key=lambda o: o.feed)
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished" and events[0].feed_months == 4

    # the landing area is gone: the runs still say the same (nothing is re-read or re-hashed)
    for f in kenpo_env.landing.rglob("*.*"):
        f.unlink()
    with dg.DagsterInstance.from_config(str(kenpo_env.dagster_home)) as instance:
        assert sorted(runner.feed_month_outcomes(instance, feeds_run.run_id), key=lambda o: o.feed) == sorted(report.outcomes, key=lambda o: o.feed)


def _requested(result) -> dict[str, set]:
    out = {}
    for r in result.results:
        parts = result.get_requested_partitions(r.key)
        if parts:
            out[r.key.to_user_string()] = set(parts)
    return out


def _plan_partitions(plan) -> dict[str, set]:
    out: dict[str, set] = {}
    for step in plan.years:
        for asset in step.assets:  # an unpartitioned asset in a year's run is materialized unpartitioned
            out.setdefault(asset, set()).add(None if asset == "action_plan_view" else str(step.fiscal_year))
    for asset in plan.after:
        out.setdefault(asset, set()).add(None)
    return out


def test_the_command_line_and_the_automation_agree_on_what_follows_a_loaded_month(kenpo_env, dagster_instance):
    """One statement of "what follows what": the automation sensor's target and the asset graph's
    dependencies and partition mappings. The daemon's automation and ``kenpo run``'s plan both read
    them; the plan ``kenpo run`` makes (``runner.plan_months``) asks for what the automation asks for."""
    from kenpo_pipeline.definitions import defs as load_defs

    defs = load_defs()
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=[MONTH])
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=dagster_instance)
    assert defs.resolve_job_def("monthly_feeds").execute_in_process(partition_key=MONTH, instance=dagster_instance).success
    tick = dg.evaluate_automation_conditions(defs=defs, instance=dagster_instance, cursor=baseline.cursor)
    automation = _requested(tick)
    assert automation["kpi_actuals"] == {"2024"} and automation["pdca_evaluation"] == {"2024", "2025"}
    # the unpartitioned three-year view cannot run with the fiscal years (another partitions definition):
    # it is requested on a later tick, once the evaluations it follows have been materialized
    assert "action_plan_view" not in automation
    for fy in ("2024", "2025"):
        dagster_instance.report_runless_asset_event(dg.AssetMaterialization("pdca_evaluation", partition=fy))
    later = _requested(dg.evaluate_automation_conditions(defs=defs, instance=dagster_instance, cursor=tick.cursor))
    assert later.get("action_plan_view") == {None}
    automation["action_plan_view"] = later["action_plan_view"]

    graph, targets = defs.resolve_asset_graph(), runplan.automation_targets(defs)
    plan = runplan.plan_run(graph, [MONTH], "reports", computed=lambda fy: True, targets=targets)
    assert _plan_partitions(plan) == automation
    # the plan leaves out a following year with no actuals (the automation requests it; it computes nothing):
    # the command line's own plan on this warehouse, where no year has KPI actuals yet
    lean = runner.plan_months(kenpo_env, [MONTH], "reports", defs=defs)
    assert _plan_partitions(lean) == {asset: parts - {"2025"} for asset, parts in automation.items()}
