"""根拠: every evaluated KPI row traced to the numbers and the files behind it.

For one row of ``pdca_evaluation`` (a scope × KPI judged on a measure), :func:`evidence_for` gathers,
without recomputing anything:

- the numerator and the denominator in words and numbers, as ``kpi_actuals`` holds them for the
  month the KPI was judged on (e.g. 実施者数 123,456 ／ 対象者数 199,123), and the 実績 they give;
- the month-by-month year-to-date values of that measure (``kpi_actuals``), the national value
  beside a branch's;
- the loads behind it: for each feed the measure reads, the current load of every month up to the
  judged month (feed-month, file name, SHA-256 prefix, load_id) from ``feed_loads``.

:func:`evidence_markdown` renders a block for the UI's metadata; :func:`write_evidence_sheet` writes
the workbook's 根拠 sheet (one printable block per KPI). A KPI judged without a measure (manual
entries, counts of branches) has no block: its evidence is the catalog entry, said in one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from kenpo_pipeline.domain.calendar import fiscal_months, month_label_ja
from kenpo_pipeline.domain.intake.status import LoadStatus
from kenpo_pipeline.domain.kpis.measures import MEASURES_BY_ID, ROW_INPUT_FEED, Measure
from kenpo_pipeline.domain.reference import FEED_IDS, NATIONAL_CODE, branch_name, feed_layout
from kenpo_pipeline.domain.reporting import markdown

SHA_SHOWN = 12
MONTHLY_COLUMNS = ["対象月（累計）", "実績", "分子", "分母"]
LOAD_COLUMNS = ["フィード", "対象月", "ファイル", "SHA-256（先頭）", "load_id"]


@dataclass(frozen=True)
class Evidence:
    branch_code: str
    kpi_id: str
    kpi_text: str
    measure_name: str
    formula: str
    as_of_month: str
    unit: str
    precision: int
    value: float | None
    numerator_label: str
    numerator: float | None
    denominator_label: str
    denominator: float | None
    scale: float
    national_value: float | None
    monthly: pd.DataFrame  # MONTHLY_COLUMNS (numbers)
    loads: pd.DataFrame  # LOAD_COLUMNS

    def shown(self, value: float | None) -> str:
        if value is None or pd.isna(value):
            return "—"
        return f"{value:,.{self.precision}f}{self.unit if self.unit in ('%', '日', '円', '人', '件') else ''}"

    @property
    def quotient_text(self) -> str:
        """``123,456 ／ 199,123 × 100 ＝ 62.0%`` — the 実績 as its parts give it."""
        if self.numerator is None or pd.isna(self.numerator):
            return "分子がありません（データなし）"
        if not self.denominator_label:
            return f"{_count(self.numerator)} ＝ {self.shown(self.value)}"
        if self.denominator is None or pd.isna(self.denominator) or self.denominator == 0:
            return f"{_count(self.numerator)} ／ {_count(self.denominator)}：分母が0のため実績は計算できません"
        times = " × 100" if self.scale == 100.0 else ""
        return f"{_count(self.numerator)} ／ {_count(self.denominator)}{times} ＝ {self.shown(self.value)}"


def _count(x: float | None) -> str:
    if x is None or pd.isna(x):
        return "—"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def feeds_of(m: Measure) -> list[str]:
    """The feeds a measure reads, in feed order."""
    found = set()
    for name in m.inputs:
        if name in ROW_INPUT_FEED:
            found.add(ROW_INPUT_FEED[name])
        elif name.startswith("ind:"):
            found.add("indicators")
        elif name.startswith(("completed:", "eligible:")):
            found.add("screenings")
    return [f for f in FEED_IDS if f in found]


_DIVIDE = re.compile(r"\s*÷\s*")


def labels_of(m: Measure) -> tuple[str, str]:
    """The numerator and denominator in words: the measure's own words for them (``terms_ja``)
    where its formula is not a quotient, otherwise the two sides of its formula (``A ÷ B``); a
    measure that is not a ratio names its numerator after the measure. Every ratio measure has
    one or the other (``tests/test_evidence.py`` checks the registry, so the generic
    （分子）/（分母） fallback is never printed)."""
    if m.terms_ja is not None:
        return m.terms_ja
    parts = _DIVIDE.split(m.formula, maxsplit=1)
    if m.is_ratio and len(parts) == 2:
        return parts[0].strip(), parts[1].strip()
    if m.is_ratio:  # not reached by the shipped registry; a measure added without words still prints
        return f"{m.name_ja}（分子）", f"{m.name_ja}（分母）"
    return m.name_ja, ""


def evidence_for(row: dict, actuals: pd.DataFrame, loads: pd.DataFrame) -> Evidence | None:
    """The evidence of one ``pdca_evaluation`` row (as a dict) from the fiscal year's ``kpi_actuals``
    and the ``feed_loads`` table; None when the row is not judged on a measure. (For many rows of a
    year, :func:`evidence_blocks` gives the same blocks without filtering the frames once per row.)"""
    m = MEASURES_BY_ID.get(str(row.get("measure") or ""))
    if m is None:
        return None
    mine = actuals[(actuals["fiscal_year"] == int(row["fiscal_year"])) & (actuals["measure"] == m.id)]
    return _evidence(row, m, mine, _current_loads(loads))


def evidence_blocks(rows: list[dict], actuals: pd.DataFrame, loads: pd.DataFrame) -> list[Evidence | None]:
    """:func:`evidence_for` of each row, with ``kpi_actuals`` split by (fiscal year, measure) once and
    the current loads selected once (not the whole frames filtered again for every row)."""
    positions = actuals.groupby(["fiscal_year", "measure"], sort=False).indices if len(actuals) else {}
    loaded = _current_loads(loads)
    out: list[Evidence | None] = []
    for row in rows:
        m = MEASURES_BY_ID.get(str(row.get("measure") or ""))
        if m is None:
            out.append(None)
            continue
        at = positions.get((int(row["fiscal_year"]), m.id))
        mine = actuals.iloc[at] if at is not None else actuals.iloc[:0]
        out.append(_evidence(row, m, mine, loaded))
    return out


def _current_loads(loads: pd.DataFrame) -> pd.DataFrame:
    """The ``feed_loads`` rows of current loads, with the columns a block shows."""
    if not len(loads):
        return loads
    return loads.loc[loads["status"] == LoadStatus.LOADED.value, ["feed", "month", "path", "sha256", "load_id"]]


def _evidence(row: dict, m: Measure, mine: pd.DataFrame, loaded: pd.DataFrame) -> Evidence:
    """The evidence of one row judged on measure ``m``: ``mine`` = the year's ``kpi_actuals`` rows of
    that measure, ``loaded`` = the ``feed_loads`` rows of current loads."""
    fy, branch = int(row["fiscal_year"]), str(row["branch_code"])
    as_of = str(row.get("judgement_month") or row["as_of_month"])
    own = mine[mine["branch_code"] == branch].sort_values("as_of_month")
    own = own[own["as_of_month"] <= as_of]
    at = own[own["as_of_month"] == as_of]
    nat = mine[(mine["branch_code"] == NATIONAL_CODE) & (mine["as_of_month"] == as_of)]

    def first(frame: pd.DataFrame, col: str) -> float | None:
        if not len(frame):
            return None
        v = frame.iloc[0][col]
        return None if pd.isna(v) else float(v)

    num_label, den_label = labels_of(m)
    monthly = pd.DataFrame(
        {
            "対象月（累計）": [month_label_ja(x) for x in own["as_of_month"]],
            "実績": own["value"].to_numpy(),
            "分子": own["numerator"].to_numpy(),
            "分母": own["denominator"].to_numpy() if m.is_ratio else [None] * len(own),
        },
        columns=MONTHLY_COLUMNS,
    )
    months = [x for x in fiscal_months(fy) if x <= as_of]
    feeds = feeds_of(m)
    current = loaded[loaded["feed"].isin(feeds) & loaded["month"].isin(months)] if len(loaded) else loaded
    if len(current):
        current = current.assign(_rank=current["feed"].map(FEED_IDS.index)).sort_values(["_rank", "month"])
        load_rows = pd.DataFrame(
            {
                "フィード": [feed_layout(f).name_ja for f in current["feed"]],
                "対象月": [month_label_ja(x) for x in current["month"]],
                "ファイル": [str(p).replace("\\", "/").rsplit("/", 1)[-1] for p in current["path"]],
                "SHA-256（先頭）": [str(s or "")[:SHA_SHOWN] for s in current["sha256"]],
                "load_id": [int(x) for x in current["load_id"]],
            },
            columns=LOAD_COLUMNS,
        )
    else:
        load_rows = pd.DataFrame(columns=LOAD_COLUMNS)
    return Evidence(
        branch, str(row["kpi_id"]), str(row["kpi_text"]), m.name_ja, m.formula, as_of, m.unit, m.precision,
        first(at, "value"), num_label, first(at, "numerator"), den_label, first(at, "denominator") if m.is_ratio else None, m.scale,
        first(nat, "value") if branch != NATIONAL_CODE else None, monthly, load_rows,
    )


def evidence_markdown(ev: Evidence) -> str:
    """The evidence of one KPI as Markdown for the UI (every text escaped)."""
    lines = [
        f"**{markdown.escape(ev.kpi_text)}** — {markdown.escape(ev.measure_name)}（{markdown.escape(branch_name(ev.branch_code))}、{month_label_ja(ev.as_of_month)}時点の年度累計）",
        "",
        markdown.table(
            pd.DataFrame([
                ["分子", ev.numerator_label, _count(ev.numerator)],
                *([["分母", ev.denominator_label, _count(ev.denominator)]] if ev.denominator_label else []),
                ["実績", ev.quotient_text, ev.shown(ev.value)],
                *([["全国値", "協会全体の同じ指標", ev.shown(ev.national_value)]] if ev.branch_code != NATIONAL_CODE else []),
            ], columns=["項目", "内容", "値"]),
        ),
        "",
        "月ごとの年度累計：" + "、".join(f"{mth} {ev.shown(v)}" for mth, v in zip(ev.monthly["対象月（累計）"], ev.monthly["実績"])),
        "",
        markdown.table(ev.loads.astype(str)) if len(ev.loads) else "取り込まれたファイルがありません。",
    ]
    return "\n".join(lines)


def write_evidence_sheet(ws, title: str, blocks: list[Evidence], without: list[tuple[str, str]]) -> None:
    """The 根拠 sheet: one block per KPI (page breaks kept between blocks where possible), then the
    KPIs that have no measure behind them (``without`` = [(kpi_text, why)])."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.pagebreak import Break

    from kenpo_pipeline.domain.reporting.workbook.cells import put_text, restyle

    bold = Font(bold=True)
    wrap_top, wrap = Alignment(wrap_text=True, vertical="top"), Alignment(wrap_text=True)
    head = PatternFill("solid", fgColor="D9E1F2")
    thin = Side(style="thin", color="999999")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    for col, width in zip("ABCDEF", (22, 40, 18, 18, 18, 12)):
        ws.column_dimensions[col].width = width
    put_text(ws.cell(1, 1), title).font = Font(bold=True, size=14)
    put_text(ws.cell(2, 1), "各KPIの実績がどの数値とどのファイルから得られたかを示します（kpi_actuals・feed_loads の値をそのまま表示）。")
    r = 4
    used = 0
    for ev in blocks:
        height = 8 + len(ev.monthly) + len(ev.loads)
        if used and used + height > 45:  # keep a block on one page where it fits
            ws.row_breaks.append(Break(id=r - 1))
            used = 0
        start = r
        restyle(put_text(ws.cell(r, 1), f"{ev.kpi_text}"), font=bold, alignment=wrap_top)
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=6)
        ws.row_dimensions[r].height = 30
        r += 1
        put_text(ws.cell(r, 1), f"{ev.measure_name}（{month_label_ja(ev.as_of_month)}時点の年度累計、{branch_name(ev.branch_code)}）")
        r += 1
        rows = [("分子", ev.numerator_label, ev.numerator), *([("分母", ev.denominator_label, ev.denominator)] if ev.denominator_label else [])]
        for label, words, number in rows:
            restyle(put_text(ws.cell(r, 1), label), font=bold)
            restyle(put_text(ws.cell(r, 2), words), alignment=wrap)
            if number is not None:
                ws.cell(r, 3, float(number)).number_format = "#,##0" if float(number).is_integer() else "#,##0.00"
            r += 1
        restyle(put_text(ws.cell(r, 1), "実績"), font=bold)
        put_text(ws.cell(r, 2), ev.quotient_text)
        if ev.branch_code != NATIONAL_CODE:
            restyle(put_text(ws.cell(r, 4), "全国値"), font=bold)
            put_text(ws.cell(r, 5), ev.shown(ev.national_value))
        r += 1
        for i, name in enumerate(MONTHLY_COLUMNS, start=1):
            restyle(put_text(ws.cell(r, i), name), font=bold, fill=head, border=box)
        r += 1
        for rec in ev.monthly.itertuples(index=False):
            restyle(put_text(ws.cell(r, 1), rec[0]), border=box)
            for i, v in enumerate(rec[1:], start=2):
                cell = restyle(ws.cell(r, i), border=box)
                if v is not None and not pd.isna(v):
                    cell.value = float(v)
                    cell.number_format = f"#,##0.{'0' * ev.precision}" if i == 2 and ev.precision else "#,##0"
            r += 1
        for i, name in enumerate(LOAD_COLUMNS, start=1):
            restyle(put_text(ws.cell(r, i), name), font=bold, fill=head, border=box)
        r += 1
        if not len(ev.loads):
            put_text(ws.cell(r, 1), "取り込まれたファイルがありません。")
            r += 1
        for rec in ev.loads.itertuples(index=False):
            for i, v in enumerate(rec, start=1):
                cell = ws.cell(r, i)
                if i == 5:
                    cell.value = int(v)
                else:
                    put_text(cell, v)
                restyle(cell, border=box)
            r += 1
        r += 1
        used += r - start
    if without:
        restyle(put_text(ws.cell(r, 1), "測定値によらないKPI（根拠は事業計画・手入力の記録）"), font=bold)
        r += 1
        for text, why in without:
            restyle(put_text(ws.cell(r, 1), text), alignment=wrap)
            restyle(put_text(ws.cell(r, 2), why), alignment=wrap)
            r += 1
    ws.print_title_rows = "1:1"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.oddFooter.center.text = "&P / &N ページ"
