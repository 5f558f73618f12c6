"""Fiscal calendar, eras and business days (shared spec/domain.md, spec/kpis.md §2)."""

import datetime as dt

import numpy as np
import pytest

from kenpo_pipeline.domain import calendar


def test_fiscal_year_and_months():
    assert calendar.fiscal_year_of_month("2024-04") == 2024
    assert calendar.fiscal_year_of_month("2025-03") == 2024
    assert calendar.fiscal_months(2024)[0] == "2024-04" and calendar.fiscal_months(2024)[-1] == "2025-03"
    assert len(calendar.fiscal_months(2024)) == 12
    assert calendar.add_months("2024-11", 3) == "2025-02"
    assert calendar.months_between("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]


def test_era_labels():
    assert calendar.fiscal_year_label_ja(2024) == "令和6年度"
    assert calendar.fiscal_year_label_ja(2019) == "令和元年度"
    assert calendar.fiscal_year_label_ja(2018) == "平成30年度"
    assert calendar.fiscal_year_label(2024) == "FY2024（令和6年度）"
    assert calendar.month_label_ja("2025-03") == "令和7年3月"
    assert calendar.month_label_ja("2019-04") == "平成31年4月"
    assert calendar.month_label_ja("2019-05") == "令和元年5月"


def days(a, b):
    return int(calendar.business_days_between([np.datetime64(a)], [np.datetime64(b)])[0])


def test_payment_on_day_of_receipt_takes_zero_days():
    assert days("2024-04-10", "2024-04-10") == 0


def test_next_business_day_is_one():
    assert days("2024-04-10", "2024-04-11") == 1
    assert days("2024-04-12", "2024-04-15") == 1  # Friday → Monday


def test_holidays_and_substitute_holidays_are_skipped():
    # 2024-05-03 (Fri, 憲法記念日) and 2024-05-06 (Mon, 振替休日) are not business days.
    assert days("2024-05-02", "2024-05-07") == 1
    assert not calendar.is_business_day(dt.date(2024, 5, 6))
    # 2026-09-22 is a citizens' holiday (国民の休日) between two holidays.
    assert not calendar.is_business_day(dt.date(2026, 9, 22))


def test_year_end_closure():
    # Dec 27, 2024 (Fri) → Jan 6, 2025 (Mon): Dec 28–29 weekend, Dec 30–Jan 3 closed, Jan 4–5 weekend.
    assert days("2024-12-27", "2025-01-06") == 1
    for d in ("2024-12-30", "2024-12-31", "2025-01-02", "2025-01-03"):
        assert not calendar.is_business_day(dt.date.fromisoformat(d))
    # Dec 29 on a weekday is also closed (2025-12-29 is a Monday).
    assert not calendar.is_business_day(dt.date(2025, 12, 29))


def test_exactly_ten_and_eleven_business_days():
    # From Mon 2024-06-03: 10 business days later is Mon 2024-06-17, 11 is Tue 2024-06-18.
    assert days("2024-06-03", "2024-06-17") == 10
    assert days("2024-06-03", "2024-06-18") == 11
    assert calendar.add_business_days(dt.date(2024, 6, 3), 10) == dt.date(2024, 6, 17)


def test_vectorised_over_arrays():
    start = np.array(["2024-04-01", "2024-12-27"], dtype="datetime64[D]")
    end = np.array(["2024-04-05", "2025-01-06"], dtype="datetime64[D]")
    assert list(calendar.business_days_between(start, end)) == [4, 1]


@pytest.mark.parametrize("text, fy", [
    ("2024", 2024), ("FY2024", 2024), ("fy 2024", 2024), ("2024年度", 2024), ("２０２４年度", 2024), ("令和6", 2024),
    ("令和6年度", 2024), ("令和６年", 2024), ("R6", 2024), ("令和元年度", 2019), ("平成30年度", 2018), ("H30", 2018),
])
def test_a_fiscal_year_as_people_write_it(text, fy):
    assert calendar.parse_fiscal_year(text) == fy


@pytest.mark.parametrize("text", ["", "24", "令和x", "平成32", "令和0", "2024-04", "FY24"])
def test_a_fiscal_year_that_is_none_is_one_japanese_sentence(text):
    with pytest.raises(ValueError, match=f"年度は 2024、FY2024、令和6、令和6年度 のいずれかの形で指定してください（指定値: {text!r}）"):
        calendar.parse_fiscal_year(text)
