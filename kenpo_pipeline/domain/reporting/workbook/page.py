"""How a sheet prints: A4 landscape, one page wide, its header rows repeated on every page, and the
same page header and footer on every printed page of every sheet.

Header: the workbook's title (left) and the sheet's name (right). Footer: when the workbook was
made (作成日時, Japan time), the month the figures run to (データ基準月: the latest month the year's
evaluation includes), whether they are the published snapshot (公表版 第N版) or the current
recomputation (再計算), and 「N / M ページ」 (Excel's page codes ``&P`` / ``&N``).
"""

from __future__ import annotations

import datetime as dt

from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.calendar import month_label_ja
from kenpo_pipeline.domain.reporting.workbook.book import Book

JST = dt.timezone(dt.timedelta(hours=9))
PAGE_NUMBER = "&P / &N ページ"
"""Excel's header/footer codes: ``&P`` the page number, ``&N`` the number of pages (of the sheet)."""
PUBLISHED, RECOMPUTED = "公表版", "再計算"
NO_DATA_MONTH = "データ基準月：なし（評価できる月がありません）"


def _escaped(text: str) -> str:
    """Literal text in a header/footer section: ``&`` starts a code there, ``&&`` prints one."""
    return text.replace("&", "&&")


def created_at(ws: Worksheet) -> dt.datetime:
    """When the workbook was made, in Japan time: the workbook's own creation time (openpyxl sets it
    to UTC when the ``Workbook`` is created), so every sheet of a workbook prints the same time."""
    created = ws.parent.properties.created
    if created is None:
        return dt.datetime.now(JST)
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.timezone.utc)
    return created.astimezone(JST)


def as_of_month(book: Book) -> str | None:
    """The latest month the year's evaluation of the scope includes (``as_of_month`` of its rows; the
    published record's when the workbook shows a publication); without an evaluation of the scope,
    the latest month of its ``kpi_actuals``; ``None`` when the year has neither."""
    if book.publication is not None and book.publication[0].get("as_of_month"):
        return str(book.publication[0]["as_of_month"])
    for frame in (book.mine, book.evaluation):
        if len(frame) and "as_of_month" in frame and frame["as_of_month"].notna().any():
            return str(frame["as_of_month"].dropna().max())
    actuals = book.actuals
    if len(actuals) and "as_of_month" in actuals:
        mine = actuals[actuals["branch_code"] == book.branch]
        if len(mine):
            return str(mine["as_of_month"].max())
    return None


def version_label(book: Book) -> str:
    """``公表版（第2版）`` for a published snapshot, ``再計算（未公表）`` for the current recomputation."""
    if book.publication is not None:
        version = book.publication[0].get("version")
        return f"{PUBLISHED}（第{int(version)}版）" if version is not None else PUBLISHED
    return f"{RECOMPUTED}（未公表）"


def footer_texts(ws: Worksheet, book: Book) -> tuple[str, str, str]:
    """(left, centre, right) of the footer, as printed (before escaping)."""
    month = as_of_month(book)
    basis = f"データ基準月：{month_label_ja(month)}" if month else NO_DATA_MONTH
    return f"作成日時：{created_at(ws):%Y-%m-%d %H:%M}（日本時間）", PAGE_NUMBER, f"{basis}　{version_label(book)}"


def print_setup(ws: Worksheet, book: Book, header_rows: str) -> None:
    """A4 landscape, fitted to one page wide (as many pages down as needed), ``header_rows``
    (e.g. ``"3:3"``) repeated at the top of every printed page, and the page header and footer of
    ``book`` (see the module's docstring)."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = header_rows
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6  # inches: room for the header and footer
    ws.page_margins.header = ws.page_margins.footer = 0.25
    left, centre, right = footer_texts(ws, book)
    for header, footer in ((ws.oddHeader, ws.oddFooter), (ws.evenHeader, ws.evenFooter), (ws.firstHeader, ws.firstFooter)):
        header.left.text, header.right.text = _escaped(book.title), _escaped(ws.title)
        header.left.size = header.right.size = footer.left.size = footer.center.size = footer.right.size = 9
        footer.left.text, footer.center.text, footer.right.text = _escaped(left), centre, _escaped(right)


PRINTABLE_POINTS = 784.0  # A4 landscape (297 mm) less 0.4-inch margins each side
READABLE_SCALE = 70  # percent: below this a printed sheet's 11-point text is too small to read


def width_points(width: float) -> float:
    """A column width's printed size in points at 100% (Excel's width unit is the default font's digit)."""
    return width * 5.25 + 3.75


def column_points(ws: Worksheet, column: int) -> float:
    """A column's printed width in points at 100%."""
    from openpyxl.utils import get_column_letter

    return width_points(ws.column_dimensions[get_column_letter(column)].width or 8.43)


def spread_across_pages(ws: Worksheet, title_columns: int, groups: list[tuple[int, int]], scale: int = READABLE_SCALE) -> int:
    """Print a sheet too wide for one page at a readable ``scale`` over as many pages across as it
    needs, instead of shrinking it onto one: its first ``title_columns`` columns are repeated on
    every page, and the page breaks fall only between ``groups`` (first, last column of each block
    that belongs together, e.g. one indicator's columns), never inside one. Returns the number of
    pages across (1: the sheet fits one page wide at ``scale`` and keeps fit-to-width)."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.pagebreak import Break

    room = PRINTABLE_POINTS / (scale / 100) * 0.97 - sum(column_points(ws, c) for c in range(1, title_columns + 1))
    sizes = [(first, last, sum(column_points(ws, c) for c in range(first, last + 1))) for first, last in groups]
    if sum(size for *_, size in sizes) <= room:
        return 1
    ws.sheet_properties.pageSetUpPr.fitToPage = False  # a scale and manual breaks (fit-to-page would void them)
    ws.page_setup.scale = scale
    ws.print_title_cols = f"A:{get_column_letter(title_columns)}"
    pages, used = 1, 0.0
    for first, _, size in sizes:
        if used and used + size > room:
            ws.col_breaks.append(Break(id=first - 1))  # the break falls after column first - 1
            pages, used = pages + 1, 0.0
        used += size
    return pages
