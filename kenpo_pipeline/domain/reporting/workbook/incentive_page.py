"""インセンティブ: the インセンティブ制度 ranking (national workbook) or the branch's standing in it,
written by ``reporting.incentive_sheet`` from the year's ``incentive_ranking`` rows."""

from __future__ import annotations

from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.page import print_setup, spread_across_pages

TITLE = "インセンティブ"


def applies(book: Book) -> bool:
    return book.incentive is not None


def write(ws: Worksheet, book: Book) -> None:
    from kenpo_pipeline.domain.reporting.incentive_sheet import fill_incentive_sheet  # it uses this package's cells

    fill_incentive_sheet(ws, book.fy, book.branch, book.incentive)
    print_setup(ws, book, "1:1")  # the title on every page, and the workbook's page header and footer
    _readable(ws)


def _readable(ws: Worksheet) -> None:
    """The national ranking is 47 branches × five indicators × six figures: shrunk onto one page it
    prints at about 30%. It spreads instead over pages across at a readable scale, 順位・支部・合計点・区分
    repeated on each, each indicator's six columns kept together (and 備考 on its own)."""
    header = next((r for r in range(1, min(ws.max_row, 12) + 1) if ws.cell(r, 1).value == "順位"), None)
    if header is None:
        return
    titles = [str(ws.cell(header, c).value or "") for c in range(1, ws.max_column + 1)]
    fixed = next((i for i, t in enumerate(titles) if " " in t), len(titles))  # the columns before the first indicator's
    groups: list[tuple[int, int]] = []
    for column, title in enumerate(titles[fixed:], start=fixed + 1):
        name = title.rsplit(" ", 1)[0] if " " in title else title
        if groups and titles[groups[-1][0] - 1].rsplit(" ", 1)[0] == name:
            groups[-1] = (groups[-1][0], column)
        else:
            groups.append((column, column))
    if groups:
        spread_across_pages(ws, fixed, groups)
