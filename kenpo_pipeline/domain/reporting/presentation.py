"""One presentation of the evaluation: how an evaluation row is shown, wherever it is shown.

``present(row)`` turns one ``pdca_evaluation`` row into what people see: the status word (the
judgement's ``ACHIEVED/MISSED/UNKNOWN``), its symbol and colours, the actual and the previous
year's value as numbers with their number format, 対目標比 and 備考. The command line
(``evaluation_text``), the Dagster UI (``evaluation_markdown``, ``branch_matrix_markdown``) and the
workbook (``domain/reporting/workbook/``) all draw rows through it, so they show the same words and
the same ratios. Everything is computed from the row's numbers and facts (``target_value``,
``actual_value``, ``target_op``, ``unit``, ``display_precision``, ``warnings``); no text of the row
is parsed back.

- **対目標比** = actual ÷ target for a ``>=`` target, target ÷ actual for a ``<=`` one (the
  comparison is the row's ``target_op``), from the row's numbers (``actual_value``,
  ``target_value``), **truncated** toward zero at the shown precision (one decimal of a percent):
  99.98% against 100% is 99.9%, never 100.0%. Where the numbers say otherwise than the judgement
  (a KPI judged at fewer decimals than it shows: 69.96% against 70.0% judged at one decimal is
  達成), the ratio is the nearest shown value that agrees with the status: a miss at most 99.9%, an
  achievement at least 100.0%. Blank without a numeric target, a comparison, or a divisor.
- **備考** = the 判定不能 reason, then the judgement's warnings (e.g.
  「計画の前年度値0.334%と前年度実績0.462%が異なるため、前年度実績で判定」), joined with ``；``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, Mapping

import pandas as pd

from kenpo_pipeline.domain.kpis.judgement import ACHIEVED, MISSED, UNKNOWN, WARNING_SEPARATOR
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_name
from kenpo_pipeline.domain.reporting import markdown

STATUSES = (ACHIEVED, MISSED, UNKNOWN)
SYMBOLS = {ACHIEVED: "○", MISSED: "×", UNKNOWN: "－"}
OUTLOOK_ACHIEVED, OUTLOOK_WARNING = "見込み達成", "要注意"
OUTLOOKS = (OUTLOOK_ACHIEVED, OUTLOOK_WARNING)
# fill and font colours (RGB hex) of each status and outlook
FILLS = {ACHIEVED: "C6EFCE", MISSED: "FFC7CE", UNKNOWN: "E7E6E6", OUTLOOK_ACHIEVED: "E2EFDA", OUTLOOK_WARNING: "FCE4D6"}
FONTS = {ACHIEVED: "006100", MISSED: "9C0006", UNKNOWN: "595959"}

RATIO_DECIMALS = 1
"""対目標比 is shown as a percent with this many decimals (99.9%)."""
RATIO_FORMAT = "0." + "0" * RATIO_DECIMALS + "%" if RATIO_DECIMALS else "0%"
"""The Excel number format of 対目標比 (the cell holds the truncated fraction, 0.999)."""
_RATIO_STEP = Decimal(1).scaleb(-(RATIO_DECIMALS + 2))  # the smallest shown step of the fraction: 0.001
_ONE = Decimal(1)
REMARK_SEPARATOR = "；"

COLUMN_TITLES = {
    "section": "具体的施策", "kpi_text": "KPI", "target_text": "目標", "actual_text": "実績", "ratio": "対目標比",
    "status": "達成状況", "prior_year_text": "＜参考＞前年度実績", "remarks": "備考",
    "projected_text": "年度末見込み", "projected_status": "見込み", "difference": "再計算との差異",
}
RATIO_RULE = "対目標比＝実績÷目標（「以下」の目標は目標÷実績）、小数第1位未満切り捨て。判定不能の理由と判定上の注記は備考に記載。"
"""The legend sentence under the KPI table (the workbook)."""


def _is_number(x: Any) -> bool:
    if x is None or isinstance(x, str):
        return False
    try:
        return not pd.isna(x)
    except (TypeError, ValueError):
        return False


def _text(x: Any) -> str:
    return "" if x is None or (not isinstance(x, str) and _is_missing(x)) else str(x)


def _is_missing(x: Any) -> bool:
    try:
        return bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def number_format(unit: str | None, precision: int | None) -> str:
    """The Excel number format that shows a number as the evaluation's texts do: ``0.0"%"``,
    ``#,##0"円"``, ``#,##0.00"日"``."""
    precision = 0 if precision is None else int(precision)
    digits = "0" if precision == 0 else "0." + "0" * precision
    unit = unit or ""
    if unit == "%":
        return f'{digits}"%"'
    return f'#,##{digits}"{unit}"' if unit else f"#,##{digits}"


def achievement_ratio(row: Mapping[str, Any]) -> Decimal | None:
    """対目標比 as a fraction (0.999 = 99.9%), truncated at the shown precision and agreeing with the
    row's status; None where there is nothing to compare (see the module's docstring)."""
    target, actual, op = row.get("target_value"), row.get("actual_value"), row.get("target_op")
    if not (_is_number(target) and _is_number(actual)) or op not in (">=", "<="):
        return None
    target, actual = _dec(target), _dec(actual)
    numerator, divisor = (target, actual) if op == "<=" else (actual, target)
    if target <= 0 or divisor <= 0 or numerator < 0:
        return None
    ratio = (numerator / divisor).quantize(_RATIO_STEP, rounding=ROUND_DOWN)
    status = row.get("status")
    if status == MISSED and ratio >= _ONE:
        ratio = _ONE - _RATIO_STEP
    elif status == ACHIEVED and ratio < _ONE:
        ratio = _ONE
    return ratio


def ratio_text(ratio: Decimal | None) -> str:
    return "" if ratio is None else f"{ratio * 100:.{RATIO_DECIMALS}f}%"


def warnings_of(row: Mapping[str, Any]) -> list[str]:
    """The judgement's warnings of a row (the ``warnings`` column, sentences joined with ``；``)."""
    return [w for w in _text(row.get("warnings")).split(WARNING_SEPARATOR) if w.strip()]


def remarks(row: Mapping[str, Any]) -> str:
    """備考: the 判定不能 reason, then the judgement's warnings."""
    reason = _text(row.get("reason")) if row.get("status") == UNKNOWN else ""
    return REMARK_SEPARATOR.join(dict.fromkeys(p for p in [reason, *warnings_of(row)] if p))


@dataclass(frozen=True)
class Shown:
    """One evaluation row as people see it. A value is a number (with ``number_format``) where the
    row has one, otherwise its text."""

    status: str
    symbol: str
    fill: str
    font: str
    target_text: str
    actual: float | None
    actual_text: str
    prior: float | None
    prior_text: str
    number_format: str
    ratio: Decimal | None
    ratio_text: str
    remarks: str
    projected: float | None
    projected_text: str
    outlook: str  # 見込み達成 | 要注意 | ''

    @property
    def outlook_fill(self) -> str | None:
        return FILLS.get(self.outlook)


def present(row: Mapping[str, Any]) -> Shown:
    status = _text(row.get("status")) or UNKNOWN
    unit, precision = row.get("unit"), row.get("display_precision")
    fmt = number_format(_text(unit), None if not _is_number(precision) else int(precision))
    ratio = achievement_ratio(row)
    number = lambda key: float(row[key]) if _is_number(row.get(key)) else None  # noqa: E731
    return Shown(
        status=status, symbol=SYMBOLS.get(status, ""), fill=FILLS.get(status, FILLS[UNKNOWN]), font=FONTS.get(status, FONTS[UNKNOWN]),
        target_text=_text(row.get("target_text")),
        actual=number("actual_value") if _is_number(precision) else None, actual_text=_text(row.get("actual_text")),
        prior=number("prior_year_value") if _is_number(precision) else None, prior_text=_text(row.get("prior_year_text")),
        number_format=fmt, ratio=ratio, ratio_text=ratio_text(ratio), remarks=remarks(row),
        projected=number("projected_value") if _is_number(precision) else None, projected_text=_text(row.get("projected_text")),
        outlook=_text(row.get("projected_status")),
    )


def has_outlook(table: pd.DataFrame) -> bool:
    return "projected_status" in table and table["projected_status"].astype(object).fillna("").ne("").any()


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The evaluation rows of one scope as people read them: titled columns, in plan order."""
    rows = table.sort_values("kpi_order") if "kpi_order" in table else table
    columns = ["section", "kpi_text", "target_text", "actual_text", "ratio", "status", "prior_year_text", "remarks"]
    if has_outlook(rows):
        columns[5:5] = ["projected_text", "projected_status"]
    shown = [present(r) for r in rows.to_dict("records")]
    view = rows.assign(
        target_text=[s.target_text for s in shown], actual_text=[s.actual_text for s in shown], ratio=[s.ratio_text for s in shown],
        status=[s.status for s in shown], prior_year_text=[s.prior_text for s in shown], remarks=[s.remarks for s in shown],
    )
    if "再計算との差異" in view:
        view = view.rename(columns={"再計算との差異": "difference"})
    if "difference" in view:
        columns.append("difference")
    return view[columns].astype(object).fillna("").rename(columns=COLUMN_TITLES)


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
    shown = display_table(table)
    for r in shown.to_dict("records"):
        if r["具体的施策"] != section:
            section = r["具体的施策"]
            lines.append(f"■ {section}")
        lines.append(f"  {r['KPI']}")
        remark = f"（{r['備考']}）" if r["備考"] else ""
        prior = f"   ＜参考＞前年度実績 {r['＜参考＞前年度実績']}" if r["＜参考＞前年度実績"] else ""
        ratio = f"   対目標比 {r['対目標比']}" if r["対目標比"] else ""
        lines.append(f"      目標 {r['目標']}   実績 {r['実績']}{ratio}   達成状況 {r['達成状況']}{remark}{prior}")
    counts = shown["達成状況"].value_counts()
    lines.append("  計: " + "、".join(f"{s} {counts.get(s, 0)}" for s in STATUSES))
    return lines


NO_PLAN = "事業計画未登録"


def kpi_short_labels(table: pd.DataFrame) -> dict[str, str]:
    """KPI key → a short Japanese label (its measures' names; the KPI sentence's start for a KPI with
    no measure), in the plan's order: the national plan's KPIs first, then those only a branch plan has."""
    from kenpo_pipeline.domain.kpis.measures import measure

    national = table[table["branch_code"] == NATIONAL_CODE].sort_values("kpi_order")
    others = table[table["branch_code"] != NATIONAL_CODE].sort_values(["kpi_order", "branch_code"])
    labels: dict[str, str] = {}
    for r in pd.concat([national, others]).to_dict("records"):
        if r["kpi_key"] in labels:
            continue
        measures = [m for m in str(r.get("measure") or "").split(",") if m]
        try:
            labels[r["kpi_key"]] = "・".join(measure(m).name_ja for m in measures) if measures else str(r["kpi_text"])[:40]
        except KeyError:
            labels[r["kpi_key"]] = str(r["kpi_text"])[:40]
    return labels


def branch_matrix_markdown(table: pd.DataFrame) -> str:
    """All 47 branches × KPIs: ○ 達成, × 未達成, － 判定不能 under the plan that applies to each branch
    (its own 支部 plan, or 本部目標を適用), blank where the KPI is not in that plan; a branch with no
    plan at all says 事業計画未登録. Columns are numbered in the plan's order (their Japanese labels
    follow the table), so the table stays narrow and each branch's name on one line."""
    from kenpo_pipeline.domain.reference import branch_codes

    branches = table[table["branch_code"] != NATIONAL_CODE]
    if branches.empty:
        return "_(支部の評価なし)_"
    labels = kpi_short_labels(table)
    keys = [k for k in labels if k in set(branches["kpi_key"])]
    number = {k: i for i, k in enumerate(keys, start=1)}
    # the symbol ``present`` gives a row, from its status alone (no row is presented whole here)
    symbols = {(code, key): SYMBOLS.get(_text(status) or UNKNOWN, "")
               for code, key, status in zip(branches["branch_code"], branches["kpi_key"], branches["status"])}
    plan_of = branches.groupby("branch_code")["plan"].first().to_dict() if "plan" in branches else {}
    evaluated = set(branches["branch_code"])
    rows = [[branch_name(code), plan_of.get(code, "") if code in evaluated else NO_PLAN, *(symbols.get((code, k), "") for k in keys)]
            for code in branch_codes()]
    achieved = branches[branches["status"] == ACHIEVED].groupby("kpi_key").size()
    rows.append(["達成支部数", "", *(str(int(achieved.get(k, 0))) for k in keys)])
    grid = pd.DataFrame(rows, columns=["支部", "適用する計画", *(str(number[k]) for k in keys)])
    legend = pd.DataFrame({"番号": [number[k] for k in keys], "KPI（事業計画の順）": [labels[k] for k in keys]})
    return markdown.paragraphs(
        markdown.table(grid), markdown.escape("○ 達成　× 未達成　－ 判定不能　空欄: その支部に適用される計画にないKPI"), markdown.table(legend),
    )
