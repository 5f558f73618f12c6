"""Judgement of each KPI against its plan (shared spec/kpis.md §4, §5) — the evaluation table.

- Values are rounded half-up in decimal arithmetic from numerator and denominator
  (``Decimal(numerator) * 100 / Decimal(denominator)``), never from the stored float; the previous
  year's value is rounded the same way. Judgement precision defaults to the display precision;
  ``exact`` compares unrounded. Equality achieves.
- Every 判定不能 carries a Japanese reason. Before the judgement month (March unless the KPI says
  otherwise) no KPI is judged: ``年度途中（令和7年1月時点）``, with the year-to-date value shown.
- ``prior_year`` targets use the previous year's actual of the same scope and month; the plan's
  printed baseline is used only when that cannot be computed (a warning when both exist and differ).
- A KPI with a judgement month other than March (e.g. the FY2024 保険証回収率, judged as of November
  2024 because the 健康保険証 was abolished) is judged on the year-to-date value at that month, its
  previous-year target and ＜参考＞ value are the previous year's at the same month, and its target
  text says so: ``令和6年11月時点で前年度(86.27%)以上``.
- A ``per_branch`` ``done`` KPI ("…を、全支部で実施する") is judged for ``00`` as every branch having
  done it (``46/47支部``), like ``every_month``; an ``association`` one on the association's count.
- Each row carries what a renderer needs to show it without reading its texts back: the rule
  (``rule``), the comparison (``target_op``: ``>=`` / ``<=`` where the rule has one), the unit and
  display precision of its numbers (``unit``, ``display_precision``), and the judgement's warnings
  (``warnings``: sentences for a reader, joined with ``；`` — a plan's previous-year value that
  differs from the actual, a fallback to the plan's value or to a floor). ``evaluate`` also returns
  them prefixed with KPI id and branch, for the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from kenpo_pipeline.domain.calendar import fiscal_months, month_label_ja
from kenpo_pipeline.domain.kpis.catalog import Catalog, Kpi, Part
from kenpo_pipeline.domain.kpis.measures import Measure, measure
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_codes, branch_name

ACHIEVED, MISSED, UNKNOWN = "達成", "未達成", "判定不能"

EVALUATION_COLUMNS = [
    "fiscal_year", "branch_code", "plan", "kpi_id", "kpi_key", "section", "kpi_text", "target_text", "target_value",
    "actual_value", "actual_text", "status", "reason", "prior_year_value", "prior_year_text", "reference_text", "as_of_month",
    # extensions
    "kpi_order", "measure", "judgement_month", "warnings", "projected_value", "projected_text", "projected_status",
    "rule", "target_op", "unit", "display_precision",
]
WARNING_SEPARATOR = "；"  # between the sentences of the ``warnings`` column

REASON_SCOPE = "この指標は協会全体の値のみ算出します（支部別の値はありません）"
REASON_NO_DATA = "実績のデータがありません"
REASON_ZERO = "分母が0のため実績を算出できません"
REASON_NO_PRIOR = "前年度実績を算出できず、計画に前年度の値（基準値）もありません"
REASON_MANUAL = "手入力の実績が未入力です"


def in_year_reason(as_of: str) -> str:
    return f"年度途中（{month_label_ja(as_of)}時点）"


def incomplete_reason(missing: list[str]) -> str:
    return f"データのない月があります（{'、'.join(month_label_ja(m) for m in missing)}）"


def baseline_differs_warning(baseline: str, previous: str) -> str:
    return f"計画の前年度値{baseline}と前年度実績{previous}が異なるため、前年度実績で判定"


def baseline_fallback_warning(baseline: str) -> str:
    return f"前年度実績を算出できないため、計画の前年度値{baseline}で判定"


def floor_fallback_warning(floor: str) -> str:
    return f"前年度実績を算出できないため、{floor}以上で判定"


def branches_warning(text: str, codes: list[str]) -> str:
    """A warning shared by some branches, for the row that counts them (``00``)."""
    if len(codes) == len(branch_codes()):
        return f"{text}（全支部）"
    names = "、".join(branch_name(c) for c in codes[:5])
    more = f"ほか{len(codes) - 5}支部" if len(codes) > 5 else ""
    return f"{text}（{names}{more}）"


def summarise_branch_warnings(results: dict[str, "Result"]) -> list[str]:
    """The warnings of the branches behind a national count, one sentence per distinct warning."""
    by_text: dict[str, list[str]] = {}
    for code, r in results.items():
        for w in r.warnings:
            by_text.setdefault(w, []).append(code)
    return [branches_warning(text, codes) for text, codes in by_text.items()]


# --- actuals -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    value: float | None
    numerator: float | None
    denominator: float | None
    months_covered: int
    complete: bool
    missing: tuple[str, ...]


class Actuals:
    """``kpi_actuals`` of one fiscal year, for look-ups by (branch, measure, as-of month).

    Built once from the frame's columns (no per-row DataFrame access); a look-up is a dict get."""

    _KEYS = ("branch_code", "measure", "as_of_month")
    _VALUES = ("value", "numerator", "denominator", "months_covered", "complete")

    def __init__(self, fy: int, frame: pd.DataFrame):
        self.fy = fy
        self.months = fiscal_months(fy)
        self._position = {m: i for i, m in enumerate(self.months)}
        keys = zip(*[frame[c].tolist() for c in self._KEYS])
        self._rows: dict[tuple[str, str, str], tuple] = dict(zip(keys, zip(*[frame[c].tolist() for c in self._VALUES])))

    def at(self, branch: str, measure_id: str, as_of: str) -> Point | None:
        r = self._rows.get((branch, measure_id, as_of))
        if r is None:
            return None
        value, numerator, denominator, months_covered, complete = r
        missing: list[str] = []
        if measure(measure_id).kind == "month":
            if not complete:
                missing = [as_of]
        else:  # a month is missing where the months covered do not grow
            previous = 0
            for m in self.months[: self._position[as_of] + 1]:
                row = self._rows.get((branch, measure_id, m))
                now = previous if row is None else int(row[3])
                if now == previous:
                    missing.append(m)
                previous = now
        f = lambda x: None if x is None or pd.isna(x) else float(x)  # noqa: E731
        return Point(f(value), f(numerator), f(denominator), int(months_covered), bool(complete), tuple(missing))


# --- numbers and texts -------------------------------------------------------------------------


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def exact_value(m: Measure, p: Point) -> Decimal | None:
    if p.numerator is None:
        return None
    if not m.is_ratio:
        return _dec(p.numerator)
    if p.denominator is None or p.denominator == 0:
        return None
    return _dec(p.numerator) * Decimal(int(m.scale)) / _dec(p.denominator)


def round_half_up(d: Decimal, precision: int | str) -> Decimal:
    if precision == "exact":
        return d
    return d.quantize(Decimal(1).scaleb(-int(precision)), rounding=ROUND_HALF_UP)


def fmt(d: Decimal | float, unit: str, precision: int) -> str:
    q = round_half_up(d if isinstance(d, Decimal) else _dec(d), precision)
    number = f"{q:,.{precision}f}"
    return f"{number}%" if unit == "%" else f"{number}{unit}"


def op_word(op: str) -> str:
    return "以上" if op == ">=" else "以下"


def meets(actual: Decimal, op: str, target: Decimal) -> bool:
    return actual >= target if op == ">=" else actual <= target


# --- results -----------------------------------------------------------------------------------


@dataclass
class Result:
    status: str
    target_text: str
    actual_text: str
    reason: str = ""
    target_value: float | None = None
    actual_value: float | None = None
    prior_value: float | None = None
    prior_text: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class Context:
    fy: int
    as_of: str  # the evaluation's as-of month
    actuals: Actuals
    prior: Actuals | None
    manual: dict = field(default_factory=dict)
    _previous_months: list[str] = field(default_factory=list, init=False, repr=False)
    _judgement_months: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        self._previous_months = fiscal_months(self.fy - 1)

    def judgement_month(self, kpi: Kpi) -> str:
        if kpi.judgement_month:
            jm = self._judgement_months.get(kpi.judgement_month)
            if jm is None:
                jm = self._judgement_months[kpi.judgement_month] = next(m for m in self.actuals.months if m.endswith(f"-{kpi.judgement_month}"))
            return jm
        return self.actuals.months[-1]

    @property
    def previous_months(self) -> list[str]:
        return self._previous_months


def _precisions(part: Part, m: Measure) -> tuple[int, int | str]:
    display = part.display_precision if part.display_precision is not None else m.precision
    judge = part.judgement_precision if part.judgement_precision is not None else display
    return display, judge


def _observe(ctx: Context, part: Part, branch: str, month: str) -> tuple[Decimal | None, str | None, Point | None]:
    """(exact value, reason it cannot be judged, the point) of the part's measure at month."""
    m = measure(part.measure)
    if m.national_only and branch != NATIONAL_CODE:
        return None, REASON_SCOPE, None
    p = ctx.actuals.at(branch, part.measure, month)
    if p is None:
        return None, REASON_NO_DATA, None
    value = exact_value(m, p)
    if not p.complete:
        return value, incomplete_reason(list(p.missing)), p
    if value is None:
        return None, REASON_ZERO if m.is_ratio and p.denominator == 0 else REASON_NO_DATA, p
    return value, None, p


def _prior(ctx: Context, part: Part, branch: str, month: str) -> Decimal | None:
    """The previous fiscal year's value at the same month, or None when it cannot be computed."""
    if ctx.prior is None:
        return None
    prev_month = ctx.previous_months[ctx.actuals.months.index(month)]
    p = ctx.prior.at(branch, part.measure, prev_month)
    if p is None or not p.complete:
        return None
    return exact_value(measure(part.measure), p)


def _prior_for_display(ctx: Context, kpi: Kpi, part: Part, branch: str) -> tuple[float | None, str]:
    if part.measure is None:
        return None, ""
    m = measure(part.measure)
    if m.national_only and branch != NATIONAL_CODE:
        return None, ""
    value = _prior(ctx, part, branch, ctx.judgement_month(kpi))  # like for like: the same month
    if value is None:
        return None, ""
    if part.rule == "done":  # in the actual's words (seed 003: 意見発信 実施 / 前年度 実施), not a count
        return None, "実施" if value >= 1 else "未実施"
    display, _ = _precisions(part, m)
    return float(round_half_up(value, display)), fmt(value, m.unit, display)


def judge_part(ctx: Context, kpi: Kpi, part: Part, branch: str, for_national_count: bool = False) -> Result:
    jm = ctx.judgement_month(kpi)
    in_year = ctx.as_of < jm
    month = ctx.as_of if in_year else jm
    if part.rule == "manual":
        return _manual(ctx, kpi, branch)
    m = measure(part.measure)
    display, judge = _precisions(part, m)
    if part.rule == "branch_floor" and branch == NATIONAL_CODE and not for_national_count:
        return _branch_floor_national(ctx, kpi, part, in_year, month)
    if part.rule == "every_month" and branch == NATIONAL_CODE and not for_national_count:
        return _every_month_national(ctx, kpi, part, in_year, month)
    if part.rule == "done" and kpi.scope == "per_branch" and branch == NATIONAL_CODE and not for_national_count:
        return _every_branch(ctx, kpi, part, in_year, "全支部で実施")

    value, problem, point = _observe(ctx, part, branch, month)
    actual_text = "—" if value is None else fmt(value, m.unit, display)
    prior_value, prior_text = _prior_for_display(ctx, kpi, part, branch)
    result = Result(UNKNOWN, "", actual_text, prior_value=prior_value, prior_text=prior_text)
    if value is not None:
        result.actual_value = float(round_half_up(value, display))

    # target
    if part.rule == "absolute":
        target = _dec(part.value)
        result.target_text = part.target_text or f"{fmt(target, m.unit, display)}{op_word(part.op)}"
        result.target_value = float(target)
    elif part.rule in ("prior_year", "branch_floor"):
        prev = _prior(ctx, part, branch, jm)
        prev_r = None if prev is None else round_half_up(prev, judge)
        if part.rule == "branch_floor":
            floor = _dec(part.value)
            if prev_r is not None and prev_r >= floor:
                target, result.target_text = prev_r, f"前年度({fmt(prev, m.unit, display)})以上"
            else:
                target, result.target_text = floor, f"{fmt(floor, m.unit, display)}以上"
                if prev_r is None:
                    result.warnings.append(floor_fallback_warning(fmt(floor, m.unit, display)))
            op = ">="
        else:
            op = part.op
            baseline = None if part.baseline is None else round_half_up(_dec(part.baseline), judge)
            if prev_r is not None:
                target = prev_r
                if baseline is not None and baseline != prev_r:
                    result.warnings.append(baseline_differs_warning(fmt(_dec(part.baseline), m.unit, display), fmt(prev, m.unit, display)))
                shown = fmt(prev, m.unit, display)
            elif baseline is not None:
                target, shown = baseline, fmt(_dec(part.baseline), m.unit, display)
                result.warnings.append(baseline_fallback_warning(shown))
            else:
                result.target_text = f"前年度{op_word(op)}"
                result.reason = in_year_reason(ctx.as_of) if in_year else (problem or REASON_NO_PRIOR)
                return result
            result.target_text = f"前年度({shown}){op_word(op)}"
        result.target_value = float(target)
    elif part.rule == "small_count":
        return _small_count(ctx, kpi, part, branch, in_year, month, result)
    elif part.rule == "every_month":
        months = ctx.actuals.months.index(jm) + 1
        result.target_text = f"毎月（{months}か月）"
        result.actual_text = "—" if value is None else f"{int(value)}/{months}か月"
        return _settle(result, ctx, in_year, problem, lambda: int(value) >= months)
    elif part.rule == "done":
        result.target_text = "実施"
        result.actual_text = "—" if value is None else ("実施" if value >= 1 else "未実施")
        return _settle(result, ctx, in_year, problem, lambda: value >= 1)
    else:  # pragma: no cover - the catalog validates rules
        raise ValueError(part.rule)

    op = ">=" if part.rule == "branch_floor" else part.op
    return _settle(result, ctx, in_year, problem, lambda: meets(round_half_up(value, judge), op, target))


def _settle(result: Result, ctx: Context, in_year: bool, problem: str | None, achieved) -> Result:
    """In-year → not judged; a data problem → 判定不能 with it; otherwise 達成 / 未達成."""
    if in_year:
        result.reason = in_year_reason(ctx.as_of)
    elif problem:
        result.reason = problem
    else:
        result.status = ACHIEVED if achieved() else MISSED
    return result


def _small_count(ctx, kpi, part, branch, in_year, month, result: Result) -> Result:
    expected = part.expected_tenders
    if expected is None:
        p = ctx.actuals.at(branch, "single_bid_rate", month)
        expected = None if p is None or p.denominator is None else int(p.denominator)
    if expected is not None and expected <= part.small_threshold:
        count_part = Part(rule="absolute", measure="single_bid_count", op="<=", value=float(part.small_max_count),
                          target_text=f"一者応札{part.small_max_count}件以下")
        r = judge_part(ctx, kpi, count_part, branch)
        r.prior_value, r.prior_text = result.prior_value, result.prior_text
        return r
    rate_part = Part(rule="absolute", measure=part.measure, op=part.op, value=part.value, display_precision=part.display_precision,
                     judgement_precision=part.judgement_precision)
    r = judge_part(ctx, kpi, rate_part, branch)
    if expected is None and r.status != UNKNOWN:
        r.status, r.reason = UNKNOWN, REASON_NO_DATA
    return r


def _branch_floor_national(ctx, kpi, part, in_year, month) -> Result:
    m = measure(part.measure)
    display, _ = _precisions(part, m)
    floor = fmt(_dec(part.value), m.unit, 0 if float(part.value).is_integer() else display)
    target_text = f"全支部で{floor}以上（{floor}以上の支部は前年度以上）"
    results = {b: judge_part(ctx, kpi, part, b, for_national_count=True) for b in branch_codes()}
    achieved = [b for b, r in results.items() if r.status == ACHIEVED]
    missed = [b for b, r in results.items() if r.status == MISSED]
    unknown = [b for b, r in results.items() if r.status == UNKNOWN]
    prev_count = ""
    if ctx.prior is not None:
        n = 0
        for b in branch_codes():
            v = _prior(ctx, part, b, ctx.judgement_month(kpi))
            n += v is not None and round_half_up(v, display) >= _dec(part.value)
        prev_count = f"{n}支部"
    result = Result(UNKNOWN, target_text, f"{len(achieved)}支部", prior_text=prev_count)
    if in_year:
        result.reason = in_year_reason(ctx.as_of)
    elif missed:
        result.status = MISSED
    elif unknown:
        result.reason = f"判定できない支部があります（{'、'.join(unknown[:10])}{'…' if len(unknown) > 10 else ''}）: {results[unknown[0]].reason}"
    else:
        result.status = ACHIEVED
    result.warnings = summarise_branch_warnings(results)
    return result


def _every_month_national(ctx, kpi, part, in_year, month) -> Result:
    months = ctx.actuals.months.index(ctx.judgement_month(kpi)) + 1
    return _every_branch(ctx, kpi, part, in_year, f"全支部で毎月（{months}か月）")


def _every_branch(ctx, kpi, part, in_year, target_text: str) -> Result:
    """``00`` of a "全支部で…" KPI: achieved when every branch achieves its own part."""
    results = {b: judge_part(ctx, kpi, part, b, for_national_count=True) for b in branch_codes()}
    achieved = [b for b, r in results.items() if r.status == ACHIEVED]
    result = Result(UNKNOWN, target_text, f"{len(achieved)}/47支部")
    if in_year:
        result.reason = in_year_reason(ctx.as_of)
    elif any(r.status == MISSED for r in results.values()):
        result.status = MISSED
    elif any(r.status == UNKNOWN for r in results.values()):
        first = next(r for r in results.values() if r.status == UNKNOWN)
        result.reason = f"判定できない支部があります: {first.reason}"
    else:
        result.status = ACHIEVED
    result.warnings = summarise_branch_warnings(results)
    return result


def _manual(ctx: Context, kpi: Kpi, branch: str) -> Result:
    entry = ctx.manual.get((kpi.id, branch))
    target = kpi.parts[0].target_text or kpi.text
    if entry is None or entry.status == "未入力":
        return Result(UNKNOWN, target, "未入力", reason=REASON_MANUAL)
    return Result(entry.status, target, entry.actual_text or entry.status, reason="" if entry.status != UNKNOWN else REASON_MANUAL)


def combine(results: list[Result]) -> Result:
    """all_of: any part 未達成 → 未達成; otherwise any part 判定不能 → 判定不能; else 達成."""
    statuses = [r.status for r in results]
    status = MISSED if MISSED in statuses else UNKNOWN if UNKNOWN in statuses else ACHIEVED
    reason = "；".join(dict.fromkeys(r.reason for r in results if r.reason)) if status == UNKNOWN else ""
    return Result(
        status,
        "、".join(r.target_text for r in results),
        "、".join(r.actual_text for r in results),
        reason=reason,
        prior_text="、".join(r.prior_text for r in results if r.prior_text),
        warnings=list(dict.fromkeys(w for r in results for w in r.warnings)),
    )


def judge_kpi(ctx: Context, kpi: Kpi, branch: str) -> Result:
    if kpi.rule == "all_of":
        result = combine([judge_part(ctx, kpi, p, branch) for p in kpi.parts])
    else:
        result = judge_part(ctx, kpi, kpi.parts[0], branch)
    jm = ctx.judgement_month(kpi)
    if jm != ctx.actuals.months[-1]:  # judged before the year's end: the target says when
        result.target_text = f"{month_label_ja(jm)}時点で{result.target_text}"
    return result


def stated_target(kpi: Kpi, branch: str) -> str:
    """A KPI's target as its plan states it, without any year's values (an Action Plan's own target
    in the three-year view): ``96.0%以上``, ``前年度以上``, ``全支部で80%以上（80%以上の支部は前年度以上）``."""
    national = branch == NATIONAL_CODE
    texts = []
    for part in kpi.parts:
        if part.target_text:
            texts.append(part.target_text)
            continue
        if part.rule == "manual":
            texts.append(kpi.text)
            continue
        m = measure(part.measure)
        display, _ = _precisions(part, m)
        if part.rule == "absolute":
            texts.append(f"{fmt(_dec(part.value), m.unit, display)}{op_word(part.op)}")
        elif part.rule == "prior_year":
            texts.append(f"前年度{op_word(part.op)}")
        elif part.rule == "branch_floor":
            floor = fmt(_dec(part.value), m.unit, 0 if float(part.value).is_integer() else display)
            texts.append(f"全支部で{floor}以上（{floor}以上の支部は前年度以上）" if national else f"{floor}以上（{floor}以上の支部は前年度以上）")
        elif part.rule == "small_count":
            texts.append(f"{fmt(_dec(part.value), m.unit, display)}{op_word(part.op)}（入札見込み{part.small_threshold}件以下は一者応札{part.small_max_count}件以下）")
        elif part.rule == "every_month":
            texts.append("全支部で毎月" if national else "毎月")
        elif part.rule == "done":
            texts.append("全支部で実施" if national and kpi.scope == "per_branch" else "実施")
    return "、".join(texts)


# --- the evaluation table ----------------------------------------------------------------------


def row_facts(kpi: Kpi) -> dict:
    """What a renderer needs besides the texts: the rule, the comparison of the target where the
    rule has one (``>=`` / ``<=``; a ``branch_floor`` is ``>=``), and the unit and display precision
    of the row's numbers (its first measure's; NULL for a manual KPI)."""
    first = kpi.parts[0]
    if kpi.rule == "all_of":
        ops = {(">=" if p.rule == "branch_floor" else p.op) for p in kpi.parts}
        op = ops.pop() if len(ops) == 1 else None
    elif kpi.rule == "branch_floor":
        op = ">="
    elif kpi.rule in ("absolute", "prior_year", "small_count"):
        op = first.op
    else:  # every_month, done, manual: achieved or not, no comparison of two numbers
        op = None
    with_measure = next((p for p in kpi.parts if p.measure), None)
    unit = precision = None
    if with_measure is not None:
        m = measure(with_measure.measure)
        unit, precision = m.unit, _precisions(with_measure, m)[0]
    return {"rule": kpi.rule, "target_op": op, "unit": unit, "display_precision": precision}



def evaluated_scopes(catalog: Catalog) -> list[tuple[str, str, list[Kpi]]]:
    """(branch, plan label, KPIs) for every evaluated scope of the year (spec/kpis.md §6)."""
    scopes = []
    national = catalog.national
    if national is not None:
        scopes.append((NATIONAL_CODE, "本部", list(national.kpis)))
    for b in branch_codes():
        own = catalog.plan_for(b)
        if own is not None:
            scopes.append((b, "支部", list(own.kpis)))
        elif national is not None:
            scopes.append((b, "本部目標を適用", [k for k in national.kpis if k.scope == "per_branch"]))
    return scopes


def evaluate(fy: int, catalog: Catalog, actuals: pd.DataFrame, prior_actuals: pd.DataFrame | None, as_of: str) -> tuple[pd.DataFrame, list[str]]:
    """The ``pdca_evaluation`` rows of a fiscal year, and the warnings raised while judging."""
    prior = Actuals(fy - 1, prior_actuals) if prior_actuals is not None and len(prior_actuals) else None
    ctx = Context(fy, as_of, Actuals(fy, actuals), prior, manual=catalog.manual)
    rows, warnings = [], []
    for branch, plan, kpis in evaluated_scopes(catalog):
        for order, kpi in enumerate(kpis, start=1):
            r = judge_kpi(ctx, kpi, branch)
            warnings += [f"{kpi.id} {branch}: {w}" for w in r.warnings]
            numeric = kpi.rule in ("absolute", "prior_year") or (kpi.rule == "branch_floor" and branch != NATIONAL_CODE)
            rows.append(
                {
                    "fiscal_year": fy, "branch_code": branch, "plan": plan, "kpi_id": kpi.id, "kpi_key": kpi.key,
                    "section": kpi.section, "kpi_text": kpi.text, "target_text": r.target_text,
                    "target_value": r.target_value if numeric else None,
                    "actual_value": r.actual_value if numeric else None,
                    "actual_text": r.actual_text, "status": r.status, "reason": r.reason if r.status == UNKNOWN else "",
                    "prior_year_value": r.prior_value if numeric else None, "prior_year_text": r.prior_text,
                    "reference_text": kpi.reference or "", "as_of_month": as_of, "kpi_order": order,
                    # empty (not NULL) for a manual KPI: pandas' string dtype reads NULL back as NaN, which
                    # readers of the column (the workbook) would take for a measure id
                    "measure": ",".join(p.measure for p in kpi.parts if p.measure),
                    "judgement_month": ctx.judgement_month(kpi), "warnings": WARNING_SEPARATOR.join(r.warnings),
                    **row_facts(kpi),
                }
            )
    return pd.DataFrame(rows, columns=EVALUATION_COLUMNS), warnings
