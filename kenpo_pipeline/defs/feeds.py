"""The four feed loaders: one monthly-partitioned asset per feed, each with its checks.

Per month: find ``<landing>/<feed>/<YYYYMM>.csv|xlsx``, take it only when complete and stable
(``domain.landing``: settled, read once), parse and validate those bytes (GX suite), then replace
the month in the warehouse in one transaction — or reject it and keep the previous load. A file
still being written is *not ready*: nothing is loaded or recorded, the previous load stays, and the
month fails in this run like a missing file (the landing sensor requests it once it has settled).

Checks (evaluated in the same step, per month):
- ``accepted`` (blocking): the gate. Passes when the month's file loaded (quarantined rows
  included) or is unchanged; fails with ERROR when the month is unusable (rejected: too many bad
  rows or a file error; no file; or a file still being written). Steps downstream in the same run stop on it, and the
  automation downstream (defs/automation.py) waits for it to pass.
- ``row_rules``: the feed's GX suite, expectation by expectation. Passes when no row broke a rule;
  fails with WARN when rows went to quarantine (the month still loads, downstream continues);
  fails with ERROR when the month was rejected. It is not the gate, because Dagster's automation
  cannot tell a WARN from an ERROR: a month with one quarantined row must still flow downstream.
- ``consistency``: the cross-row rules GX cannot express (screenings: equal eligible populations,
  missing programs/branches; indicators: missing rows, subordinate rows without their total;
  benefits/claims_review: branches with no rows). WARN only.

Range runs (a backfill of a fiscal year runs as a single run): every month is processed on its
own. If every month loads, the step materializes the range and then records each month's own
materialization and check results. If any month is rejected or missing, the months that loaded are
recorded as materialized one by one, the step then fails naming the rejected months — so the
rejected month shows as failed in the UI, the others as materialized, and ``kenpo run`` exits 1.
"""


from typing import Optional

import dagster as dg
import pandas as pd

from kenpo_pipeline.defs.partitions import monthly_partitions
from kenpo_pipeline.defs.resources import LandingResource, WarehouseResource
from kenpo_pipeline.domain.reporting import markdown
from kenpo_pipeline.domain.reference import FEED_IDS, feed_layout
from kenpo_pipeline.domain.intake.status import OUTCOME_KEY
from kenpo_pipeline.warehouse.loading import MonthResult, load_feed_month

ACCEPTED = "accepted"
ROW_RULES = "row_rules"
CONSISTENCY = "consistency"
PREVIEW_ROWS = 5
QUARANTINE_LISTED = 20

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


def _md(frame: pd.DataFrame) -> str:
    return markdown.table(frame)


def month_metadata(result: MonthResult) -> dict:
    cur = result.current or {}
    meta: dict = {
        "month": result.month,
        "status": result.status,
        "load_id": cur.get("load_id"),
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
        meta["preview"] = dg.MetadataValue.md(_md(c.frame.head(PREVIEW_ROWS).astype("string")))
        if c.warnings:
            meta["warnings"] = dg.MetadataValue.md(markdown.bullets(c.warnings))
    else:
        meta["note"] = result.message
    return meta


def _expectation_table(result: MonthResult) -> pd.DataFrame:
    rows = [
        {
            "rule": e.rule,
            "expectation": e.expectation_type,
            "columns": ", ".join(e.columns),
            "success": "✅" if e.success else "❌",
            "unexpected": e.unexpected_count,
            "rows": e.element_count,
            "理由": e.reason_ja,
        }
        for e in result.check.suite.expectations
    ]
    return pd.DataFrame(rows)


def row_rules_evaluation(result: MonthResult) -> tuple[bool, dg.AssetCheckSeverity, dict, str]:
    """(passed, severity, metadata, description) of the ``row_rules`` check for one month."""
    if result.status == "unchanged":
        q = int((result.current or {}).get("rows_quarantined") or 0)
        return (
            q == 0,
            dg.AssetCheckSeverity.WARN,
            {"month": result.month, "rows_quarantined": q, "note": result.message},
            f"{result.month}: unchanged file, {q} row(s) in quarantine from load {result.current['load_id']}",
        )
    if result.check is None:  # file error or missing file: the month is unusable
        return False, dg.AssetCheckSeverity.ERROR, {"month": result.month, "reason": result.message}, f"{result.month}: {result.message}"
    c = result.check
    meta = {
        "month": result.month,
        "suite": c.suite.suite_name,
        "expectations": dg.MetadataValue.md(_md(_expectation_table(result))),
        "expectations_failed": sum(not e.success for e in c.suite.expectations),
        "rows_read": c.rows_read,
        "rows_quarantined": c.rows_quarantined,
        "per_expectation": dg.MetadataValue.json(
            {e.rule: {"success": e.success, "unexpected_count": e.unexpected_count, "element_count": e.element_count} for e in c.suite.expectations}
        ),
    }
    if c.quarantine:
        listed = pd.DataFrame(
            [{"行": q.row_number, "列": q.column_name, "値": q.value, "理由": q.reason} for q in c.quarantine[:QUARANTINE_LISTED]]
        )
        meta["quarantined_rows"] = dg.MetadataValue.md(
            markdown.paragraphs(_md(listed), f"…ほか {c.rows_quarantined - QUARANTINE_LISTED:,} 行" if c.rows_quarantined > QUARANTINE_LISTED else "")
        )
    if result.status == "rejected":
        meta["reason"] = result.message
        return False, dg.AssetCheckSeverity.ERROR, meta, f"{result.month}: rejected — {result.message}"
    if c.quarantine:
        return False, dg.AssetCheckSeverity.WARN, meta, f"{result.month}: {c.rows_quarantined:,} row(s) quarantined, the rest loaded"
    return True, dg.AssetCheckSeverity.WARN, meta, f"{result.month}: every row passed"


def accepted_evaluation(result: MonthResult) -> tuple[bool, dg.AssetCheckSeverity, dict, str]:
    """(passed, severity, metadata, description) of the blocking ``accepted`` check for one month."""
    cur = result.current or {}
    meta = {"month": result.month, "status": result.status, "load_id": cur.get("load_id"), "sha256": cur.get("sha256", ""),
            OUTCOME_KEY: dg.MetadataValue.json(result.report().to_json())}
    if result.ok:
        q = int(cur.get("rows_quarantined") or 0)
        return True, dg.AssetCheckSeverity.ERROR, meta, f"{result.month}: {result.status}" + (f" ({q:,} row(s) in quarantine)" if q else "")
    meta["reason"] = result.message
    if cur:
        meta["kept_load"] = f"load {cur.get('load_id')} stays the month's data"
    return False, dg.AssetCheckSeverity.ERROR, meta, f"{result.month}: {result.status} — {result.message}"


def consistency_evaluation(result: MonthResult) -> tuple[bool, dict, str] | None:
    if result.check is None or result.status == "rejected":
        return None
    findings = result.check.findings
    meta = {"month": result.month, "findings": len(findings)}
    if findings:
        meta["details"] = dg.MetadataValue.md(markdown.bullets([f.message for f in findings], max_items=100))
    return (not findings, meta, f"{result.month}: {len(findings)} finding(s)" if findings else f"{result.month}: consistent")


def build_feed_asset(feed: str) -> dg.AssetsDefinition:
    layout = feed_layout(feed)

    @dg.asset(
        name=feed,
        group_name="feeds",
        partitions_def=monthly_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool="warehouse",
        kinds={"pandas", "sql"},
        owners=["team:data-operations"],
        tags={"layer": "feed"},
        description=f"{layout.name_ja}（{feed}）: {layout.description_ja} ランディング領域の `{feed}/YYYYMM.csv|xlsx` を読み込み、検証して倉庫に月単位で置き換えます。",
        metadata={"dagster/column_schema": column_schema(feed), "feed_name": layout.name_ja},
        check_specs=[
            dg.AssetCheckSpec(
                ACCEPTED,
                asset=feed,
                blocking=True,
                partitions_def=monthly_partitions,
                description=f"{layout.name_ja} のその月のファイルが受け入れられたか（却下・未着で不合格）。下流の更新はこのチェックの合格を待ちます。",
            ),
            dg.AssetCheckSpec(
                ROW_RULES,
                asset=feed,
                partitions_def=monthly_partitions,
                description=f"{layout.name_ja} の行ルール（Great Expectations スイート expectations/{feed}.json）。違反行は隔離、多すぎる場合はファイルを却下。",
            ),
            dg.AssetCheckSpec(
                CONSISTENCY,
                asset=feed,
                partitions_def=monthly_partitions,
                description=f"{layout.name_ja} の行をまたぐ整合性（支部・項目の欠落など）。警告のみ。",
            ),
        ],
    )
    def _feed_asset(context: dg.AssetExecutionContext, config: FeedLoadConfig, landing: LandingResource, warehouse: WarehouseResource):
        with warehouse.transient_errors_retried(context):
            wh = warehouse.get()
            months = list(context.partition_keys)
            results: list[MonthResult] = []
            for i, month in enumerate(months, start=1):
                r = load_feed_month(
                    wh, landing.root, feed, month, landing.max_bad_row_share, run_id=context.run_id, force=config.force,
                    settle_seconds=landing.settle_seconds if config.settle_seconds is None else config.settle_seconds,
                    log=lambda msg, month=month: context.log.info(f"{feed} {month}: {msg}"),
                )
                if r.check is not None:
                    r.check.release_rows(PREVIEW_ROWS)  # loaded (or rejected): keep counts and a preview only
                results.append(r)
                context.log.info(f"[{i}/{len(months)}] {feed} {month}: {r.status} — {r.message}")

            failed = [r for r in results if not r.ok]
            single = context.has_partition_key and not failed

            def per_month_events():
                for r in results:
                    passed, severity, meta, desc = accepted_evaluation(r)
                    context.log_event(
                        dg.AssetCheckEvaluation(
                            asset_key=context.asset_key, check_name=ACCEPTED, passed=passed, severity=severity,
                            metadata=meta, description=desc, partition=r.month, blocking=True,
                        )
                    )
                    passed, severity, meta, desc = row_rules_evaluation(r)
                    context.log_event(
                        dg.AssetCheckEvaluation(
                            asset_key=context.asset_key, check_name=ROW_RULES, passed=passed, severity=severity,
                            metadata=meta, description=desc, partition=r.month,
                        )
                    )
                    cons = consistency_evaluation(r)
                    if cons is not None:
                        context.log_event(
                            dg.AssetCheckEvaluation(
                                asset_key=context.asset_key, check_name=CONSISTENCY, passed=cons[0], severity=dg.AssetCheckSeverity.WARN,
                                metadata=cons[1], description=cons[2], partition=r.month,
                            )
                        )
                    if r.ok:
                        context.log_event(dg.AssetMaterialization(asset_key=context.asset_key, partition=r.month, metadata=month_metadata(r)))

            if failed:
                per_month_events()
                lines = [f"{r.month}: {r.message}" for r in failed]
                raise dg.Failure(
                    description=f"{len(failed)} of {len(months)} month(s) of {feed} not loaded: " + " | ".join(lines),
                    metadata={"not_loaded": dg.MetadataValue.md(markdown.bullets(lines)), "loaded": len(months) - len(failed)},
                    allow_retries=False,
                )

            if single:
                r = results[0]
                checks = []
                for name, evaluate in ((ACCEPTED, accepted_evaluation), (ROW_RULES, row_rules_evaluation)):
                    passed, severity, meta, desc = evaluate(r)
                    checks.append(dg.AssetCheckResult(check_name=name, passed=passed, severity=severity, metadata=meta, description=desc))
                cons = consistency_evaluation(r)
                if cons is not None:
                    checks.append(dg.AssetCheckResult(check_name=CONSISTENCY, passed=cons[0], severity=dg.AssetCheckSeverity.WARN, metadata=cons[1], description=cons[2]))
                else:
                    checks.append(dg.AssetCheckResult(check_name=CONSISTENCY, passed=True, severity=dg.AssetCheckSeverity.WARN, metadata={"note": r.message}, description="unchanged file"))
                yield dg.MaterializeResult(metadata=month_metadata(r), check_results=checks, data_version=dg.DataVersion((r.current or {}).get("sha256") or r.month))
                return

            summary = pd.DataFrame(
                [
                    {
                        "month": r.month,
                        "status": r.status,
                        "rows_read": int((r.current or {}).get("rows_read") or 0),
                        "rows_loaded": int((r.current or {}).get("rows_loaded") or 0),
                        "rows_quarantined": int((r.current or {}).get("rows_quarantined") or 0),
                        "expectations_failed": sum(not e.success for e in r.check.suite.expectations) if r.check else None,
                        "findings": len(r.check.findings) if r.check else None,
                    }
                    for r in results
                ]
            )
            quarantined = int(summary["rows_quarantined"].sum())
            consistent = all((consistency_evaluation(r) or (True,))[0] for r in results)
            span = f"{months[0]}…{months[-1]}"
            table = dg.MetadataValue.md(_md(summary))
            yield dg.MaterializeResult(
                metadata={"months": table, "dagster/row_count": int(summary["rows_loaded"].sum()), "rows_quarantined": quarantined},
                check_results=[
                    dg.AssetCheckResult(
                        check_name=ACCEPTED, passed=True, severity=dg.AssetCheckSeverity.ERROR, metadata={"months": table},
                        description=f"range {span} ({len(results)} months): every month accepted",
                    ),
                    dg.AssetCheckResult(
                        check_name=ROW_RULES, passed=quarantined == 0, severity=dg.AssetCheckSeverity.WARN,
                        metadata={"months": table, "rows_quarantined": quarantined},
                        description=f"range {span} ({len(results)} months) in one run; each month's own result is under Partitions",
                    ),
                    dg.AssetCheckResult(
                        check_name=CONSISTENCY, passed=consistent, severity=dg.AssetCheckSeverity.WARN,
                        metadata={"months": table},
                        description=f"range {span} ({len(results)} months) in one run; each month's own result is under Partitions",
                    ),
                ],
            )
            per_month_events()

    return _feed_asset


feed_assets = [build_feed_asset(feed) for feed in FEED_IDS]


@dg.definitions
def feed_definitions() -> dg.Definitions:
    return dg.Definitions(assets=feed_assets)
