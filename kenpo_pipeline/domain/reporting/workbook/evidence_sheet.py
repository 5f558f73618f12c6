"""根拠: each evaluated KPI of the scope traced to its numerator, denominator, year-to-date months,
the national value and the loads behind it (``reporting.evidence``; nothing recomputed)."""

from __future__ import annotations

from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.calendar import fiscal_year_label_ja
from kenpo_pipeline.domain.reference import branch_name
from kenpo_pipeline.domain.reporting.evidence import evidence_blocks, write_evidence_sheet
from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.page import print_setup

TITLE = "根拠"
NO_MEASURE = "手入力または支部数で判定するKPIです（数値の根拠はKPIカタログ・手入力ファイル、支部別シート）。"


def applies(book: Book) -> bool:
    return not book.mine.empty


def write(ws: Worksheet, book: Book) -> None:
    blocks, without = [], []
    rows = book.mine.sort_values("kpi_order").to_dict("records")
    for row, ev in zip(rows, evidence_blocks(rows, book.actuals, book.loads)):
        if ev is None:
            without.append((row["kpi_text"], NO_MEASURE))
        else:
            blocks.append(ev)
    write_evidence_sheet(ws, f"{fiscal_year_label_ja(book.fy)} 実績の根拠（{branch_name(book.branch)}）", blocks, without)
    print_setup(ws, book, "1:1")  # the workbook's page header and footer (over the evidence writer's own page number)
