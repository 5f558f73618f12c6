"""差戻しリスト (issue 15 §1): each branch sees exactly its own refused rows, with line, column, value
and Japanese reason, and the file-level rejections of its months — from a real load."""

import openpyxl
import pytest
from conftest import HEADERS, write_csv

from kenpo_pipeline.domain.intake.feeds import check_feed_file
from kenpo_pipeline.domain.reporting.error_list import (
    ROW_COLUMNS,
    branch_error_list,
    file_error_list,
    write_error_workbook,
)
from kenpo_pipeline.warehouse.loading import load_feed_month

pytestmark = pytest.mark.warehouse

GOOD = ["22", "X", "傷病手当金", "2024-06-03", "2024-06-10", "2024-06-12", "郵送", "支給"]


def rows_with_errors():
    good = [[b, f"{b}-{i}", *GOOD[2:]] for b in ("22", "13", "01") for i in range(120)]
    bad22 = [
        ["22", "E1", "傷病手当金", "2024-06-11", "2024-06-10", "2024-06-12", "郵送", "支給"],  # 受付日 after 決定日
        ["22", "E2", "傷病手当金", "2024-06-03", "2024-13-40", "2024-06-12", "郵送", "支給"],  # 決定日 not a date
        ["２２", "E3", "傷病手当金", "2024-06-03", "2024-06-10", "2024-06-12", "郵送", "不明な区分"],  # full-width code
    ]
    bad13 = [
        ["13", "F1", "傷病手当金", "2024-06-11", "2024-06-10", "2024-06-12", "郵送", "支給"],
        ["13", "F2", "傷病手当金", "2024-06-03", "", "2024-06-12", "郵送", "支給"],
    ]
    return good[:100] + bad22[:1] + good[100:200] + bad13 + bad22[1:] + good[200:]


def test_branch_22_sees_exactly_its_three_rows_and_validate_writes_the_same(kenpo_env, warehouse, tmp_path):
    path = write_csv(kenpo_env.landing / "benefits" / "202406.csv", HEADERS["benefits"], rows_with_errors())
    r = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-06", 0.05)
    assert r.status == "loaded"
    quarantine, loads = warehouse.read_table("quarantine"), warehouse.loads()
    assert len(quarantine) == 5

    mine = branch_error_list(quarantine, loads, "22", 2024)
    assert list(mine.rows.columns) == ROW_COLUMNS
    assert len(mine.rows) == 3
    assert sorted(mine.rows["行"]) == [102, 205, 206]  # physical lines: header is line 1
    by_line = {r["行"]: r for r in mine.rows.to_dict("records")}
    assert by_line[102]["列"] == "受付日" and by_line[102]["理由"] == "受付日が決定日より後です"
    assert by_line[205]["列"] == "決定日" and by_line[205]["送られた値"] == "2024-13-40"
    assert set(mine.rows["フィード"]) == {"現金給付 決定実績"} and set(mine.rows["対象月"]) == {"令和6年6月"}
    assert set(mine.rows["ファイル"]) == {"202406.csv"}  # the file's name, not the server's folders
    assert all(any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in reason) for reason in mine.rows["理由"])
    assert mine.summary.iloc[0]["差戻し行数"] == 3 and mine.summary.iloc[0]["取込状況"] == "取込済"

    other = branch_error_list(quarantine, loads, "13", 2024)
    assert sorted(other.rows["行"]) == [203, 204]
    assert branch_error_list(quarantine, loads, "01", 2024).rows.empty
    national = branch_error_list(quarantine, loads, "00", 2024)
    assert len(national.rows) == 5 and sorted(national.rows["支部"]) == ["東京支部"] * 2 + ["静岡支部"] * 3

    out = write_error_workbook(mine, tmp_path / "errors_FY2024_22.xlsx")
    ws = openpyxl.load_workbook(out)["差戻し行"]
    assert [c.value for c in ws[2]] == ROW_COLUMNS
    written = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
    assert sorted(r[3] for r in written) == [102, 205, 206]

    # the same file checked before it is sent: the same rows of branch 22 (and the others')
    check = check_feed_file(path, feed="benefits", month="2024-06", max_bad_row_share=0.05)
    alone = file_error_list(check, path)
    assert len(alone.rows) == 5
    assert {(r["行"], r["列"], r["理由"]) for r in alone.rows.to_dict("records") if r["行"] in (102, 205, 206)} == {
        (r["行"], r["列"], r["理由"]) for r in mine.rows.to_dict("records")
    }


def test_a_rejected_resubmission_is_listed_for_every_branch_and_the_good_load_stays(kenpo_env, warehouse):
    write_csv(kenpo_env.landing / "benefits" / "202406.csv", HEADERS["benefits"], rows_with_errors())
    assert load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-06", 0.05).status == "loaded"
    (kenpo_env.landing / "benefits" / "202406.csv").write_bytes("申請番号,支部コード\n".encode() + b"\xff\xfe\xfa\n")
    assert load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-06", 0.05).status == "rejected"
    quarantine, loads = warehouse.read_table("quarantine"), warehouse.loads()
    for branch in ("22", "47"):
        el = branch_error_list(quarantine, loads, branch, 2024)
        assert len(el.rejections) == 1
        rej = el.rejections.iloc[0]
        assert rej["ファイル"] == "202406.csv" and "使用中" in rej["現在のデータ"] and rej["理由"]
        assert el.summary.iloc[0]["取込状況"] == "却下（以前の取込を使用中）"
    assert len(branch_error_list(quarantine, loads, "22", 2024).rows) == 3  # the current load's rows remain
    assert branch_error_list(quarantine, loads, "22", 2023).empty  # another fiscal year: nothing


def test_the_commands_write_the_lists_a_branch_receives(kenpo_env, warehouse, tmp_path, capsys):
    from kenpo_pipeline.cli import main

    path = write_csv(kenpo_env.landing / "benefits" / "202406.csv", HEADERS["benefits"], rows_with_errors())
    # before sending: the file alone
    assert main(["validate", str(path), "--max-bad-row-share", "0.05", "--out", str(tmp_path / "check.xlsx")]) == 1
    assert f"差戻しリスト: {tmp_path / 'check.xlsx'}" in capsys.readouterr().out
    sheet = openpyxl.load_workbook(tmp_path / "check.xlsx")["差戻し行"]
    assert sorted(r[3] for r in sheet.iter_rows(min_row=3, values_only=True)) == [102, 203, 204, 205, 206]
    # after the load: branch 22's own rows
    assert load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-06", 0.05).status == "loaded"
    assert main(["errors", "--branch", "22", "--fiscal-year", "令和6", "--out", str(tmp_path / "out")]) == 1
    said = capsys.readouterr().out
    assert "静岡支部の差戻しリスト: 差戻し行 3 行、ファイル単位の却下 0 件" in said
    book = openpyxl.load_workbook(tmp_path / "out" / "errors_FY2024_22.xlsx")
    assert sorted(r[3] for r in book["差戻し行"].iter_rows(min_row=3, values_only=True)) == [102, 205, 206]
    assert book["概要"].oddFooter.center.text == "&P / &N ページ"
    assert main(["errors", "--branch", "01", "--out", str(tmp_path / "out")]) == 0  # nothing to correct
