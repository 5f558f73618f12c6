"""Data quality per fiscal year: every feed × month at a glance (group ``checks``).

The per-month verdicts come from the feed assets' checks (``row_rules``, ``consistency``); this asset
summarises a fiscal year from ``feed_loads`` and ``quarantine`` for operators and auditors.
"""

import dagster as dg
import pandas as pd

from kenpo_pipeline.defs.defaults import fiscal_year_asset
from kenpo_pipeline.defs.kpis import monthly_aggregates
from kenpo_pipeline.defs.partitions import fiscal_years_of
from kenpo_pipeline.defs.resources import WarehouseResource
from kenpo_pipeline.domain.reporting import markdown
from kenpo_pipeline.domain.calendar import fiscal_months, month_label_ja
from kenpo_pipeline.domain.intake.status import PICTURE_LEGEND, FeedMonthStatus, feed_month_picture, picture_grid

QUALITY_COLUMNS = ["fiscal_year", "month", "feed", "status", "load_id", "sha256", "rows_read", "rows_loaded", "rows_quarantined", "warnings", "top_reasons"]


def summarise(fy: int, loads: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    """The ``data_quality`` rows of a fiscal year: the feed × month picture (a rejected month's
    reason stands where a loaded month's most frequent quarantine reasons stand)."""
    picture = feed_month_picture(loads, quarantine, fiscal_months(fy))
    rejected = picture["status"] == FeedMonthStatus.REJECTED.value
    picture.loc[rejected, "top_reasons"] = picture.loc[rejected, "reason"]
    picture.loc[rejected, "rows_loaded"] = 0
    return picture.assign(fiscal_year=fy)[QUALITY_COLUMNS]


def matrix_markdown(summary: pd.DataFrame) -> str:
    grid = picture_grid(summary)
    grid.index = [month_label_ja(m) for m in grid.index]
    return markdown.paragraphs(markdown.table(grid, index=True), markdown.escape(PICTURE_LEGEND))


@fiscal_year_asset(
    group="checks",
    deps=[dg.AssetDep(monthly_aggregates, partition_mapping=dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True))],
    description="データ品質一覧: 年度の各フィード×月について、取込・却下・未着、隔離行数と主な理由をまとめます（各月の詳細はフィードのチェック結果）。",
)
def data_quality(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.session(context) as wh:
        loads = wh.loads()
        metadata: dict = {}
        total = 0
        for fy in fiscal_years_of(context):
            months = fiscal_months(fy)
            summary = summarise(fy, loads, wh.read_table("quarantine", month=months))
            total += wh.replace("data_quality", {"fiscal_year": fy}, summary)
            metadata[f"FY{fy}"] = dg.MetadataValue.md(matrix_markdown(summary))
            metadata[f"FY{fy}_not_loaded"] = int((summary["status"] != FeedMonthStatus.LOADED.value).sum())
            metadata[f"FY{fy}_rows_quarantined"] = int(summary["rows_quarantined"].fillna(0).sum())
        metadata["dagster/row_count"] = total
        return dg.MaterializeResult(metadata=metadata)


@dg.definitions
def quality_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[data_quality])
