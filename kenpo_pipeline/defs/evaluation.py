"""The PDCA evaluation: each fiscal year's KPIs judged against its plans (shared spec/kpis.md §4–§6).

``pdca_evaluation`` (fiscal year) reads that year's ``kpi_actuals`` and the previous year's (the
previous-year targets come from it), the year's catalog and manual entries. A corrected month
therefore changes its own year's evaluation and the next year's. The evaluation's as-of month is the
latest month of the year for which all four feeds are loaded; before the judgement month every row
is 判定不能 with ``年度途中（…時点）``.
"""

import dagster as dg
import pandas as pd

from kenpo_pipeline.defs.defaults import fiscal_year_asset
from kenpo_pipeline.defs.kpis import kpi_actuals
from kenpo_pipeline.defs.partitions import fiscal_years_of
from kenpo_pipeline.defs.resources import CatalogResource, WarehouseResource
from kenpo_pipeline.domain.reporting.evidence import evidence_blocks, evidence_markdown
from kenpo_pipeline.domain.reporting import markdown
from kenpo_pipeline.domain.reporting.presentation import branch_matrix_markdown, evaluation_markdown
from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label, month_label
from kenpo_pipeline.domain.kpis.aggregates import evaluation_as_of
from kenpo_pipeline.domain.kpis.comparison import COLUMNS as COMPARISON_COLUMNS, branch_comparison
from kenpo_pipeline.domain.kpis.judgement import EVALUATION_COLUMNS, evaluate
from kenpo_pipeline.domain.kpis.projection import add_projection, project
from kenpo_pipeline.domain.kpis.publication import differences
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_name


@fiscal_year_asset(
    group="kpis",
    deps=[dg.AssetDep(kpi_actuals, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1))],
    description="PDCA評価: 年度の事業計画（本部・支部）の各KPIについて、目標・実績・達成状況（達成／未達成／判定不能）・前年度実績を判定します。",
)
def pdca_evaluation(context: dg.AssetExecutionContext, warehouse: WarehouseResource, catalogs: CatalogResource) -> dg.MaterializeResult:
    with warehouse.session(context) as wh:
        all_catalogs = catalogs.load()
        metadata: dict = {}
        total = 0
        for fy in fiscal_years_of(context):
            catalog = all_catalogs.get(fy)
            aggregates = wh.read_columns("monthly_aggregates", ["month", "input"], month=fiscal_months(fy))  # the loaded markers
            as_of = evaluation_as_of(fy, aggregates)
            if catalog is None or as_of is None:
                wh.replace("pdca_evaluation", {"fiscal_year": fy}, pd.DataFrame(columns=EVALUATION_COLUMNS))
                wh.replace("branch_comparison", {"fiscal_year": fy}, pd.DataFrame(columns=COMPARISON_COLUMNS))
                why = "no catalog (事業計画未登録)" if catalog is None else "no month with all four feeds loaded"
                context.log.info(f"{fiscal_year_label(fy)}: nothing to evaluate — {why}")
                metadata[f"FY{fy}"] = why
                continue
            actuals = wh.read_rows("kpi_actuals", fiscal_year=fy)
            prior = wh.read_rows("kpi_actuals", fiscal_year=fy - 1)
            loads = wh.loads()
            table, warnings = evaluate(fy, catalog, actuals, prior, as_of)
            if as_of != fiscal_months(fy)[-1]:  # during the year: the projected year-end and its outlook
                table = add_projection(table, project(fy, actuals, prior, as_of))
            total += wh.replace("pdca_evaluation", {"fiscal_year": fy}, table)
            comparison = branch_comparison(table, actuals, prior)  # ranks of the branches on each KPI's measure
            wh.replace("branch_comparison", {"fiscal_year": fy}, comparison)
            for w in warnings:
                context.log.warning(w)
            counts = table.groupby(["plan", "status"]).size().unstack(fill_value=0)
            context.log.info(f"{fiscal_year_label(fy)} as of {as_of}: {len(table)} rows")
            metadata[f"FY{fy}_as_of"] = month_label(as_of)
            metadata[f"FY{fy}_status"] = dg.MetadataValue.md(markdown.table(counts, index=True))
            publication, published = wh.latest_publication(fy)
            shown = table
            if publication is not None:  # the UI shows the published figures, recomputed differences beside them
                diffs = differences(published, table)
                shown = published.merge(diffs, on=["branch_code", "kpi_id"], how="left").rename(columns={"difference": "再計算との差異"})
                metadata[f"FY{fy}_published_version"] = f"第{publication['version']}版 {publication['published_at']:%Y-%m-%d} {publication['published_by']}"
                metadata[f"FY{fy}_differences_from_published"] = len(diffs)
                if len(diffs):
                    context.log.warning(f"FY{fy}: {len(diffs)} recomputed row(s) differ from published version {publication['version']}; the published figures stand")
                    metadata[f"FY{fy}_differences"] = dg.MetadataValue.md(markdown.table(diffs, max_rows=100))
            metadata[f"FY{fy}_branch_matrix"] = dg.MetadataValue.md(branch_matrix_markdown(shown))
            if "projected_status" in table and table["projected_status"].astype(object).fillna("").ne("").any():
                outlook = table[table["projected_status"].astype(object).fillna("") != ""].groupby(["plan", "projected_status"]).size().unstack(fill_value=0)
                metadata[f"FY{fy}_outlook"] = dg.MetadataValue.md(markdown.table(outlook, index=True))
            national = shown[shown["branch_code"] == NATIONAL_CODE]
            if len(national):
                metadata[f"FY{fy}_national"] = dg.MetadataValue.md(evaluation_markdown(national))
                blocks = evidence_blocks(national.sort_values("kpi_order").to_dict("records"), actuals, loads)
                metadata[f"FY{fy}_national_evidence"] = dg.MetadataValue.md(
                    "\n\n---\n\n".join(evidence_markdown(b) for b in blocks if b is not None) or "_(測定値によるKPIなし)_"
                )
            for code in sorted(set(shown["branch_code"]) - {NATIONAL_CODE}):  # every evaluated branch, whichever plan applies
                metadata[branch_key(fy, code)] = dg.MetadataValue.md(evaluation_markdown(shown[shown["branch_code"] == code]))
            if warnings:
                metadata[f"FY{fy}_warnings"] = dg.MetadataValue.md(markdown.bullets(warnings, max_items=50))
        metadata["dagster/row_count"] = total
        return dg.MaterializeResult(metadata=metadata)


def branch_key(fy: int, code: str) -> str:
    """The metadata label of a branch's evaluation table (its name, so the UI's key filter finds it)."""
    return f"FY{fy}_branch_{code} {branch_name(code)}"


@dg.definitions
def evaluation_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[pdca_evaluation])
