"""The ``インセンティブ`` sheet of the PDCA workbook: the インセンティブ制度 ranking (issue 14).

``write_incentive_sheet`` renders the frames of ``reporting/incentive.py`` (the one presentation of
the ranking, shared with the UI) from the fiscal year's rows of the ``incentive_ranking`` table:

- national workbook: the ranking of the latest as-of month (47 rows: ranked branches by rank, then the
  判定不能 ones with their reason in 備考; per indicator its value, 伸び, both deviation scores, score and
  rank), a thick red line under the last rewarded branch; during the year the same table on projected
  year-end values; then every branch's rank month by month, on the year-to-date values and projected.
- branch workbook: its standing in words (「見込み 12位（報奨対象圏内）」), its indicators now and
  projected with the distance to the N-th branch (N = the number rewarded), and its rank month by month.

It judges nothing itself. Texts go through the workbook's ``put_text`` (never a formula, even for
an indicator name typed into a scoring file), numbers are numbers with a number format. The workbook
adds the sheet through ``write_workbook(..., extra_sheet=...)``; this module imports only the cell
writers from it, so the workbook does not import this module (no import cycle).
"""

from __future__ import annotations

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label_ja, month_label_ja
from kenpo_pipeline.domain.kpis.incentive import UNKNOWN
from kenpo_pipeline.domain.kpis.measures import MEASURES_BY_ID
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_name
from kenpo_pipeline.domain.reporting import incentive as shown
from kenpo_pipeline.domain.reporting.presentation import FILLS
from kenpo_pipeline.domain.reporting.workbook.cells import put_number, put_text, restyle

SHEET_TITLE = "インセンティブ"
# the look of the workbook's other sheets (header fill, thin borders, title size)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
THIN = Side(style="thin", color="808080")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="top")
BOLD = Font(bold=True)
_ALIGNED = {side: Alignment(horizontal=side, vertical="top") for side in ("center", "right")}
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
TITLE_FONT = Font(size=14, bold=True)
REWARDED_FILL = PatternFill("solid", fgColor=FILLS["達成"])
UNKNOWN_FILL = PatternFill("solid", fgColor=FILLS[UNKNOWN])
LINE = Side(style="thick", color="C00000")  # the line between rewarded and not
SCORE_FORMAT = "0.00"
RANK_FORMAT = '0"位"'
SECTION_FONT = Font(size=12, bold=True)


def _method_note(n: int) -> str:
    return (
        "各指標の実績（年度累計）と伸び（前年度同月の実績との差）をそれぞれ偏差値（50＋10×（値−平均）÷標準偏差）にし、"
        "重みを掛けて合計した点数で47支部を順位付けします。"
        f"上位{n}支部が報奨対象です（年度途中は「報奨対象圏内」＝その時点で上位{n}支部に入っていること）。"
        "重みと報奨対象支部数は協会が定めるもので、KPIカタログの incentive/FY<年度>.yaml にあります。"
        "算出できない指標がある支部は判定不能とし、順位を付けずに理由を備考に示します（平均と標準偏差は残りの支部で計算）。"
    )


def _value_formats(rows: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Indicator name → (number format of its value, of its improvement)."""
    out = {}
    for r in rows.drop_duplicates("indicator").itertuples(index=False):
        m = MEASURES_BY_ID[r.measure]
        digits = "0" if m.precision == 0 else "0." + "0" * m.precision
        value = f'{digits}"%"' if m.unit == "%" else f'#,##{digits}"{m.unit}"'
        out[r.indicator_name] = (value, f"+{digits};-{digits};{digits}")
    return out


def _format_of(column: str, formats: dict[str, tuple[str, str]]) -> str | None:
    """The number format of a column of ``national_table`` / ``branch_view``."""
    if column == "順位" or column.endswith("順位") or column.startswith("順位"):
        return RANK_FORMAT
    for name, (value, improvement) in formats.items():
        if column.startswith(name + " "):
            rest = column[len(name) + 1:]
            if rest in ("実績", "年度末見込み"):
                return value
            if rest == "伸び":
                return improvement
    if column.startswith(("合計点", "得点", "偏差値")) or "得点" in column or "偏差値" in column or "との差" in column:
        return SCORE_FORMAT
    return None


def _put(cell, value, fmt: str | None):
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return cell  # left empty
    if isinstance(value, str):
        return put_text(cell, value)
    return put_number(cell, value, fmt or "General")


def _table(ws: Worksheet, top: int, frame: pd.DataFrame, formats: dict, widths: dict[str, float] | None = None) -> int:
    """Write ``frame`` with a header at row ``top``; returns the row after its last row."""
    widths = widths or {}
    for j, title in enumerate(frame.columns, start=1):
        c = put_text(ws.cell(top, j), title)
        restyle(c, font=BOLD, fill=HEADER_FILL, alignment=CENTER, border=BORDER)
        letter = get_column_letter(j)
        want = widths.get(title, 9.5)
        ws.column_dimensions[letter].width = max(ws.column_dimensions[letter].width or 0, want)
    ws.row_dimensions[top].height = 60
    for i, row in enumerate(frame.itertuples(index=False), start=top + 1):
        for j, (title, value) in enumerate(zip(frame.columns, row), start=1):
            c = _put(ws.cell(i, j), value, _format_of(title, formats))
            restyle(c, border=BORDER, alignment=WRAP if title == "備考" else _ALIGNED["center" if title in ("区分", "支部", "指標", "月") else "right"])
    return top + 1 + len(frame)


def _mark_standing(ws: Worksheet, top: int, frame: pd.DataFrame) -> None:
    """Colour the 区分 cells (rewarded green, 判定不能 grey) and draw the line under the last rewarded row."""
    col = list(frame.columns).index("区分") + 1
    for i, word in enumerate(frame["区分"], start=top + 1):
        if word in shown.REWARDED_WORDS:
            ws.cell(i, col).fill = REWARDED_FILL
        elif word == UNKNOWN:
            ws.cell(i, col).fill = UNKNOWN_FILL
    line = shown.rewarded_line(frame)
    if 0 < line < len(frame):
        row = top + line
        for j in range(1, len(frame.columns) + 1):
            c = ws.cell(row, j)
            c.border = Border(left=c.border.left, right=c.border.right, top=c.border.top, bottom=LINE)


def _history(table: pd.DataFrame, branches: list[str], projected: bool) -> pd.DataFrame:
    """Rank by branch (rows) and as-of month (columns); 判定不能 where the branch was not ranked."""
    p = "projected_" if projected else ""
    fy = int(table["fiscal_year"].iloc[0])
    months = [m for m in fiscal_months(fy) if m in set(table["as_of_month"])]
    if projected:
        months = [m for m in months if table.loc[table["as_of_month"] == m, "projected_status"].notna().any()]
    per = table.drop_duplicates(["as_of_month", "branch_code"]).set_index(["branch_code", "as_of_month"])
    rows = []
    for b in branches:
        rec = {"支部": branch_name(b)}
        for m in months:
            r = per.loc[(b, m)] if (b, m) in per.index else None
            if r is None:
                rec[month_label_ja(m)] = None
            elif pd.isna(r[f"{p}rank"]):
                rec[month_label_ja(m)] = UNKNOWN
            else:
                rec[month_label_ja(m)] = int(r[f"{p}rank"])
        rows.append(rec)
    return pd.DataFrame(rows, columns=["支部", *[month_label_ja(m) for m in months]])


def _history_table(ws: Worksheet, top: int, frame: pd.DataFrame, n: int, rank_columns: list[str]) -> int:
    """A table of ranks: the ``rank_columns`` as 「12位」, green within the rewarded, grey when 判定不能."""
    end = _table(ws, top, frame, {}, {"支部": 10, "月": 12, "区分": 12, "見込みの区分": 12})
    for i in range(top + 1, end):
        for j in (list(frame.columns).index(c) + 1 for c in rank_columns):
            c = ws.cell(i, j)
            if isinstance(c.value, (int, float)):
                c.number_format = RANK_FORMAT
                if c.value <= n:
                    restyle(c, fill=REWARDED_FILL)
            elif c.value == UNKNOWN:
                restyle(c, fill=UNKNOWN_FILL)
    return end


def _section(ws: Worksheet, row: int, text: str) -> None:
    put_text(ws.cell(row, 1), text).font = SECTION_FONT
    ws.cell(row, 1).alignment = Alignment(wrap_text=False)


def _note(ws: Worksheet, row: int, text: str) -> None:
    put_text(ws.cell(row, 1), text).alignment = Alignment(wrap_text=False, vertical="top")


def _national(ws: Worksheet, table: pd.DataFrame) -> None:
    as_of = shown.latest_as_of(table)
    n = int(table["rewarded_branches"].iloc[0])
    formats = _value_formats(table[table["as_of_month"] == as_of])
    widths = {"支部": 10, "区分": 12, "備考": 60}
    put_text(ws.cell(1, 1), shown.title(table, as_of)).font = TITLE_FONT
    _note(ws, 2, _method_note(n))
    now = shown.national_table(table, as_of).drop(columns=["支部コード"])
    end = _table(ws, 4, now, formats, widths)
    _mark_standing(ws, 4, now)
    ws.freeze_panes = "C5"
    row = end + 1
    _note(ws, row, f"赤い太線より上が報奨対象{'' if shown.is_year_end(table, as_of) else '圏内'}（上位{n}支部）。")
    row += 2
    ahead = shown.national_table(table, as_of, projected=True)
    _section(ws, row, shown.title(table, as_of, projected=True) if not ahead.empty else "年度末の順位の見込み")
    row += 1
    if ahead.empty:
        _note(ws, row, f"{month_label_ja(as_of)}時点は年度末のため、上の表が年度末の順位です（見込みはありません）。")
        row += 2
    else:
        _note(ws, row, "年度末見込み＝各支部の前年度の月別推移で年度累計を年度末まで延ばした値。伸びは前年度末の実績との差。")
        ahead = ahead.drop(columns=["支部コード"])
        end = _table(ws, row + 1, ahead, formats, widths)
        _mark_standing(ws, row + 1, ahead)
        row = end + 2
    order = list(shown.national_table(table, as_of, compact=True)["支部コード"])
    _section(ws, row, "各月時点の順位（年度累計の実績による）")
    history = _history(table, order, projected=False)
    row = _history_table(ws, row + 1, history, n, list(history.columns[1:])) + 2
    projected = _history(table, order, projected=True)
    if len(projected.columns) > 1:
        _section(ws, row, "各月時点の年度末の順位の見込み")
        _history_table(ws, row + 1, projected, n, list(projected.columns[1:]))


def _branch(ws: Worksheet, table: pd.DataFrame, branch: str) -> None:
    as_of = shown.latest_as_of(table)
    n = int(table["rewarded_branches"].iloc[0])
    rows = table[table["as_of_month"] == as_of]
    formats = _value_formats(rows)
    put_text(ws.cell(1, 1), f"{shown.title(table, as_of)}　{branch_name(branch)}").font = TITLE_FONT
    final = shown.is_year_end(table, as_of)
    words = [("順位" if final else "現時点の順位", shown.standing_text(table, branch, as_of))]
    if not final:
        words.append(("年度末の見込み", shown.standing_text(table, branch, as_of, projected=True)))
    row = 2
    for label, text in words:
        put_text(ws.cell(row, 1), label).font = Font(bold=True)
        c = put_text(ws.cell(row, 2), text.removeprefix("現時点 ").removeprefix("見込み "))
        c.font = SECTION_FONT
        c.alignment = Alignment(wrap_text=False)
        row += 1
    _note(ws, row, _method_note(n))
    _note(ws, row + 1, f"{n}位との差＝自支部の得点−{n}位の支部の得点（マイナスは報奨対象の線より下）。")
    view = shown.branch_view(table, branch, as_of)
    top = row + 3
    end = _table(ws, top, view, formats, {"指標": 26, "備考": 60})
    for i, name in enumerate(view["指標"], start=top + 1):  # the values are per indicator: their own format
        if name in formats:
            for j, title in enumerate(view.columns, start=1):
                if title in ("実績", "前年度同月", "年度末見込み"):
                    cell = ws.cell(i, j)
                    if isinstance(cell.value, float):
                        cell.number_format = formats[name][0]
                elif title in ("伸び", "伸び（見込み）"):
                    cell = ws.cell(i, j)
                    if isinstance(cell.value, float):
                        cell.number_format = formats[name][1]
    for j in range(1, len(view.columns) + 1):
        ws.cell(end - 1, j).font = Font(bold=True)  # the 合計 row
    ws.freeze_panes = ws.cell(top + 1, 2).coordinate
    row = end + 2
    _section(ws, row, "各月時点の順位")
    _history_table(ws, row + 1, _branch_history(table, branch), n, ["順位", "見込み順位"])


def _branch_history(table: pd.DataFrame, branch: str) -> pd.DataFrame:
    """The branch's rank and standing at each as-of month, and the projected ones."""
    fy = int(table["fiscal_year"].iloc[0])
    mine = table[table["branch_code"] == branch].drop_duplicates("as_of_month").set_index("as_of_month")
    out = []
    for m in fiscal_months(fy):
        if m not in mine.index:
            continue
        r = mine.loc[m]
        final = m == fiscal_months(fy)[-1]
        rec = {
            "月": month_label_ja(m),
            "順位": UNKNOWN if pd.isna(r["rank"]) else int(r["rank"]),
            "合計点": pd.NA if pd.isna(r["total"]) else round(float(r["total"]), shown.SCORE_DECIMALS),
            "区分": shown.standing_word(r["rewarded"], r["status"], final),
            "見込み順位": "" if final else (UNKNOWN if pd.isna(r["projected_rank"]) else int(r["projected_rank"])),
            "見込みの区分": "" if final else shown.standing_word(r["projected_rewarded"], r["projected_status"], False),
        }
        out.append(rec)
    return pd.DataFrame(out, columns=["月", "順位", "合計点", "区分", "見込み順位", "見込みの区分"])


def write_incentive_sheet(wb: Workbook, fy: int, branch: str, incentive: pd.DataFrame | None) -> Worksheet | None:
    """Add the ``インセンティブ`` sheet to ``wb`` from the fiscal year's ``incentive_ranking`` rows
    (national for ``branch`` 00, else that branch's standing). ``incentive`` None: no sheet (the caller
    has no ranking to show); empty: the sheet says that there is no ranking yet."""
    if incentive is None:
        return None
    ws = wb.create_sheet(SHEET_TITLE)
    fill_incentive_sheet(ws, fy, branch, incentive)
    return ws


def fill_incentive_sheet(ws: Worksheet, fy: int, branch: str, incentive: pd.DataFrame) -> Worksheet:
    """Write the ``インセンティブ`` sheet into ``ws`` (see ``write_incentive_sheet``)."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.print_title_rows = "1:1"  # the title on every page (the sheet holds several tables, each with its header)
    ws.column_dimensions["A"].width = 10
    table = incentive[incentive["fiscal_year"] == fy] if len(incentive) else incentive
    if table.empty:
        put_text(ws.cell(1, 1), f"{fiscal_year_label_ja(fy)} インセンティブ制度 順位").font = TITLE_FONT
        put_text(ws.cell(3, 1), (
            f"{fiscal_year_label_ja(fy)}の順位はまだありません（KPI実績がまだないか、評価方法のファイル "
            f"incentive/FY{fy}.yaml が KPIカタログにありません）。"
        ))
        return ws
    if branch == NATIONAL_CODE:
        _national(ws, table)
    else:
        _branch(ws, table, branch)
    return ws
