"""Data quality per fiscal year: every feed × month at a glance (group ``checks``).

The per-month verdicts come from the feed assets' checks (``row_rules``, ``consistency``); this asset
summarises a fiscal year from ``feed_loads`` and ``quarantine`` for operators and auditors.
"""

import json

import dagster as dg
import pandas as pd

from kenpo_pipeline.defs.automation import follows_loaded_months
from kenpo_pipeline.defs.kpis import monthly_aggregates
from kenpo_pipeline.defs.partitions import fiscal_year_partitions
from kenpo_pipeline.defs.resources import WarehouseResource
from kenpo_pipeline.domain import markdown
from kenpo_pipeline.domain.calendar import fiscal_months, month_label_ja
from kenpo_pipeline.domain.reference import FEED_IDS

SYMBOLS = {"loaded": "○", "quarantined": "△", "rejected": "×", "missing": "－"}


def summarise(fy: int, loads: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for month in fiscal_months(fy):
        for feed in FEED_IDS:
            attempts = loads[(loads["feed"] == feed) & (loads["month"] == month)].sort_values("load_id")
            current = attempts[attempts["status"] == "loaded"]
            latest = attempts.iloc[-1] if len(attempts) else None
            if len(current) and (latest is None or latest["status"] != "rejected"):
                c = current.iloc[-1]
                q = quarantine[(quarantine["feed"] == feed) & (quarantine["month"] == month)]
                reasons = q["reason"].value_counts().head(3)
                rows.append({"fiscal_year": fy, "month": month, "feed": feed, "status": "loaded", "load_id": int(c["load_id"]),
                             "sha256": c["sha256"], "rows_read": int(c["rows_read"]), "rows_loaded": int(c["rows_loaded"]),
                             "rows_quarantined": int(c["rows_quarantined"]), "warnings": len(json.loads(c["warnings"] or "[]")),
                             "top_reasons": "；".join(f"{r}（{n}）" for r, n in reasons.items())})
            elif latest is not None and latest["status"] == "rejected":
                rows.append({"fiscal_year": fy, "month": month, "feed": feed, "status": "rejected", "load_id": int(latest["load_id"]),
                             "sha256": latest["sha256"], "rows_read": int(latest["rows_read"]), "rows_loaded": 0,
                             "rows_quarantined": int(latest["rows_quarantined"]), "warnings": 0, "top_reasons": latest["reason"]})
            else:
                rows.append({"fiscal_year": fy, "month": month, "feed": feed, "status": "missing", "load_id": None, "sha256": None,
                             "rows_read": None, "rows_loaded": None, "rows_quarantined": None, "warnings": None, "top_reasons": ""})
    return pd.DataFrame(rows)


def matrix_markdown(summary: pd.DataFrame) -> str:
    def symbol(r):
        if r["status"] == "loaded" and (r["rows_quarantined"] or 0) > 0:
            return f"{SYMBOLS['quarantined']} {int(r['rows_quarantined'])}"
        return SYMBOLS[r["status"]]

    grid = summary.assign(cell=summary.apply(symbol, axis=1)).pivot(index="month", columns="feed", values="cell")[list(FEED_IDS)]
    grid.index = [month_label_ja(m) for m in grid.index]
    return markdown.paragraphs(markdown.table(grid, index=True), markdown.escape("○ 取込済　△ 取込済（隔離行あり：件数）　× 却下（前回の取込を維持）　－ 未着"))


@dg.asset(
    automation_condition=follows_loaded_months(),
    group_name="checks",
    pool="warehouse",
    partitions_def=fiscal_year_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetDep(monthly_aggregates, partition_mapping=dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True))],
    kinds={"pandas", "sql"},
    owners=["team:data-operations"],
    tags={"layer": "quality"},
    description="データ品質一覧: 年度の各フィード×月について、取込・却下・未着、隔離行数と主な理由をまとめます（各月の詳細はフィードのチェック結果）。",
)
def data_quality(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.transient_errors_retried(context):
        wh = warehouse.get()
        loads = wh.loads()
        metadata: dict = {}
        total = 0
        for fy in sorted({int(k) for k in context.partition_keys}):
            months = fiscal_months(fy)
            summary = summarise(fy, loads, wh.read_table("quarantine", month=months))
            total += wh.replace("data_quality", {"fiscal_year": fy}, summary)
            metadata[f"FY{fy}"] = dg.MetadataValue.md(matrix_markdown(summary))
            metadata[f"FY{fy}_not_loaded"] = int((summary["status"] != "loaded").sum())
            metadata[f"FY{fy}_rows_quarantined"] = int(summary["rows_quarantined"].fillna(0).sum())
        metadata["dagster/row_count"] = total
        return dg.MaterializeResult(metadata=metadata)


@dg.definitions
def quality_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[data_quality])
