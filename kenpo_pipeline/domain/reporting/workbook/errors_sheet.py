"""差戻しリスト: the scope's quarantined rows of the year's current loads (a branch's own rows; the
national workbook lists every row with its branch) and the year's rejected files, newest month first
(``reporting.error_list``)."""

from __future__ import annotations

from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.reporting.error_list import branch_error_list
from kenpo_pipeline.domain.reporting.workbook import styles
from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.cells import header, put_number, put_text
from kenpo_pipeline.domain.reporting.workbook.page import print_setup

TITLE = "差戻しリスト"
WIDTHS = {"支部": 12, "フィード": 18, "対象月": 11, "ファイル": 16, "行": 7, "列": 12, "送られた値": 20, "理由": 50,
          "却下日時": 16, "現在のデータ": 26}
SHOWN_ROWS = 2000  # beyond this the sheet says how many more: the full list is `kenpo errors`


def applies(book: Book) -> bool:
    return book.quarantine is not None


def write(ws: Worksheet, book: Book) -> None:
    listing = branch_error_list(book.quarantine, book.loads, book.branch, book.fy)
    put_text(ws.cell(1, 1), listing.title, styles.TITLE)
    put_text(ws.cell(2, 1), f"差戻し行 {len(listing.rows):,} 行（新しい月から）。修正したファイルを再送すると、その月のデータが置き換わります。"
             "全件と Excel 形式の一覧は kenpo errors --branch <支部コード> で書き出せます。")
    rows = listing.rows
    header(ws, 3, list(rows.columns), [WIDTHS.get(c, 14) for c in rows.columns])
    r = 4
    if rows.empty:
        put_text(ws.cell(r, 1), "差戻し行はありません。", styles.TEXT)
        r += 1
    for rec in rows.head(SHOWN_ROWS).itertuples(index=False):
        for c, (name, v) in enumerate(zip(rows.columns, rec), start=1):
            if name == "行":
                put_number(ws.cell(r, c), int(v), style=styles.COUNT)
            else:
                put_text(ws.cell(r, c), v, styles.TEXT)
        r += 1
    if len(rows) > SHOWN_ROWS:
        put_text(ws.cell(r, 1), f"ほか {len(rows) - SHOWN_ROWS:,} 行（kenpo errors で全件を書き出せます）")
        r += 1
    r += 1
    put_text(ws.cell(r, 1), "ファイル単位の却下（全支部のデータを含むファイル）", styles.EMPHASIS)
    rej = listing.rejections
    header(ws, r + 1, list(rej.columns), [max(WIDTHS.get(c, 14), ws.column_dimensions[chr(64 + i)].width or 0) for i, c in enumerate(rej.columns, start=1)])
    r += 2
    if rej.empty:
        put_text(ws.cell(r, 1), "却下されたファイルはありません。", styles.TEXT)
    for rec in rej.itertuples(index=False):
        for c, v in enumerate(rec, start=1):
            put_text(ws.cell(r, c), v, styles.TEXT)
        r += 1
    ws.freeze_panes = "A4"
    print_setup(ws, book, "3:3")
