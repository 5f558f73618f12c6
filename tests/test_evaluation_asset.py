"""pdca_evaluation through Dagster: scopes, in-year rows, manual entries, and corrections."""

import dagster as dg

from conftest import dagster_resources
import pytest

from kenpo_pipeline.defs.evaluation import pdca_evaluation
from kenpo_pipeline.defs.feeds import feed_assets
from kenpo_pipeline.defs.kpis import kpi_actuals, monthly_aggregates
from kenpo_pipeline.domain.intake.landing import find_feed_file
from kenpo_pipeline.domain.intake.sample import write_sample
from kenpo_pipeline.warehouse.store import Warehouse

pytestmark = pytest.mark.warehouse  # runs on SQLite and on PostgreSQL (see conftest.py)




def load(settings, instance, first, last):
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.materialize([*feed_assets, monthly_aggregates], instance=instance, resources=dagster_resources(settings), tags=tags)


def year(settings, instance, fy):
    return dg.materialize([kpi_actuals, pdca_evaluation], instance=instance, resources=dagster_resources(settings), partition_key=str(fy))


@pytest.fixture
def two_years(kenpo_env, dagster_instance, request):
    """FY2023 and FY2024 of the sample data, loaded and evaluated (a copy of the session's build:
    tests marked ``sample_years`` start from it)."""
    assert request.node.get_closest_marker("sample_years"), "a test using two_years is marked sample_years"
    return Warehouse(kenpo_env.warehouse_url)


@pytest.mark.sample_years
def test_scopes_of_fy2024_and_fy2023(two_years, dagster_instance):
    wh = two_years
    fy24 = wh.read_table("pdca_evaluation", fiscal_year=2024)
    plans = fy24.groupby("branch_code")["plan"].first()
    assert plans["00"] == "本部" and plans["04"] == "支部" and plans["13"] == "本部目標を適用"
    sizes = fy24.groupby("branch_code").size()
    assert sizes["00"] == 18 and sizes["04"] == 16 and sizes["13"] == 15  # 15 per_branch KPIs of the national plan
    assert set(fy24["status"]) <= {"達成", "未達成", "判定不能"}
    assert (fy24[fy24["status"] == "判定不能"]["reason"] != "").all()
    assert set(fy24["as_of_month"]) == {"2025-03"}
    fy23 = wh.read_table("pdca_evaluation", fiscal_year=2023)
    assert set(fy23["branch_code"]) == {"22"} and len(fy23) == 19  # only Shizuoka has a FY2023 plan
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("pdca_evaluation")).asset_materialization
    assert mat.partition == "2024" and "具体的施策" in mat.metadata["FY2024_national"].value
    # every evaluated branch has its table, whichever plan applies (issue 12 §13), its name in the label
    assert {"FY2024_branch_04 宮城支部", "FY2024_branch_13 東京支部", "FY2024_branch_22 静岡支部"} <= set(mat.metadata)
    assert sum(k.startswith("FY2024_branch_") and k != "FY2024_branch_matrix" for k in mat.metadata) == 47
    assert "本部目標を適用" in mat.metadata["FY2024_branch_matrix"].value and "東京支部" in mat.metadata["FY2024_branch_matrix"].value


@pytest.mark.sample_years
def test_data_quality_summarises_the_year(two_years, kenpo_env, dagster_instance):
    from kenpo_pipeline.defs.quality import data_quality

    dg.materialize([data_quality], instance=dagster_instance, resources=dagster_resources(kenpo_env), partition_key="2024")
    summary = two_years.read_table("data_quality", fiscal_year=2024)
    assert len(summary) == 48 and set(summary["status"]) == {"loaded"}
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("data_quality")).asset_materialization
    # the feed × month grids of the year and of the previous year, Japanese feed names across (issue 12 §12)
    assert list(mat.metadata)[:2] == ["令和6年度（FY2024）フィード×月", "令和5年度（FY2023）フィード×月"]
    grid = mat.metadata["令和6年度（FY2024）フィード×月"].value
    assert grid.startswith("| 対象月 | 現金給付 | 再審査 | 健診 | 指標 |") and "| 令和6年4月 | ○ | ○ | ○ | ○ |" in grid
    assert "取込済 48" in grid and "未着 0" in grid and mat.metadata["FY2024_not_loaded"].value == 0
    graph_groups = {"feeds", "checks", "kpis", "reports"}
    from kenpo_pipeline.definitions import defs

    groups = {spec.group_name for spec in defs().resolve_all_asset_specs()}
    assert groups == graph_groups


def test_in_year_evaluation_is_not_judged(kenpo_env, dagster_instance):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04", "2024-05", "2024-06"])
    (find_feed_file(kenpo_env.landing, "screenings", "2024-06")).unlink()
    tags = {"dagster/asset_partition_range_start": "2024-04", "dagster/asset_partition_range_end": "2024-06"}
    dg.materialize([*feed_assets, monthly_aggregates], instance=dagster_instance, resources=dagster_resources(kenpo_env), tags=tags, raise_on_error=False)
    dg.materialize([monthly_aggregates], instance=dagster_instance, resources=dagster_resources(kenpo_env), tags=tags)
    year(kenpo_env, dagster_instance, 2024)
    table = Warehouse(kenpo_env.warehouse_url).read_table("pdca_evaluation", fiscal_year=2024)
    assert set(table["as_of_month"]) == {"2024-05"}  # the latest month with all four feeds loaded
    assert set(table["status"]) == {"判定不能"} and set(table["reason"]) == {"年度途中（令和6年5月時点）"}
    # during the year each KPI with a numeric target shows its projected year-end and outlook
    numeric = table[table["target_value"].notna() & table["projected_value"].notna()]
    assert len(numeric) > 0 and set(numeric["projected_status"]) <= {"見込み達成", "要注意"}
    assert (numeric["projected_text"] != "").all()
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("pdca_evaluation")).asset_materialization
    assert "見込み" in mat.metadata["FY2024_outlook"].value or "要注意" in mat.metadata["FY2024_outlook"].value
    from openpyxl import load_workbook
    from kenpo_pipeline.defs.reports import pdca_workbooks

    dg.materialize([pdca_workbooks], instance=dagster_instance, resources=dagster_resources(kenpo_env), partition_key="2024",
                   run_config={"ops": {"pdca_workbooks": {"config": {"branches": ["00"]}}}})
    ws = load_workbook(kenpo_env.reports / "pdca_FY2024.xlsx")["KPI実績一覧表"]
    assert [ws.cell(3, c).value for c in (9, 10)] == ["年度末見込み", "見込み"]
    assert {ws.cell(r, 10).value for r in range(4, 22)} & {"見込み達成", "要注意"}


@pytest.mark.sample_years
def test_a_corrected_month_changes_this_year_and_the_next_years_evaluation(two_years, kenpo_env, dagster_instance):
    wh = two_years
    before = wh.read_table("pdca_evaluation", fiscal_year=2024).set_index(["branch_code", "kpi_id"])
    # correct March 2024 (FY2023): every 窓口 decision of Tokyo (13) was in fact postal
    path = find_feed_file(kenpo_env.landing, "benefits", "2024-03")
    raw = path.read_bytes()
    enc = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError:
        enc, text = "cp932", raw.decode("cp932")
    lines = text.splitlines()
    fixed = [lines[0]] + [l.replace(",窓口,", ",郵送,") if l.split(",")[0] in ("13", "１３") else l for l in lines[1:]]
    path.write_bytes(("\n".join(fixed) + "\n").encode("utf-8-sig" if enc == "utf-8-sig" else enc))
    dg.materialize([*feed_assets, monthly_aggregates], instance=dagster_instance, resources=dagster_resources(kenpo_env), partition_key="2024-03")
    year(kenpo_env, dagster_instance, 2023)
    year(kenpo_env, dagster_instance, 2024)  # its previous-year targets came from FY2023
    after = wh.read_table("pdca_evaluation", fiscal_year=2024).set_index(["branch_code", "kpi_id"])
    key = ("13", "FY2024-00-02")  # 郵送化率を対前年度以上: the FY2023 value of Tokyo rose
    assert after.loc[key, "prior_year_value"] > before.loc[key, "prior_year_value"]
    assert after.loc[key, "target_text"] != before.loc[key, "target_text"]
    assert after.loc[("22", "FY2024-00-02"), "target_text"] == before.loc[("22", "FY2024-00-02"), "target_text"]


def test_manual_entries_decide_manual_kpis(kenpo_env):
    from kenpo_pipeline.domain.kpis.catalog import require_catalogs
    from kenpo_pipeline.domain.kpis.judgement import evaluate
    import pandas as pd
    import shutil

    folder = kenpo_env.home / "catalogs"
    shutil.copytree(kenpo_env.catalogs, folder)
    catalog = require_catalogs(folder)[2020]
    no_actuals = pd.DataFrame(columns=["fiscal_year", "as_of_month", "branch_code", "measure", "value", "numerator", "denominator", "months_covered", "complete"])
    table, _ = evaluate(2020, catalog, no_actuals, None, "2021-03")
    t = table.set_index("kpi_id")
    assert t.loc["FY2020-33-08", "status"] == "判定不能" and t.loc["FY2020-33-08", "reason"] == "手入力の実績が未入力です"
    (folder / "FY2020_manual.yaml").write_text(
        'entries:\n  - {kpi_id: FY2020-33-08, branch_code: "33", status: 達成, actual_text: "52.3%", evidence: 支部集計}\n', encoding="utf-8"
    )
    table, _ = evaluate(2020, require_catalogs(folder)[2020], no_actuals, None, "2021-03")
    t = table.set_index("kpi_id")
    assert (t.loc["FY2020-33-08", ["status", "actual_text", "target_text"]] == ["達成", "52.3%", t.loc["FY2020-33-08", "kpi_text"]]).all()


def test_fy2021_national_plan_is_evaluated_for_00_and_every_branch_and_the_fifth_plan_lines_up(kenpo_env, dagster_instance):
    """Seed 002's reference section: the FY2021 national plan applies to 00 and to every branch
    without its own plan (本部目標を適用); Okayama keeps its own; the 5th Action Plan's view lists
    FY2021–FY2023 with the Action Plan's own targets. One month of small sample data is enough."""
    from openpyxl import load_workbook

    from kenpo_pipeline.defs.reports import action_plan_view, pdca_workbooks

    write_sample(kenpo_env.landing, 2021, 2021, scale=0.002, months=["2021-04"])
    load(kenpo_env, dagster_instance, "2021-04", "2021-04")
    year(kenpo_env, dagster_instance, 2021)
    wh = Warehouse(kenpo_env.warehouse_url)
    fy21 = wh.read_table("pdca_evaluation", fiscal_year=2021)
    plans = fy21.groupby("branch_code")["plan"].first()
    assert len(plans) == 48 and plans["00"] == "本部" and plans["33"] == "支部"
    assert set(plans.drop(["00", "33"])) == {"本部目標を適用"}
    sizes = fy21.groupby("branch_code").size()
    assert sizes["00"] == 20 and sizes["33"] == 18 and set(sizes.drop(["00", "33"])) == {19}  # all but 健康宣言事業所数 (association)
    assert set(fy21["as_of_month"]) == {"2021-04"} and set(fy21["reason"]) == {"年度途中（令和3年4月時点）", "手入力の実績が未入力です"}
    national = fy21[fy21["branch_code"] == "00"].set_index("kpi_id")
    assert national.loc["FY2021-00-02", ["target_text", "kpi_key"]].tolist() == ["95.0%以上", "postal_rate"]
    assert national.loc["FY2021-00-09", ["target_text", "actual_text", "status"]].tolist() == ["前年度以上", "未入力", "判定不能"]
    assert national.loc["FY2021-00-19", "target_text"] == "全支部で実施"
    tokyo = fy21[fy21["branch_code"] == "13"].set_index("kpi_id")
    assert tokyo.loc["FY2021-00-19", "target_text"] == "実施" and "FY2021-00-16" not in tokyo.index

    dg.materialize([action_plan_view], instance=dagster_instance, resources=dagster_resources(kenpo_env))
    view = wh.read_table("action_plan_view", action_plan="第5期保険者機能強化アクションプラン")
    assert set(view["branch_code"]) == {"00", *(f"{i:02d}" for i in range(1, 48))}
    mine = view[view["branch_code"] == "00"].set_index(["kpi_key", "fiscal_year"])
    assert sorted(set(view["fiscal_year"])) == [2021, 2022, 2023] and len(mine) == 60
    assert mine.loc[("postal_rate", 2021), ["plan", "target_text", "status", "action_plan_target"]].tolist() == ["本部", "95.0%以上", "判定不能", "96.0%以上"]
    assert mine.loc[("postal_rate", 2022), "status"] == "事業計画未登録" and mine.loc[("postal_rate", 2023), "status"] == "事業計画未登録"
    okayama = view[view["branch_code"] == "33"].set_index(["kpi_key", "fiscal_year"])
    assert okayama.loc[("postal_rate", 2021), ["plan", "action_plan_target"]].tolist() == ["支部", "96.0%以上"]
    shizuoka = view[(view["branch_code"] == "22") & (view["kpi_key"] == "postal_rate")].sort_values("fiscal_year")
    assert shizuoka["status"].tolist() == ["判定不能", "事業計画未登録", "データなし"]  # FY2023: Shizuoka's plan, not evaluated here
    assert set(wh.read_table("action_plan_view")["action_plan"]) == {"第5期保険者機能強化アクションプラン", "第6期保険者機能強化アクションプラン"}

    dg.materialize([pdca_workbooks], instance=dagster_instance, resources=dagster_resources(kenpo_env), partition_key="2021",
                   run_config={"ops": {"pdca_workbooks": {"config": {"branches": ["00", "13"]}}}})
    ws = load_workbook(kenpo_env.reports / "pdca_FY2021.xlsx")["3か年計画"]
    assert ws.cell(1, 1).value.startswith("第5期保険者機能強化アクションプラン")
    assert [ws.cell(3, c).value for c in (1, 2, 3)] == ["KPI", "アクションプラン目標（令和5年度）", "FY2021 目標"]
    kpi_sheet = load_workbook(kenpo_env.reports / "pdca_FY2021_13.xlsx")["KPI実績一覧表"]
    assert kpi_sheet.cell(2, 1).value.startswith("令和3年度事業計画(案)の目標を適用")  # printed with its (案), not twice
