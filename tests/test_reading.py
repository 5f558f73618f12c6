"""Reading files: encodings, Excel, header position, row numbers, file-level errors."""

import pytest

from conftest import HEADERS, write_csv, write_xlsx
from kenpo_pipeline.domain.intake.feeds import check_feed_file
from kenpo_pipeline.domain.intake.reading import FileRejected, read_table

ROWS = [["22", "1", "被保険者", "特定保健指導", "100", "5"]]


def screening_rows():
    return [["22", "被保険者", "生活習慣病予防健診", "1,000", "10"], ["22", "被扶養者", "特定健診", "500", "3"]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_csv_encodings_are_detected(tmp_path, encoding):
    path = write_csv(tmp_path / "screenings" / "202404.csv", HEADERS["screenings"], screening_rows(), encoding=encoding)
    check = check_feed_file(path, max_bad_row_share=1.0)
    assert check.encoding == encoding
    assert check.rows_loaded == 2 and check.rows_quarantined == 0
    assert list(check.frame["program"]) == ["生活習慣病予防健診", "特定健診"]
    assert list(check.frame["eligible"]) == [1000, 500]


def test_utf16_is_rejected_naming_the_encoding(tmp_path):
    path = tmp_path / "screenings" / "202404.csv"
    path.parent.mkdir()
    path.write_bytes("支部コード,区分\n".encode("utf-16"))
    with pytest.raises(FileRejected) as exc:
        check_feed_file(path)
    assert str(path) in str(exc.value) and "UTF-16" in str(exc.value)


def test_undecodable_bytes_are_rejected(tmp_path):
    path = tmp_path / "screenings" / "202404.csv"
    path.parent.mkdir()
    path.write_bytes(b"\x81\x7f\xff\xfe\xfd" * 10)
    with pytest.raises(FileRejected, match="UTF-8でもCP932"):
        check_feed_file(path)


def test_header_matching_is_nfkc_and_order_free(tmp_path):
    header = ["実施者数", " 対象者数 ", "事業", "区分", "支部ｺｰﾄﾞ"]  # half-width katakana, spaces, shuffled
    rows = [["10", "1000", "生活習慣病予防健診", "被保険者", "22"]]
    check = check_feed_file(write_csv(tmp_path / "screenings" / "202404.csv", header, rows), max_bad_row_share=1.0)
    assert check.rows_loaded == 1
    assert check.frame.iloc[0]["branch_code"] == "22" and check.frame.iloc[0]["completed"] == 10


def test_unknown_columns_are_ignored_with_a_warning(tmp_path):
    rows = [r + ["メモ"] for r in screening_rows()]
    check = check_feed_file(write_csv(tmp_path / "screenings" / "202404.csv", HEADERS["screenings"] + ["備考"], rows), max_bad_row_share=1.0)
    assert check.rows_loaded == 2
    assert check.warnings == ["不明な列（1列）を無視しました：備考"]


def test_missing_required_columns_reject_the_file_naming_them(tmp_path):
    header = ["支部コード", "区分", "対象者数"]
    path = write_csv(tmp_path / "screenings" / "202404.csv", header, [["22", "被保険者", "1"]])
    with pytest.raises(FileRejected) as exc:
        check_feed_file(path)
    msg = str(exc.value)
    assert msg.startswith(str(path)) and "事業" in msg and "実施者数" in msg and msg.endswith("。")
    assert msg == f"{path} を却下しました：ヘッダー（1行目）に必須の列がありません：事業、実施者数。"
    assert exc.value.reason == "ヘッダー（1行目）に必須の列がありません：事業、実施者数" and exc.value.path == str(path)


def test_duplicate_header_column_is_rejected(tmp_path):
    path = write_csv(tmp_path / "screenings" / "202404.csv", HEADERS["screenings"] + ["区分"], [r + ["x"] for r in screening_rows()])
    with pytest.raises(FileRejected, match="列「区分」が2回以上あります"):
        check_feed_file(path)


@pytest.mark.parametrize("content,reason", [(b"", "ファイルが空です"), (b"\n\n  \n", "ファイルが空です"), ("支部コード,区分,事業,対象者数,実施者数\n\n".encode(), "データ行がありません")])
def test_empty_files_are_rejected(tmp_path, content, reason):
    path = tmp_path / "screenings" / "202404.csv"
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(FileRejected, match=reason):
        check_feed_file(path)


@pytest.mark.parametrize("name", ["202413.csv", "202400.csv", "2024-04.csv", "april.csv"])
def test_file_name_that_is_not_a_month_is_rejected(tmp_path, name):
    path = write_csv(tmp_path / "screenings" / name, HEADERS["screenings"], screening_rows())
    with pytest.raises(FileRejected, match="は実在する年月ではありません"):
        check_feed_file(path)


def test_corrupt_xlsx_is_rejected(tmp_path):
    path = tmp_path / "screenings" / "202404.xlsx"
    path.parent.mkdir()
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FileRejected, match="Excelブック（.xlsx）として開けません"):
        check_feed_file(path)


def test_csv_row_numbers_are_physical_lines_and_blank_rows_are_counted_apart(tmp_path):
    path = tmp_path / "screenings" / "202404.csv"
    path.parent.mkdir()
    path.write_text(
        "支部コード,区分,事業,対象者数,実施者数\n"
        "22,被保険者,生活習慣病予防健診,1000,10\n"
        "\n"
        ",,,,\n"
        '22,被扶養者,"特定\n健診",500,3\n'  # a quoted field spanning lines 5–6: no field of a feed does
        "22,被扶養者,特定健診,-1,3\n",
        encoding="utf-8",
    )
    table = read_table(path)
    assert table.row_numbers == [2, 7] and [b.row_number for b in table.broken] == [5, 6]
    assert table.rows_blank == 2 and table.rows_read == 4
    check = check_feed_file(path, max_bad_row_share=1.0)
    assert check.rows_read == 4 and check.rows_blank == 2
    assert sorted(q.row_number for q in check.quarantine) == [5, 6, 7]  # each physical line of the record is an error


def test_xlsx_header_is_first_non_empty_row_and_rows_are_sheet_rows(tmp_path):
    import datetime as dt

    rows = [
        ["22", "A1", "傷病手当金", dt.datetime(2024, 4, 1), dt.datetime(2024, 4, 10), dt.datetime(2024, 4, 12), "郵送", "支給"],
        [22, "A2", "傷病手当金", "令和6年4月2日", 20240410, None, "郵送", "不支給"],
        ["22", "A3", "傷病手当金", dt.datetime(2024, 4, 20), dt.datetime(2024, 4, 10), dt.datetime(2024, 4, 12), "郵送", "支給"],
    ]
    path = write_xlsx(tmp_path / "benefits" / "202404.xlsx", HEADERS["benefits"], rows, leading_blank_rows=2)
    table = read_table(path)
    assert table.header_row == 3 and table.row_numbers == [4, 5, 6]
    check = check_feed_file(path, max_bad_row_share=1.0)
    assert check.file_format == "xlsx"
    assert [q.row_number for q in check.quarantine] == [6]
    assert check.frame["application_id"].tolist() == ["A1", "A2"]
    assert check.frame["branch_code"].tolist() == ["22", "22"]

