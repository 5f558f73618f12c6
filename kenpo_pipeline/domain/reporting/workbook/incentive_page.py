"""インセンティブ: the インセンティブ制度 ranking (national workbook) or the branch's standing in it,
written by ``reporting.incentive_sheet`` from the year's ``incentive_ranking`` rows."""

from __future__ import annotations

from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.page import print_setup

TITLE = "インセンティブ"


def applies(book: Book) -> bool:
    return book.incentive is not None


def write(ws: Worksheet, book: Book) -> None:
    from kenpo_pipeline.domain.reporting.incentive_sheet import fill_incentive_sheet  # it uses this package's cells

    fill_incentive_sheet(ws, book.fy, book.branch, book.incentive)
    print_setup(ws, book, "1:1")  # the title on every page, and the workbook's page header and footer
