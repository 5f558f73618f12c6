"""The landing sensor: a run for each new or corrected feed file (on by default).

Every tick scans ``<landing>/<feed>/<YYYYMM>.csv|xlsx``. A file whose SHA-256 equals the current load
of its feed-month is already loaded and is left alone; any other file gets a run of that feed's
partition (and the month's aggregate), with run key ``<feed>:<month>:<sha256>`` — so the same file
never runs twice and a corrected file always does. A file that is not a feed-month (a name that is
not a month, a folder that is not a feed, a month outside the partitions) is reported in the
sensor's log and skipped. Checksums are cached in the cursor by (size, mtime), so an unchanged
landing area costs a directory listing, not a re-read of every file.

The landing contract (``domain.landing``) holds here as in a load: work files (``.part``, ``~$…``)
are not looked at, and a file that has not been unchanged for the settle time, or that changes
while it is hashed, gets no run yet — a later tick requests it once it has settled.
"""

import json

import dagster as dg

from kenpo_pipeline.defs.partitions import monthly_partitions
from kenpo_pipeline.defs.resources import LandingResource, WarehouseResource
from kenpo_pipeline.defs.schedules import monthly_feeds_job
from kenpo_pipeline.domain.intake.landing import FileNotReady, check_settled, scan_landing, sha256_settled
from kenpo_pipeline.settings import load_settings


NOTHING_NEW = "新しいフィードファイル・訂正されたフィードファイルはありません"


def run_key(feed: str, month: str, sha256: str) -> str:
    return f"{feed}:{month}:{sha256}"


@dg.sensor(
    job=monthly_feeds_job,
    minimum_interval_seconds=load_settings().landing_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="ランディング領域を監視し、新しい・訂正されたフィードファイルごとにその月を読み込みます。",
)
def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingResource, warehouse: WarehouseResource):
    cache: dict[str, list] = json.loads(context.cursor) if context.cursor else {}
    settle = landing.settle_time
    scan = scan_landing(landing.root)
    for path, reason in scan.problems:
        context.log.warning(f"skipped {path}: {reason}")
    partitions = set(monthly_partitions.get_partition_keys())
    wh = warehouse.get()
    requests, seen, waiting = [], {}, []
    for (feed, month), files in sorted(scan.files.items()):
        if month not in partitions:
            for f in files:
                context.log.warning(f"skipped {f}: {month} is not a monthly partition yet (months end at the last complete month)")
            continue
        for f in files:
            key = str(f)
            try:
                stat = check_settled(f, settle)
                cached = cache.get(key)
                if cached and cached[:2] == [stat.st_size, stat.st_mtime_ns]:
                    sha = cached[2]
                else:
                    sha, stat = sha256_settled(f, settle)
            except FileNotReady as exc:
                context.log.info(f"not yet: {f} — {exc.reason}")
                waiting.append(f)
                continue
            except FileNotFoundError:
                continue  # gone since the listing
            seen[key] = [stat.st_size, stat.st_mtime_ns, sha]
            current = wh.current_load(feed, month)
            if current and current["sha256"] == sha and len(files) == 1:
                continue  # already the current load
            requests.append(
                dg.RunRequest(
                    run_key=run_key(feed, month, sha),
                    partition_key=month,
                    asset_selection=[dg.AssetKey(feed), dg.AssetKey("monthly_aggregates")],
                    tags={"kenpo/source": "landing_sensor", "kenpo/file": key},
                )
            )
    if not requests:
        reason = f"書き込み中のファイルが {len(waiting)} 件あります（変化がなくなってから読み込みます）" if waiting else NOTHING_NEW
        return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=json.dumps(seen))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen))


@dg.definitions
def sensor_definitions() -> dg.Definitions:
    return dg.Definitions(sensors=[landing_sensor])
