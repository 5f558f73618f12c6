"""KPI実績一覧表: 具体的施策 · KPI · 目標 · 実績 · 対目標比 · 達成状況 · ＜参考＞前年度実績 · 備考.

The table at the end of seed 003 with 目標 and 対目標比 added; every value comes from
``presentation.present`` (status words and colours, the actual and previous-year value as numbers
with their number format, 対目標比, 備考); during the year 年度末見込み and 見込み are added, after
``kenpo finalize`` 再計算との差異. A branch's sheet adds where the branch stands on each KPI
(全国値 and 順位 n/47 with the rank of its 改善幅), read from ``branch_comparison``. A scope
without a plan says 事業計画未登録 and lists its actuals.

On paper: A4 landscape, one page wide at 70% or more. The columns are sized for that (numbers
get the width of their widest formatted value and shrink rather than wrap), each row is as tall
as its longest text needs (estimated from the text's width, a Japanese character counting two),
and the print area is the table itself: the 記入欄 columns of the commentary round trip are for
Excel and lie outside it (printed, they would take the scale below half).
"""

from __future__ import annotations

import datetime as dt

from openpyxl.worksheet.worksheet import Worksheet

from openpyxl.utils import get_column_letter

from kenpo_pipeline.domain.calendar import fiscal_year_label_ja, month_label_ja
from kenpo_pipeline.domain.kpis.comparison import standing_text
from kenpo_pipeline.domain.kpis.judgement import ACHIEVED, MISSED, UNKNOWN, fmt
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
from kenpo_pipeline.domain.reporting.workbook.cells import display_width, header, height_for, lines_needed, put_number, put_text
from kenpo_pipeline.domain.reporting.workbook.page import print_setup

TITLE = "KPI実績一覧表"
COLUMNS = ["section", "kpi_text", "target_text", "actual_text", "ratio", "status", "prior_year_text", "remarks"]
WIDTHS = [26, 40, 18, 10, 9, 9, 14, 22]  # 実績 and 前年度実績 widen to their widest value
NUMBER_COLUMNS = (3, 6)  # indexes (0-based) of 実績 and ＜参考＞前年度実績 in COLUMNS
NATIONAL_VALUE, STANDING = "全国値", "順位（47支部中）"
STANDING_WIDTH = 12
PAGES_DOWN = 2
MAX_NUMBER_WIDTH = 15  # a longer value is a text (an all_of KPI's two values) and wraps
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
    rows = evaluation.sort_values("kpi_order").to_dict("records")
    shown_rows = [present(r) for r in rows]
    titles, widths = [COLUMN_TITLES[c] for c in COLUMNS], list(WIDTHS)
    # the year named; broken where a reader would, not mid-word
    titles[COLUMNS.index("prior_year_text")] = COLUMN_TITLES["prior_year_text"].replace("＞", "＞\n") + f"\n（{fiscal_year_label_ja(book.fy - 1)}）"
    for i, key in zip(NUMBER_COLUMNS, ("actual_text", "prior_text")):  # a number never wraps: its column fits the widest
        widest = max([display_width(part) + 2 for s in shown_rows for part in _lines(getattr(s, key)).split("\n")] + [widths[i]])
        widths[i] = min(widest, MAX_NUMBER_WIDTH)
    standing = _standing(book, rows)
    if standing is not None:
        national_width = max([display_width(v[1]) + 2 for v in standing] + [10])
        titles, widths = titles + [NATIONAL_VALUE, STANDING], widths + [min(national_width, MAX_NUMBER_WIDTH), STANDING_WIDTH]
    in_year = has_outlook(evaluation)
    if in_year:
        titles, widths = titles + [COLUMN_TITLES["projected_text"], COLUMN_TITLES["projected_status"]], widths + [12, 10]
    diff_by_kpi: dict[str, str] = {}
    if book.publication is not None:
        info, diffs = book.publication
        subtitle = f"{subtitle}　公表版（第{info['version']}版、{info['published_at']:%Y-%m-%d}、{info['published_by']}）"
        mine = diffs[diffs["branch_code"] == book.branch] if len(diffs) else diffs
        diff_by_kpi = dict(zip(mine["kpi_id"], mine["difference"])) if len(mine) else {}
        titles, widths = titles + [COLUMN_TITLES["difference"]], widths + [30]
    put_text(ws.cell(2, 1), subtitle)
    header(ws, 3, titles, widths)
    ws.row_dimensions[3].height = height_for(max(lines_needed(t, w) for t, w in zip(titles, widths)))
    row = 4
    first_of_section = None
    section = None
    kpi_rows: list[tuple[int, str]] = []
    heights: dict[int, float] = {}
    for n, (r, shown) in enumerate(zip(rows, shown_rows)):
        kpi_rows.append((row, r["kpi_id"]))
        if r["section"] != section:
            _merge_section(ws, first_of_section, row - 1, heights, widths[0])
            section, first_of_section = r["section"], row
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
        texts = {2: r["kpi_text"], 3: shown.target_text, 4: _lines(shown.actual_text), 7: _lines(shown.prior_text), 8: shown.remarks}
        col = 9
        if standing is not None:
            national_value, national_text, words = standing[n]
            if national_value is None:
                put_text(ws.cell(row, col), national_text, styles.VALUE)
            else:
                put_number(ws.cell(row, col), national_value, shown.number_format, styles.NUMBER)
            put_text(ws.cell(row, col + 1), words, styles.VALUE)
            texts.update({col: national_text, col + 1: words})
            col += 2
        if in_year:
            _value(ws.cell(row, col), shown.projected, "", shown.number_format)
            put_text(ws.cell(row, col + 1), shown.outlook, styles.STATUS[shown.outlook] if shown.outlook in OUTLOOKS else styles.VALUE)
        if book.publication is not None:
            difference = diff_by_kpi.get(r["kpi_id"], "")
            put_text(ws.cell(row, len(titles)), difference, styles.DIFFERENCE if difference else styles.TEXT)
            texts[len(titles)] = difference
        lines = max(lines_needed(text, widths[c - 1]) for c, text in texts.items() if not (c in (4, 7) and text and _numeric(ws.cell(row, c))))
        heights[row] = height_for(lines)  # as tall as its longest text needs, no taller
        ws.row_dimensions[row].height = heights[row]
        row += 1
    _merge_section(ws, first_of_section, row - 1, heights, widths[0])
    last = _legend(ws, row + 1, in_year)
    if book.commentary is not None:  # 自己評価・要因分析: editable columns, read back by `kenpo comments import`
        first_col = len(titles) + 1
        kpi_ids = add_commentary_columns(ws, 3, first_col, kpi_rows, book.commentary)
        write_identity(ws.parent, book.fy, book.branch, ws.title, first_col, kpi_ids, dt.datetime.now(JST))
        put_text(ws.cell(2, first_col), COMMENTARY_NOTE)
    ws.freeze_panes = "C4"
    print_setup(ws, book, "3:3")
    ws.page_setup.fitToHeight = PAGES_DOWN  # one page wide, at most two down (the table of a plan's ≤ 20 KPIs)
    ws.print_area = f"A1:{get_column_letter(len(titles))}{last}"  # the table; the 記入欄 columns are for Excel


def _numeric(cell) -> bool:
    return cell.data_type == "n"


def _standing(book: Book, rows: list[dict]) -> list[tuple[float | None, str, str]] | None:
    """Per KPI row of a branch: (the national value as a number or None, as text, 順位 n/47 words)
    from ``branch_comparison``; None for the national sheet or when the comparison was not read. A
    KPI judged on two measures (all_of) shows each part on its own line."""
    if book.national or book.comparison is None:
        return None
    out = []
    for r in rows:
        month = str(r.get("judgement_month") or r["as_of_month"])
        measures = [m for m in str(r.get("measure") or "").split(",") if m]
        found = [(m, book.standing(book.branch, m, month)) for m in measures]
        found = [(m, c) for m, c in found if c is not None]
        if not found:
            out.append((None, "", ""))
            continue
        texts = []
        for m, c in found:
            value = c.get("national_value")
            unit = measure(m)
            texts.append("" if value is None or value != value else fmt(value, unit.unit, unit.precision))
        words = "\n".join(standing_text(c).replace("・", "\n") for _, c in found)  # 順位 3/47, then 改善幅 1位
        single = found[0][1].get("national_value") if len(found) == 1 else None
        number = None if single is None or single != single or not _is_numeric_row(r) else float(single)
        out.append((number, "\n".join(texts), words))
    return out


def _is_numeric_row(r: dict) -> bool:
    """A row whose actual is shown as a number (its national value then shares its number format)."""
    precision = r.get("display_precision")
    return precision is not None and precision == precision


def _lines(text: str) -> str:
    """A value shown as text (an all_of KPI's values, 「51.3%、278,441事業所」): one value per line,
    so a line never breaks inside a number."""
    return str(text or "").replace("、", "、\n")


def _value(cell, number: float | None, text: str, fmt: str) -> None:
    """A value as a number with its format where the row has one, otherwise its text (one value a line)."""
    if number is None:
        put_text(cell, _lines(text), styles.VALUE)
    else:
        put_number(cell, number, fmt, styles.NUMBER)


def _merge_section(ws: Worksheet, first: int | None, last: int, heights: dict[int, float], width: float) -> None:
    """One cell for a section's label over its rows; the rows grow evenly if the label needs more room."""
    if first is None:
        return
    if last > first:
        ws.merge_cells(start_row=first, start_column=1, end_row=last, end_column=1)
    need = height_for(lines_needed(ws.cell(first, 1).value, width))
    have = sum(heights[r] for r in range(first, last + 1))
    if need > have:  # the label needs more room than its rows' texts: shared out over its rows
        extra = (need - have) / (last - first + 1)
        for r in range(first, last + 1):
            heights[r] = round(heights[r] + extra, 1)
            ws.row_dimensions[r].height = heights[r]


def _legend(ws: Worksheet, row: int, in_year: bool) -> int:
    """The legend under the table; returns its last row."""
    put_text(ws.cell(row, 1), "凡例")
    for col, status in enumerate((ACHIEVED, MISSED, UNKNOWN), start=2):
        put_text(ws.cell(row, col), status, styles.STATUS[status])
    put_text(ws.cell(row + 1, 1), RATIO_RULE)
    if in_year:
        for col, outlook in enumerate((OUTLOOK_ACHIEVED, OUTLOOK_WARNING), start=5):
            put_text(ws.cell(row, col), outlook, styles.STATUS[outlook])
        put_text(ws.cell(row + 2, 1), IN_YEAR_NOTE)
        return row + 2
    return row + 1


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
