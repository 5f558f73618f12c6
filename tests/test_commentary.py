"""自己評価・要因分析 round trip (issue 15 §2), the pure part: written into a KPI sheet, filled in with
openpyxl as a person would in Excel, read back, and turned into versions to store."""

import datetime as dt

import openpyxl
import pandas as pd
import pytest

from kenpo_pipeline.domain.reporting.commentary import (
    FIELD_NAMES,
    IDENTITY_SHEET,
    CommentaryFileError,
    add_commentary_columns,
    changes_to_store,
    missing_cause_analysis,
    read_commentary_workbook,
    write_identity,
)

WHEN = dt.datetime(2025, 4, 10, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))


def kpi_workbook(path, latest=None):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "KPI実績一覧表"
    ws.cell(3, 1, "KPI")
    kpis = [(5, "FY2024-00-01"), (6, "FY2024-00-02"), (8, "FY2024-00-03")]  # row 7: a section label
    for row, kpi_id in kpis:
        ws.cell(row, 1, kpi_id)
    ws.cell(7, 1, "Ⅱ）保健事業")
    latest = latest if latest is not None else pd.DataFrame(columns=["kpi_id", "commentary_id", *FIELD_NAMES])
    rows = add_commentary_columns(ws, 3, 9, kpis, latest)
    write_identity(wb, 2024, "00", ws.title, 9, rows, WHEN)
    wb.save(path)
    return path


def fill(path, row, col_offset, text):
    wb = openpyxl.load_workbook(path)
    wb["KPI実績一覧表"].cell(row, 9 + col_offset, text)
    wb.save(path)


def test_filled_cells_come_back_per_kpi_and_only_changes_become_versions(tmp_path):
    path = kpi_workbook(tmp_path / "pdca_FY2024.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["KPI実績一覧表"]
    assert wb[IDENTITY_SHEET].sheet_state == "veryHidden"
    assert ws.protection.sheet and ws.cell(5, 9).protection.locked is False and ws.cell(5, 1).protection.locked is True
    assert [ws.cell(3, 9 + i).value for i in range(4)] == ["実施内容（記入欄）", "自己評価（記入欄）", "要因分析（記入欄）", "今後の取組（記入欄）"]

    fill(path, 6, 2, "  受診勧奨の開始が遅れた。\r\n対象者抽出を前倒しする。 ")
    fill(path, 8, 0, "事業所訪問 120件")
    got = read_commentary_workbook(path)
    assert (got.identity.fiscal_year, got.identity.branch_code) == (2024, "00")
    by = got.entries.set_index("kpi_id")
    assert by.loc["FY2024-00-02", "cause_analysis"] == "受診勧奨の開始が遅れた。\n対象者抽出を前倒しする。"
    assert by.loc["FY2024-00-03", "implementation"] == "事業所訪問 120件"
    assert by.loc["FY2024-00-01", "cause_analysis"] == ""

    plan = changes_to_store(got.entries, pd.DataFrame())
    assert sorted(plan.new_versions["kpi_id"]) == ["FY2024-00-02", "FY2024-00-03"] and plan.unchanged == 1 and not plan.conflicts


def test_an_older_workbook_never_overwrites_a_newer_assessment(tmp_path):
    stored = pd.DataFrame([["FY2024-00-02", 7, "", "", "新しい要因分析", ""]], columns=["kpi_id", "commentary_id", *FIELD_NAMES])
    older = kpi_workbook(tmp_path / "old.xlsx", latest=stored.assign(commentary_id=3, cause_analysis="古い要因分析"))
    fill(older, 6, 2, "古いファイルでの書き換え")
    fill(older, 5, 1, "順調")
    plan = changes_to_store(read_commentary_workbook(older).entries, stored, {"FY2024-00-02": "特定健診受診率"})
    assert list(plan.new_versions["kpi_id"]) == ["FY2024-00-01"]  # a KPI nobody else wrote: stored
    assert len(plan.conflicts) == 1 and plan.conflicts[0].startswith("特定健診受診率：")

    current = kpi_workbook(tmp_path / "new.xlsx", latest=stored)  # written with version 7: its edit is stored
    fill(current, 6, 2, "さらに更新")
    plan = changes_to_store(read_commentary_workbook(current).entries, stored)
    assert list(plan.new_versions["kpi_id"]) == ["FY2024-00-02"] and not plan.conflicts
    assert read_commentary_workbook(current).entries.set_index("kpi_id").loc["FY2024-00-02", "cause_analysis"] == "さらに更新"


@pytest.mark.parametrize("damage, expected", [
    ("not_xlsx", "Excelブック（.xlsx）として開けません"),
    ("no_identity", "このパイプラインが作成したKPI実績一覧表ではありません"),
    ("renamed_sheet", "シート「KPI実績一覧表」がありません"),
    ("inserted_column", "元の位置にありません"),
])
def test_a_file_that_is_not_an_untouched_pipeline_workbook_is_refused_in_japanese(tmp_path, damage, expected):
    path = kpi_workbook(tmp_path / "pdca_FY2024.xlsx")
    if damage == "not_xlsx":
        path.write_bytes(b"PK\x03\x04 not really")
    else:
        wb = openpyxl.load_workbook(path)
        if damage == "no_identity":
            del wb[IDENTITY_SHEET]
        elif damage == "renamed_sheet":
            wb["KPI実績一覧表"].title = "コピー"
        else:
            wb["KPI実績一覧表"].insert_cols(2)
        wb.save(path)
    with pytest.raises(CommentaryFileError, match=expected) as exc:
        read_commentary_workbook(path)
    assert "pdca_FY2024.xlsx" in str(exc.value)


def test_missed_kpis_without_a_cause_analysis_are_listed():
    evaluation = pd.DataFrame(
        {"branch_code": ["00", "00", "22"], "kpi_id": ["a", "b", "c"], "kpi_text": ["A", "B", "C"], "status": ["未達成", "未達成", "達成"]}
    )
    latest = pd.DataFrame({"branch_code": ["00"], "kpi_id": ["a"], "cause_analysis": ["理由"]})
    assert list(missing_cause_analysis(evaluation, latest)["kpi_id"]) == ["b"]
    assert list(missing_cause_analysis(evaluation, pd.DataFrame())["kpi_id"]) == ["a", "b"]
