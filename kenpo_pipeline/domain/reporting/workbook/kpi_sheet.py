"""KPI実績一覧表: 具体的施策 · KPI · 目標 · 実績 · 対目標比 · 達成状況 · ＜参考＞前年度実績 · 備考.

The table at the end of seed 003 with 目標 and 対目標比 added; every value comes from
``presentation.present`` (status words and colours, the actual and previous-year value as numbers
with their number format, 対目標比, 備考); during the year 年度末見込み and 見込み are added, after
``kenpo finalize`` 再計算との差異. A scope without a plan says 事業計画未登録 and lists its actuals.
"""

from __future__ import annotations

import datetime as dt

from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.calendar import month_label_ja
from kenpo_pipeline.domain.kpis.judgement import ACHIEVED, MISSED, UNKNOWN
from kenpo_pipeline.domain.kpis.measures import measure
from kenpo_pipeline.domain.reporting.presentation import (
    COLUMN_TITLES,
    OUTLOOK_ACHIEVED,
    OUTLOOK_WARNING,
    OUTLOOKS,
    RATIO_RULE,
    has_outlook,
    number_format,
    present,
)
from kenpo_pipeline.domain.reporting.commentary import add_commentary_columns, write_identity
from kenpo_pipeline.domain.reporting.workbook import styles
from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.cells import header, put_number, put_text
from kenpo_pipeline.domain.reporting.workbook.page import print_setup

TITLE = "KPI実績一覧表"
COLUMNS = ["section", "kpi_text", "target_text", "actual_text", "ratio", "status", "prior_year_text", "remarks"]
WIDTHS = [30, 58, 22, 14, 10, 10, 18, 30]
NO_PLAN = "事業計画未登録（この年度・範囲に適用される事業計画がありません）。実績のみを示します。"
JST = dt.timezone(dt.timedelta(hours=9))
COMMENTARY_NOTE = "黄色の欄（実施内容・自己評価・要因分析・今後の取組）に記入し、kenpo comments import でこのブックを取り込んでください（ほかのセルは保護されています）。"
IN_YEAR_NOTE = "年度末見込み＝前年度の同じ支部の月別推移（前年度末÷前年度同月）で年度累計を年度末まで延ばした値。年度途中はKPIを判定せず、見込みを示します。"


def applies(book: Book) -> bool:
    return True


def write(ws: Worksheet, book: Book) -> None:
    put_text(ws.cell(1, 1), book.title, styles.TITLE)
    evaluation = book.mine
    if evaluation.empty:
        _actuals_only(ws, book)
        return
    as_of = evaluation["as_of_month"].iloc[0]
    subtitle = f"{book.plan_title or ''}　{month_label_ja(as_of)}時点".strip()
    titles, widths = [COLUMN_TITLES[c] for c in COLUMNS], list(WIDTHS)
    in_year = has_outlook(evaluation)
    if in_year:
        titles, widths = titles + [COLUMN_TITLES["projected_text"], COLUMN_TITLES["projected_status"]], widths + [14, 12]
    diff_by_kpi: dict[str, str] = {}
    if book.publication is not None:
        info, diffs = book.publication
        subtitle = f"{subtitle}　公表版（第{info['version']}版、{info['published_at']:%Y-%m-%d}、{info['published_by']}）"
        mine = diffs[diffs["branch_code"] == book.branch] if len(diffs) else diffs
        diff_by_kpi = dict(zip(mine["kpi_id"], mine["difference"])) if len(mine) else {}
        titles, widths = titles + [COLUMN_TITLES["difference"]], widths + [36]
    put_text(ws.cell(2, 1), subtitle)
    header(ws, 3, titles, widths)
    row = 4
    first_of_section = None
    section = None
    kpi_rows: list[tuple[int, str]] = []
    for r in evaluation.sort_values("kpi_order").to_dict("records"):
        kpi_rows.append((row, r["kpi_id"]))
        if r["section"] != section:
            _merge_section(ws, first_of_section, row - 1)
            section, first_of_section = r["section"], row
        shown = present(r)
        put_text(ws.cell(row, 1), r["section"], styles.TEXT)
        put_text(ws.cell(row, 2), r["kpi_text"], styles.TEXT)
        put_text(ws.cell(row, 3), shown.target_text, styles.TEXT)
        _value(ws.cell(row, 4), shown.actual, shown.actual_text, shown.number_format)
        if shown.ratio is None:
            put_text(ws.cell(row, 5), "", styles.VALUE)
        else:
            put_number(ws.cell(row, 5), shown.ratio, style=styles.RATIO)
        put_text(ws.cell(row, 6), shown.status, styles.STATUS[shown.status])
        _value(ws.cell(row, 7), shown.prior, shown.prior_text, shown.number_format)
        put_text(ws.cell(row, 8), shown.remarks, styles.TEXT)
        if in_year:
            _value(ws.cell(row, 9), shown.projected, "", shown.number_format)
            put_text(ws.cell(row, 10), shown.outlook, styles.STATUS[shown.outlook] if shown.outlook in OUTLOOKS else styles.VALUE)
        if book.publication is not None:
            difference = diff_by_kpi.get(r["kpi_id"], "")
            put_text(ws.cell(row, len(titles)), difference, styles.DIFFERENCE if difference else styles.TEXT)
        lines = max(len(str(r["kpi_text"])) // 26, len(str(r["section"])) // 14, len(shown.remarks) // 14) + 1
        ws.row_dimensions[row].height = max(30, 16 * lines)
        row += 1
    _merge_section(ws, first_of_section, row - 1)
    _legend(ws, row + 1, in_year)
    if book.commentary is not None:  # 自己評価・要因分析: editable columns, read back by `kenpo comments import`
        first_col = len(titles) + 1
        rows = add_commentary_columns(ws, 3, first_col, kpi_rows, book.commentary)
        write_identity(ws.parent, book.fy, book.branch, ws.title, first_col, rows, dt.datetime.now(JST))
        put_text(ws.cell(2, first_col), COMMENTARY_NOTE)
    ws.freeze_panes = "C4"
    print_setup(ws, book, "3:3")


def _value(cell, number: float | None, text: str, fmt: str) -> None:
    """A value as a number with its format where the row has one, otherwise its text."""
    if number is None:
        put_text(cell, text, styles.VALUE)
    else:
        put_number(cell, number, fmt, styles.VALUE)


def _merge_section(ws: Worksheet, first: int | None, last: int) -> None:
    if first is not None and last > first:
        ws.merge_cells(start_row=first, start_column=1, end_row=last, end_column=1)


def _legend(ws: Worksheet, row: int, in_year: bool) -> None:
    put_text(ws.cell(row, 1), "凡例")
    for col, status in enumerate((ACHIEVED, MISSED, UNKNOWN), start=2):
        put_text(ws.cell(row, col), status, styles.STATUS[status])
    put_text(ws.cell(row + 1, 1), RATIO_RULE)
    if in_year:
        for col, outlook in enumerate((OUTLOOK_ACHIEVED, OUTLOOK_WARNING), start=5):
            put_text(ws.cell(row, col), outlook, styles.STATUS[outlook])
        put_text(ws.cell(row + 2, 1), IN_YEAR_NOTE)


def _actuals_only(ws: Worksheet, book: Book) -> None:
    """No plan applies to the scope this year: its latest actuals, said so."""
    put_text(ws.cell(2, 1), NO_PLAN)
    header(ws, 4, ["指標", "年度末（または最新）実績", "対象月数"], [60, 24, 12])
    latest = book.actuals[book.actuals["branch_code"] == book.branch]
    if len(latest):
        as_of = latest["as_of_month"].max()
        rows = latest[latest["as_of_month"] == as_of]
        put_text(ws.cell(3, 1), f"{month_label_ja(as_of)}時点")
        for i, r in enumerate(rows.itertuples(), start=5):
            m = measure(r.measure)
            put_text(ws.cell(i, 1), m.name_ja, styles.TEXT)
            if r.value is None or r.value != r.value:  # NULL or NaN: no value
                put_text(ws.cell(i, 2), "—", styles.VALUE)
            else:
                put_number(ws.cell(i, 2), r.value, number_format(m.unit, m.precision), styles.VALUE)
            put_number(ws.cell(i, 3), r.months_covered, "0", styles.VALUE)
    ws.freeze_panes = "A5"
    print_setup(ws, book, "4:4")
