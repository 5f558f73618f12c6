"""Issue 10, the intake edges: physical-line accounting, bounds on every value, the Excel sheet a
person sees, values kept as sent, resource limits, reading a file once, Japanese messages.

Real files (CSV written byte by byte, .xlsx written by openpyxl and, where openpyxl cannot write the
case, its XML edited), a real warehouse (SQLite, and PostgreSQL in the warehouse pass) and Dagster's
own ``materialize``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from conftest import HEADERS, dagster_resources, write_csv, write_xlsx
from kenpo_pipeline.domain.intake.feeds import TooManyBadRows, check_feed_file
from kenpo_pipeline.domain.intake.reading import FileRejected, check_file_size, read_table
from kenpo_pipeline.domain.reference import feed_layout, indicators
from kenpo_pipeline.domain.intake.values import parse_integers
from kenpo_pipeline.warehouse.loading import load_feed_month

GOOD = ["22", "X", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"]
UNCLOSED = "引用符（\"）が閉じられていません"


def benefit_rows(n: int, prefix: str = "G") -> list[list[str]]:
    return [GOOD[:1] + [f"{prefix}{i:05d}"] + GOOD[2:] for i in range(n)]


def csv_text(header: list[str], rows: list[list[object]], newline: str = "\n") -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows([header] + rows)
    return buf.getvalue()


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def quarantined(check) -> dict[int, object]:
    return {q.row_number: q for q in check.quarantine}


def adds_up(check) -> bool:
    return check.rows_read == check.rows_loaded + check.rows_quarantined


# --- 1. physical lines (classes 3 and 9) -----------------------------------------------------------


def test_a_stray_quote_costs_only_its_own_line_and_the_lines_after_it_load(tmp_path):
    rows = benefit_rows(969)  # 970 lines with the header
    text = csv_text(HEADERS["benefits"], rows).splitlines(keepends=True)
    text[909] = text[909].replace("G00908", '"G00908')  # line 910: a quote that never closes
    path = write_bytes(tmp_path / "benefits" / "202404.csv", "".join(text).encode())
    check = check_feed_file(path)  # the default 1% limit: one bad line of 969 loads
    q = quarantined(check)
    assert list(q) == [910]
    assert q[910].reason == UNCLOSED and q[910].column_name == "（行全体）"
    assert q[910].value.startswith('22,"G00908,傷病手当金')
    assert check.rows_read == 969 and check.rows_loaded == 968 and adds_up(check)
    assert "G00909" in set(check.frame["application_id"]) and "G00968" in set(check.frame["application_id"])
    assert check.frame["source_row"].max() == 970  # row numbers stay physical lines


def test_a_stray_quote_that_closes_lines_later_breaks_only_the_two_lines_holding_the_quotes(tmp_path):
    """Beyond csv's 128 KiB field limit included: a quote on line 10 closing on line 2,900."""
    text = csv_text(HEADERS["benefits"], benefit_rows(3000)).splitlines(keepends=True)
    text[9] = text[9].replace("G00008", '"G00008')
    text[2899] = text[2899].replace("G02898", 'G02898"')
    path = write_bytes(tmp_path / "benefits" / "202404.csv", "".join(text).encode())
    assert len("".join(text[9:2900])) > 128 * 1024
    check = check_feed_file(path)
    assert sorted(quarantined(check)) == [10, 2900]
    assert {q.reason for q in check.quarantine} == {UNCLOSED}
    assert check.rows_read == 3000 and check.rows_loaded == 2998 and adds_up(check)


def test_a_quoted_field_spanning_lines_is_an_error_for_each_line_it_spans(tmp_path):
    rows = benefit_rows(200)
    text = csv_text(HEADERS["benefits"], rows)
    text += '22,"M1\nM1b\nM1c",傷病手当金,2024-04-01,2024-04-10,2024-04-12,郵送,支給\n'  # lines 202–204
    text += "22,Z1,傷病手当金,2024-04-01,2024-04-10,2024-04-12,郵送,支給\n"  # line 205
    check = check_feed_file(write_bytes(tmp_path / "benefits" / "202404.csv", text.encode()), max_bad_row_share=0.05)
    q = quarantined(check)
    assert sorted(q) == [202, 203, 204]
    assert q[202].reason == UNCLOSED and q[204].reason == UNCLOSED
    assert check.rows_read == 204 and check.rows_loaded == 201 and adds_up(check)
    assert "Z1" in set(check.frame["application_id"])


def test_the_bad_row_share_is_computed_on_physical_lines(tmp_path):
    text = csv_text(HEADERS["benefits"], benefit_rows(98)) + '22,"S1\nS2",傷病手当金,2024-04-01,2024-04-10,2024-04-12,郵送,支給\n'
    path = write_bytes(tmp_path / "benefits" / "202404.csv", text.encode())
    with pytest.raises(TooManyBadRows) as exc:  # 2 broken lines of 100 = 2% > 1%
        check_feed_file(path)
    assert "データ行100行のうち2行（2.0%）" in exc.value.reason
    assert exc.value.check.rows_read == 100


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_line_breaks_crlf_lf_and_a_lone_cr_read_the_same(tmp_path, newline):
    rows = benefit_rows(20) + [["22", "BAD", "傷病手当金", "2024-04-11", "2024-04-10", "2024-04-12", "郵送", "支給"]]
    text = csv_text(HEADERS["benefits"], rows, newline=newline) + newline  # and a blank last line
    check = check_feed_file(write_bytes(tmp_path / "benefits" / "202404.csv", text.encode()), max_bad_row_share=1.0)
    assert check.rows_read == 21 and check.rows_loaded == 20 and check.rows_blank == 1
    assert list(quarantined(check)) == [22]
    assert check.frame["source_row"].tolist() == list(range(2, 22))
    assert check.frame["decision"].tolist() == ["支給"] * 20  # no line break left in the last cell


@pytest.mark.parametrize("tail", [b"\x1a", b"\x1a\r\n", b"\x1a\n", b"\r\n\x1a"])
def test_a_dos_end_of_file_byte_is_a_marker_not_a_row(tmp_path, tail):
    data = csv_text(HEADERS["benefits"], benefit_rows(10), newline="\r\n").encode("cp932")
    if tail.startswith(b"\r\n"):
        data = data[:-2]
    check = check_feed_file(write_bytes(tmp_path / "benefits" / "202404.csv", data + tail))
    assert check.rows_read == 10 and check.rows_loaded == 10 and check.quarantine == [] and check.rows_blank == 0


@pytest.mark.parametrize(
    "cell,column,reason",
    [
        ("A\x07B", "申請番号", "制御文字（U+0007）が含まれています"),
        ("A\tB", "申請番号", "制御文字（タブ U+0009）が含まれています"),
        ("郵送\x7f", "受付方法", "制御文字（DEL U+007F）が含まれています"),
        ("2024-04-01\x0c", "受付日", "制御文字（U+000C）が含まれています"),
    ],
)
def test_a_control_character_in_a_cell_is_a_row_error(tmp_path, cell, column, reason):
    rows = benefit_rows(10)
    bad = list(GOOD)
    bad[1] = "C1"
    bad[HEADERS["benefits"].index(column)] = cell
    check = check_feed_file(write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], rows + [bad]), max_bad_row_share=1.0)
    q = quarantined(check)
    assert list(q) == [12] and q[12].column_name == column and q[12].reason == reason
    assert "\x07" not in q[12].value and "\t" not in q[12].value  # shown visibly, never raw
    assert check.rows_loaded == 10 and adds_up(check)


def test_an_excel_cell_with_a_line_break_is_a_row_error(tmp_path):
    rows = benefit_rows(5) + [["22", "C1", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵\n送", "支給"]]
    check = check_feed_file(write_xlsx(tmp_path / "benefits" / "202404.xlsx", HEADERS["benefits"], rows), max_bad_row_share=1.0)
    q = quarantined(check)
    assert list(q) == [7] and q[7].reason == "制御文字（改行 U+000A）が含まれています" and q[7].value == "郵\\n送"


# --- 2. bounds (class 4) ---------------------------------------------------------------------------

GOOD_CLAIM = ["22", "X", "202402", "内容点検", "1000", "100", "査定"]


def claims(tmp_path, bad_rows, suffix="csv"):
    rows = [GOOD_CLAIM[:1] + [f"G{i}"] + GOOD_CLAIM[2:] for i in range(10)] + bad_rows
    writer = write_csv if suffix == "csv" else write_xlsx
    return check_feed_file(writer(tmp_path / "claims_review" / f"202404.{suffix}", HEADERS["claims_review"], rows), max_bad_row_share=1.0)


@pytest.mark.parametrize(
    "claimed,reason",
    [
        ("99999999999999999999", "請求点数が上限（100,000,000）を超えています"),  # beyond int64
        (str(2**60 + 1), "請求点数が上限（100,000,000）を超えています"),
        ("100,000,001", "請求点数が上限（100,000,000）を超えています"),
        ("-99999999999999999999", "請求点数が下限（-9,223,372,036,854,775,808）を下回っています"),
        ("9" * 5000, "請求点数が上限（100,000,000）を超えています"),  # beyond Python's int() digit limit
    ],
)
def test_an_integer_beyond_its_bound_is_quarantined_naming_the_bound(tmp_path, claimed, reason):
    check = claims(tmp_path, [["22", "C1", "202402", "内容点検", claimed, "0", "返戻"]])
    q = quarantined(check)
    assert list(q) == [12] and q[12].column_name == "請求点数" and q[12].reason == reason
    assert check.rows_loaded == 10 and adds_up(check)


def test_integers_are_exact_up_to_the_bound_and_near_2_60(tmp_path):
    check = claims(tmp_path, [["22", "C1", "202402", "内容点検", "100,000,000", "99999999", "査定"]])
    assert check.quarantine == []
    row = check.frame.set_index("claim_id").loc["C1"]
    assert int(row["claimed_points"]) == 100_000_000 and int(row["reduced_points"]) == 99_999_999
    values, errors = parse_integers(pd.Series([str(2**60 + 1), "９２２３３７２０３６８５４７７５８０７"], dtype="object"))
    assert values.tolist() == [2**60 + 1, 2**63 - 1] and errors.isna().all()  # never through a float


def test_excel_numeric_cells_go_through_the_same_bounds(tmp_path):
    rows = [["22", "C1", "202402", "内容点検", 1e20, 0, "返戻"], ["22", "C2", "202402", "内容点検", 5000.0, 10, "査定"]]
    check = claims(tmp_path, rows, suffix="xlsx")
    q = quarantined(check)
    assert list(q) == [12] and q[12].reason == "請求点数が上限（100,000,000）を超えています"
    assert check.frame.set_index("claim_id").loc["C2", "claimed_points"] == 5000


@pytest.mark.parametrize(
    "value,reason",
    [
        ("1" + "0" * 400, "値が上限（1,000,000,000,000,000）を超えています"),  # once loaded as +Inf
        ("1e400", "数値として読めません"),
        ("inf", "数値として読めません"),
        ("nan", "数値として読めません"),
        ("1e300", "数値として読めません"),
        ("100,000,000,000,000", "値が指標ごとの上限（10,000,000,000,000円）を超えています"),  # 10^14 円 in a month
    ],
)
def test_an_indicator_value_must_be_finite_and_within_its_indicators_maximum(tmp_path, value, reason):
    rows = [["22", "medical_cost_total", value], ["23", "medical_cost_total", "68,000,000,000"]]
    check = check_feed_file(write_csv(tmp_path / "indicators" / "202404.csv", HEADERS["indicators"], rows), max_bad_row_share=1.0)
    q = quarantined(check)
    assert list(q) == [2] and q[2].column_name == "値" and q[2].reason == reason
    assert check.frame["value"].tolist() == [68_000_000_000.0]


def test_every_indicator_has_a_maximum_and_the_suite_enforces_it():
    assert all(0 < i.max <= 1e15 for i in indicators())
    suite = json.loads(Path("expectations/indicators.json").read_text(encoding="utf-8"))
    rule = next(e for e in suite["expectations"] if e["meta"]["rule"] == "indicators.value.max")
    assert rule["kwargs"]["column_A"] == "_value_max" and rule["meta"]["blame"] == "value"


@pytest.mark.parametrize(
    "column,value,reason",
    [
        ("決定日", "2608-11-29", "決定日が範囲（1900-01-01～2100-12-31）の外です"),  # once stored as 2024-05-10
        ("決定日", "9999-12-31", "決定日が範囲（1900-01-01～2100-12-31）の外です"),
        ("受付日", "1899-12-31", "受付日が範囲（1900-01-01～2100-12-31）の外です"),
        ("受付日", "令和99年4月1日", "受付日が範囲（1900-01-01～2100-12-31）の外です"),
    ],
)
def test_a_date_outside_1900_2100_is_quarantined_before_any_timestamp(tmp_path, column, value, reason):
    bad = ["22", "D1", "傷病手当金", "2024-04-01", "2024-04-10", "", "郵送", "不支給"]
    bad[HEADERS["benefits"].index(column)] = value
    check = check_feed_file(write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], benefit_rows(10) + [bad]), max_bad_row_share=1.0)
    q = quarantined(check)
    assert list(q) == [12] and q[12].column_name == column and q[12].reason == reason
    assert set(check.frame["decided_on"]) == {pd.Timestamp("2024-04-10")} and check.rows_loaded == 10


def test_excel_date_cells_and_months_are_bounded_too(tmp_path):
    rows = [["22", "D1", "傷病手当金", dt.datetime(2024, 4, 1), dt.datetime(9999, 12, 31), None, "郵送", "不支給"]]
    check = check_feed_file(write_xlsx(tmp_path / "benefits" / "202404.xlsx", HEADERS["benefits"], benefit_rows(5) + rows), max_bad_row_share=1.0)
    assert quarantined(check)[7].reason == "決定日が範囲（1900-01-01～2100-12-31）の外です"
    check = claims(tmp_path, [["22", "C1", "999912", "内容点検", "10", "0", "返戻"]])
    assert quarantined(check)[12].reason == "診療年月が範囲（1900-01～2100-12）の外です"


def test_screenings_completed_above_eligible_is_quarantined(tmp_path):
    rows = [["22", "被保険者", "生活習慣病予防健診", "136,813", "999,999"], ["22", "被扶養者", "特定健診", "1000", "1000"],
            ["23", "被保険者", "生活習慣病予防健診", "60,000,000", "1"]]
    check = check_feed_file(write_csv(tmp_path / "screenings" / "202404.csv", HEADERS["screenings"], rows), max_bad_row_share=1.0)
    q = quarantined(check)
    assert sorted(q) == [2, 4]
    assert q[2].column_name == "実施者数" and q[2].reason == "実施者数が対象者数を超えています"
    assert q[4].reason == "対象者数が上限（50,000,000）を超えています"
    suite = json.loads(Path("expectations/screenings.json").read_text(encoding="utf-8"))
    rule = next(e for e in suite["expectations"] if e["meta"]["rule"] == "screenings.completed.not_above_eligible")
    assert rule["meta"]["reason_ja"] == "実施者数が対象者数を超えています" and rule["meta"]["blame"] == "completed"


def test_every_numeric_and_date_column_declares_its_bounds_in_the_layout():
    for feed in ("benefits", "claims_review", "screenings", "indicators"):
        for c in feed_layout(feed).columns:
            if c.type in ("integer", "number", "date", "month"):
                assert c.max is not None, (feed, c.canonical)


# --- 3. Excel: the sheet a person sees (class 5) -----------------------------------------------------

SCREENING_ROWS = [["22", "被保険者", "生活習慣病予防健診", 1000, 10], ["23", "被保険者", "生活習慣病予防健診", 2000, 20]]


def workbook(path: Path, sheets: list[tuple[str, str, list[list[object]] | None]], active: int) -> Path:
    """Sheets as (title, state, rows with the header first or None for notes)."""
    from openpyxl import Workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    wb.remove(wb.active)
    for title, state, rows in sheets:
        ws = wb.create_sheet(title)
        for r in rows if rows is not None else [["メモ：4月分は差し替え予定"]]:
            ws.append(r)
        ws.sheet_state = state
    wb.active = active
    wb.save(path)
    return path


def edit_member(path: Path, member: str, old: str, new: str) -> None:
    """Rewrite one XML part of a saved workbook (for what openpyxl refuses to write)."""
    with zipfile.ZipFile(path) as z:
        parts = {n: z.read(n) for n in z.namelist()}
    text = parts[member].decode("utf-8")
    assert old in text, text
    parts[member] = text.replace(old, new).encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_a_hidden_first_sheet_with_stale_data_is_never_loaded(tmp_path):
    path = workbook(tmp_path / "screenings" / "202404.xlsx",
                    [("旧データ", "hidden", [HEADERS["screenings"], ["22", "被保険者", "生活習慣病予防健診", 1, 1]]),
                     ("今月", "visible", [HEADERS["screenings"], *SCREENING_ROWS])], active=1)
    with pytest.raises(FileRejected) as exc:
        check_feed_file(path)
    assert "シート「今月」" in exc.value.reason and "シート「旧データ」（非表示）" in exc.value.reason
    assert "どのシートを読み込むか決められません" in exc.value.reason


def test_a_very_hidden_sheet_with_data_rejects_the_file_too(tmp_path):
    path = workbook(tmp_path / "screenings" / "202404.xlsx",
                    [("今月", "visible", [HEADERS["screenings"], *SCREENING_ROWS]),
                     ("裏", "veryHidden", [["", "", ""], HEADERS["screenings"], ["22", "被保険者", "生活習慣病予防健診", 1, 1]])], active=0)
    with pytest.raises(FileRejected, match="シート「裏」（完全に非表示（veryHidden））"):
        check_feed_file(path)


def test_two_visible_data_sheets_reject_the_file_naming_both(tmp_path):
    path = workbook(tmp_path / "screenings" / "202404.xlsx",
                    [("4月", "visible", [HEADERS["screenings"], *SCREENING_ROWS]),
                     ("4月(2)", "visible", [HEADERS["screenings"], *SCREENING_ROWS])], active=0)
    with pytest.raises(FileRejected) as exc:
        check_feed_file(path)
    assert "「4月」" in exc.value.reason and "「4月(2)」" in exc.value.reason


def test_a_notes_sheet_is_ignored_with_a_warning_naming_it(tmp_path):
    path = workbook(tmp_path / "screenings" / "202404.xlsx",
                    [("メモ", "visible", None), ("今月", "visible", [HEADERS["screenings"], *SCREENING_ROWS]), ("作業用", "hidden", None)], active=1)
    check = check_feed_file(path, max_bad_row_share=1.0)
    assert check.sheet == "今月" and check.rows_loaded == 2
    assert check.warnings == ["フィードのヘッダーがないシートを読み込みませんでした：「メモ」、「作業用」（非表示）"]


def test_a_hidden_active_sheet_is_rejected_naming_it(tmp_path):
    path = workbook(tmp_path / "screenings" / "202404.xlsx",
                    [("見える", "visible", None), ("今月", "hidden", [HEADERS["screenings"], *SCREENING_ROWS])], active=0)
    edit_member(path, "xl/workbook.xml", 'activeTab="0"', 'activeTab="1"')  # openpyxl never saves a hidden active sheet
    with pytest.raises(FileRejected, match="表示中のシート「今月」（非表示）が非表示になっています"):
        check_feed_file(path)


def test_a_wrong_stored_dimension_never_cuts_rows_or_columns(tmp_path):
    path = write_xlsx(tmp_path / "screenings" / "202404.xlsx", HEADERS["screenings"], SCREENING_ROWS)
    edit_member(path, "xl/worksheets/sheet1.xml", '<dimension ref="A1:E3"', '<dimension ref="A1:A1"')
    check = check_feed_file(path, max_bad_row_share=1.0)
    assert check.rows_loaded == 2 and check.frame["completed"].tolist() == [10, 20]


# --- 4. values are kept as sent (class 9) ------------------------------------------------------------


def test_text_keys_are_kept_as_sent_and_codes_are_normalised(tmp_path):
    rows = [["22", "ID①", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"],
            ["22", "ID1", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"],
            ["22", "㈱0001", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"],
            ["22", " ID2　", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"],
            ["22", "ID2", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"]]
    check = check_feed_file(write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], rows), max_bad_row_share=1.0)
    assert check.frame["application_id"].tolist() == ["ID①", "ID1", "㈱0001"]
    q = quarantined(check)  # uniqueness compares what is stored: " ID2　" is stored as "ID2"
    assert sorted(q) == [5, 6] and all("申請番号がファイル内で重複しています" in x.reason for x in q.values())
    rows = [["２２", "ｌｉｎｅ＿ｐｏｓｔｓ", "３"]]  # a code in full width still matches its value set
    check = check_feed_file(write_csv(tmp_path / "indicators" / "202404.csv", HEADERS["indicators"], rows), max_bad_row_share=1.0)
    assert check.quarantine == [] and check.frame["indicator"].tolist() == ["line_posts"]


def test_layout_types_code_and_text():
    types = {c.canonical: c.type for c in feed_layout("benefits").columns}
    assert types["application_id"] == "text" and {types[c] for c in ("benefit_type", "channel", "decision")} == {"code"}
    assert {c.canonical: c.type for c in feed_layout("claims_review").columns}["claim_id"] == "text"
    for feed, cols in (("claims_review", ("review_type", "outcome")), ("screenings", ("population", "program")), ("indicators", ("indicator",))):
        types = {c.canonical: c.type for c in feed_layout(feed).columns}
        assert {types[c] for c in cols} == {"code"}


# --- 5. resource limits (class 9) --------------------------------------------------------------------


def test_a_header_of_a_million_unknown_columns_is_rejected_before_any_heavy_work(tmp_path):
    header = ",".join(HEADERS["screenings"] + [f"x{i}" for i in range(1_000_000)])
    path = write_bytes(tmp_path / "screenings" / "202404.csv", (header + "\n22,被保険者,生活習慣病予防健診,10,1\n").encode())
    with pytest.raises(FileRejected) as exc:
        check_feed_file(path)
    assert exc.value.reason == "1行目の長さ（7,888,911文字）が上限（10,000文字）を超えています"


def test_too_many_header_columns_within_the_line_length_are_rejected(tmp_path):
    header = HEADERS["screenings"] + [f"c{i}" for i in range(300)]
    path = write_csv(tmp_path / "screenings" / "202404.csv", header, [["22", "被保険者", "生活習慣病予防健診", "10", "1"]])
    with pytest.raises(FileRejected, match=r"ヘッダー（1行目）の列数（305）が上限（100）を超えています"):
        check_feed_file(path)


def test_a_long_data_line_rejects_the_file_naming_the_line(tmp_path):
    rows = [["22", "被保険者", "生活習慣病予防健診", "10", "1"], ["22", "被扶養者", "特定健診", "10", "1" + " " * 20_000]]
    with pytest.raises(FileRejected, match=r"3行目の長さ（20,\d{3}文字）が上限（10,000文字）を超えています"):
        check_feed_file(write_csv(tmp_path / "screenings" / "202404.csv", HEADERS["screenings"], rows))


def test_file_size_limit_from_the_layout(tmp_path):
    layout = feed_layout("screenings")
    assert layout.limits.max_file_bytes == 16 * 1024 * 1024
    path = tmp_path / "screenings" / "202404.csv"
    check_file_size(path, layout.limits.max_file_bytes, layout)  # at the limit: fine
    with pytest.raises(FileRejected) as exc:
        check_file_size(path, layout.limits.max_file_bytes + 1, layout)
    assert exc.value.reason == "ファイルサイズ（16,777,217バイト）が上限（16,777,216バイト）を超えています"
    big = (",".join(HEADERS["screenings"]) + "\n").encode() + b"\n" * (16 * 1024 * 1024)
    write_bytes(path, big)
    with pytest.raises(FileRejected, match="ファイルサイズ"):
        check_feed_file(path)


def test_an_excel_row_beyond_the_column_limit_is_rejected(tmp_path):
    from openpyxl import Workbook

    path = tmp_path / "screenings" / "202404.xlsx"
    path.parent.mkdir(parents=True)
    wb = Workbook()
    ws = wb.active
    ws.append(HEADERS["screenings"])
    ws.append(["22", "被保険者", "生活習慣病予防健診", 10, 1])
    ws.cell(3, 5000, "x")
    wb.save(path)
    with pytest.raises(FileRejected, match=r"シート「Sheet」の3行目の列数（5,000）が上限（100）を超えています"):
        check_feed_file(path)


def test_many_unknown_columns_are_one_short_warning(tmp_path):
    header = HEADERS["screenings"] + [f"列メモ{i}" for i in range(90)]
    check = check_feed_file(write_csv(tmp_path / "screenings" / "202404.csv", header, [["22", "被保険者", "生活習慣病予防健診", "10", "1"]]),
                            max_bad_row_share=1.0)
    assert check.warnings == ["不明な列（90列）を無視しました：列メモ0、列メモ1、列メモ2、列メモ3、列メモ4 ほか85個"]


# --- 6. read once ------------------------------------------------------------------------------------


def test_given_bytes_are_parsed_and_hashed_without_opening_the_file(tmp_path):
    data = csv_text(HEADERS["benefits"], benefit_rows(5)).encode("cp932")
    path = tmp_path / "benefits" / "202404.csv"  # never written
    check = check_feed_file(path, data=data)
    assert check.rows_loaded == 5 and check.sha256 == hashlib.sha256(data).hexdigest() and check.encoding == "cp932"
    write_csv(path, HEADERS["benefits"], benefit_rows(7))  # what is on disk now differs: the given bytes count
    assert check_feed_file(path, data=data).rows_loaded == 5
    xlsx = write_xlsx(tmp_path / "x" / "screenings" / "202404.xlsx", HEADERS["screenings"], SCREENING_ROWS).read_bytes()
    check = check_feed_file(tmp_path / "screenings" / "202404.xlsx", data=xlsx, max_bad_row_share=1.0)
    assert check.rows_loaded == 2 and check.sha256 == hashlib.sha256(xlsx).hexdigest()
    table = read_table(tmp_path / "screenings" / "202404.xlsx", data=xlsx)
    assert table.sha256 == check.sha256 and table.rows_read == 2


_OPENED: list[str] = []


def _audit(event, args):
    if event == "open" and _OPENED and isinstance(args[0], (str, Path)) and str(args[0]) == _OPENED[0]:
        _OPENED.append(event)


sys.addaudithook(_audit)


def test_without_bytes_the_file_is_opened_once(tmp_path):
    path = write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], benefit_rows(5))
    _OPENED[:] = [str(path)]
    try:
        check = check_feed_file(path)
    finally:
        opened = len(_OPENED) - 1
        _OPENED.clear()
    assert opened == 1
    assert check.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


# --- 7. Japanese messages and reasons ------------------------------------------------------------------


def test_rejection_sentence_and_bare_reason(tmp_path):
    path = write_bytes(tmp_path / "screenings" / "202404.csv", b"")
    with pytest.raises(FileRejected) as exc:
        check_feed_file(path)
    assert str(exc.value) == f"{path} を却下しました：ファイルが空です。"
    assert exc.value.reason == "ファイルが空です" and exc.value.path == str(path)


def test_reasons_never_show_a_placeholder_and_parse_errors_are_counted_once(tmp_path):
    rows = benefit_rows(10) + [
        ["22", "B1", "傷病手当金", "2024-03-01", "2024-03-29", "2024-04-01", "郵送", "支給"],  # outside the file's month
        ["22", "B2", "傷病手当金", "2024-02-30", "2024-04-10", "2024-04-12", "郵送", "支給"],  # a date that does not exist
    ]
    check = check_feed_file(write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], rows), max_bad_row_share=1.0)
    q = quarantined(check)
    assert q[12].reason == "決定日がファイルの対象月（令和6年4月）の外です"
    assert q[13].column_name == "受付日" and q[13].reason == "存在しない日付です"  # the column is shown once, by the renderer
    outcomes = {e.rule: e for e in check.suite.expectations}
    assert all("{" not in e.reason_ja for e in check.suite.expectations)
    assert outcomes["benefits.decided_on.in_file_month"].reason_ja == "決定日がファイルの対象月（令和6年4月）の外です"
    assert outcomes["benefits.received_on.required"].unexpected_count == 0  # not counted as "empty"
    assert outcomes["benefits.received_on.format"].unexpected_count == 1
    assert "存在しない日付です" in outcomes["benefits.received_on.format"].reason_ja
    assert sum(e.unexpected_count for e in check.suite.expectations) == check.rows_quarantined
    rows = [["22", "website_visits", "1"], ["22", "card_recovered_1m", "5"], ["22", "card_loss_cases", "1"]]
    check = check_feed_file(write_csv(tmp_path / "indicators" / "202404.csv", HEADERS["indicators"], rows), max_bad_row_share=1.0)
    assert quarantined(check)[2].reason == "全国のみの指標（website_visits）は支部コード00で報告します"
    reasons = {e.rule: e.reason_ja for e in check.suite.expectations}
    assert reasons["indicators.national.reported_as_00"] == "全国のみの指標は支部コード00で報告します"
    assert reasons["indicators.value.within_total"] == "内数の値が総数の値を超えています"


def test_consistency_findings_are_japanese(tmp_path):
    rows = benefit_rows(3)
    check = check_feed_file(write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], rows))
    assert len(check.findings) == 46
    assert check.findings[0].message == "北海道支部（01）の行がこのファイルにありません。当月の現金給付 決定実績の件数は0になります"


# --- the warehouse: feed_loads adds up, always ---------------------------------------------------------


@pytest.mark.warehouse
def test_feed_loads_adds_up_for_every_load_and_rejection_and_records_blank_lines(kenpo_env, warehouse):
    landing = kenpo_env.landing
    text = csv_text(HEADERS["benefits"], benefit_rows(300)) + "\n\n"
    lines = text.splitlines(keepends=True)
    lines[100] = lines[100].replace("G00099", '"G00099')
    path = write_bytes(landing / "benefits" / "202404.csv", "".join(lines).encode() + b"\x1a")
    r = load_feed_month(warehouse, landing, "benefits", "2024-04", 0.01)
    assert r.status == "loaded"
    load = warehouse.current_load("benefits", "2024-04")
    assert (load["rows_read"], load["rows_loaded"], load["rows_quarantined"], load["rows_blank"]) == (300, 299, 1, 2)
    q = warehouse.read_table("quarantine")
    assert q["row_number"].tolist() == [101] and q["reason"].tolist() == [UNCLOSED] and q["column_name"].tolist() == ["（行全体）"]
    assert len(warehouse.read_table("benefits")) == 299

    # a re-submission with too many bad lines is rejected and adds up too; the good load stays
    lines = csv_text(HEADERS["benefits"], benefit_rows(100)).splitlines(keepends=True)
    lines[10] = lines[10].replace("G00009", '"G00009')
    lines[20] = lines[20].replace("G00019", 'G00019"')
    write_bytes(path, "".join(lines).encode())
    r = load_feed_month(warehouse, landing, "benefits", "2024-04", 0.01)
    assert r.status == "rejected" and "データ行100行のうち2行（2.0%）" in r.message
    assert warehouse.current_load("benefits", "2024-04")["load_id"] == load["load_id"]

    # a file error (a hidden sheet with stale data) is rejected, the good load stays
    path.unlink()
    workbook(landing / "benefits" / "202404.xlsx",
             [("old", "hidden", [HEADERS["benefits"], *benefit_rows(3, "OLD")]), ("new", "visible", [HEADERS["benefits"], *benefit_rows(4)])], active=1)
    r = load_feed_month(warehouse, landing, "benefits", "2024-04", 0.01)
    assert r.status == "rejected" and "シート「old」（非表示）" in r.message
    assert warehouse.current_load("benefits", "2024-04")["load_id"] == load["load_id"]
    assert len(warehouse.read_table("benefits")) == 299

    loads = warehouse.loads()
    assert list(loads["status"]) == ["loaded", "rejected", "rejected"]
    assert (loads["rows_read"] == loads["rows_loaded"] + loads["rows_quarantined"]).all()
    assert loads.iloc[1]["rows_read"] == 100 and loads.iloc[1]["rows_blank"] == 0
    assert len(loads.iloc[2]["sha256"]) == 64  # the rejected bytes are identified


@pytest.mark.warehouse
def test_values_as_sent_and_exact_integers_reach_the_warehouse(kenpo_env, warehouse):
    rows = [GOOD[:1] + [i] + GOOD[2:] for i in ("ID①", "ID1", "㈱0001")]
    write_csv(kenpo_env.landing / "benefits" / "202404.csv", HEADERS["benefits"], rows)
    assert load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01).status == "loaded"
    assert sorted(warehouse.read_table("benefits")["application_id"]) == sorted(["ID①", "ID1", "㈱0001"])
    rows = [["22", "C1", "202402", "内容点検", "100,000,000", "99,999,999", "査定"]]
    write_csv(kenpo_env.landing / "claims_review" / "202404.csv", HEADERS["claims_review"], rows)
    assert load_feed_month(warehouse, kenpo_env.landing, "claims_review", "2024-04", 0.01).status == "loaded"
    stored = warehouse.read_table("claims_review").iloc[0]
    assert int(stored["claimed_points"]) == 100_000_000 and int(stored["reduced_points"]) == 99_999_999


@pytest.mark.warehouse
def test_dagster_metadata_stays_small_whatever_the_header(kenpo_env, dagster_instance):
    from kenpo_pipeline.defs.feeds import feed_assets

    header = HEADERS["screenings"] + [f"unknown_column_with_a_long_name_{i}" for i in range(95)]
    write_csv(kenpo_env.landing / "screenings" / "202404.csv", header, [["22", "被保険者", "生活習慣病予防健診", "10", "1"]])
    screenings = [a for a in feed_assets if a.key == dg.AssetKey("screenings")]
    result = dg.materialize(screenings, instance=dagster_instance, resources=dagster_resources(kenpo_env), partition_key="2024-04")
    assert result.success
    mat = dagster_instance.get_latest_materialization_event(dg.AssetKey("screenings")).asset_materialization
    warnings = mat.metadata["warnings"].value
    assert "不明な列（95列）を無視しました" in warnings and "ほか90個" in warnings and len(warnings) < 400
    schema = {c.name: c for c in mat.metadata["dagster/column_schema"].schema.columns}
    assert schema["program"].type == "text (code: NFKC)" and schema["eligible"].constraints.other == ["≤ 50,000,000"]
