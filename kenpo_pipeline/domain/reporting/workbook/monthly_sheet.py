"""月次推移: the year-to-date value of every KPI month by month (``kpi_actuals``), one native line
chart per KPI with the target as a second line where the rule has a single numeric target."""

from __future__ import annotations

from openpyxl.chart import LineChart, Reference
from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label_ja, month_label_ja
from kenpo_pipeline.domain.kpis.measures import measure
from kenpo_pipeline.domain.reference import branch_name
from kenpo_pipeline.domain.reporting.presentation import number_format
from kenpo_pipeline.domain.reporting.workbook import styles
from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.cells import header, put_number, put_text
from kenpo_pipeline.domain.reporting.workbook.page import print_setup

TITLE = "月次推移"


def applies(book: Book) -> bool:
    return True


def _is_number(x) -> bool:
    return x is not None and x == x  # NaN is not a number here


def write(ws: Worksheet, book: Book) -> int:
    """Returns the number of charts."""
    put_text(ws.cell(1, 1), f"{fiscal_year_label_ja(book.fy)} 月次推移（年度累計・月末値）　{branch_name(book.branch)}", styles.TITLE)
    months = fiscal_months(book.fy)
    mine = book.actuals[book.actuals["branch_code"] == book.branch].set_index(["measure", "as_of_month"])
    row = 3
    charts = 0
    ws.column_dimensions["A"].width = 16
    for col in ("B", "C"):
        ws.column_dimensions[col].width = 14
    for r in book.mine.sort_values("kpi_order").to_dict("records"):
        measure_ids = [m for m in str(r.get("measure") or "").split(",") if m]
        if not measure_ids:
            continue
        m = measure(measure_ids[0])
        put_text(ws.cell(row, 1), f"{r['kpi_text']}", styles.EMPHASIS)  # one line, running over the empty cells beside it
        first = row + 1
        single_target = _is_number(r.get("target_value")) and len(measure_ids) == 1
        header(ws, first, ["月", f"{m.name_ja}（{m.unit}）"] + (["目標"] if single_target else []), [16, 14] + ([14] if single_target else []))
        ws.row_dimensions[first].height = 45
        fmt = number_format(m.unit, m.precision)
        for i, month in enumerate(months, start=first + 1):
            put_text(ws.cell(i, 1), month_label_ja(month), styles.TEXT)
            value = mine["value"].get((m.id, month)) if (m.id, month) in mine.index else None
            if _is_number(value):
                put_number(ws.cell(i, 2), value, fmt, styles.VALUE)
            else:
                ws.cell(i, 2).style = styles.VALUE
            if single_target:
                put_number(ws.cell(i, 3), r["target_value"], fmt, styles.VALUE)
        chart = LineChart()
        chart.title = m.name_ja
        chart.y_axis.title = m.unit
        chart.x_axis.title = "月"
        chart.height, chart.width = 7.5, 16
        data = Reference(ws, min_col=2, max_col=3 if single_target else 2, min_row=first, max_row=first + 12)
        chart.add_data(data, titles_from_data=True)
        for series in chart.series:
            series.smooth = False
        chart.set_categories(Reference(ws, min_col=1, min_row=first + 1, max_row=first + 12))
        ws.add_chart(chart, f"E{row}")
        charts += 1
        row = first + 16
    print_setup(ws, "1:1")
    return charts
