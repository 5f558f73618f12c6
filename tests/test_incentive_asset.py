"""incentive_ranking through Dagster on the sample data, and the インセンティブ sheet of the workbooks
it feeds (issue 14). The totals are checked against deviation scores computed here from
kpi_actuals, by the definition of a deviation score, not with the code under test."""

import shutil

import dagster as dg
import pytest
from openpyxl import load_workbook

from conftest import dagster_resources
from kenpo_pipeline.defs.incentive import incentive_ranking
from kenpo_pipeline.defs.reports import pdca_workbooks
from kenpo_pipeline.domain.kpis.catalog import load_incentive_schemes
from kenpo_pipeline.domain.reference import branch_codes, branch_name
from kenpo_pipeline.settings import ASSETS_DIR
from kenpo_pipeline.warehouse.store import Warehouse
from test_incentive import hand_deviation, hand_ranks

pytestmark = pytest.mark.warehouse  # runs on SQLite and on PostgreSQL (see conftest.py)

SCHEME = load_incentive_schemes(ASSETS_DIR / "catalogs")[0][2024]


def materialize(settings, instance, assets, **kw):
    return dg.materialize(assets, instance=instance, resources=dagster_resources(settings), **kw)


@pytest.fixture
def two_years(kenpo_env, dagster_instance, request):
    """FY2023 and FY2024 of the sample data loaded, with their KPI actuals and evaluations (a copy
    of the session's build: tests marked ``sample_years`` start from it)."""
    assert request.node.get_closest_marker("sample_years"), "a test using two_years is marked sample_years"
    return Warehouse(kenpo_env.warehouse_url)


@pytest.mark.sample_years
def test_the_ranking_of_the_sample_years_and_the_workbook_sheets(two_years, kenpo_env, dagster_instance):
    wh = two_years
    for fy in ("2023", "2024"):
        materialize(kenpo_env, dagster_instance, [incentive_ranking], partition_key=fy)
    table = wh.read_table("incentive_ranking", fiscal_year=2024)
    assert len(table) == 12 * 47 * 5 and table["as_of_month"].nunique() == 12
    march = table[table["as_of_month"] == "2025-03"]
    per = march.drop_duplicates("branch_code").set_index("branch_code")
    assert set(per.index) == set(branch_codes())
    ranked = per[per["status"] == "評価"]
    unknown = per[per["status"] == "判定不能"]
    # every branch is either ranked or 判定不能 with a reason; never ranked silently on a guess
    assert len(ranked) + len(unknown) == 47 and len(ranked) >= 40
    assert unknown["rank"].isna().all() and (unknown["reason"].str.len() > 0).all()
    assert sorted(ranked["rank"].astype(int)) == hand_rank_list(ranked["total"].to_dict())
    assert int(ranked["rewarded"].astype(bool).sum()) == 15 and set(march["rewarded_branches"]) == {15}
    assert ranked.loc[ranked["rank"] == 1, "rewarded"].astype(bool).all()
    # March is the year end: nothing projected; October has a projection
    assert march["projected_status"].isna().all() and march["projected_total"].isna().all()
    october = table[table["as_of_month"] == "2024-10"].drop_duplicates("branch_code")
    assert october["projected_status"].notna().all() and october["projected_rank"].notna().any()

    # the totals, by hand from kpi_actuals (FY2024 March vs FY2023 March) over the ranked branches
    actuals = wh.read_table("kpi_actuals", fiscal_year=[2023, 2024])
    codes = list(ranked.index)
    totals = {b: 0.0 for b in codes}
    for ind in SCHEME.indicators:
        def value(month, b):
            rows = actuals[(actuals["as_of_month"] == month) & (actuals["branch_code"] == b) & (actuals["measure"] == ind.measure)]
            return float(rows["value"].item())

        level = [value("2025-03", b) for b in codes]
        growth = [x - value("2024-03", b) for x, b in zip(level, codes)]
        dl, dg_ = hand_deviation(level), hand_deviation(growth)
        for i, b in enumerate(codes):
            totals[b] += ind.weight * (ind.level_weight * dl[i] + ind.improvement_weight * dg_[i])
    assert ranked["total"].to_dict() == pytest.approx(totals)
    assert ranked["rank"].astype(int).to_dict() == hand_ranks(totals)

    # FY2023: FY2022 was not loaded, so no branch has an improvement: all 判定不能, each saying why
    fy23 = wh.read_table("incentive_ranking", fiscal_year=2023)
    per23 = fy23[fy23["as_of_month"] == "2024-03"].drop_duplicates("branch_code")
    assert len(per23) == 47 and set(per23["status"]) == {"判定不能"} and per23["rank"].isna().all()
    assert per23["reason"].str.contains("前年度同月（令和5年3月時点）の実績がありません").all()

    # the UI: the ranking table in the materialization's metadata
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("incentive_ranking")).asset_materialization
    assert mat.partition == "2024"
    fy24_meta = mat.metadata
    md = fy24_meta["FY2024_ranking"].value
    assert "令和6年度 インセンティブ制度 順位（年度末、令和7年3月時点）" in md and "| 順位 | 支部 | 合計点 | 区分 |" in md
    first = ranked[ranked["rank"] == 1].index[0]
    assert f"| 1 | {branch_name(first)} |" in md
    assert fy24_meta["FY2024_ranked"].value == len(ranked) and fy24_meta["FY2024_unknown"].value == len(unknown)

    # the workbooks: the national インセンティブ sheet and a branch's standing
    materialize(kenpo_env, dagster_instance, [pdca_workbooks], partition_key="2024",
                run_config={"ops": {"pdca_workbooks": {"config": {"branches": ["00", "22", first]}}}})
    wb = load_workbook(kenpo_env.reports / "pdca_FY2024.xlsx")
    assert wb.sheetnames == ["KPI実績一覧表", "支部別", "月次推移", "3か年計画", "インセンティブ", "根拠", "データ品質", "差戻しリスト", "_kenpo"]
    ws = wb["インセンティブ"]
    assert ws["A1"].value == "令和6年度 インセンティブ制度 順位（年度末、令和7年3月時点）"
    header = [c.value for c in ws[4]]
    assert header[:4] == ["順位", "支部", "合計点", "区分"] and header[-1] == "備考"
    for ind in SCHEME.indicators:
        assert f"{ind.name} 実績" in header and f"{ind.name} 得点" in header and f"{ind.name} 順位" in header
    rows = [[c.value for c in ws[r]] for r in range(5, 5 + 47)]
    assert rows[0][:2] == [1, branch_name(first)] and rows[0][2] == pytest.approx(round(ranked.at[first, "total"], 2))
    assert [r[3] for r in rows].count("報奨対象") == 15 and [r[3] for r in rows].count("判定不能") == len(unknown)
    assert ws.cell(4 + 15, 1).border.bottom.style == "thick"  # the line under the 15th
    for r in rows:
        if r[3] == "判定不能":
            assert r[0] is None and r[-1]  # not ranked, and the reason is there
    assert ws.cell(5, 5).number_format == '0.0"%"'  # a rate stays a number, shown with its unit
    texts = [ws.cell(r, 1).value for r in range(1, ws.max_row + 1)]
    assert "各月時点の順位（年度累計の実績による）" in texts and "各月時点の年度末の順位の見込み" in texts
    branch_ws = load_workbook(kenpo_env.reports / f"pdca_FY2024_{first}.xlsx")["インセンティブ"]
    assert branch_ws["A1"].value == f"令和6年度 インセンティブ制度 順位（年度末、令和7年3月時点）　{branch_name(first)}"
    assert (branch_ws["A2"].value, branch_ws["B2"].value) == ("順位", "1位（報奨対象）")

    # FY2023's national sheet: 47 branches 判定不能, none ranked, each with its reason
    materialize(kenpo_env, dagster_instance, [pdca_workbooks], partition_key="2023",
                run_config={"ops": {"pdca_workbooks": {"config": {"branches": ["00"]}}}})
    ws = load_workbook(kenpo_env.reports / "pdca_FY2023.xlsx")["インセンティブ"]
    rows = [[c.value for c in ws[r]] for r in range(5, 5 + 47)]
    assert {r[0] for r in rows} == {None} and {r[3] for r in rows} == {"判定不能"}
    assert [r[1] for r in rows] == [branch_name(b) for b in branch_codes()]  # by branch code
    assert all("前年度同月（令和5年3月時点）の実績がありません" in r[-1] for r in rows)


def hand_rank_list(totals: dict) -> list[int]:
    return sorted(hand_ranks(totals).values())


def test_a_broken_scoring_file_stops_the_step_and_a_year_without_one_ranks_nothing(warehouse, kenpo_env, dagster_instance, monkeypatch):
    from kenpo_pipeline.domain.calendar import fiscal_months
    from kenpo_pipeline.settings import load_settings
    from test_incentive import base_value, synthetic_actuals

    warehouse.replace("kpi_actuals", {"fiscal_year": 2023}, synthetic_actuals(2023, fiscal_months(2023), base_value))
    warehouse.replace("kpi_actuals", {"fiscal_year": 2024}, synthetic_actuals(2024, fiscal_months(2024)[:2], lambda b, m, mo: base_value(b, m, mo) + int(b) % 3))
    folder = kenpo_env.home / "catalogs"
    shutil.copytree(ASSETS_DIR / "catalogs", folder)
    monkeypatch.setenv("KENPO_CATALOGS", str(folder))
    settings = load_settings()
    materialize(settings, dagster_instance, [incentive_ranking], partition_key="2024")
    assert len(warehouse.read_table("incentive_ranking", fiscal_year=2024)) == 2 * 47 * 5

    good = (folder / "incentive" / "FY2024.yaml").read_text(encoding="utf-8")
    (folder / "incentive" / "FY2024.yaml").write_text(good.replace("rewarded_branches: 15", "rewarded_branches: 48"), encoding="utf-8")
    result = materialize(settings, dagster_instance, [incentive_ranking], partition_key="2024", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "incentive/FY2024.yaml: rewarded_branches: 1〜47の整数（報奨対象とする上位の支部数）ではありません（48）" in failure.event_specific_data.error.message
    assert len(warehouse.read_table("incentive_ranking", fiscal_year=2024)) == 2 * 47 * 5  # the last good ranking stays

    (folder / "incentive" / "FY2024.yaml").unlink()
    materialize(settings, dagster_instance, [incentive_ranking], partition_key="2024")
    assert warehouse.read_table("incentive_ranking", fiscal_year=2024).empty
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("incentive_ranking")).asset_materialization
    assert mat.metadata["FY2024"].value == "評価方法のファイル（incentive/FY2024.yaml）がないため、順位を求めていません"
