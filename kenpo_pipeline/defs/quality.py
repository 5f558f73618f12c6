"""Data quality per fiscal year: every feed × month at a glance (group ``checks``).

The per-month verdicts come from the feed assets' checks (``row_rules``, ``consistency``); this asset
summarises a fiscal year from ``feed_loads`` and ``quarantine`` for operators and auditors. Its
materialization's metadata opens with the feed × month grid (現金給付 / 再審査 / 健診 / 指標 ×
months) of the year and of the previous year, which the asset's overview page shows as it is: a
month before the first month any file arrived is blank, not 未着, and is not counted.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd

from kenpo_pipeline.defs.defaults import fiscal_year_asset
from kenpo_pipeline.defs.kpis import monthly_aggregates
from kenpo_pipeline.defs.partitions import TIMEZONE, fiscal_years_of
from kenpo_pipeline.defs.resources import WarehouseResource
from kenpo_pipeline.domain.reporting import markdown
from kenpo_pipeline.domain.calendar import add_months, fiscal_months, fiscal_year_label_ja, month_label_ja
from kenpo_pipeline.domain.intake.status import (
    PICTURE_LEGEND, FeedMonthStatus, feed_month_picture, first_data_month, not_expected_legend, picture_grid, status_counts,
)
from kenpo_pipeline.domain.reference import FEED_IDS, FEED_SHORT_JA

QUALITY_COLUMNS = ["fiscal_year", "month", "feed", "status", "load_id", "sha256", "rows_read", "rows_loaded", "rows_quarantined", "warnings", "top_reasons"]


def summarise(fy: int, loads: pd.DataFrame, quarantine: pd.DataFrame) -> pd.DataFrame:
    """The ``data_quality`` rows of a fiscal year: the feed × month picture (a rejected month's
    reason stands where a loaded month's most frequent quarantine reasons stand)."""
    picture = feed_month_picture(loads, quarantine, fiscal_months(fy))
    rejected = picture["status"] == FeedMonthStatus.REJECTED.value
    picture.loc[rejected, "top_reasons"] = picture.loc[rejected, "reason"]
    picture.loc[rejected, "rows_loaded"] = 0
    return picture.assign(fiscal_year=fy)[QUALITY_COLUMNS]


def matrix_markdown(summary: pd.DataFrame, first_month: str | None, last_month: str | None = None) -> str:
    """The feed × month grid of a fiscal year (months down, 現金給付 / 再審査 / 健診 / 指標 across),
    the year's counts and the legend. Months before ``first_month`` (the first month any file
    arrived) or after ``last_month`` (the last month that is over) are blank and not counted."""
    grid = picture_grid(summary, first_month=first_month, last_month=last_month, blank_unexpected=True)
    grid.index = [month_label_ja(m) for m in grid.index]
    grid.columns = [FEED_SHORT_JA[f] for f in FEED_IDS]
    grid.index.name = "対象月"
    counts = "　".join(f"{label} {n}" for label, n in status_counts(summary, first_month, last_month).items())
    legend = PICTURE_LEGEND
    if "" in grid.to_numpy():
        legend += "　" + not_expected_legend(first_month, month_label_ja)
    return markdown.paragraphs(markdown.table(grid, index=True), markdown.escape(f"フィード月: {counts}"), markdown.escape(legend))


def last_month_over(now: dt.datetime | None = None) -> str:
    """The last month that is over (Asia/Tokyo)."""
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(ZoneInfo(TIMEZONE))
    return add_months(f"{now.year:04d}-{now.month:02d}", -1)


@fiscal_year_asset(
    group="checks",
    deps=[dg.AssetDep(monthly_aggregates, partition_mapping=dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True))],
    description="データ品質一覧: 年度の各フィード×月について、取込・却下・未着、隔離行数と主な理由をまとめます（各月の詳細はフィードのチェック結果）。",
)
def data_quality(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.session(context) as wh:
        loads = wh.loads()
        first, last = first_data_month(loads), last_month_over()
        years = fiscal_years_of(context)
        summaries: dict[int, pd.DataFrame] = {}
        total = 0
        for fy in years:
            summaries[fy] = summarise(fy, loads, wh.read_table("quarantine", month=fiscal_months(fy)))
            total += wh.replace("data_quality", {"fiscal_year": fy}, summaries[fy])
        previous = years[0] - 1  # shown beside the year, newest first: the picture an operator needs
        if previous not in summaries and first is not None and fiscal_months(previous)[-1] >= first:
            summaries[previous] = summarise(previous, loads, wh.read_table("quarantine", month=fiscal_months(previous)))
        metadata: dict = {}
        for fy in sorted(summaries, reverse=True):
            metadata[grid_key(fy)] = dg.MetadataValue.md(matrix_markdown(summaries[fy], first, last))
        for fy in years:
            counts = status_counts(summaries[fy], first, last)
            metadata[f"FY{fy}_not_loaded"] = counts[FeedMonthStatus.REJECTED.label_ja] + counts[FeedMonthStatus.MISSING.label_ja]
            metadata[f"FY{fy}_rows_quarantined"] = int(summaries[fy]["rows_quarantined"].fillna(0).sum())
        metadata["dagster/row_count"] = total
        return dg.MaterializeResult(metadata=metadata)


def grid_key(fy: int) -> str:
    """The metadata label of a fiscal year's feed × month grid."""
    return f"{fiscal_year_label_ja(fy)}（FY{fy}）フィード×月"


@dg.definitions
def quality_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[data_quality])
