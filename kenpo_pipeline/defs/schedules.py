"""The monthly job and its schedule (Asia/Tokyo).

Feeds for month *m* arrive early in month *m*+1; on the 10th at 07:00 the schedule materializes the
previous month's partitions. Fiscal years are rebuilt by backfill (single run per asset, see
``BackfillPolicy.single_run()`` on the assets) from the UI or ``kenpo run --from --to``.
"""

import dagster as dg

from kenpo_pipeline.defs.partitions import fiscal_year_partitions, monthly_partitions

MONTHLY_JOB_NAME = "monthly_feeds"

FISCAL_YEAR_JOB_NAME = "fiscal_year_kpis"

monthly_feeds_job = dg.define_asset_job(
    MONTHLY_JOB_NAME,
    selection=dg.AssetSelection.groups("feeds") | dg.AssetSelection.assets("monthly_aggregates"),
    partitions_def=monthly_partitions,
    description="前月分の4フィードを読み込み・検証し、倉庫に反映して月次集計を更新します。",
    tags={"kenpo/job": "monthly"},
)

fiscal_year_job = dg.define_asset_job(
    FISCAL_YEAR_JOB_NAME,
    # action_plan_view before pdca_workbooks (their dependency orders them): the workbooks read the view
    selection=dg.AssetSelection.assets("kpi_actuals", "pdca_evaluation", "incentive_ranking", "action_plan_view", "pdca_workbooks", "data_quality"),
    partitions_def=fiscal_year_partitions,
    description="年度のKPI実績（各月時点）を計算し、事業計画に対して達成状況を判定し、インセンティブ制度の順位を求め、PDCAワークブックを書き出します。",
    tags={"kenpo/job": "fiscal_year"},
)

monthly_schedule = dg.build_schedule_from_partitioned_job(
    monthly_feeds_job,
    name="monthly_feeds_schedule",
    day_of_month=10,
    hour_of_day=7,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="毎月10日 7:00（日本時間）に前月分を実行します。",
)


ACTION_PLAN_JOB_NAME = "action_plan"

action_plan_job = dg.define_asset_job(
    ACTION_PLAN_JOB_NAME,
    selection=dg.AssetSelection.assets("action_plan_view"),
    description="3か年アクションプラン一覧を更新します。",
    tags={"kenpo/job": "action_plan"},
)


@dg.definitions
def schedule_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[monthly_feeds_job, fiscal_year_job, action_plan_job], schedules=[monthly_schedule])
