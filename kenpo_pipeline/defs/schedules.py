"""The monthly job and its schedule (Asia/Tokyo).

Feeds for month *m* arrive early in month *m*+1; on the 10th at 07:00 the schedule materializes the
previous month's partitions. Fiscal years are rebuilt by backfill (single run per asset, see
``BackfillPolicy.single_run()`` on the assets) from the UI or ``kenpo run --from --to``.
"""

import dagster as dg

from kenpo_pipeline.defs.partitions import monthly_partitions

MONTHLY_JOB_NAME = "monthly_feeds"

monthly_feeds_job = dg.define_asset_job(
    MONTHLY_JOB_NAME,
    selection=dg.AssetSelection.groups("feeds"),
    partitions_def=monthly_partitions,
    description="前月分の4フィードを読み込み・検証し、倉庫に反映します。",
    tags={"kenpo/job": "monthly"},
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


@dg.definitions
def schedule_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[monthly_feeds_job], schedules=[monthly_schedule])
