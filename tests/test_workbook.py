"""The PDCA workbooks, opened with openpyxl (shared spec/outputs.md "The PDCA workbook")."""

import dagster as dg
import pandas as pd
import pytest
from openpyxl import load_workbook

from conftest import dagster_resources
from kenpo_pipeline.app.commands import evaluation as scope_evaluation
from kenpo_pipeline.cli import main
from kenpo_pipeline.defs.evaluation import pdca_evaluation
from kenpo_pipeline.defs.feeds import feed_assets
from kenpo_pipeline.defs.incentive import incentive_ranking
from kenpo_pipeline.defs.kpis import kpi_actuals, monthly_aggregates
from kenpo_pipeline.defs.reports import action_plan_view, pdca_workbooks
from kenpo_pipeline.domain.intake.sample import write_sample
from kenpo_pipeline.domain.reporting.presentation import FILLS, STATUSES, evaluation_text, present
from kenpo_pipeline.domain.reporting.workbook import write_workbook
from kenpo_pipeline.warehouse.store import Warehouse
from rendered import cli_rows, markdown_rows, workbook_rows

# Not marked `warehouse`: what is tested here is the workbook; the reads it makes are covered on
# PostgreSQL by test_evaluation_asset and test_publication (keeps `make test` within its budget).


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Two fiscal years of sample data through the whole pipeline, once for this module."""
    from kenpo_pipeline.settings import load_settings

    home = tmp_path_factory.mktemp("kenpo")
    settings = load_settings({"KENPO_HOME": str(home), "KENPO_LANDING_SETTLE_SECONDS": "0"})  # files written whole just now
    write_sample(settings.landing, 2023, 2024, scale=0.002)
    tags = {"dagster/asset_partition_range_start": "2023-04", "dagster/asset_partition_range_end": "2025-03"}
    (home / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
        dg.materialize([*feed_assets, monthly_aggregates], instance=instance, resources=dagster_resources(settings), tags=tags)
        for fy in ("2023", "2024"):  # the three-year sheet is read from action_plan_view, materialized first
            result = dg.materialize([kpi_actuals, pdca_evaluation, incentive_ranking, action_plan_view, pdca_workbooks], instance=instance,
                                    resources=dagster_resources(settings), partition_key=fy)
    # what the UI shows of FY2024's evaluation: the Markdown metadata of its materialization
    (evaluated,) = result.asset_materializations_for_node("pdca_evaluation")
    ui = {key: value.value for key, value in evaluated.metadata.items()}
    return Warehouse(settings.warehouse_url), settings.reports, settings, ui


def kpi_rows(ws):
    rows = []
    for r in range(4, ws.max_row + 1):
        if ws.cell(r, 2).value and ws.cell(r, 6).value in STATUSES:
            rows.append(r)
    return rows


def test_every_workbook_is_written_with_its_sheets(reports):
    _, folder, *_ = reports
    assert len(list(folder.glob("pdca_FY2024*.xlsx"))) == 48 and len(list(folder.glob("pdca_FY2023*.xlsx"))) == 48
    assert load_workbook(folder / "pdca_FY2024.xlsx").sheetnames == ["KPI実績一覧表", "支部別", "月次推移", "3か年計画", "インセンティブ", "根拠", "データ品質", "差戻しリスト"]
    assert load_workbook(folder / "pdca_FY2024_22.xlsx").sheetnames == ["KPI実績一覧表", "月次推移", "3か年計画", "インセンティブ", "根拠", "データ品質", "差戻しリスト"]
    for path in sorted(folder.glob("pdca_FY*.xlsx")):  # every written workbook opens and is titled for its scope
        wb = load_workbook(path)
        assert wb.sheetnames[0] == "KPI実績一覧表" and wb.sheetnames[-1] == "差戻しリスト"
        assert wb["KPI実績一覧表"].cell(1, 1).value.startswith(("令和5年度 KPI実績一覧表（", "令和6年度 KPI実績一覧表（"))
    ws = load_workbook(folder / "pdca_FY2024.xlsx")["3か年計画"]
    assert [ws.cell(3, c).value for c in (1, 2, 5, 8)] == ["KPI", "FY2024 目標", "FY2025 目標", "FY2026 目標"]
    assert {ws.cell(r, 10).value for r in range(4, ws.max_row + 1)} == {"事業計画未登録"}  # FY2026: no plan yet


@pytest.mark.parametrize("scope", ["00", "04", "13"])
def test_kpi_sheet_equals_the_evaluation_of_its_scope(reports, scope):
    wh, folder, *_ = reports
    name = "pdca_FY2024.xlsx" if scope == "00" else f"pdca_FY2024_{scope}.xlsx"
    ws = load_workbook(folder / name)["KPI実績一覧表"]
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code=scope).sort_values("kpi_order")
    rows = kpi_rows(ws)
    assert len(rows) == len(evaluation)
    for r, e in zip(rows, evaluation.to_dict("records")):
        assert ws.cell(r, 2).value == e["kpi_text"] and ws.cell(r, 3).value == e["target_text"]
        assert ws.cell(r, 6).value == e["status"]
        assert ws.cell(r, 6).fill.fgColor.rgb.endswith(FILLS[e["status"]]) and ws.cell(r, 6).style == e["status"]
        actual = ws.cell(r, 4)
        if pd.notna(e["actual_value"]):
            assert actual.data_type == "n" and actual.value == pytest.approx(e["actual_value"])
            assert actual.number_format.endswith('"%"') == e["actual_text"].endswith("%")
        else:
            assert actual.value == e["actual_text"]
        assert (ws.cell(r, 8).value or "") == present(e).remarks
        if e["status"] == "判定不能":
            assert ws.cell(r, 8).value.startswith(e["reason"]) and e["reason"] != ""
    title = ws.cell(1, 1).value
    assert title.startswith("令和6年度 KPI実績一覧表（") and ("協会全体" in title if scope == "00" else "支部" in title)


@pytest.mark.parametrize("scope, ui_key", [("00", "FY2024_national"), ("04", "FY2024_branch_04")])
def test_workbook_cli_and_ui_show_the_same_rows(reports, capsys, scope, ui_key):
    """The same evaluation rows, drawn three times by the one presentation: the KPI sheet of the
    written workbook, `kenpo`'s evaluation table (as ``kenpo demo`` prints it) and the Markdown the
    Dagster UI shows for the materialization — identical status words, 対目標比 and 備考."""
    wh, folder, settings, ui = reports
    ws = load_workbook(folder / ("pdca_FY2024.xlsx" if scope == "00" else f"pdca_FY2024_{scope}.xlsx"))["KPI実績一覧表"]
    printed = "\n".join(evaluation_text(scope_evaluation(settings, 2024, scope))).splitlines()  # what `kenpo show` prints
    in_workbook, on_the_command_line, in_the_ui = workbook_rows(ws), cli_rows(printed), markdown_rows(ui[ui_key])
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code=scope).sort_values("kpi_order")
    assert len(in_workbook) == len(evaluation) > 5
    assert [(r[1], r[2], r[3]) for r in in_workbook] == [(r[1], r[2], r[3]) for r in on_the_command_line] == [(r[1], r[2], r[3]) for r in in_the_ui]
    assert [r[1] for r in in_workbook] == evaluation["status"].tolist()
    assert any(r[2] for r in in_workbook)  # some rows have a ratio: the comparison is not vacuous


def test_print_settings_and_frozen_header(reports):
    _, folder, *_ = reports
    wb = load_workbook(folder / "pdca_FY2024.xlsx")
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9
        assert ws.print_title_rows
        assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert wb["KPI実績一覧表"].freeze_panes == "C4" and wb["KPI実績一覧表"].print_title_rows == "$3:$3"


def test_charts_one_per_kpi_with_target_series(reports):
    wh, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2024.xlsx")["月次推移"]
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code="00")
    assert len(ws._charts) == evaluation["measure"].notna().sum()
    numeric = evaluation[evaluation["target_value"].notna() & ~evaluation["measure"].fillna("").str.contains(",")]
    two_series = [c for c in ws._charts if len(c.series) == 2]
    assert len(two_series) == len(numeric) and all(1 <= len(c.series) <= 2 for c in ws._charts)


def test_branch_sheet_colours_each_branch_under_its_plan(reports):
    wh, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2024.xlsx")["支部別"]
    assert ws.cell(4 + 3, 1).value == "宮城支部" and ws.cell(4 + 3, 2).value == "支部"
    assert ws.cell(4 + 12, 2).value == "本部目標を適用"
    assert ws.cell(51, 1).value == "達成支部数" and ws.cell(51, 3).data_type == "n"


def test_a_year_without_a_plan_says_so(reports):
    _, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2023_13.xlsx")["KPI実績一覧表"]
    assert ws.cell(2, 1).value.startswith("事業計画未登録")
    assert any(ws.cell(r, 1).value == "生活習慣病予防健診実施率" for r in range(5, ws.max_row + 1))


def test_quality_sheet_lists_every_feed_month(reports):
    wh, folder, *_ = reports
    ws = load_workbook(folder / "pdca_FY2024.xlsx")["データ品質"]
    assert ws.max_row - 3 == 48 and ws.cell(4, 9).value == "合格" and len(ws.cell(4, 4).value) == 12
    assert ws.cell(4, 2).value == "現金給付 決定実績" and ws.cell(4, 3).value == "202404.csv"  # Japanese names, no server folders
    mine = load_workbook(folder / "pdca_FY2024_22.xlsx")["データ品質"]
    assert mine.cell(3, 12).value == "うちこの支部の隔離行数" and mine.cell(4, 12).value == 0
    assert "静岡支部" in mine.cell(1, 1).value


def test_evidence_sheet_numbers_are_the_warehouse_s(reports):
    """根拠: a KPI's numerator and denominator are kpi_actuals' at its judgement month, they give its
    実績, and the loads listed are the current loads of its feeds."""
    wh, folder, *_ = reports
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code="22")
    row = evaluation[evaluation["measure"] == "lifestyle_screening_rate"].iloc[0]
    actual = wh.read_table("kpi_actuals", fiscal_year=2024, branch_code="22", measure="lifestyle_screening_rate")
    at = actual[actual["as_of_month"] == (row["judgement_month"] or row["as_of_month"])].iloc[0]
    ws = load_workbook(folder / "pdca_FY2024_22.xlsx")["根拠"]
    cells = [[c.value for c in r] for r in ws.iter_rows()]
    start = next(i for i, r in enumerate(cells) if r[0] == row["kpi_text"])
    block = cells[start : start + 30]
    num = next(r for r in block if r[0] == "分子")
    den = next(r for r in block if r[0] == "分母")
    assert (num[2], den[2]) == (at["numerator"], at["denominator"])
    assert round(num[2] / den[2] * 100, 1) == round(at["value"], 1)
    loads = wh.loads()
    screening_ids = set(loads[(loads["feed"] == "screenings") & (loads["status"] == "loaded") & loads["month"].str.startswith(("2024", "2025"))]["load_id"])
    listed = {r[4] for r in block if isinstance(r[4], int)}
    assert listed and listed <= screening_ids


def test_text_that_looks_like_a_formula_is_stored_as_text(tmp_path):
    evaluation = pd.DataFrame([{
        "fiscal_year": 2024, "branch_code": "00", "plan": "本部", "kpi_id": "x", "kpi_key": "x", "section": '=HYPERLINK("http://x")',
        "kpi_text": "=SUM(1,2)", "target_text": "+1", "target_value": None, "actual_value": None, "actual_text": "@A1",
        "status": "判定不能", "reason": "-1", "prior_year_value": None, "prior_year_text": "", "reference_text": "",
        "as_of_month": "2025-03", "kpi_order": 1, "measure": None, "judgement_month": "2025-03", "warnings": "",
    }])
    empty = pd.DataFrame(columns=["fiscal_year", "as_of_month", "branch_code", "measure", "value", "numerator", "denominator", "months_covered", "complete"])
    loads = pd.DataFrame(columns=["load_id", "feed", "month", "path", "sha256", "rows_read", "rows_loaded", "rows_quarantined", "status", "reason", "loaded_at", "warnings"])
    path = write_workbook(tmp_path, 2024, "00", evaluation, empty, loads, "t")
    ws = load_workbook(path)["KPI実績一覧表"]
    for col, text in ((1, '=HYPERLINK("http://x")'), (2, "=SUM(1,2)"), (3, "+1"), (4, "@A1"), (8, "-1")):
        assert ws.cell(4, col).value == text and ws.cell(4, col).data_type == "s"
        assert ws.cell(4, col).quotePrefix  # Excel keeps it text when the cell is edited or saved as CSV
    assert not ws.cell(4, 6).quotePrefix  # 判定不能: plain text needs no prefix


def test_kenpo_report_usage(kenpo_env, capsys):
    assert main(["report", "--fiscal-year", "2024", "--branch", "99"]) == 2
    assert "支部コード 00〜47" in capsys.readouterr().err


def test_the_ui_shows_the_national_evidence(reports):
    *_, ui = reports
    text = ui["FY2024_national_evidence"].replace("\\", "")
    assert "分子" in text and "分母" in text and "load_id" in text and "/landing/" not in text
