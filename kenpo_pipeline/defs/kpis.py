"""KPI actuals: the monthly aggregate (the only step that reads feed rows) and ``kpi_actuals``.

- ``monthly_aggregates`` (monthly): per branch and month, the sums and counts every measure needs,
  from the current load of each feed (a feed not loaded for the month is simply absent).
- ``kpi_actuals`` (fiscal year): every as-of month of the year, every branch and ``00``, every
  measure, computed from that year's aggregates and written whole (replacing the year). Dagster
  cannot express "April up to this month" as a partition mapping, so the fiscal year depends on all
  its months and computes each as-of month itself. The year in progress is a partition too.
"""

import dagster as dg
import pandas as pd

from kenpo_pipeline.defs.defaults import fiscal_year_asset, monthly_asset
from kenpo_pipeline.defs.partitions import fiscal_years_of, months_of
from kenpo_pipeline.defs.resources import WarehouseResource
from kenpo_pipeline.domain.reporting import markdown
from kenpo_pipeline.domain.kpis.aggregates import READS, aggregate_month
from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label, month_label
from kenpo_pipeline.domain.kpis.measures import MEASURES, compute_actuals
from kenpo_pipeline.domain.reference import FEED_IDS, NATIONAL_CODE


@monthly_asset(
    group="kpis",
    deps=list(FEED_IDS),
    owners=["team:data-operations"],
    description="月次集計: 読み込み済みの各フィードを支部×月の件数・合計に縮約します（フィードの行を読むのはここだけ）。",
)
def monthly_aggregates(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.session(context) as wh:
        summary = []
        for month in months_of(context):
            feeds = {}
            for feed in FEED_IDS:
                current = wh.current_load(feed, month)
                feeds[feed] = wh.read_columns(feed, READS[feed], month=month) if current else None
            frame = aggregate_month(month, feeds)
            n = wh.replace("monthly_aggregates", {"month": month}, frame)
            loaded = [f for f, rows in feeds.items() if rows is not None]
            summary.append({"month": month, "feeds_loaded": ", ".join(loaded) or "—", "inputs": n})
            context.log.info(f"{month}: {n} aggregate values from {', '.join(loaded) or 'no loaded feed'}")
        table = pd.DataFrame(summary)
        return dg.MaterializeResult(
            metadata={"months": dg.MetadataValue.md(markdown.table(table)), "dagster/row_count": int(table["inputs"].sum())}
        )


def national_table(actuals: pd.DataFrame, as_of: str) -> pd.DataFrame:
    rows = actuals[(actuals["as_of_month"] == as_of) & (actuals["branch_code"] == NATIONAL_CODE)].set_index("measure")
    out = []
    for m in MEASURES:
        if m.id not in rows.index:
            continue
        r = rows.loc[m.id]
        value = r["value"]
        shown = "—" if pd.isna(value) else f"{value:,.{m.precision}f}{m.unit if m.unit != '%' else '%'}"
        out.append({"指標": m.name_ja, "値": shown, "対象月数": int(r["months_covered"]), "完全": "○" if r["complete"] else "×"})
    return pd.DataFrame(out)


@fiscal_year_asset(
    group="kpis",
    deps=[dg.AssetDep(monthly_aggregates, partition_mapping=dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True))],
    description="KPI実績: 年度の各月時点（4月〜当月の累計・月末値）の全指標を、支部別と協会全体（00）について計算します。",
)
def kpi_actuals(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.session(context) as wh:
        years = fiscal_years_of(context)
        written = 0
        metadata: dict = {"fiscal_years": ", ".join(fiscal_year_label(fy) for fy in years)}
        for fy in years:
            actuals = compute_actuals(fy, wh.read_table("monthly_aggregates", month=fiscal_months(fy)))
            written += wh.replace("kpi_actuals", {"fiscal_year": fy}, actuals)
            as_of = actuals["as_of_month"].max() if len(actuals) else None
            context.log.info(f"{fiscal_year_label(fy)}: {len(actuals):,} actuals, as of {as_of or '— (no data)'}")
            if len(years) == 1 and as_of:
                metadata["as_of_month"] = month_label(as_of)
                metadata["national"] = dg.MetadataValue.md(markdown.table(national_table(actuals, as_of)))
        metadata["dagster/row_count"] = written
        return dg.MaterializeResult(metadata=metadata)


@dg.definitions
def kpi_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[monthly_aggregates, kpi_actuals])
