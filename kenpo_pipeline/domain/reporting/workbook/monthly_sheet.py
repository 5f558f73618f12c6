"""月次推移: the year-to-date value of every KPI month by month (``kpi_actuals``), one native line
chart per KPI with the target as a second line where the KPI has one number to reach.

Printed as it is read: each KPI is a block (its full wording wrapped across the page above, the
month table on the left, its chart on the right, inside the block's rows) and the blocks sit on a
grid of ``PER_PAGE`` per A4 page with a manual page break after each page's last block, at a fixed
scale (fit-to-page scaling would make Excel ignore the breaks), so a chart is never cut by a page
break. What is charted is what is judged:

- a national KPI judged on a count of branches (``branch_floor`` 「全支部で80%以上」, ``every_month``
  「全支部で毎月」, ``done`` 「全支部で実施」) charts the number of branches achieving, month by month,
  against the 47 it must reach — not the national share;
- ``small_count`` (一者応札) charts what its target is stated in: the rate against its percent, or,
  where the expected tenders are few, the count of single bids against the allowed count;
- the value axis starts at a bound that keeps the picture honest (``axis_bounds``).
"""

from __future__ import annotations

import math
import re

import pandas as pd
from openpyxl.chart import LineChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label_ja, month_label_ja
from kenpo_pipeline.domain.kpis.measures import measure
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_codes, branch_name
from kenpo_pipeline.domain.reporting.presentation import number_format
from kenpo_pipeline.domain.reporting.workbook import styles
from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.cells import header, put_number, put_text, restyle
from kenpo_pipeline.domain.reporting.workbook.page import print_setup

TITLE = "月次推移"
PER_PAGE = 2
"""KPI blocks per printed page (A4 landscape at ``SCALE``)."""
SCALE = 100
COLUMNS = 14  # A–N: the table in A–C, a gap in D, the chart over E–N
WIDTHS = {"A": 8, "B": 24, "C": 16, "D": 1.5, **{c: 7.8 for c in "EFGHIJKLMN"}}
TITLE_CHARS_PER_LINE = 52  # full-width characters of the block's title per line across A–N (10 pt bold)
TITLE_LINE_PT = 14
HEADER_CHARS_PER_LINE = 7  # full-width characters per line of a column title in B (bold 11 pt), with room
HEADER_LINE_PT = 14
GAP_PT = 6
PAGE_PT = 470  # what a page holds below the repeated sheet title: A4 landscape (595 pt) less margins (2 × 0.6 in), title row, slack
MONTH_PT = (12.0, 16.0)  # a month row's height (9 pt text), fitted between these so that a page's blocks fill it
MONTH_FONT = 9
CHART_WIDTH_CM = 14.0  # inside E–N (78 character widths ≈ 15 cm)
COUNT_OF_BRANCHES = "達成支部数"
BRANCHES = len(branch_codes())
PERCENT_MIN_SPAN = 5.0  # points: a percent axis spans at least this, so a 0.02-point dip stays small
MIN_SPAN_SHARE = 0.2  # other units: at least this share of the largest value


def applies(book: Book) -> bool:
    return True


def _is_number(x) -> bool:
    return x is not None and x == x  # NaN is not a number here


def _nice_step(span: float) -> float:
    """A round step (1, 2 or 5 × 10^k) giving about five gridlines over ``span``."""
    raw = span / 5
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def axis_bounds(values: list[float], unit: str, count: bool = False) -> tuple[float, float, float]:
    """(minimum, maximum, major unit) of a chart's value axis over ``values`` (the series and the
    target), so that a line's slope is not exaggerated:

    - counts (件, 人, 事業所, branches) and amounts start at 0;
    - percents start at a round bound covering every value, spanning at least ``PERCENT_MIN_SPAN``
      points (a dip of 0.02 points on a 99.96–100.01% line stays a flat line), never below 0 and,
      when every value is at most 100%, never above 100% plus one step;
    - other units (日, 円 per case) span at least ``MIN_SPAN_SHARE`` of the largest value.
    A lower bound within a third of the upper becomes 0 (the picture then starts at nothing)."""
    finite = [float(v) for v in values if _is_number(v)]
    if not finite:
        return 0.0, 100.0 if unit == "%" else 1.0, 20.0 if unit == "%" else 1.0
    lo, hi = min(finite), max(finite)
    if count or unit in ("件", "人", "事業所", "月", "円"):
        lo = min(lo, 0.0)
        step = max(_nice_step(max(hi - lo, 1.0)), 1.0)  # no fractions of a count
        high = max(math.ceil(hi / step) * step, step)
        return math.floor(lo / step) * step, high + step if hi >= high else high, step  # a line on the top edge gets room
    min_span = PERCENT_MIN_SPAN if unit == "%" else max(abs(hi) * MIN_SPAN_SHARE, 1e-9)
    span = max(hi - lo, min_span)
    step = _nice_step(span)
    middle = (lo + hi) / 2
    low, high = middle - span / 2, middle + span / 2
    if unit == "%" and hi <= 100 and high > 100:
        low, high = low - (high - 100), 100.0
    if lo >= 0 and low < 0:
        low, high = 0.0, high - low
    low = math.floor(low / step) * step
    high = math.ceil(high / step) * step
    if hi >= high and not (unit == "%" and high == 100):  # a line on the top edge gets room (100% stays the top)
        high += step
    if high <= low:
        high = low + step
    if low > 0 and low <= high / 3:
        low = 0.0
    return low, high, step


_NUMBER = re.compile(r"[0-9][0-9,]*(?:\.[0-9]+)?")


def _number_in(text: str) -> float | None:
    match = _NUMBER.search(text or "")
    return float(match.group().replace(",", "")) if match else None


def _counts_branches(r: dict) -> bool:
    """A national KPI whose actual is a number of branches (「全支部で…」)."""
    return r["branch_code"] == NATIONAL_CODE and r.get("rule") in ("branch_floor", "every_month", "done") and "支部" in str(r.get("actual_text") or "")


def _branch_targets(book: Book, r: dict) -> dict[str, float]:
    """Each branch's target for a national ``branch_floor`` KPI: the floor, or the branch's previous
    year where that is at least the floor (「80%以上の支部は前年度以上」; the branches' rows carry their
    previous year). The floor is the number the national target text states."""
    floor = _number_in(str(r.get("target_text") or ""))
    rows = book.evaluation[(book.evaluation["kpi_key"] == r["kpi_key"]) & (book.evaluation["branch_code"] != NATIONAL_CODE)]
    prior = {b: p for b, p in zip(rows["branch_code"], rows["prior_year_value"]) if _is_number(p)}
    return {b: max(floor, float(prior[b])) if b in prior else floor for b in branch_codes()} if floor is not None else {}


def branches_achieving(book: Book, r: dict) -> list[float | None]:
    """Month by month, the number of branches achieving the national 「全支部で…」 KPI ``r`` as of that
    month (None for a month without values)."""
    measure_id = str(r["measure"]).split(",")[0]
    m = measure(measure_id)
    precision = int(r["display_precision"]) if _is_number(r.get("display_precision")) else m.precision
    actuals = book.actuals[(book.actuals["measure"] == measure_id) & (book.actuals["branch_code"] != NATIONAL_CODE)]
    values = actuals.set_index(["branch_code", "as_of_month"])["value"]
    targets = _branch_targets(book, r) if r.get("rule") == "branch_floor" else {}
    out: list[float | None] = []
    for i, month in enumerate(fiscal_months(book.fy), start=1):
        seen, achieved = False, 0
        for b in branch_codes():
            v = values.get((b, month))
            if not _is_number(v):
                continue
            seen = True
            if r.get("rule") == "branch_floor":
                achieved += b in targets and round(float(v), precision) >= targets[b]
            elif r.get("rule") == "every_month":
                achieved += float(v) >= i
            else:  # done
                achieved += float(v) >= 1
        out.append(float(achieved) if seen else None)
    return out


def _series(book: Book, r: dict, mine: pd.Series) -> tuple[str, str, int, list[float | None], float | list[float] | None, bool]:
    """(column title, unit, precision, the monthly values, the target to draw — one number, a number
    per month, or None — and whether the values are a count of branches) of one KPI's block. Small
    counts have their target too: 実施 is at least 1, 毎月 as many as the months so far."""
    months = fiscal_months(book.fy)
    measure_ids = [m for m in str(r.get("measure") or "").split(",") if m]
    if _counts_branches(r):
        return f"{COUNT_OF_BRANCHES}（支部）", "支部", 0, branches_achieving(book, r), float(BRANCHES), True
    m = measure(measure_ids[0])
    target = r["target_value"] if _is_number(r.get("target_value")) and len(measure_ids) == 1 else None
    if r.get("rule") == "small_count":  # the target is stated as a rate or, for few tenders, as a count of single bids
        target = _number_in(str(r.get("target_text") or ""))
        if str(r.get("target_text") or "").startswith("一者応札"):
            m = measure("single_bid_count")
    elif r.get("rule") == "done" and len(measure_ids) == 1:  # 「…を実施する」: at least once
        target = 1.0
    elif r.get("rule") == "every_month" and len(measure_ids) == 1:  # every month so far: as many as the months
        target = [float(i) for i in range(1, len(months) + 1)]
    values = [mine.get((m.id, month)) if (m.id, month) in mine.index else None for month in months]
    precision = int(r["display_precision"]) if _is_number(r.get("display_precision")) and m.id == measure_ids[0] else m.precision
    return f"{m.name_ja}（{m.unit}）", m.unit, precision, [float(v) if _is_number(v) else None for v in values], target, False


def _title_lines(text: str) -> int:
    return max(1, min(4, math.ceil(len(text) / TITLE_CHARS_PER_LINE)))


def _header_pt(titles: list[str]) -> float:
    return HEADER_LINE_PT * max(2, max(math.ceil(len(t) / HEADER_CHARS_PER_LINE) for t in titles)) + 4


def _fixed_pt(block) -> float:
    """The height of a block without its month rows: its wording, its column titles, the gap after it."""
    return TITLE_LINE_PT * _title_lines(str(block[0]["kpi_text"])) + _header_pt(block[1]) + GAP_PT


def _pages(blocks: list, months: int) -> list[list]:
    """The blocks grouped by printed page: ``PER_PAGE`` to a page, fewer where their wording and
    titles leave too little room for months at the smallest row height."""
    pages: list[list] = []
    for block in blocks:
        page = pages[-1] if pages else None
        if page is not None and len(page) < PER_PAGE and sum(_fixed_pt(b) for b in [*page, block]) + MONTH_PT[0] * months * (len(page) + 1) <= PAGE_PT:
            page.append(block)
        else:
            pages.append([block])
    return pages


def _month_label(key: str) -> str:
    """``2024-04`` → ``4月`` (the sheet's title names the fiscal year)."""
    return f"{int(key[5:7])}月"


def write(ws: Worksheet, book: Book) -> int:
    """Returns the number of charts."""
    put_text(ws.cell(1, 1), f"{fiscal_year_label_ja(book.fy)} 月次推移（年度累計・月末値、{month_label_ja(fiscal_months(book.fy)[0])}〜{month_label_ja(fiscal_months(book.fy)[-1])}）　{branch_name(book.branch)}", styles.TITLE)
    ws.row_dimensions[1].height = 22
    months = fiscal_months(book.fy)
    mine = book.actuals[book.actuals["branch_code"] == book.branch].set_index(["measure", "as_of_month"])["value"]
    for col, width in WIDTHS.items():
        ws.column_dimensions[col].width = width
    blocks = []
    for r in book.mine.sort_values("kpi_order").to_dict("records"):
        if not [m for m in str(r.get("measure") or "").split(",") if m]:
            continue
        title, unit, precision, values, target, count = _series(book, r, mine)
        titles = ["月", title] + (["目標"] if target is not None else [])
        blocks.append((r, titles, unit, precision, values, target, count))
    row = 2
    for n, page in enumerate(_pages(blocks, len(months))):
        fixed = sum(_fixed_pt(b) for b in page)
        month_pt = max(MONTH_PT[0], min(MONTH_PT[1], math.floor((PAGE_PT - fixed) / (len(months) * len(page)))))
        if n:
            ws.row_breaks.append(Break(id=row - 1))  # the previous page ends with its last block
        for r, titles, unit, precision, values, target, count in page:
            row = _block(ws, row, r, titles, unit, precision, values, target, count, months, month_pt)
    ws.print_area = f"A1:N{max(row - 1, 1)}"
    print_setup(ws, book, "1:1")
    ws.sheet_properties.pageSetUpPr.fitToPage = False  # a fixed scale: the page breaks of the grid hold
    ws.page_setup.scale = SCALE
    return len(blocks)


_TITLE_FONT = Font(bold=True, size=10)
_TITLE_ALIGNMENT = Alignment(wrap_text=True, vertical="top")
_MONTH_FONT = Font(size=MONTH_FONT)
_MONTH_ALIGNMENT = Alignment(horizontal="center", vertical="center")


def _block(ws: Worksheet, row: int, r: dict, titles: list[str], unit: str, precision: int, values: list, target: float | list | None,
           count: bool, months: list[str], month_pt: float) -> int:
    """One KPI's block from ``row``: its wording, its month table and its chart. Returns the next free row."""
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=COLUMNS)
    cell = put_text(ws.cell(row, 1), r["kpi_text"])  # the KPI's wording, wrapped above both the table and the chart
    restyle(cell, font=_TITLE_FONT, alignment=_TITLE_ALIGNMENT)
    ws.row_dimensions[row].height = TITLE_LINE_PT * _title_lines(str(r["kpi_text"]))
    first = row + 1
    header(ws, first, titles, [WIDTHS["A"], WIDTHS["B"], WIDTHS["C"]])
    ws.row_dimensions[first].height = _header_pt(titles)
    fmt = '0"支部"' if count else number_format(unit, precision)
    for i, (month, value) in enumerate(zip(months, values), start=first + 1):
        put_text(ws.cell(i, 1), _month_label(month), styles.VALUE)
        ws.row_dimensions[i].height = month_pt
        if value is not None:
            put_number(ws.cell(i, 2), value, fmt, styles.VALUE)
        else:
            ws.cell(i, 2).style = styles.VALUE
        if target is not None:
            put_number(ws.cell(i, 3), target[i - first - 1] if isinstance(target, list) else target, fmt, styles.VALUE)
        for col in range(1, len(titles) + 1):
            restyle(ws.cell(i, col), font=_MONTH_FONT, alignment=_MONTH_ALIGNMENT)
    last = first + len(months)
    ws.row_dimensions[last + 1].height = GAP_PT
    height_pt = _header_pt(titles) + month_pt * len(months)
    chart = _chart(ws, first, last, target is not None, unit, values + (target if isinstance(target, list) else [target] if target is not None else []), count, height_pt)
    ws.add_chart(chart, f"E{first}")
    return last + 2


def _chart(ws: Worksheet, first: int, last: int, with_target: bool, unit: str, values: list, count: bool, height_pt: float) -> LineChart:
    """The block's line chart, as tall as the block's table (header and twelve months). No title of
    its own: the KPI's wording is above it and the legend names the series."""
    chart = LineChart()
    chart.y_axis.title = None
    chart.x_axis.title = None
    chart.legend.position = "b"
    chart.width = CHART_WIDTH_CM
    chart.height = height_pt / 72 * 2.54 - 0.1  # points → cm, inside the block's rows
    data = Reference(ws, min_col=2, max_col=3 if with_target else 2, min_row=first, max_row=last)
    chart.add_data(data, titles_from_data=True)
    for series in chart.series:
        series.smooth = False
    if with_target:
        target = chart.series[1]
        target.graphicalProperties.line.dashStyle = "dash"
        target.graphicalProperties.line.solidFill = "C00000"
    chart.set_categories(Reference(ws, min_col=1, min_row=first + 1, max_row=last))
    low, high, step = axis_bounds(values, unit, count)
    chart.y_axis.scaling.min, chart.y_axis.scaling.max, chart.y_axis.majorUnit = low, high, step
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    digits = "0" if decimals == 0 else "0." + "0" * decimals
    chart.y_axis.number_format = '0"支部"' if count else (f'{digits}"%"' if unit == "%" else f"#,##{digits}")
    chart.x_axis.delete = False  # openpyxl ≥ 3.1 hides axes unless told
    chart.y_axis.delete = False
    return chart
