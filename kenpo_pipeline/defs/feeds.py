"""The four feed loaders: one monthly-partitioned asset per feed, with its three partitioned checks.

Per month: find ``<landing>/<feed>/<YYYYMM>.csv|xlsx``, take it only when complete and stable, parse
and validate it, then replace the month in the warehouse in one transaction — or reject it and keep
the previous load (``warehouse.loading.load_feed_month``). A file still being written is *not
ready*: nothing changes, and the month fails in this run like a missing file.

Checks (``accepted`` — the blocking gate —, ``row_rules``, ``consistency``; what each means is in
``domain/intake/checks.py``): every month of the run gets one verdict per check
(``feed_month_verdicts``, a pure function of the month's outcome), emitted by one adapter
(``record_checks``) as a Dagster check evaluation *of that month's partition*, after the month's
materialization and targeting it (or, for a month this run did not load, the materialization the
month still has) — so the check's Partitions tab and the sidebar of a month show that month's
latest verdict, and a rejected month shows ``accepted`` failed. A check that could not run on this
attempt is not a failure: it shows the verdict it gave the load the month still holds (found in
the instance by its 取込ID), or passes with 未実施 when there is none.

Single month: the month's materialization, then its checks. Range runs (a backfill of a fiscal year
is a single run): every month is processed on its own; each month that loaded is materialized with
its own metadata and checked; if any month is rejected or missing the step then fails naming those
months (downstream steps of the run stop, ``kenpo run`` exits 1); otherwise the range is
materialized as the step's output first.
"""

from typing import Optional

import dagster as dg
import pandas as pd
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationTargetMaterializationData
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from kenpo_pipeline.defs.defaults import monthly_asset
from kenpo_pipeline.defs.partitions import monthly_partitions, months_of
from kenpo_pipeline.defs.resources import LandingResource, WarehouseResource
from kenpo_pipeline.domain.calendar import month_label
from kenpo_pipeline.domain.intake import checks
from kenpo_pipeline.domain.intake.checks import CHECK_NAMES, LOAD_ID, CheckVerdict, check_description, feed_month_verdicts, is_blocking
from kenpo_pipeline.domain.reference import FEED_IDS, feed_layout
from kenpo_pipeline.domain.reporting import markdown
from kenpo_pipeline.domain.intake.pool import MIN_FILES, IntakeQueue, shared_pool, shutdown_pool, worth_workers
from kenpo_pipeline.warehouse.loading import MonthResult, intake_jobs, load_feed_month

PREVIEW_ROWS = 5
CARRIED = "取込時の結果"
"""Metadata label of a carried verdict: the description the check gave the load when it ran."""

_SQL_TYPE_NAMES = {
    "branch_code": "text",
    "code": "text (code: NFKC)",
    "text": "text (as sent)",
    "date": "date",
    "month": "text (YYYY-MM)",
    "integer": "integer",
    "number": "number",
}


def _bounds(c) -> list[str]:
    """The layout's plausible range of a column, as shown in the column schema."""
    shown = lambda v: f"{v:,.0f}" if isinstance(v, (int, float)) else str(v)  # noqa: E731
    return [f"{label} {shown(v)}" for label, v in (("≥", c.min), ("≤", c.max)) if v is not None]


class FeedLoadConfig(dg.Config):
    force: bool = False
    """Re-validate and reload even when the file's SHA-256 equals the current load (e.g. after a
    change to the expectation suite)."""
    settle_seconds: Optional[float] = None
    """How long a landed file must have been unchanged to be taken; empty = the landing resource's
    (``KENPO_LANDING_SETTLE_SECONDS``). ``kenpo demo`` sets 0 for the files it has just written."""


def column_schema(feed: str) -> dg.TableSchema:
    layout = feed_layout(feed)
    cols = [
        dg.TableColumn(
            c.canonical, _SQL_TYPE_NAMES[c.type], description=c.name,
            constraints=dg.TableColumnConstraints(nullable=not c.required, other=_bounds(c)),
        )
        for c in layout.columns
    ]
    cols += [
        dg.TableColumn("month", "text (YYYY-MM)", description="対象月"),
        dg.TableColumn("load_id", "integer", description="feed_loads.load_id"),
        dg.TableColumn("source_row", "integer", description="ファイル上の行番号"),
    ]
    return dg.TableSchema(columns=cols)


def month_metadata(result: MonthResult) -> dict:
    """The metadata of a month's materialization (identifiers as text: nothing the UI would plot)."""
    cur = result.current or {}
    meta: dict = {
        "month": result.month,
        "status": result.status,
        "load_id": dg.MetadataValue.text(str(cur.get("load_id") or "—")),
        "sha256": cur.get("sha256", ""),
        "file": dg.MetadataValue.path(cur.get("path") or result.path or ""),
        "rows_read": int(cur.get("rows_read") or 0),
        "rows_loaded": int(cur.get("rows_loaded") or 0),
        "rows_quarantined": int(cur.get("rows_quarantined") or 0),
        "dagster/row_count": int(cur.get("rows_loaded") or 0),
        "dagster/column_schema": column_schema(result.feed),
    }
    if result.check is not None:
        c = result.check
        meta["format"] = f"{c.file_format}" + (f" ({c.encoding})" if c.encoding else "")
        meta["preview"] = dg.MetadataValue.md(markdown.table(c.frame.head(PREVIEW_ROWS).astype("string")))
        if c.warnings:
            meta["warnings"] = dg.MetadataValue.md(markdown.bullets(c.warnings))
    else:
        meta["note"] = result.message
    return meta


def range_metadata(results: list[MonthResult]) -> dict:
    """The metadata of a range materialization: one row per month."""
    summary = pd.DataFrame(
        [
            {
                "対象月": r.month,
                "状態": r.report().status.label_ja,
                "読込行数": int((r.current or {}).get("rows_read") or 0),
                "取込行数": int((r.current or {}).get("rows_loaded") or 0),
                "隔離行数": int((r.current or {}).get("rows_quarantined") or 0),
            }
            for r in results
        ]
    )
    return {"months": dg.MetadataValue.md(markdown.table(summary)), "dagster/row_count": int(summary["取込行数"].sum()),
            "rows_quarantined": int(summary["隔離行数"].sum())}


# --- the one adapter from verdicts to Dagster check evaluations ------------------------------------


def dagster_metadata(metadata: dict) -> dict[str, dg.MetadataValue]:
    """A verdict's plain metadata as Dagster metadata (Markdown escaped by ``reporting.markdown``)."""
    out: dict[str, dg.MetadataValue] = {}
    for label, value in metadata.items():
        if isinstance(value, checks.Table):
            out[label] = dg.MetadataValue.md(markdown.paragraphs(markdown.table(value.frame), markdown.escape(value.more) if value.more else ""))
        elif isinstance(value, checks.Bullets):
            out[label] = dg.MetadataValue.md(markdown.bullets(value.items, max_items=100))
        elif isinstance(value, checks.Json):
            out[label] = dg.MetadataValue.json(value.value)
        elif isinstance(value, checks.FilePath):
            out[label] = dg.MetadataValue.path(value.path)
        elif isinstance(value, bool) or not isinstance(value, int):
            out[label] = dg.MetadataValue.text(str(value))
        else:
            out[label] = dg.MetadataValue.int(value)
    return out


def latest_materialization(instance: dg.DagsterInstance, asset_key: dg.AssetKey, month: str):
    """The month's latest materialization as a check's target (None: the month has none)."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[month]), limit=1).records
    if not records:
        return None
    r = records[0]
    return AssetCheckEvaluationTargetMaterializationData(storage_id=r.storage_id, run_id=r.run_id, timestamp=r.timestamp)


def verdict_of_load(instance: dg.DagsterInstance, key: dg.AssetCheckKey, month: str, load_id: int | None):
    """The latest evaluation of the check ``key`` for ``month`` that describes load ``load_id`` (one
    that ran, or one that carried such a verdict), or None."""
    if load_id is None:
        return None
    history = instance.event_log_storage.get_asset_check_execution_history(
        key, limit=100, partition_filter=PartitionKeyFilter(key=month),
        status={AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED},
    )
    for record in history:
        evaluation = record.event.dagster_event.event_specific_data if record.event and record.event.dagster_event else None
        if evaluation is None or getattr(evaluation.metadata.get(LOAD_ID), "value", None) != str(load_id):
            continue
        if checks.EVALUATED not in evaluation.metadata or CARRIED in evaluation.metadata:
            return evaluation
    return None


def check_evaluation(instance: dg.DagsterInstance, asset_key: dg.AssetKey, month: str, verdict: CheckVerdict, target) -> dg.AssetCheckEvaluation:
    """One verdict as the check evaluation of the month's partition, targeting ``target``."""
    key = dg.AssetCheckKey(asset_key, verdict.check)
    passed, severity, description = verdict.passed, dg.AssetCheckSeverity(verdict.severity.value), verdict.description
    metadata = dagster_metadata(verdict.metadata)
    previous = None if verdict.evaluated else verdict_of_load(instance, key, month, verdict.load_id)
    if previous is not None:  # the month still holds that load: show what the check found in it
        ran = previous.metadata.get(CARRIED)
        ran = ran.value if ran is not None else previous.description
        passed, severity = previous.passed, previous.severity
        description = f"{verdict.description} 取込時（load {verdict.load_id}）の結果: {ran}"
        metadata = {**previous.metadata, **metadata, CARRIED: dg.MetadataValue.text(ran)}
    return dg.AssetCheckEvaluation(
        asset_key=asset_key, check_name=verdict.check, passed=passed, severity=severity, description=description,
        metadata=metadata, target_materialization_data=target, partition=month, blocking=verdict.blocking,
    )


def record_checks(context: dg.AssetExecutionContext, result: MonthResult) -> None:
    """Log the month's three check evaluations (after its materialization, if any: they target it)."""
    target = latest_materialization(context.instance, context.asset_key, result.month)
    for verdict in feed_month_verdicts(result.report(), result.check):
        context.log_event(check_evaluation(context.instance, context.asset_key, result.month, verdict, target))


def check_outputs(context: dg.AssetExecutionContext):
    """The (empty) step outputs of the selected checks. Their evaluations are the per-month events of
    :func:`record_checks`; Dagster still requires each selected check's output of a step that
    succeeds (an ``AssetCheckResult`` would add an evaluation of the whole step's partition range)."""
    for key in sorted(context.selected_asset_check_keys, key=lambda k: k.name):
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))


# --- the intake workers ----------------------------------------------------------------------------

IN_PROCESS_EXECUTORS = frozenset({"execute_in_process_executor", "in_process"})
"""Executors that run every step of a run in the run's process (``kenpo run``, ``dg.materialize``)."""

_RUN_QUEUES: dict[str, IntakeQueue | None] = {}
"""The intake queue of the run this process executes (None: the run checks in-process)."""


def run_feeds_in_order(context: dg.AssetExecutionContext) -> list[str]:
    """The run's feed steps, in the order the executor will run them."""
    steps = context.get_step_execution_context().plan_data.execution_plan.get_steps_to_execute_in_topo_order()
    return [s.key for s in steps if s.key in FEED_IDS]


def run_force(context: dg.AssetExecutionContext, feed: str) -> bool:
    """The ``force`` config the run gives ``feed``'s step."""
    ops = (context.run.run_config or {}).get("ops") or {}
    return bool(((ops.get(feed) or {}).get("config") or {}).get("force", False))


def intake_queue(context: dg.AssetExecutionContext, feed: str, months: list[str], config: FeedLoadConfig, landing: LandingResource,
                 wh) -> IntakeQueue | None:
    """The intake queue this step checks its months with, or None (checked in the step's process).

    With ``KENPO_INTAKE_WORKERS`` ≥ 1 and, together, at least two files and
    ``KENPO_INTAKE_PARALLEL_MIN_BYTES`` to check: when the run's steps execute in this process
    (``kenpo run``), the run's first feed step queues every selected feed's months of the run (each
    feed with its own ``force``), in the order the steps will take them, and the later feed steps
    take their checks from that queue; under the multiprocess executor (a run from the UI) each step
    process queues its own months only."""
    workers = landing.workers
    if workers < 1:
        return None
    run_id = context.run.run_id
    shared = context.job_def.executor_def.name in IN_PROCESS_EXECUTORS
    if shared and run_id in _RUN_QUEUES:
        queue = _RUN_QUEUES[run_id]
        if queue is None or queue.closed:
            return None
        queue.log = context.log.info
        return queue
    feeds = run_feeds_in_order(context) if shared else [feed]
    feeds = feeds if feed in feeds else [feed, *feeds]
    force = {f: config.force if f == feed else run_force(context, f) for f in feeds}
    jobs = intake_jobs(wh, landing.root, [(f, m, force[f]) for f in feeds for m in months], landing.bad_row_limit)
    total = sum(j.size for j in jobs)
    queue = None
    if worth_workers(len(jobs), total, landing.parallel_min_bytes):
        pool = shared_pool(workers)
        queue = IntakeQueue(pool, jobs, window=workers, log=context.log.info) if pool is not None else None
        context.log.info(f"intake pool: {len(jobs)} files ({total:,} bytes) of {', '.join(feeds)} checked ahead by {workers} workers")
    else:
        context.log.info(f"intake pool: not used ({len(jobs)} files, {total:,} bytes; used from {MIN_FILES} files and {landing.parallel_min_bytes:,} bytes)")
    if shared:
        for old in _RUN_QUEUES.values():  # one run at a time in a process
            if old is not None:
                old.close()
        _RUN_QUEUES.clear()
        _RUN_QUEUES[run_id] = queue
    return queue


# --- the assets ------------------------------------------------------------------------------------


def build_feed_asset(feed: str) -> dg.AssetsDefinition:
    layout = feed_layout(feed)

    @monthly_asset(
        group="feeds",
        name=feed,
        description=f"{layout.name_ja}（{feed}）: {layout.description_ja} ランディング領域の `{feed}/YYYYMM.csv|xlsx` を読み込み、検証して倉庫に月単位で置き換えます。",
        metadata={"dagster/column_schema": column_schema(feed), "feed_name": layout.name_ja},
        check_specs=[
            dg.AssetCheckSpec(name, asset=feed, blocking=is_blocking(name), partitions_def=monthly_partitions, description=check_description(name, feed))
            for name in CHECK_NAMES
        ],
    )
    def _feed_asset(context: dg.AssetExecutionContext, config: FeedLoadConfig, landing: LandingResource, warehouse: WarehouseResource):
        months = months_of(context)
        settle = landing.settle_time if config.settle_seconds is None else config.settle_seconds
        results: list[MonthResult] = []
        with warehouse.session(context) as wh:
            root, limit = landing.root, landing.bad_row_limit
            queue = intake_queue(context, feed, months, config, landing, wh)
            try:
                for i, month in enumerate(months, start=1):
                    r = load_feed_month(
                        wh, root, feed, month, limit, run_id=context.run.run_id, force=config.force, settle_seconds=settle,
                        log=lambda msg, month=month: context.log.info(f"{feed} {month}: {msg}"), checker=queue.check if queue else None,
                    )
                    if queue is not None:
                        queue.release(feed, month)
                    if r.check is not None:
                        r.check.release_rows(PREVIEW_ROWS)  # loaded (or rejected): keep counts and a preview only
                    results.append(r)
                    context.log.info(f"[{i}/{len(months)}] {feed} {month}: {r.status} — {r.message}")
            except BaseException as exc:
                if queue is not None:
                    queue.close()
                    if not isinstance(exc, Exception):  # a stop (Ctrl-C, SIGTERM): the workers end too
                        shutdown_pool(kill=True)
                raise

        failed = [r for r in results if not r.ok]
        if not failed:  # the step's output: the month, or the range
            single = results[0] if context.has_partition_key else None
            yield dg.MaterializeResult(
                metadata=month_metadata(single) if single else range_metadata(results),
                data_version=dg.DataVersion((single.current or {}).get("sha256") or single.month) if single else None,
            )
        for r in results:
            if r.ok and not context.has_partition_key:
                context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=r.month, metadata=month_metadata(r)))
            record_checks(context, r)
        if failed:
            lines = [f"{month_label(r.month)}: {r.message}" for r in failed]
            raise dg.Failure(
                description=f"{layout.name_ja}（{feed}）: {len(months)} か月のうち {len(failed)} か月を取り込めませんでした: " + " ／ ".join(lines),
                # "not_loaded" is how a run's reader tells a rejected month from an unexpected failure
                metadata={"not_loaded": dg.MetadataValue.md(markdown.bullets(lines)), "loaded": len(months) - len(failed)},
                allow_retries=False,
            )
        yield from check_outputs(context)

    return _feed_asset


feed_assets = [build_feed_asset(feed) for feed in FEED_IDS]


@dg.definitions
def feed_definitions() -> dg.Definitions:
    return dg.Definitions(assets=feed_assets)
