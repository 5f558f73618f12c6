"""インセンティブ制度: ``incentive_ranking``, each branch's standing in the incentive ranking, month by month.

Fiscal-year partitioned like ``kpi_actuals``: it reads that year's and the previous year's
``kpi_actuals`` (the improvement 伸び is against the previous year) and the year's scoring file
``incentive/FY<year>.yaml`` in the catalog folder, and writes the year's rows of the warehouse table
``incentive_ranking`` whole (every as-of month × branch × indicator; the method is in
``domain/kpis/incentive.py``). A corrected month therefore changes its own year's ranking and the
next year's. The catalog folder is checked as a whole first, as for the evaluation: a problem in any
catalog, Action Plan or scoring file fails the step with the list of problems.
"""


import dagster as dg
import pandas as pd

from kenpo_pipeline.defs.defaults import fiscal_year_asset
from kenpo_pipeline.defs.partitions import fiscal_years_of
from kenpo_pipeline.defs.kpis import kpi_actuals
from kenpo_pipeline.defs.resources import CatalogResource, WarehouseResource, catalog_failure
from kenpo_pipeline.domain.calendar import fiscal_year_label, month_label
from kenpo_pipeline.domain.kpis.catalog import INCENTIVE_FOLDER, CatalogError, require_incentive_schemes
from kenpo_pipeline.domain.kpis.incentive import RANKING_COLUMNS, UNKNOWN, ranking_table
from kenpo_pipeline.domain.reporting import incentive as presentation
from kenpo_pipeline.domain.reporting import markdown


@fiscal_year_asset(
    group="kpis",
    deps=[dg.AssetDep(kpi_actuals, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1))],
    description=(
        "インセンティブ制度の順位: 年度の各月時点で、47支部の評価指標（特定健診等の実施率・特定保健指導の実施率・"
        "特定保健指導対象者の減少率・要治療者の医療機関受診率・後発医薬品の使用割合）の実績と前年度同月からの伸びを"
        "偏差値にして重み付けで合計し、順位と報奨対象（上位の支部）を求めます。年度途中は年度末見込みでの順位も求めます。"
        "重みと報奨対象支部数は KPIカタログの incentive/FY<年度>.yaml（協会が定めるもの）。算出できない支部は判定不能（理由付き）。"
    ),
)
def incentive_ranking(context: dg.AssetExecutionContext, warehouse: WarehouseResource, catalogs: CatalogResource) -> dg.MaterializeResult:
    with warehouse.session(context) as wh:
        catalogs.load()  # the catalog folder as a whole: a problem anywhere stops it, as for the evaluation
        try:
            schemes = require_incentive_schemes(catalogs.folder)
        except CatalogError as exc:  # only if a file changed since the check above
            raise catalog_failure(catalogs.path, exc.problems) from None
        metadata: dict = {}
        written = 0
        for fy in fiscal_years_of(context):
            scheme = schemes.get(fy)
            if scheme is None:
                wh.replace("incentive_ranking", {"fiscal_year": fy}, pd.DataFrame(columns=RANKING_COLUMNS))
                metadata[f"FY{fy}"] = f"評価方法のファイル（{INCENTIVE_FOLDER}/FY{fy}.yaml）がないため、順位を求めていません"
                context.log.info(f"{fiscal_year_label(fy)}: no scoring file {INCENTIVE_FOLDER}/FY{fy}.yaml — nothing ranked")
                continue
            measures = [ind.measure for ind in scheme.indicators]
            actuals = wh.read_table("kpi_actuals", fiscal_year=fy, measure=measures)
            prior = wh.read_table("kpi_actuals", fiscal_year=fy - 1, measure=measures)
            table = ranking_table(fy, actuals, prior, scheme)
            written += wh.replace("incentive_ranking", {"fiscal_year": fy}, table)
            if table.empty:
                metadata[f"FY{fy}"] = "KPI実績がまだありません"
                context.log.info(f"{fiscal_year_label(fy)}: no kpi_actuals yet — nothing ranked")
                continue
            as_of = presentation.latest_as_of(table)
            latest = table[table["as_of_month"] == as_of].drop_duplicates("branch_code")
            unknown = int((latest["status"] == UNKNOWN).sum())
            context.log.info(f"{fiscal_year_label(fy)} as of {as_of}: {len(latest) - unknown} branches ranked, {unknown} 判定不能")
            metadata[f"FY{fy}_as_of"] = month_label(as_of)
            metadata[f"FY{fy}_scheme"] = (
                f"{scheme.title or INCENTIVE_FOLDER + '/' + scheme.path.name}（{scheme.status}）: "
                f"上位{scheme.rewarded_branches}支部が報奨対象、指標 {len(scheme.indicators)} 項目"
            )
            metadata[f"FY{fy}_ranked"] = len(latest) - unknown
            metadata[f"FY{fy}_unknown"] = unknown
            metadata[f"FY{fy}_ranking"] = dg.MetadataValue.md(
                markdown.paragraphs(markdown.escape(presentation.title(table, as_of)), presentation.ranking_markdown(table, as_of))
            )
            if latest["projected_status"].notna().any():
                metadata[f"FY{fy}_projected_ranking"] = dg.MetadataValue.md(
                    markdown.paragraphs(
                        markdown.escape(presentation.title(table, as_of, projected=True)),
                        presentation.ranking_markdown(table, as_of, projected=True),
                    )
                )
        metadata["dagster/row_count"] = written
        return dg.MaterializeResult(metadata=metadata)


@dg.definitions
def incentive_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[incentive_ranking])
