"""The run plan of ``kenpo run`` as functions (app/runplan.py): months → chunks, what follows them
(read from the asset graph's partition mappings), ``--through``, what follows a failure. Fast: no
run, no warehouse, no stdout."""

import pytest

from kenpo_pipeline.app import runplan
from kenpo_pipeline.domain.intake.status import FeedMonthOutcome, FeedMonthStatus
from kenpo_pipeline.domain.reference import FEED_IDS

MONTHLY = (*FEED_IDS, "monthly_aggregates")
YEARLY = ("action_plan_view", "data_quality", "incentive_ranking", "kpi_actuals", "pdca_evaluation", "pdca_workbooks")  # the view runs with the years whose workbooks read it


@pytest.fixture(scope="module")
def graph():
    from kenpo_pipeline.definitions import defs

    return defs().resolve_asset_graph()


def steps(plan) -> list[tuple[int, tuple[str, ...], bool]]:
    return [(y.fiscal_year, y.assets, y.touched) for y in plan.years]


def test_months_run_in_chunks_of_consecutive_months_of_one_fiscal_year():
    chunks = runplan.fiscal_year_chunks(["2024-06", "2024-02", "2024-04", "2024-03", "2024-04", "2025-03", "2025-04"])
    assert [(c.fiscal_year, c.months) for c in chunks] == [
        (2023, ("2024-02", "2024-03")), (2024, ("2024-04",)), (2024, ("2024-06",)), (2024, ("2025-03",)), (2025, ("2025-04",)),
    ]
    assert chunks[0].partition_key is None and chunks[1].partition_key == "2024-04"
    assert chunks[0].label == "FY2023（令和5年度） 2024-02…2024-03"


def test_which_months_a_run_covers():
    present = ["2024-04", "2024-06"]
    assert runplan.months_to_run(present, None, None) == present  # the months with a file
    assert runplan.months_to_run(present, "2024-05", None) == ["2024-05", "2024-06"]
    assert runplan.months_to_run(present, None, "2024-05") == ["2024-04", "2024-05"]
    assert runplan.months_to_run([], "2024-05", None) == ["2024-05"]
    with pytest.raises(ValueError):
        runplan.months_to_run(present, "2024-06", "2024-04")
    inside, outside = runplan.within_partitions(["2019-03", "2024-04"], ["2020-04", "2024-04", "2024-05"])
    assert inside == ["2024-04"]
    assert outside == ["2019-03 は月のパーティションではないため読み込みません（対象は 2020-04〜2024-05、終わった月までです）。"]


def test_what_follows_a_month_is_read_from_the_asset_graph(graph):
    follows = {k.to_user_string(): v for k, v in runplan.month_followers(graph, ["2024-04"]).items()}
    assert follows == {
        "monthly_aggregates": {"2024-04"},
        "kpi_actuals": {"2024"},
        "data_quality": {"2024"},
        "pdca_evaluation": {"2024", "2025"},  # TimeWindowPartitionMapping(start_offset=-1): next year compares with this one
        "incentive_ranking": {"2024", "2025"},  # 伸び is against the previous year: the same mapping
        "pdca_workbooks": {"2024", "2025"},
        "action_plan_view": {None},
    }
    # the evaluation's own mapping says so: FY2024's actuals are upstream of FY2025's evaluation
    import dagster as dg

    mapping = graph.get_partition_mapping(dg.AssetKey("pdca_evaluation"), dg.AssetKey("kpi_actuals"))
    assert isinstance(mapping, dg.TimeWindowPartitionMapping) and mapping.start_offset == -1


def test_only_the_automations_targets_follow(graph):
    """The assets that follow are the automation sensor's target: an asset outside it is left out,
    and so is whatever would only follow through it."""
    import dagster as dg

    from kenpo_pipeline.definitions import defs

    targets = runplan.automation_targets(defs())
    assert {k.to_user_string() for k in targets} >= {"monthly_aggregates", "kpi_actuals", "data_quality", "pdca_evaluation", "pdca_workbooks", "action_plan_view"}
    assert runplan.plan_run(graph, ["2024-04"], targets=targets) == runplan.plan_run(graph, ["2024-04"])
    without_actuals = targets - {dg.AssetKey("kpi_actuals")}
    follows = {k.to_user_string(): v for k, v in runplan.month_followers(graph, ["2024-04"], without_actuals).items()}
    assert follows == {"monthly_aggregates": {"2024-04"}, "data_quality": {"2024"}}  # nothing follows through kpi_actuals
    plan = runplan.plan_run(graph, ["2024-04"], targets=without_actuals)
    assert plan.chunks[0].assets == MONTHLY and steps(plan) == [(2024, ("data_quality",), True)] and plan.after == ()


def test_the_plan_runs_the_months_then_each_fiscal_year_oldest_first_then_the_three_year_view(graph):
    plan = runplan.plan_run(graph, ["2024-03", "2024-04", "2024-05"], "reports", computed=lambda fy: fy == 2025)
    assert [(c.months, c.assets) for c in plan.chunks] == [(("2024-03",), MONTHLY), (("2024-04", "2024-05"), MONTHLY)]
    assert steps(plan) == [(2023, YEARLY, True), (2024, YEARLY, True), (2025, ("action_plan_view", "incentive_ranking", "pdca_evaluation", "pdca_workbooks"), False)]
    assert plan.after == ()  # the three-year view runs in each year's run, before the workbooks that read it
    assert plan.feed_months[:4] == [(f, "2024-03") for f in FEED_IDS] and len(plan.feed_months) == 12


def test_a_year_that_only_follows_is_left_out_when_it_has_no_actuals(graph):
    plan = runplan.plan_run(graph, ["2024-04"], "reports", computed=lambda fy: False)
    assert steps(plan) == [(2024, YEARLY, True)]
    # a year in the plan is computed whatever the warehouse holds
    assert steps(runplan.plan_run(graph, ["2024-04", "2025-04"], "evaluation", computed=lambda fy: False)) == [
        (2024, ("data_quality", "kpi_actuals", "pdca_evaluation"), True), (2025, ("data_quality", "kpi_actuals", "pdca_evaluation"), True),
    ]


def test_through_stops_the_plan_below_some_assets(graph):
    months = ["2024-04"]
    actuals = runplan.plan_run(graph, months, "actuals", computed=lambda fy: True)
    assert steps(actuals) == [(2024, ("kpi_actuals",), True)] and actuals.after == ()  # nothing follows the actuals
    evaluation = runplan.plan_run(graph, months, "evaluation", computed=lambda fy: True)
    assert steps(evaluation) == [(2024, ("data_quality", "kpi_actuals", "pdca_evaluation"), True), (2025, ("pdca_evaluation",), False)]
    assert evaluation.after == ()
    with pytest.raises(ValueError):
        runplan.plan_run(graph, months, "everything")


def test_the_newest_fiscal_year_has_no_next_year_to_follow(graph):
    last_month = graph.get(runplan.dg.AssetKey("benefits")).partitions_def.get_last_partition_key()
    fy = int(last_month[:4]) - (last_month[5:] < "04")
    plan = runplan.plan_run(graph, [last_month], "evaluation", computed=lambda year: True)
    assert [y.fiscal_year for y in plan.years] == [fy]  # FY+1 is not a partition yet


def outcome(feed: str, month: str, status: FeedMonthStatus) -> FeedMonthOutcome:
    return FeedMonthOutcome(feed, month, status, "")


def test_after_a_failed_chunk_the_usable_months_get_their_aggregates_again():
    (chunk,) = runplan.fiscal_year_chunks(["2024-04", "2024-05", "2024-06", "2024-07"], MONTHLY)
    outcomes = [
        outcome("benefits", "2024-04", FeedMonthStatus.LOADED), outcome("screenings", "2024-04", FeedMonthStatus.REJECTED),
        *(outcome(f, "2024-05", FeedMonthStatus.REJECTED) for f in FEED_IDS[:2]), *(outcome(f, "2024-05", FeedMonthStatus.MISSING) for f in FEED_IDS[2:]),
        outcome("claims_review", "2024-06", FeedMonthStatus.UNCHANGED), outcome("indicators", "2024-07", FeedMonthStatus.NOT_READY),
        outcome("benefits", "2024-03", FeedMonthStatus.LOADED),  # another chunk's month
    ]
    again = runplan.after_failure(chunk, outcomes)
    assert [(c.months, c.assets) for c in again] == [(("2024-04",), ("monthly_aggregates",)), (("2024-06",), ("monthly_aggregates",))]
    assert runplan.after_failure(chunk, [outcome(f, "2024-05", FeedMonthStatus.MISSING) for f in FEED_IDS]) == []
    feeds_only = runplan.Chunk(2024, ("2024-04",), FEED_IDS)
    assert runplan.after_failure(feeds_only, outcomes) == []


def test_a_feed_month_no_run_reached_is_not_loaded_and_says_why(tmp_path):
    chunks = tuple(runplan.fiscal_year_chunks(["2024-03", "2024-04"], MONTHLY))
    path = tmp_path / "benefits" / "202404.csv"
    plan = runplan.RunPlan(("2024-03", "2024-04"), chunks, (), (), files={("benefits", "2024-04"): (path,)})
    decided = {(f, "2024-03"): outcome(f, "2024-03", FeedMonthStatus.LOADED) for f in FEED_IDS}
    result = runplan.outcomes(plan, decided, tmp_path, "stopped")
    assert [(o.feed, o.month) for o in result] == plan.feed_months
    assert [o.status for o in result] == [FeedMonthStatus.LOADED] * 4 + [FeedMonthStatus.NOT_LOADED] * 4
    assert result[4].message == f"{path} は実行を中止したため読み込まれていません。"
    assert result[5].message == f"{tmp_path / 'claims_review' / '202404.*'} は実行を中止したため読み込まれていません。"
    assert runplan.outcomes(plan, decided, tmp_path, "broken")[4].message.endswith("は倉庫に書き込めなかったため読み込まれていません。")
