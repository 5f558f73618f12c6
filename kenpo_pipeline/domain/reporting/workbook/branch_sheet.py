"""支部別 (national workbook): 47 branches × KPI keys, each branch's actual coloured by its status
under the plan that applies to it, and beside it its rank among the branches; above the branches
the national plan's target (目標, in the words of the KPI table) and the national value (全国);
below them the number of branches achieving each KPI (「－」 for a KPI judged for the association
only, which has no per-branch judgement).

Ranks and national values are read from ``branch_comparison`` (``domain/kpis/comparison.py``,
written with the evaluation), never recomputed here. The rank stands in its own narrow column
beside the actual (「3位」): numbers stay numbers, ranks can be read down a column, and a row
stays one line high (47 branches on two pages tall).

On paper: A4 landscape at a fixed 75% (never shrunk to one page), as many pages across and down as
the KPIs need; the branch and plan columns and the header rows (KPI, 目標, 全国) are repeated on
every page; a page never separates a KPI's actual from its rank.
"""

from __future__ import annotations

import pandas as pd
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.calendar import fiscal_year_label_ja, month_label_ja
from kenpo_pipeline.domain.kpis.judgement import ACHIEVED
from kenpo_pipeline.domain.kpis.measures import measure
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_codes, branch_name
from kenpo_pipeline.domain.reporting.presentation import present
from kenpo_pipeline.domain.reporting.workbook import styles
from kenpo_pipeline.domain.reporting.workbook.book import Book
from kenpo_pipeline.domain.reporting.workbook.cells import display_width, height_for, lines_needed, put_number, put_text
from kenpo_pipeline.domain.reporting.workbook.page import PRINTABLE_POINTS, print_setup, width_points

TITLE = "支部別"
NO_PLAN = "事業計画未登録"
NO_BRANCH_JUDGEMENT = "－"  # 達成支部数 of a KPI judged for the association only
BRANCH_ONLY = "（本部の計画にないKPI）"
KPI_ROW, SUB_ROW, TARGET_ROW, NATIONAL_ROW, FIRST_BRANCH_ROW = 3, 4, 5, 6, 7
BRANCH_WIDTH, PLAN_WIDTH, RANK_WIDTH, MIN_VALUE_WIDTH = 11, 15, 6, 9
SCALE = 75  # percent: readable (8-point text), two pages down for 47 branches
RANK_FORMAT = '0"位"'


def applies(book: Book) -> bool:
    return book.national


def _labels(national: pd.DataFrame, branches: pd.DataFrame) -> dict[str, str]:
    """A short column title per KPI key: its measures' names (the KPI sentence's start for a manual KPI)."""
    labels: dict[str, str] = {}
    for r in pd.concat([national, branches]).to_dict("records"):
        measures = [m for m in str(r.get("measure") or "").split(",") if m]
        short = "・".join(measure(m).name_ja for m in measures) if measures else str(r["kpi_text"])[:40]
        labels.setdefault(r["kpi_key"], short)
    return labels


def _month(r: dict) -> str:
    return str(r.get("judgement_month") or r["as_of_month"])


def _measures(r: dict) -> list[str]:
    return [m for m in str(r.get("measure") or "").split(",") if m]


def _rank(book: Book, r: dict) -> tuple[float | None, str]:
    """A branch's rank on its KPI row (a number), or the ranks of an all_of KPI's parts as text."""
    found = [book.standing(str(r["branch_code"]), m, _month(r)) for m in _measures(r)]
    ranks = [c.get("rank") for c in found if c is not None]
    ranks = [int(x) for x in ranks if x is not None and not pd.isna(x)]
    if not ranks:
        return None, ""
    if len(_measures(r)) == 1:
        return float(ranks[0]), ""
    return None, "・".join(f"{x}位" for x in ranks)


def _national_value(book: Book, r: dict) -> tuple[float | None, str]:
    """The national value of a national KPI row: ``branch_comparison``'s national value of its measure
    (any branch's row holds it); the national evaluation's own actual where the KPI has no
    comparison (judged for the association only, or on two measures)."""
    shown = present(r)
    measures = _measures(r)
    if len(measures) == 1 and book.comparison is not None and len(book.comparison):
        c = book.comparison
        hit = c[(c["measure"] == measures[0]) & (c["as_of_month"] == _month(r))]["national_value"].dropna()
        if len(hit):
            return float(hit.iloc[0]), shown.actual_text
    return shown.actual, shown.actual_text


def write(ws: Worksheet, book: Book) -> None:
    evaluation = book.evaluation
    put_text(ws.cell(1, 1), f"{fiscal_year_label_ja(book.fy)} 支部別 KPI実績（各支部に適用される事業計画による判定）", styles.TITLE)
    branches = evaluation[evaluation["branch_code"] != NATIONAL_CODE]
    national = evaluation[evaluation["branch_code"] == NATIONAL_CODE].sort_values("kpi_order")
    keys = list(dict.fromkeys(list(national["kpi_key"]) + list(branches.sort_values("kpi_order")["kpi_key"])))
    labels = _labels(national, branches)
    national_by = {r["kpi_key"]: r for r in national.to_dict("records")}
    by = {(r["branch_code"], r["kpi_key"]): r for r in branches.to_dict("records")}
    plan_of = {b: r["plan"] for (b, _), r in by.items()}
    as_of = evaluation["as_of_month"].iloc[0] if len(evaluation) else None
    put_text(ws.cell(2, 1), (f"{month_label_ja(as_of)}時点。" if as_of else "")
             + "各支部の実績の右は47支部中の順位（1位が最良。平均所要日数など「以下」が目標の指標は小さいほど上位）。目標は本部の事業計画の目標、全国は協会全体の値です。")

    codes = branch_codes()
    value_col = {key: 3 + 2 * j for j, key in enumerate(keys)}
    widths = {1: BRANCH_WIDTH, 2: PLAN_WIDTH}
    for key, col in value_col.items():  # each value column as wide as its widest formatted value
        texts = [present(r).actual_text for (b, k), r in by.items() if k == key]
        if key in national_by:
            texts.append(_national_value(book, national_by[key])[1])
        widths[col] = max([MIN_VALUE_WIDTH] + [display_width(t) + 2 for t in texts])
        widths[col + 1] = RANK_WIDTH
    for col, width in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = width

    # header: the KPI (over its value and rank columns), then 実績 | 順位
    for col, title in ((1, "支部"), (2, "適用する計画")):
        put_text(ws.cell(KPI_ROW, col), title, styles.HEADER)
        put_text(ws.cell(SUB_ROW, col), "", styles.HEADER)
        ws.merge_cells(start_row=KPI_ROW, start_column=col, end_row=SUB_ROW, end_column=col)
    label_lines = 1
    for key, col in value_col.items():
        put_text(ws.cell(KPI_ROW, col), labels[key], styles.HEADER)
        put_text(ws.cell(KPI_ROW, col + 1), "", styles.HEADER)
        ws.merge_cells(start_row=KPI_ROW, start_column=col, end_row=KPI_ROW, end_column=col + 1)
        put_text(ws.cell(SUB_ROW, col), "実績", styles.HEADER)
        put_text(ws.cell(SUB_ROW, col + 1), "順位", styles.HEADER)
        label_lines = max(label_lines, lines_needed(labels[key], widths[col] + widths[col + 1]))
    ws.row_dimensions[KPI_ROW].height = height_for(label_lines)

    # 目標 (the national plan's target, as the KPI table words it) and 全国 (the national value)
    put_text(ws.cell(TARGET_ROW, 1), "目標", styles.HEADER)
    put_text(ws.cell(TARGET_ROW, 2), "本部の事業計画", styles.HEADER)
    put_text(ws.cell(NATIONAL_ROW, 1), "全国", styles.HEADER)
    put_text(ws.cell(NATIONAL_ROW, 2), "協会全体の値", styles.HEADER)
    target_lines = 1
    for key, col in value_col.items():
        r = national_by.get(key)
        target = present(r).target_text if r is not None else BRANCH_ONLY
        put_text(ws.cell(TARGET_ROW, col), target, styles.TEXT)
        put_text(ws.cell(TARGET_ROW, col + 1), "", styles.TEXT)
        ws.merge_cells(start_row=TARGET_ROW, start_column=col, end_row=TARGET_ROW, end_column=col + 1)
        target_lines = max(target_lines, lines_needed(target, widths[col] + widths[col + 1]))
        if r is None:
            put_text(ws.cell(NATIONAL_ROW, col), "", styles.VALUE)
        else:
            value, text = _national_value(book, r)
            if value is None:
                put_text(ws.cell(NATIONAL_ROW, col), text, styles.VALUE)
            else:
                put_number(ws.cell(NATIONAL_ROW, col), value, present(r).number_format, styles.NUMBER)
        put_text(ws.cell(NATIONAL_ROW, col + 1), "", styles.VALUE)
    ws.row_dimensions[TARGET_ROW].height = height_for(target_lines)

    achieved = {k: 0 for k in keys}
    judged = {k: False for k in keys}
    for i, code in enumerate(codes, start=FIRST_BRANCH_ROW):
        put_text(ws.cell(i, 1), branch_name(code), styles.TEXT)
        put_text(ws.cell(i, 2), plan_of.get(code, NO_PLAN), styles.TEXT)
        for key, col in value_col.items():
            c, rank_cell = ws.cell(i, col), ws.cell(i, col + 1)
            r = by.get((code, key))
            if r is None:
                put_text(c, "", styles.VALUE)
                put_text(rank_cell, "", styles.VALUE)
                continue
            shown = present(r)
            if shown.actual is not None:
                put_number(c, shown.actual, shown.number_format, styles.STATUS[shown.status])
                c.alignment = Alignment(horizontal="center", vertical="center", shrink_to_fit=True)  # never wraps mid-number
            else:
                put_text(c, shown.actual_text, styles.STATUS[shown.status])
            rank, rank_text = _rank(book, r)
            if rank is not None:
                put_number(rank_cell, rank, RANK_FORMAT, styles.NUMBER)
            else:
                put_text(rank_cell, rank_text, styles.VALUE)
            achieved[key] += shown.status == ACHIEVED
            judged[key] = True
    total_row = FIRST_BRANCH_ROW + len(codes)
    put_text(ws.cell(total_row, 1), "達成支部数", styles.EMPHASIS)
    for key, col in value_col.items():
        if judged[key]:
            put_number(ws.cell(total_row, col), achieved[key], '0"支部"', styles.TOTAL)
        else:  # judged for the association only: no branch is judged, so none "achieved" either
            put_text(ws.cell(total_row, col), NO_BRANCH_JUDGEMENT, styles.TOTAL)
    ws.freeze_panes = ws.cell(FIRST_BRANCH_ROW, 3).coordinate
    print_setup(ws, book, f"{KPI_ROW}:{NATIONAL_ROW}")
    # spread over as many pages as needed at a readable scale, not shrunk onto one page
    ws.sheet_properties.pageSetUpPr.fitToPage = False
    ws.page_setup.scale = SCALE
    ws.print_title_cols = "A:B"
    _column_breaks(ws, widths, value_col)


def _column_breaks(ws: Worksheet, widths: dict[int, float], value_col: dict[str, int]) -> None:
    """Page breaks between KPIs, never between a KPI's actual and its rank (the repeated branch and
    plan columns take their room on every page), the KPIs shared out evenly over the pages across."""
    room = PRINTABLE_POINTS / (SCALE / 100) * 0.9 - width_points(widths[1]) - width_points(widths[2])
    pairs = [(col, width_points(widths[col]) + width_points(widths[col + 1])) for col in value_col.values()]
    pages, used = 1, 0.0
    for _, pair in pairs:  # how many pages across the KPIs need at most
        if used and used + pair > room:
            pages, used = pages + 1, 0.0
        used += pair
    share = sum(p for _, p in pairs) / pages
    used = 0.0
    for col, pair in pairs:
        if used and (used + pair > room or (used + pair / 2 > share and len(ws.col_breaks.brk) < pages - 1)):
            ws.col_breaks.append(Break(id=col - 1))  # the break falls after column col - 1
            used = 0.0
        used += pair
