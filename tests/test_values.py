"""Every value form of shared spec/feeds.md "Common rules": dates, months, numbers, branch codes."""

import datetime as dt

import pandas as pd
import pytest

from kenpo_pipeline.domain.intake.values import parse_branch_codes, parse_codes, parse_dates, parse_integers, parse_months, parse_numbers, parse_text


def one(parser, value):
    values, errors = parser(pd.Series([value], dtype="object"))
    v = values.iloc[0]
    return (None if pd.isna(v) else v), errors.iloc[0]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2024-04-01", "2024-04-01"),
        ("2024/4/1", "2024-04-01"),
        ("2024/04/01", "2024-04-01"),
        ("20240401", "2024-04-01"),
        ("令和6年4月1日", "2024-04-01"),
        ("R6.4.1", "2024-04-01"),
        ("R06/04/01", "2024-04-01"),
        ("令和元年5月1日", "2019-05-01"),
        ("R1.5.1", "2019-05-01"),
        ("平成31年3月1日", "2019-03-01"),
        ("H31.3.1", "2019-03-01"),
        ("平成31年4月30日", "2019-04-30"),
        ("２０２４－０４－０１", "2024-04-01"),  # full-width digits and dash (NFKC)
        ("Ｒ６．４．１", "2024-04-01"),
        ("  2024-04-01 ", "2024-04-01"),
        (dt.datetime(2024, 4, 1), "2024-04-01"),  # an Excel date cell
        (dt.date(2024, 4, 1), "2024-04-01"),
        (20240401, "2024-04-01"),  # a number cell holding YYYYMMDD
    ],
)
def test_date_forms(text, expected):
    value, error = one(parse_dates, text)
    assert error is None
    assert value == pd.Timestamp(expected)


@pytest.mark.parametrize(
    "text,reason",
    [
        ("平成31年5月1日", "平成の期間外"),
        ("H31.5.1", "平成の期間外"),
        ("令和元年4月1日", "令和の期間外"),
        ("R1.4.30", "令和の期間外"),
        ("2024-02-30", "存在しない日付"),
        ("2023/2/29", "存在しない日付"),
        ("令和6年13月1日", "存在しない日付"),
        ("2024.04.01x", "日付として読めません"),
        ("昨日", "日付として読めません"),
    ],
)
def test_bad_dates_are_row_errors(text, reason):
    value, error = one(parse_dates, text)
    assert value is None
    assert reason in error


def test_empty_date_is_not_a_parse_error():
    value, error = one(parse_dates, "")
    assert value is None and error is None


@pytest.mark.parametrize(
    "text,expected",
    [
        ("202404", "2024-04"),
        ("2024-04", "2024-04"),
        ("2024/04", "2024-04"),
        ("2024/4", "2024-04"),
        ("令和6年4月", "2024-04"),
        ("R6.4", "2024-04"),
        ("平成30年5月", "2018-05"),
        ("H30.5", "2018-05"),
        ("令和元年5月", "2019-05"),
        ("平成31年4月", "2019-04"),
        (dt.datetime(2024, 4, 17), "2024-04"),  # Excel date cell → its month
        (202404, "2024-04"),
        ("２０２４０４", "2024-04"),
    ],
)
def test_month_forms(text, expected):
    assert one(parse_months, text) == (expected, None)


@pytest.mark.parametrize(
    "text,reason",
    [("平成31年5月", "平成の期間外"), ("令和元年4月", "令和の期間外"), ("202413", "存在しない年月"), ("2024年4月", "年月として読めません")],
)
def test_bad_months(text, reason):
    value, error = one(parse_months, text)
    assert value is None and reason in error


@pytest.mark.parametrize(
    "text,expected",
    [("1234", 1234), ("1,234", 1234), ("１２３", 123), ("１，２３４", 1234), (" 12 ", 12), (12.0, 12), (7, 7), ("-5", -5), ("1,234,567", 1234567)],
)
def test_integer_forms(text, expected):
    assert one(parse_integers, text) == (expected, None)


@pytest.mark.parametrize("text,reason", [("1.5", "整数ではありません"), ("12a", "整数として読めません"), ("1,23", "整数として読めません")])
def test_bad_integers(text, reason):
    value, error = one(parse_integers, text)
    assert value is None and reason in error


@pytest.mark.parametrize("text,expected", [("1,234.5", 1234.5), ("０．５", 0.5), ("1e3", None), ("12", 12.0)])
def test_number_forms(text, expected):
    value, error = one(parse_numbers, text)
    if expected is None:
        assert value is None and error == "数値として読めません"
    else:
        assert value == expected and error is None


@pytest.mark.parametrize("text,expected", [("01", "01"), ("1", "01"), ("１", "01"), (" 01 ", "01"), (1.0, "01"), ("47", "47"), ("00", "00"), ("48", "48"), ("AB", "AB")])
def test_branch_codes_canonical(text, expected):
    # Non-codes and out-of-range codes are kept as written: the suite's value-set rule rejects them.
    assert one(parse_branch_codes, text) == (expected, None)


def test_codes_are_nfkc_normalised_and_trimmed():
    assert one(parse_codes, " ｿﾉﾀ ") == ("ソノタ", None)
    assert one(parse_codes, "   ") == (None, None)


def test_text_is_kept_as_sent_apart_from_surrounding_whitespace():
    assert one(parse_text, " ｿﾉﾀ ") == ("ｿﾉﾀ", None)
    assert one(parse_text, "ID①") == ("ID①", None)
    assert one(parse_text, "㈱　") == ("㈱", None)  # a trailing full-width space is whitespace
    assert one(parse_text, "   ") == (None, None)
