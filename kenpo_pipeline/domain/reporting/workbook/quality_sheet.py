"""データ品質: every load attempt of the year's months (``feed_loads``): the feed's Japanese name, the
file's name (not the server's folders), the start of its SHA-256, rows read / loaded / quarantined,
the attempt's status and a verdict, the reason or the first warnings. A branch's workbook adds the
branch's own quarantined rows of each load (its 支部コード read as the 差戻しリスト reads it)."""

from __future__ import annotations

import json

from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.calendar import JAPAN_ZONE_LABEL, fiscal_months, fiscal_year_label_ja, japan_time, month_label_ja
from kenpo_pipeline.domain.intake.status import LoadStatus
from kenpo_pipeline.domain.reference import branch_name
from kenpo_pipeline.domain.reporting.error_list import branch_of_row, feed_title
from kenpo_pipeline.domain.kpis.judgement import ACHIEVED, MISSED, UNKNOWN
from kenpo_pipeline.domain.reporting.workbook import styles
from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.cells import header, put_number, put_text
from kenpo_pipeline.domain.reporting.workbook.page import print_setup

TITLE = "データ品質"
COLUMNS = ["対象月", "フィード", "ファイル", "SHA-256（先頭）", "読込行数", "取込行数", "隔離行数", "状態", "検証結果", "理由・警告", f"読込日時（{JAPAN_ZONE_LABEL}）"]
WIDTHS = [11, 18, 16, 17, 10, 10, 10, 9, 16, 50, 21]  # the SHA-256 prefix and the time on one line each
BRANCH_COLUMN, BRANCH_WIDTH = "うちこの支部の隔離行数", 12
SHA_SHOWN = 12
# a verdict and the status colours it borrows: rejected like 未達成, quarantined rows like 判定不能
REJECTED, WITH_QUARANTINE, PASSED = ("却下（取込なし）", MISSED), ("警告（隔離あり）", UNKNOWN), ("合格", ACHIEVED)


def applies(book: Book) -> bool:
    return True


def _status_label(status: str) -> str:
    try:
        return LoadStatus(status).label_ja
    except ValueError:
        return status


def _branch_counts(book: Book) -> dict[int, int] | None:
    """load_id → the scope's quarantined rows (a branch's workbook only)."""
    if book.national or book.quarantine is None:
        return None
    q = book.quarantine
    if not len(q):
        return {}
    owners = [branch_of_row(c, r, v) for c, r, v in zip(q["column_name"], q["record"], q["value"])]
    mine = q[[o == book.branch for o in owners]]
    return {int(k): int(n) for k, n in mine.groupby("load_id").size().items()}


def write(ws: Worksheet, book: Book) -> None:
    put_text(ws.cell(1, 1), f"{fiscal_year_label_ja(book.fy)} データ品質（フィード×月の読込結果）　{branch_name(book.branch)}", styles.TITLE)
    counts = _branch_counts(book)
    if counts is not None:
        put_text(ws.cell(2, 1), f"フィードは全支部分で1ファイルです。行数はファイル全体、右端の列は{branch_name(book.branch)}の行のうち隔離された行数です（行の一覧は差戻しリストのシート）。")
    header(ws, 3, COLUMNS + ([BRANCH_COLUMN] if counts is not None else []), WIDTHS + ([BRANCH_WIDTH] if counts is not None else []))
    loads = book.loads
    rows = loads[loads["month"].isin(set(fiscal_months(book.fy)))].sort_values(["month", "feed", "load_id"])
    for i, r in enumerate(rows.to_dict("records"), start=4):
        put_text(ws.cell(i, 1), month_label_ja(r["month"]), styles.TEXT)
        put_text(ws.cell(i, 2), feed_title(r["feed"]), styles.TEXT)
        put_text(ws.cell(i, 3), ", ".join(str(p).replace("\\", "/").rsplit("/", 1)[-1] for p in str(r["path"] or "").split(", ")), styles.TEXT)
        put_text(ws.cell(i, 4), str(r["sha256"] or "")[:SHA_SHOWN], styles.TEXT)
        if counts is not None:
            put_number(ws.cell(i, len(COLUMNS) + 1), counts.get(int(r["load_id"]), 0), style=styles.COUNT)
        for col, key in ((5, "rows_read"), (6, "rows_loaded"), (7, "rows_quarantined")):
            put_number(ws.cell(i, col), int(r[key] or 0), style=styles.COUNT)
        put_text(ws.cell(i, 8), _status_label(r["status"]), styles.TEXT)
        warnings = json.loads(r["warnings"]) if isinstance(r.get("warnings"), str) and r["warnings"] else []
        if r["status"] == LoadStatus.REJECTED.value:
            verdict, colour = REJECTED
        elif int(r["rows_quarantined"] or 0):
            verdict, colour = WITH_QUARANTINE
        else:
            verdict, colour = PASSED
        put_text(ws.cell(i, 9), verdict, styles.STATUS[colour])
        put_text(ws.cell(i, 10), r["reason"] or "；".join(warnings[:5]), styles.TEXT)
        put_text(ws.cell(i, 11), japan_time(r["loaded_at"]), styles.TEXT)  # stored as UTC
    ws.freeze_panes = "C4"
    print_setup(ws, book, "3:3")
