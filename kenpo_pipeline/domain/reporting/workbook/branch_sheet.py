"""支部別 (national workbook): 47 branches × KPI keys, each branch's actual coloured by its status
under the plan that applies to it, and the number of branches achieving each KPI."""

from __future__ import annotations

import pandas as pd
from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.calendar import fiscal_year_label_ja
from kenpo_pipeline.domain.kpis.judgement import ACHIEVED
from kenpo_pipeline.domain.kpis.measures import measure
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_codes, branch_name
from kenpo_pipeline.domain.reporting.presentation import present
from kenpo_pipeline.domain.reporting.workbook import styles
from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.cells import header, put_number, put_text
from kenpo_pipeline.domain.reporting.workbook.page import print_setup

TITLE = "支部別"
NO_PLAN = "事業計画未登録"


def applies(book: Book) -> bool:
    return book.national


def _labels(national: pd.DataFrame, branches: pd.DataFrame) -> dict[str, str]:
    """A short column title per KPI key: its measures' names (the KPI sentence's start for a manual KPI)."""
    labels: dict[str, str] = {}
    for r in pd.concat([national, branches]).to_dict("records"):
        measures = [m for m in str(r.get("measure") or "").split(",") if m]
        short = "・".join(measure(m).name_ja for m in measures) if measures else str(r["kpi_text"])[:40]
        labels.setdefault(r["kpi_key"], short)
    return labels


def write(ws: Worksheet, book: Book) -> None:
    evaluation = book.evaluation
    put_text(ws.cell(1, 1), f"{fiscal_year_label_ja(book.fy)} 支部別 KPI実績（各支部に適用される事業計画による判定）", styles.TITLE)
    branches = evaluation[evaluation["branch_code"] != NATIONAL_CODE]
    national = evaluation[evaluation["branch_code"] == NATIONAL_CODE].sort_values("kpi_order")
    keys = list(dict.fromkeys(list(national["kpi_key"]) + list(branches.sort_values("kpi_order")["kpi_key"])))
    labels = _labels(national, branches)
    header(ws, 3, ["支部", "適用する計画"] + [labels[k] for k in keys], [12, 14] + [16] * len(keys))
    ws.row_dimensions[3].height = 120
    by = {(r["branch_code"], r["kpi_key"]): r for r in branches.to_dict("records")}
    plan_of = {b: r["plan"] for (b, _), r in by.items()}
    achieved = {k: 0 for k in keys}
    codes = branch_codes()
    for i, code in enumerate(codes, start=4):
        put_text(ws.cell(i, 1), branch_name(code), styles.TEXT)
        put_text(ws.cell(i, 2), plan_of.get(code, NO_PLAN), styles.TEXT)
        for j, key in enumerate(keys, start=3):
            c = ws.cell(i, j)
            r = by.get((code, key))
            if r is None:
                put_text(c, "", styles.VALUE)
                continue
            shown = present(r)
            if shown.actual is not None:
                put_number(c, shown.actual, shown.number_format, styles.STATUS[shown.status])
            else:
                put_text(c, shown.actual_text, styles.STATUS[shown.status])
            achieved[key] += shown.status == ACHIEVED
    total_row = 4 + len(codes)
    put_text(ws.cell(total_row, 1), "達成支部数", styles.EMPHASIS)
    for j, key in enumerate(keys, start=3):
        put_number(ws.cell(total_row, j), achieved[key], '0"支部"', styles.TOTAL)
    ws.freeze_panes = "C4"
    print_setup(ws, book, "3:3")
