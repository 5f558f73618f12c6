"""One presentation of the evaluation: how an evaluation row is shown, wherever it is shown.

The command line (``evaluation_text``), the Dagster UI (``evaluation_markdown``,
``branch_matrix_markdown``) and the workbook draw the same rows with the same column titles,
status words, symbols and colours, and the same 対目標比 — all from here. The status words
themselves are the judgement's (``kpis.judgement.ACHIEVED/MISSED/UNKNOWN``).
"""

from __future__ import annotations

import pandas as pd

from kenpo_pipeline.domain.kpis.judgement import ACHIEVED, MISSED, UNKNOWN
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_name
from kenpo_pipeline.domain.reporting import markdown

STATUSES = (ACHIEVED, MISSED, UNKNOWN)
SYMBOLS = {ACHIEVED: "○", MISSED: "×", UNKNOWN: "－"}
OUTLOOK_ACHIEVED, OUTLOOK_WARNING = "見込み達成", "要注意"
# fill and font colours (RGB hex) of each status and outlook
FILLS = {ACHIEVED: "C6EFCE", MISSED: "FFC7CE", UNKNOWN: "E7E6E6", OUTLOOK_ACHIEVED: "E2EFDA", OUTLOOK_WARNING: "FCE4D6"}
FONTS = {ACHIEVED: "006100", MISSED: "9C0006", UNKNOWN: "595959"}

COLUMN_TITLES = {
    "section": "具体的施策", "kpi_text": "KPI", "target_text": "目標", "actual_text": "実績", "ratio": "対目標比",
    "status": "達成状況", "prior_year_text": "＜参考＞前年度実績", "reason": "備考",
    "projected_text": "年度末見込み", "projected_status": "見込み", "difference": "再計算との差異",
}


def _is_number(x) -> bool:
    return x is not None and not (isinstance(x, float) and pd.isna(x))


def achievement_ratio(row) -> float | None:
    """対目標比 = actual ÷ target (target ÷ actual for ≤ targets), for a single numeric target."""
    t, a = row.get("target_value"), row.get("actual_value")
    if not (_is_number(t) and _is_number(a)) or t == 0 or a == 0:
        return None
    at_most = str(row.get("target_text", "")).endswith("以下")
    return float(t) / float(a) if at_most else float(a) / float(t)


def ratio_text(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.1%}"


def has_outlook(table: pd.DataFrame) -> bool:
    return "projected_status" in table and table["projected_status"].astype(object).fillna("").ne("").any()


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The evaluation rows of one scope as people read them: titled columns, in plan order."""
    rows = table.sort_values("kpi_order") if "kpi_order" in table else table
    columns = ["section", "kpi_text", "target_text", "actual_text", "ratio", "status", "prior_year_text", "reason"]
    if has_outlook(rows):
        columns[5:5] = ["projected_text", "projected_status"]
    view = rows.assign(ratio=[ratio_text(achievement_ratio(r)) for r in rows.to_dict("records")])
    if "再計算との差異" in view:
        view = view.rename(columns={"再計算との差異": "difference"})
    if "difference" in view:
        columns.append("difference")
    return view[columns].astype(object).fillna("").rename(columns=COLUMN_TITLES)  # (an all-empty column reads back as float)


def evaluation_markdown(table: pd.DataFrame) -> str:
    """The evaluation of one scope as an escaped Markdown table (the UI)."""
    return markdown.table(display_table(table))


def evaluation_text(table: pd.DataFrame) -> list[str]:
    """The evaluation of one scope as lines for a terminal: grouped by 具体的施策, one KPI per block."""
    from kenpo_pipeline.domain.calendar import fiscal_year_label_ja, month_label

    if table.empty:
        return []
    fy, branch = int(table["fiscal_year"].iloc[0]), str(table["branch_code"].iloc[0])
    lines = [f"{fiscal_year_label_ja(fy)} KPI実績一覧表（{branch_name(branch)}） — {month_label(table['as_of_month'].iloc[0])}時点"]
    section = None
    for r in display_table(table).to_dict("records"):
        if r["具体的施策"] != section:
            section = r["具体的施策"]
            lines.append(f"■ {section}")
        lines.append(f"  {r['KPI']}")
        reason = f"（{r['備考']}）" if r["備考"] else ""
        prior = f"   ＜参考＞前年度実績 {r['＜参考＞前年度実績']}" if r["＜参考＞前年度実績"] else ""
        ratio = f"   対目標比 {r['対目標比']}" if r["対目標比"] else ""
        lines.append(f"      目標 {r['目標']}   実績 {r['実績']}{ratio}   達成状況 {r['達成状況']}{reason}{prior}")
    counts = table["status"].value_counts()
    lines.append("  計: " + "、".join(f"{s} {counts.get(s, 0)}" for s in STATUSES))
    return lines


def branch_matrix_markdown(table: pd.DataFrame) -> str:
    """47 branches × KPIs: ○ 達成, × 未達成, － 判定不能 (the plan that applies to each branch)."""
    branches = table[table["branch_code"] != NATIONAL_CODE]
    if branches.empty:
        return "_(支部の評価なし)_"
    grid = branches.pivot_table(index="branch_code", columns="kpi_key", values="status", aggfunc="first").map(lambda s: SYMBOLS.get(s, ""))
    grid.index = [branch_name(c) for c in grid.index]
    grid = grid.astype(object)  # the count row holds numbers beside the symbols
    grid.loc["達成支部数"] = [(branches[branches["kpi_key"] == k]["status"] == ACHIEVED).sum() for k in grid.columns]
    return markdown.table(grid.fillna(""), index=True)
