"""3か年計画: the KPIs of the Action Plan the year belongs to, the plan years side by side (the
``action_plan_view`` of the scope, one row per KPI: ``action_plan.wide``; ``None`` when the view
holds no rows of the Action Plan yet — the sheet then says so)."""

from __future__ import annotations

import math

from openpyxl.styles import Alignment
from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.reference import branch_name
from kenpo_pipeline.domain.reporting.workbook import styles
from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.cells import header, put_text
from kenpo_pipeline.domain.reporting.workbook.page import print_setup

TITLE = "3か年計画"
LEGEND = (
    "↑↓→ は前年度実績からの推移（初年度は前年度の実績と比較）。事業計画未登録＝その年度の事業計画（支部は支部の計画）が未登録、"
    "対象外＝その年度の事業計画にないKPI、データなし＝評価前で実績もなし（目標は事業計画の記載）、未評価＝評価前の実績。"
    "KPIの文言はアクションプラン自体のもの、ないときはそのKPIが最初に載った年度の事業計画のもの。"
)
LEGEND_ACTION_PLAN_TARGET = "アクションプラン目標＝アクションプラン自体のKPI（計画最終年度の目標。参考表示で、判定は各年度の事業計画による）。"
EMPTY = "この範囲に適用される事業計画がありません。"
NOT_BUILT = "3か年計画の一覧（action_plan_view）がまだ作成されていません。`kenpo run` を実行するか、UI で action_plan_view を更新してから、ワークブックを作り直してください。"


def applies(book: Book) -> bool:
    return book.action_plan is not None


def write(ws: Worksheet, book: Book) -> None:
    name, table = book.action_plan
    put_text(ws.cell(1, 1), f"{name}　KPIの推移（{branch_name(book.branch)}）", styles.TITLE)
    if table is None:  # the view has not been materialized for this Action Plan
        put_text(ws.cell(2, 1), NOT_BUILT)
        print_setup(ws, book, "1:1")
        return
    legend = LEGEND
    if any(str(c).startswith("アクションプラン目標") for c in table.columns):
        legend += LEGEND_ACTION_PLAN_TARGET
    columns = list(table.columns)
    _legend(ws, legend, max(len(columns), 1))
    if table.empty:
        put_text(ws.cell(4, 1), EMPTY)
        print_setup(ws, book, "1:1")
        return
    header(ws, 3, columns, [_width(c) for c in columns])
    ws.row_dimensions[3].height = 30
    for i, r in enumerate(table.itertuples(index=False), start=4):
        for j, value in enumerate(r, start=1):
            if columns[j - 1].endswith("達成状況") and value in styles.STATUS:
                style = styles.STATUS[value]
            else:
                style = styles.TEXT if j == 1 else styles.VALUE
            put_text(ws.cell(i, j), value, style)
        lines = max([math.ceil(len(str(r[0])) / KPI_CHARS_PER_LINE)]
                    + [math.ceil(len(str(v)) / (_width(c) / 2 - 1)) for c, v in zip(columns[1:], r[1:])])
        ws.row_dimensions[i].height = max(30, LINE_PT * lines + 3)
    ws.freeze_panes = "B4"
    print_setup(ws, book, "3:3")


KPI_WIDTH = 40
KPI_CHARS_PER_LINE = 18  # full-width characters per line of the KPI column
LINE_PT = 15.5  # one line of 11 pt text


def _width(column: str) -> float:
    """Column widths that let the table print one page wide at a readable scale."""
    if column == "KPI":
        return KPI_WIDTH
    if column.endswith("達成状況"):
        return 15
    if column.endswith("実績"):
        return 14
    return 15  # a year's target, the Action Plan's own target


def _legend(ws: Worksheet, legend: str, columns: int) -> None:
    """The legend wrapped across the table's width (a long line of text would widen the printed
    page beyond the table and shrink it)."""
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=columns)
    cell = put_text(ws.cell(2, 1), legend)
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.row_dimensions[2].height = LINE_PT * 4
