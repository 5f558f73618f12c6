"""The PDCA workbooks: one national and one per branch, per fiscal year (``$KENPO_REPORTS``)."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from kenpo_pipeline.defs.defaults import fiscal_year_asset, kenpo_asset
from kenpo_pipeline.defs.evaluation import pdca_evaluation
from kenpo_pipeline.defs.incentive import incentive_ranking
from kenpo_pipeline.defs.kpis import kpi_actuals
from kenpo_pipeline.defs.partitions import fiscal_years_of
from kenpo_pipeline.defs.resources import CatalogResource, ReportsResource, WarehouseResource
from kenpo_pipeline.domain.reporting import markdown
from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_codes
from kenpo_pipeline.domain.kpis.action_plan import VIEW_COLUMNS, action_plan_of, three_year_view, wide
from kenpo_pipeline.domain.kpis.publication import differences
from kenpo_pipeline.domain.reporting.workbook import write_workbook
from kenpo_pipeline.warehouse.commentary import commentary_by_ids, latest_commentary


class WorkbookConfig(dg.Config):
    branches: list[str] = []
    """Only these scopes ("00" = national); all 48 when empty."""
    out_dir: str = ""
    """Write here instead of KENPO_REPORTS."""


@fiscal_year_asset(
    group="reports",
    # the three-year sheet is read from the action_plan_view table: the view is materialized first
    deps=[pdca_evaluation, kpi_actuals, incentive_ranking, dg.AssetKey("action_plan_view")],
    pool=None,  # writes files only: not held back by the warehouse's pool
    kinds={"excel"},
    description="PDCA評価ワークブック: 協会全体（pdca_FY2024.xlsx）と各支部（pdca_FY2024_22.xlsx）。KPI実績一覧表・支部別・月次推移・3か年計画・インセンティブ（制度の順位）・根拠・データ品質・差戻しリストの各シート。",
)
def pdca_workbooks(
    context: dg.AssetExecutionContext, config: WorkbookConfig, warehouse: WarehouseResource, catalogs: CatalogResource, reports: ReportsResource
) -> dg.MaterializeResult:
    with warehouse.session(context) as wh:
        all_catalogs = catalogs.load()
        action_plans = catalogs.load_action_plans()
        out = Path(config.out_dir) if config.out_dir else reports.root
        scopes = config.branches or [NATIONAL_CODE, *branch_codes()]
        loads = wh.loads()
        written: list[Path] = []
        for fy in fiscal_years_of(context):
            evaluation = wh.read_table("pdca_evaluation", fiscal_year=fy)
            publication, published = wh.latest_publication(fy)
            diffs = None
            if publication is not None:  # the workbook shows the published figures; recomputations beside them
                diffs = differences(published, evaluation)
                evaluation = published
                context.log.info(f"FY{fy}: published version {publication['version']}, {len(diffs)} difference(s) with the recomputation")
            actuals = wh.read_table("kpi_actuals", fiscal_year=fy)
            quarantine = wh.read_table("quarantine")
            quarantine = quarantine[quarantine["month"].isin(set(fiscal_months(fy)))] if len(quarantine) else quarantine
            catalog = all_catalogs.get(fy)
            action_plan = action_plan_of(fy, action_plans)
            views = wh.read_table("action_plan_view", action_plan=action_plan.name) if action_plan else None
            if action_plan and views.empty:
                context.log.warning(f"action_plan_view holds no rows of {action_plan.name}: materialize action_plan_view for the three-year sheet")
            incentive = wh.read_table("incentive_ranking", fiscal_year=fy)
            comparison = wh.read_table("branch_comparison", fiscal_year=fy)  # written with the evaluation: ranks, national values
            if publication is not None:  # the published workbook shows the commentary as it was published
                commentary = commentary_by_ids(wh, json.loads(publication.get("commentary_ids") or "[]"))
            else:
                commentary = latest_commentary(wh, fy)
            for code in scopes:
                plan = catalog.plan_for(code) if catalog else None
                national = catalog.national if catalog else None
                title = None
                if plan is not None:
                    title = _with_status(plan)
                elif national is not None and code != NATIONAL_CODE:
                    title = f"{_with_status(national)}の目標を適用"
                three_years = None
                if action_plan:
                    three_years = (action_plan.name, wide(views[views["branch_code"] == code]) if len(views) else None)
                pub = (publication, diffs) if publication is not None else None
                written.append(write_workbook(out, fy, code, evaluation, actuals, loads, title, three_years, pub, quarantine, incentive,
                                              commentary[commentary["branch_code"] == code], comparison))
            context.log.info(f"{fiscal_year_label(fy)}: {len(scopes)} workbook(s) in {out}")
        national_paths = [p for p in written if p.name.count("_") == 1]
        metadata = {"workbooks": len(written), "folder": dg.MetadataValue.path(str(out))}
        if national_paths:
            metadata["national_workbook"] = dg.MetadataValue.path(str(national_paths[-1]))
        return dg.MaterializeResult(metadata=metadata)


def _with_status(plan) -> str:
    """The plan's title with its status, once: a title printed with （案） or (案) keeps it as it is."""
    if plan.title.endswith((f"（{plan.status}）", f"({plan.status})")):
        return plan.title
    return f"{plan.title}（{plan.status}）"


@kenpo_asset(
    group="reports",
    deps=[pdca_evaluation, kpi_actuals],
    description="3か年アクションプラン一覧: 保険者機能強化アクションプラン（KPIカタログの AP5.yaml・AP6.yaml など。第5期＝令和3〜5年度、第6期＝令和6〜8年度）の各KPIについて、アクションプラン自体の目標と、各年度の事業計画の目標・実績・達成状況を並べ、推移を示します。",
)
def action_plan_view(context: dg.AssetExecutionContext, warehouse: WarehouseResource, catalogs: CatalogResource) -> dg.MaterializeResult:
    with warehouse.session(context) as wh:
        all_catalogs = catalogs.load()
        action_plans = catalogs.load_action_plans()
        parts = []
        metadata: dict = {}
        for action_plan in action_plans:
            evaluations = wh.read_table("pdca_evaluation", fiscal_year=list(action_plan.years))
            # a year's actuals where it has no evaluation of a KPI, and the year before the plan (the first trend arrow)
            actuals = wh.read_columns("kpi_actuals", ["fiscal_year", "as_of_month", "branch_code", "measure", "value"],
                                      fiscal_year=[action_plan.years[0] - 1, *action_plan.years])
            views = [three_year_view(action_plan, all_catalogs, evaluations, code, actuals) for code in [NATIONAL_CODE, *branch_codes()]]
            parts += views
            national = views[0]
            if len(national):
                metadata[action_plan.name] = dg.MetadataValue.md(markdown.table(wide(national)))
        view = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=VIEW_COLUMNS)
        n = wh.replace("action_plan_view", {}, view)  # the whole table: a plan removed from the catalogs leaves no rows
        context.log.info(f"{n} rows across {len(action_plans)} action plans")
        metadata["dagster/row_count"] = n
        return dg.MaterializeResult(metadata=metadata)


@dg.definitions
def report_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[pdca_workbooks, action_plan_view])
