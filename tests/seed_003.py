"""Seed 003's KPI実績一覧表 (令和5年度 静岡支部事業報告書), as printed, and the comparison of an evaluation with it.

Each row: the catalog's KPI id, then 実績, 達成状況 and ＜参考＞令和4年度実績 exactly as the table prints them
(full-width ％ included). A value is compared at the precision the table prints it: 「100％」 against a
computed 100.00% is compared to 0 decimals, from the unrounded numerator and denominator of
``kpi_actuals`` (never by rounding a rounded value again).
"""

from __future__ import annotations

import re
from decimal import Decimal

import pandas as pd

from kenpo_pipeline.domain.kpis.judgement import Point, exact_value, round_half_up
from kenpo_pipeline.domain.kpis.measures import measure

KPI_TABLE = [
    ("FY2023-22-01", "100％", "達成", "100%"),
    ("FY2023-22-02", "98.7%", "達成", "98.6%"),
    ("FY2023-22-03", "0.54%", "達成", "0.54%"),
    ("FY2023-22-04", "89.4%", "未達成", "94.1%"),
    ("FY2023-22-05", "0.452%", "達成", "0.334%"),
    ("FY2023-22-06", "7,135円", "達成", "6,615円"),
    ("FY2023-22-07", "84.12%", "未達成", "89.00%"),
    ("FY2023-22-08", "62.25%", "未達成", "64.29%"),
    ("FY2023-22-09", "69.6%", "未達成", "67.6%"),
    ("FY2023-22-10", "3.6%", "未達成", "5.9%"),
    ("FY2023-22-11", "27.2%", "未達成", "26.8%"),
    ("FY2023-22-12", "17.7%", "未達成", "16.9%"),
    ("FY2023-22-13", "18.7%", "達成", "12.3%"),
    ("FY2023-22-14", "10.7%", "未達成", "11.0%"),
    ("FY2023-22-15", "6,766事業所", "達成", "6,407事業所"),
    ("FY2023-22-16", "68.3%", "達成", "65.4%"),
    ("FY2023-22-17", "84.2%", "達成", "82.4%"),
    ("FY2023-22-18", "実施", "達成", "実施"),
    ("FY2023-22-19", "8.4%", "達成", "10.0%"),
]

_NUMBER = re.compile(r"^([0-9][0-9,]*(?:\.([0-9]+))?)(.*)$")


def printed(text: str) -> tuple[Decimal, int, str] | None:
    """(number, decimals printed, unit) of a printed value; None for a word such as 実施."""
    match = _NUMBER.match(text.replace("％", "%"))
    if not match:
        return None
    return Decimal(match.group(1).replace(",", "")), len(match.group(2) or ""), match.group(3)


def _exact(actuals: pd.DataFrame, measure_id: str, month: str) -> Decimal | None:
    row = actuals[(actuals["branch_code"] == "22") & (actuals["measure"] == measure_id) & (actuals["as_of_month"] == month)]
    assert len(row) == 1, (measure_id, month, len(row))
    r = row.iloc[0]
    f = lambda x: None if pd.isna(x) else float(x)  # noqa: E731
    return exact_value(measure(measure_id), Point(f(r["value"]), f(r["numerator"]), f(r["denominator"]), int(r["months_covered"]), bool(r["complete"]), ()))


def differences(evaluation: pd.DataFrame, actuals: pd.DataFrame, prior_actuals: pd.DataFrame) -> list[str]:
    """Every way 静岡's FY2023 evaluation (``pdca_evaluation`` rows) and its ``kpi_actuals`` (FY2023 and
    FY2022) differ from seed 003's KPI実績一覧表; empty when all 19 rows agree."""
    rows = evaluation[evaluation["branch_code"] == "22"].set_index("kpi_id")
    problems = []
    if sorted(rows.index) != [kid for kid, *_ in KPI_TABLE]:
        problems.append(f"KPIs {sorted(rows.index)}")
    for kid, actual, status, previous in KPI_TABLE:
        if kid not in rows.index:
            continue
        row = rows.loc[kid]
        if row["status"] != status:
            problems.append(f"{kid} 達成状況 {row['status']} ≠ {status} ({row['actual_text']}, {row['reason']})")
        for label, seed_text, text, data, month in (("実績", actual, row["actual_text"], actuals, "2024-03"),
                                                      ("前年度実績", previous, row["prior_year_text"], prior_actuals, "2023-03")):
            number = printed(seed_text)
            if number is None:  # a word: the row says the same word
                if text != seed_text:
                    problems.append(f"{kid} {label} {text} ≠ {seed_text}")
                continue
            value, decimals, unit = number
            exact = _exact(data, row["measure"], month)
            shown = None if exact is None else round_half_up(exact, decimals)
            if shown != value or not text.endswith(unit):
                problems.append(f"{kid} {label} {text} (= {shown} at {decimals} decimals) ≠ {seed_text}")
    return problems
