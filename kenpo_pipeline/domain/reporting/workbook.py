"""The PDCA workbook (shared spec/outputs.md "The PDCA workbook"), written with openpyxl.

``write_workbook`` writes one scope's workbook — the national ``pdca_FY2024.xlsx`` or a branch's
``pdca_FY2024_22.xlsx`` — from tables the pipeline already holds (``pdca_evaluation``,
``kpi_actuals``, ``feed_loads``); it judges nothing itself. Sheets:

- ``KPI実績一覧表``: 具体的施策 · KPI · 目標 · 実績 · 対目標比 · 達成状況 · ＜参考＞前年度実績 · 備考, as the
  table at the end of seed 003 with 目標 and 対目標比 added; statuses coloured, with a legend.
- ``支部別`` (national workbook): 47 branches × KPIs, each branch's actual coloured by its status
  under the plan that applies to it, and the number of branches achieving each KPI.
- ``月次推移``: the year-to-date value of every KPI month by month, one native line chart per KPI
  with the target as a second line where the rule has a single numeric target.
- ``データ品質``: every feed × month: file, SHA-256, rows read / loaded / quarantined, check result.

Every text that came from a feed or a catalog is written as text through ``put_text`` (a cell
starting with ``=``, ``+``, ``-``, ``@``, tab or CR carries Excel's quote prefix, so it is never a
formula, not even after editing or a save as CSV); numbers are numbers with a number format.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.chart import LineChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label_ja, month_label_ja
from kenpo_pipeline.domain.kpis.measures import measure
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_codes, branch_name
from kenpo_pipeline.domain.reporting.presentation import FILLS, FONTS, OUTLOOK_ACHIEVED, OUTLOOK_WARNING, STATUSES, achievement_ratio

STATUS_FILLS = {s: PatternFill("solid", fgColor=FILLS[s]) for s in STATUSES}
OUTLOOK_FILLS = {s: PatternFill("solid", fgColor=FILLS[s]) for s in (OUTLOOK_ACHIEVED, OUTLOOK_WARNING)}
STATUS_FONTS = {s: Font(color=FONTS[s]) for s in STATUSES}
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
THIN = Side(style="thin", color="808080")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
TITLE_FONT = Font(size=14, bold=True)
JP_FONT = "游ゴシック"


def number_format(unit: str, precision: int) -> str:
    digits = "0" if precision == 0 else "0." + "0" * precision
    if unit == "%":
        return f'{digits}"%"'
    return f'#,##{digits}"{unit}"'


FORMULA_LIKE_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
"""Text starting with one of these is stored with Excel's quote prefix: Excel would otherwise
revive it as a formula when the cell is edited or the sheet saved as CSV (full-width forms
included: a Japanese IME turns them into the ASCII ones on editing)."""
MAX_CELL_CHARS = 32767  # Excel's limit for one cell
_UNWRITABLE = re.compile(ILLEGAL_CHARACTERS_RE.pattern + "|[\ud800-\udfff\ufffe\uffff]")


def put_text(cell: Cell, value: object) -> Cell:
    """Write a value as text, never as a formula, and never fail on its characters.

    Feed and catalog text may start with ``=`` and may hold characters a worksheet cannot: control
    characters (which openpyxl refuses), lone surrogates and U+FFFE/U+FFFF (not XML) are replaced
    by U+FFFD, visibly; text longer than Excel's cell limit is cut with "…". Formula-like text gets
    the quote prefix (the cell style ``quotePrefix``), so it stays text in Excel too."""
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    text = _UNWRITABLE.sub("\ufffd", text)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    cell.value = text
    cell.data_type = "s"
    if text.startswith(FORMULA_LIKE_STARTS):
        cell.quotePrefix = True
    return cell


def put_number(cell: Cell, value: float, fmt: str) -> Cell:
    cell.value = float(value)
    cell.number_format = fmt
    return cell


def _is_number(x) -> bool:
    return x is not None and not (isinstance(x, float) and pd.isna(x))


def _print_setup(ws: Worksheet, header_rows: str) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = header_rows
    ws.page_margins.left = ws.page_margins.right = 0.4


def _header(ws: Worksheet, row: int, titles: list[str], widths: list[float]) -> None:
    for col, (title, width) in enumerate(zip(titles, widths), start=1):
        c = put_text(ws.cell(row, col), title)
        c.font = Font(bold=True)
        c.fill = HEADER_FILL
        c.alignment = CENTER
        c.border = BORDER
        ws.column_dimensions[get_column_letter(col)].width = width


def _unit_of(row) -> tuple[str, int]:
    m = str(row.get("measure") or "").split(",")[0]
    if not m:
        return "", 0
    ms = measure(m)
    text = str(row.get("actual_text") or "")
    decimals = len(text.split(".")[1].rstrip("%円日件人月事業所成分")) if "." in text else 0
    return ms.unit, decimals if text else ms.precision


def _scope_title(fy: int, branch: str) -> str:
    return f"{fiscal_year_label_ja(fy)} KPI実績一覧表（{branch_name(branch)}）"


def write_kpi_sheet(
    ws: Worksheet, fy: int, branch: str, evaluation: pd.DataFrame, plan_title: str | None, actuals: pd.DataFrame,
    publication: tuple[dict, pd.DataFrame] | None = None,
) -> None:
    ws.title = "KPI実績一覧表"
    put_text(ws.cell(1, 1), _scope_title(fy, branch)).font = TITLE_FONT
    titles = ["具体的施策", "KPI", "目標", "実績", "対目標比", "達成状況", "＜参考＞前年度実績", "備考"]
    widths = [30, 58, 22, 14, 10, 10, 18, 30]
    if evaluation.empty:
        put_text(ws.cell(2, 1), "事業計画未登録（この年度・範囲に適用される事業計画がありません）。実績のみを示します。")
        _header(ws, 4, ["指標", "年度末（または最新）実績", "対象月数"], [60, 24, 12])
        latest = actuals[actuals["branch_code"] == branch]
        if len(latest):
            as_of = latest["as_of_month"].max()
            rows = latest[latest["as_of_month"] == as_of]
            put_text(ws.cell(3, 1), f"{month_label_ja(as_of)}時点")
            for i, r in enumerate(rows.itertuples(), start=5):
                m = measure(r.measure)
                put_text(ws.cell(i, 1), m.name_ja).border = BORDER
                c = ws.cell(i, 2)
                if _is_number(r.value):
                    put_number(c, r.value, number_format(m.unit, m.precision))
                else:
                    put_text(c, "—")
                c.border = BORDER
                put_number(ws.cell(i, 3), r.months_covered, "0").border = BORDER
        ws.freeze_panes = "A5"
        _print_setup(ws, "4:4")
        return
    as_of = evaluation["as_of_month"].iloc[0]
    subtitle = f"{plan_title or ''}　{month_label_ja(as_of)}時点"
    put_text(ws.cell(2, 1), subtitle.strip())
    in_year = "projected_status" in evaluation and evaluation["projected_status"].astype(object).fillna("").ne("").any()
    if in_year:
        titles, widths = titles + ["年度末見込み", "見込み"], widths + [14, 12]
    diff_by_kpi: dict[str, str] = {}
    if publication is not None:
        info, diffs = publication
        put_text(ws.cell(2, 1), f"{subtitle.strip()}　公表版（第{info['version']}版、{info['published_at']:%Y-%m-%d}、{info['published_by']}）")
        mine = diffs[diffs["branch_code"] == branch] if len(diffs) else diffs
        diff_by_kpi = dict(zip(mine["kpi_id"], mine["difference"])) if len(mine) else {}
        titles, widths = titles + ["再計算との差異"], widths + [36]
    _header(ws, 3, titles, widths)
    row = 4
    first_of_section = None
    section = None
    for r in evaluation.sort_values("kpi_order").to_dict("records"):
        if r["section"] != section:
            if first_of_section is not None and row - 1 > first_of_section:
                ws.merge_cells(start_row=first_of_section, start_column=1, end_row=row - 1, end_column=1)
            section, first_of_section = r["section"], row
        put_text(ws.cell(row, 1), r["section"])
        put_text(ws.cell(row, 2), r["kpi_text"])
        put_text(ws.cell(row, 3), r["target_text"])
        unit, decimals = _unit_of(r)
        if _is_number(r.get("actual_value")):
            put_number(ws.cell(row, 4), r["actual_value"], number_format(unit, decimals))
        else:
            put_text(ws.cell(row, 4), r["actual_text"])
        ratio = achievement_ratio(r)
        if ratio is None:
            put_text(ws.cell(row, 5), "")
        else:
            put_number(ws.cell(row, 5), ratio, "0.0%")
        status = put_text(ws.cell(row, 6), r["status"])
        status.fill, status.font = STATUS_FILLS[r["status"]], STATUS_FONTS[r["status"]]
        if _is_number(r.get("prior_year_value")):
            put_number(ws.cell(row, 7), r["prior_year_value"], number_format(unit, decimals))
        else:
            put_text(ws.cell(row, 7), r.get("prior_year_text") or "")
        put_text(ws.cell(row, 8), r.get("reason") or "")
        if in_year:
            if _is_number(r.get("projected_value")):
                put_number(ws.cell(row, 9), r["projected_value"], number_format(unit, decimals))
            else:
                put_text(ws.cell(row, 9), "")
            outlook = put_text(ws.cell(row, 10), r.get("projected_status") or "")
            if outlook.value in OUTLOOK_FILLS:
                outlook.fill = OUTLOOK_FILLS[outlook.value]
        if publication is not None:
            diff = put_text(ws.cell(row, len(titles)), diff_by_kpi.get(r["kpi_id"], ""))
            if diff.value:
                diff.fill = PatternFill("solid", fgColor="FFEB9C")
        for col in range(1, len(titles) + 1):
            c = ws.cell(row, col)
            c.border = BORDER
            if col in (4, 5, 6, 7, 9, 10):
                c.alignment = Alignment(horizontal="center", vertical="top", wrap_text=True)
            else:
                c.alignment = WRAP
        lines = max(len(str(r["kpi_text"])) // 26, len(str(r["section"])) // 14, len(str(r.get("reason") or "")) // 14) + 1
        ws.row_dimensions[row].height = max(30, 16 * lines)
        row += 1
    if first_of_section is not None and row - 1 > first_of_section:
        ws.merge_cells(start_row=first_of_section, start_column=1, end_row=row - 1, end_column=1)
    legend_row = row + 1
    put_text(ws.cell(legend_row, 1), "凡例")
    for i, status in enumerate(("達成", "未達成", "判定不能"), start=2):
        c = put_text(ws.cell(legend_row, i), status)
        c.fill, c.font, c.border, c.alignment = STATUS_FILLS[status], STATUS_FONTS[status], BORDER, CENTER
    put_text(ws.cell(legend_row + 1, 1), "対目標比＝実績÷目標（「以下」の目標は目標÷実績）。判定不能の理由は備考に記載。")
    if in_year:
        for i, outlook in enumerate(("見込み達成", "要注意"), start=5):
            c = put_text(ws.cell(legend_row, i), outlook)
            c.fill, c.border, c.alignment = OUTLOOK_FILLS[outlook], BORDER, CENTER
        put_text(ws.cell(legend_row + 2, 1), "年度末見込み＝前年度の同じ支部の月別推移（前年度末÷前年度同月）で年度累計を年度末まで延ばした値。年度途中はKPIを判定せず、見込みを示します。")
    ws.freeze_panes = "C4"
    _print_setup(ws, "3:3")


def write_branch_sheet(ws: Worksheet, fy: int, evaluation: pd.DataFrame) -> None:
    """47 branches × KPI keys, coloured by each branch's status under its applicable plan."""
    ws.title = "支部別"
    put_text(ws.cell(1, 1), f"{fiscal_year_label_ja(fy)} 支部別 KPI実績（各支部に適用される事業計画による判定）").font = TITLE_FONT
    branches = evaluation[evaluation["branch_code"] != NATIONAL_CODE]
    national = evaluation[evaluation["branch_code"] == NATIONAL_CODE].sort_values("kpi_order")
    keys = list(dict.fromkeys(list(national["kpi_key"]) + list(branches.sort_values("kpi_order")["kpi_key"])))
    labels = {}
    for r in pd.concat([national, branches]).to_dict("records"):
        measures = [m for m in str(r.get("measure") or "").split(",") if m]
        short = "・".join(measure(m).name_ja for m in measures) if measures else str(r["kpi_text"])[:40]
        labels.setdefault(r["kpi_key"], short)
    _header(ws, 3, ["支部", "適用する計画"] + [labels[k] for k in keys], [12, 14] + [16] * len(keys))
    ws.row_dimensions[3].height = 120
    by = {(r["branch_code"], r["kpi_key"]): r for r in branches.to_dict("records")}
    achieved = {k: 0 for k in keys}
    for i, code in enumerate(branch_codes(), start=4):
        put_text(ws.cell(i, 1), branch_name(code)).border = BORDER
        plan = next((r["plan"] for (b, _), r in by.items() if b == code), "事業計画未登録")
        put_text(ws.cell(i, 2), plan).border = BORDER
        for j, key in enumerate(keys, start=3):
            c = ws.cell(i, j)
            r = by.get((code, key))
            if r is None:
                put_text(c, "")
            else:
                unit, decimals = _unit_of(r)
                if _is_number(r.get("actual_value")):
                    put_number(c, r["actual_value"], number_format(unit, decimals))
                else:
                    put_text(c, r["actual_text"])
                c.fill = STATUS_FILLS[r["status"]]
                achieved[key] += r["status"] == "達成"
            c.border = BORDER
            c.alignment = Alignment(horizontal="center")
    total_row = 4 + 47
    put_text(ws.cell(total_row, 1), "達成支部数").font = Font(bold=True)
    for j, key in enumerate(keys, start=3):
        c = put_number(ws.cell(total_row, j), achieved[key], '0"支部"')
        c.font, c.border = Font(bold=True), BORDER
    ws.freeze_panes = "C4"
    _print_setup(ws, "3:3")


def write_monthly_sheet(ws: Worksheet, fy: int, branch: str, evaluation: pd.DataFrame, actuals: pd.DataFrame) -> int:
    """Year-to-date values per month and one line chart per KPI. Returns the number of charts."""
    ws.title = "月次推移"
    put_text(ws.cell(1, 1), f"{fiscal_year_label_ja(fy)} 月次推移（年度累計・月末値）　{branch_name(branch)}").font = TITLE_FONT
    months = fiscal_months(fy)
    mine = actuals[actuals["branch_code"] == branch].set_index(["measure", "as_of_month"])
    row = 3
    charts = 0
    ws.column_dimensions["A"].width = 16
    for col in ("B", "C"):
        ws.column_dimensions[col].width = 14
    for r in evaluation.sort_values("kpi_order").to_dict("records"):
        measure_ids = [m for m in str(r.get("measure") or "").split(",") if m]
        if not measure_ids:
            continue
        m = measure(measure_ids[0])
        put_text(ws.cell(row, 1), f"{r['kpi_text']}").font = Font(bold=True)
        ws.cell(row, 1).alignment = Alignment(wrap_text=False)
        header = row + 1
        single_target = _is_number(r.get("target_value")) and len(measure_ids) == 1
        _header(ws, header, ["月", f"{m.name_ja}（{m.unit}）"] + (["目標"] if single_target else []), [16, 14] + ([14] if single_target else []))
        ws.row_dimensions[header].height = 45
        fmt = number_format(m.unit, m.precision)
        for i, month in enumerate(months, start=header + 1):
            put_text(ws.cell(i, 1), month_label_ja(month)).border = BORDER
            c = ws.cell(i, 2)
            value = mine["value"].get((m.id, month)) if (m.id, month) in mine.index else None
            if _is_number(value):
                put_number(c, value, fmt)
            c.border = BORDER
            if single_target:
                put_number(ws.cell(i, 3), r["target_value"], fmt).border = BORDER
        chart = LineChart()
        chart.title = m.name_ja
        chart.y_axis.title = m.unit
        chart.x_axis.title = "月"
        chart.height, chart.width = 7.5, 16
        data = Reference(ws, min_col=2, max_col=3 if single_target else 2, min_row=header, max_row=header + 12)
        chart.add_data(data, titles_from_data=True)
        for series in chart.series:
            series.smooth = False
        chart.set_categories(Reference(ws, min_col=1, min_row=header + 1, max_row=header + 12))
        ws.add_chart(chart, f"E{row}")
        charts += 1
        row = header + 16
    _print_setup(ws, "1:1")
    return charts


def write_quality_sheet(ws: Worksheet, fy: int, loads: pd.DataFrame) -> None:
    ws.title = "データ品質"
    put_text(ws.cell(1, 1), f"{fiscal_year_label_ja(fy)} データ品質（フィード×月の読込結果）").font = TITLE_FONT
    titles = ["対象月", "フィード", "ファイル", "SHA-256", "読込行数", "取込行数", "隔離行数", "状態", "検証結果", "理由・警告", "読込日時"]
    _header(ws, 3, titles, [12, 14, 40, 20, 10, 10, 10, 10, 16, 50, 20])
    months = set(fiscal_months(fy))
    rows = loads[loads["month"].isin(months)].sort_values(["month", "feed", "load_id"])
    status_ja = {"loaded": "取込済", "rejected": "却下", "superseded": "差替済"}
    for i, r in enumerate(rows.to_dict("records"), start=4):
        put_text(ws.cell(i, 1), month_label_ja(r["month"]))
        put_text(ws.cell(i, 2), r["feed"])
        put_text(ws.cell(i, 3), r["path"])
        put_text(ws.cell(i, 4), r["sha256"])
        for col, key in ((5, "rows_read"), (6, "rows_loaded"), (7, "rows_quarantined")):
            put_number(ws.cell(i, col), int(r[key] or 0), "#,##0")
        put_text(ws.cell(i, 8), status_ja.get(r["status"], r["status"]))
        warnings = json.loads(r["warnings"]) if isinstance(r.get("warnings"), str) and r["warnings"] else []
        if r["status"] == "rejected":
            verdict, fill = "却下（取込なし）", STATUS_FILLS["未達成"]
        elif int(r["rows_quarantined"] or 0):
            verdict, fill = "警告（隔離あり）", STATUS_FILLS["判定不能"]
        else:
            verdict, fill = "合格", STATUS_FILLS["達成"]
        c = put_text(ws.cell(i, 9), verdict)
        c.fill = fill
        put_text(ws.cell(i, 10), r["reason"] or "；".join(warnings[:5]))
        put_text(ws.cell(i, 11), str(r["loaded_at"])[:19])
        for col in range(1, 12):
            ws.cell(i, col).border = BORDER
            ws.cell(i, col).alignment = WRAP
    ws.freeze_panes = "C4"
    _print_setup(ws, "3:3")


def write_action_plan_sheet(ws: Worksheet, name: str, table: pd.DataFrame, branch: str) -> None:
    ws.title = "3か年計画"
    put_text(ws.cell(1, 1), f"{name}　KPIの推移（{branch_name(branch)}）").font = TITLE_FONT
    legend = "↑↓→ は前年度実績からの推移。事業計画未登録＝その年度の計画が未登録、データなし＝実績未計算、対象外＝その年度のKPIではない。"
    if any(str(c).startswith("アクションプラン目標") for c in table.columns):
        legend += "アクションプラン目標＝アクションプラン自体のKPI（計画最終年度の目標。参考表示で、判定は各年度の事業計画による）。"
    put_text(ws.cell(2, 1), legend)
    if table.empty:
        put_text(ws.cell(4, 1), "この範囲に適用される事業計画がありません。")
        return
    columns = list(table.columns)
    _header(ws, 3, columns, [50] + [16] * (len(columns) - 1))
    for i, r in enumerate(table.itertuples(index=False), start=4):
        for j, value in enumerate(r, start=1):
            c = put_text(ws.cell(i, j), value)
            c.border, c.alignment = BORDER, WRAP if j == 1 else CENTER
            if columns[j - 1].endswith("達成状況") and value in STATUS_FILLS:
                c.fill = STATUS_FILLS[value]
        ws.row_dimensions[i].height = max(30, 16 * (len(str(r[0])) // 24 + 1))
    ws.freeze_panes = "B4"
    _print_setup(ws, "3:3")


def workbook_name(fy: int, branch: str) -> str:
    return f"pdca_FY{fy}.xlsx" if branch == NATIONAL_CODE else f"pdca_FY{fy}_{branch}.xlsx"


def write_workbook(
    out_dir: Path, fy: int, branch: str, evaluation: pd.DataFrame, actuals: pd.DataFrame, loads: pd.DataFrame, plan_title: str | None,
    action_plan: tuple[str, pd.DataFrame] | None = None,
    publication: tuple[dict, pd.DataFrame] | None = None,
) -> Path:
    """Write one scope's workbook and return its path. ``evaluation`` holds the whole year's rows."""
    wb = Workbook()
    mine = evaluation[evaluation["branch_code"] == branch]
    write_kpi_sheet(wb.active, fy, branch, mine, plan_title, actuals, publication)
    if branch == NATIONAL_CODE:
        write_branch_sheet(wb.create_sheet(), fy, evaluation)
    write_monthly_sheet(wb.create_sheet(), fy, branch, mine, actuals)
    if action_plan is not None:
        write_action_plan_sheet(wb.create_sheet(), action_plan[0], action_plan[1], branch)
    write_quality_sheet(wb.create_sheet(), fy, loads)
    wb.properties.title = _scope_title(fy, branch)
    wb.properties.creator = "kenpo-pipeline"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / workbook_name(fy, branch)
    tmp = path.with_suffix(".xlsx.tmp")
    wb.save(tmp)
    tmp.replace(path)  # readers never see a half-written workbook
    return path
