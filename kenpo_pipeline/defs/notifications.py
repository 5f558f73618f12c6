"""Notifications to the operators (a log file by default, a webhook when set — see notify.py):

- ``run_failure_notifier``: a failed run of this code location, with each failed blocking check of
  the run as its own notice (a rejected month fails the ``accepted`` check, then the run);
- ``late_feed_sensor``: a feed month still not loaded on ``KENPO_LATE_FEED_DAY`` (default 20th) of
  the following month — each late feed-month is notified once (the cursor remembers it), in one
  notice per evaluation. Only months from the first month any file has arrived for (or
  ``KENPO_FIRST_MONTH`` when it is set and nothing has arrived yet) are late: a new installation is
  not told that years before its first file are missing.

Both are on by default, like the landing sensor and the schedule.
"""

import datetime as dt
import json

import dagster as dg

from kenpo_pipeline.defs.partitions import FIRST_MONTH
from kenpo_pipeline.defs.resources import NotifierResource, WarehouseResource
from kenpo_pipeline.domain.calendar import month_label
from kenpo_pipeline.domain.intake.deadlines import deadline, late_feed_months, months_due
from kenpo_pipeline.domain.intake.status import FeedMonthStatus, feed_month_picture, first_data_month
from kenpo_pipeline.domain.reference import FEED_IDS, feed_layout
from kenpo_pipeline.notify import Notice
from kenpo_pipeline.settings import first_month, is_configured


def failed_blocking_checks(instance: dg.DagsterInstance, run_id: str) -> list[dict]:
    """The blocking check evaluations of a run that failed, in the order they were logged."""
    out = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        ev = entry.dagster_event.event_specific_data
        if ev.passed or not getattr(ev, "blocking", False):
            continue
        out.append(
            {
                "asset": ev.asset_key.to_user_string(),
                "check": ev.check_name,
                "partition": ev.partition,
                "severity": ev.severity.value,
                "description": ev.description,
            }
        )
    return out


@dg.run_failure_sensor(
    name="run_failure_notifier",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="実行の失敗とブロッキングチェックの不合格を通知先（ログファイル／Webhook）へ送ります。",
)
def run_failure_notifier(context: dg.RunFailureSensorContext, notifier: NotifierResource):
    run = context.dagster_run
    sender = notifier.get()
    partition = run.tags.get("dagster/partition") or (
        f"{run.tags.get('dagster/asset_partition_range_start')}…{run.tags.get('dagster/asset_partition_range_end')}"
        if run.tags.get("dagster/asset_partition_range_start") else None
    )
    for check in failed_blocking_checks(context.instance, run.run_id):
        title = f"{check['asset']} {check['partition'] or ''} の {check['check']} が不合格: {check['description']}"
        sender.send(Notice("check_failed", title, {**check, "run_id": run.run_id, "job": run.job_name}))
    message = context.failure_event.message or ""
    title = f"{run.job_name}" + (f" [{partition}]" if partition else "") + f" が失敗しました（run {run.run_id[:8]}）"
    sender.send(Notice("run_failed", title, {"run_id": run.run_id, "job": run.job_name, "partition": partition, "error": message, "tags": dict(run.tags)}))
    context.log.info(f"notified: run {run.run_id} failed")



@dg.sensor(
    name="late_feed_sensor",
    minimum_interval_seconds=3600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="翌月の所定日（既定は20日）を過ぎても読み込まれていないフィードを「未着」として通知します。",
)
def late_feed_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource, notifier: NotifierResource):
    reported: list[str] = json.loads(context.cursor) if context.cursor else []
    wh = warehouse.get()
    late_day = notifier.deadline_day
    now = dt.datetime.now(dt.timezone.utc)
    loads = wh.loads()
    first = first_data_month(loads) or (first_month() if is_configured("KENPO_FIRST_MONTH") else None)
    if first is None:
        return dg.SkipReason("no feed file has arrived yet: no month is late")
    first = max(first, FIRST_MONTH)
    picture = feed_month_picture(loads, None, months_due(now, late_day, first))
    has_load = picture["current_load_id"].notna()
    loaded = set(zip(picture.loc[has_load, "feed"], picture.loc[has_load, "month"]))
    late = late_feed_months(now, loaded, list(FEED_IDS), late_day, first)
    new = [(f, m) for f, m in late if f"{f}:{m}" not in reported]
    if not new:
        return dg.SkipReason(f"{len(late)} late feed-month(s), none new" if late else "no late feed")
    is_rejected = picture["status"] == FeedMonthStatus.REJECTED.value
    rejected = dict(zip(zip(picture.loc[is_rejected, "feed"], picture.loc[is_rejected, "month"]), picture.loc[is_rejected, "reason"]))
    items = []
    for feed, month in new:
        item = {"feed": feed, "feed_ja": feed_layout(feed).name_ja, "month": month, "deadline": deadline(month, late_day).isoformat()}
        if (feed, month) in rejected:
            item["last_rejection"] = rejected[(feed, month)]
        items.append(item)
        context.log.warning(f"late: {feed} {month} not loaded by {item['deadline']}" + (f" (last file rejected: {item['last_rejection']})" if "last_rejection" in item else ""))
    listed = "、".join(f"{i['feed_ja']} {month_label(i['month'])}" for i in items[:10]) + (f" ほか{len(items) - 10}件" if len(items) > 10 else "")
    notifier.get().send(Notice("feed_late", f"{len(items)}件のフィードが期限（翌月{late_day}日）を過ぎても未着です: {listed}", {"late": items}))
    context.update_cursor(json.dumps(sorted(set(reported) | {f"{f}:{m}" for f, m in new})))
    return dg.SkipReason(f"notified {len(items)} late feed-month(s)")


@dg.definitions
def notification_definitions() -> dg.Definitions:
    return dg.Definitions(sensors=[run_failure_notifier, late_feed_sensor])
