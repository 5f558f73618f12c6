"""In-year projection of year-end values, and how well it would have done (the backtest).

Method (per branch and measure, at as-of month *k* of the year):
- numerator and denominator are projected separately as
  ``value_k × (previous year's year-end value ÷ previous year's value at month k)`` — the same
  branch's previous-year profile, so seasonal flows (screenings peak in autumn) and stocks that grow
  through the year are both carried to March;
- where the previous year cannot give a profile (no previous year, or zero at month k), a flow falls
  back to the year-to-date pace (× 12 / months so far) and a stock or month value stays as it is;
- the projected value is numerator ÷ denominator in the measure's unit.

A projected value is judged against the KPI's single numeric target: ``見込み達成`` (projected to
achieve) or ``要注意`` (projected to miss). The backtest replays the method on a completed year and
compares each month's projection with the actual year-end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kenpo_pipeline.domain.calendar import fiscal_months
from kenpo_pipeline.domain.kpis.measures import MEASURES_BY_ID

ON_TRACK, AT_RISK = "見込み達成", "要注意"
_FLOW_KINDS = ("flow", "flow/stock")


def _parts_at(frame: pd.DataFrame | None, month: str) -> dict[tuple[str, str], tuple]:
    """(branch, measure) → (numerator, denominator) of ``frame``'s rows at ``month``."""
    if frame is None:
        return {}
    rows = frame[frame["as_of_month"] == month]
    return dict(zip(zip(rows["branch_code"].tolist(), rows["measure"].tolist()), zip(rows["numerator"].tolist(), rows["denominator"].tolist())))


def project(fy: int, actuals: pd.DataFrame, prior: pd.DataFrame | None, as_of: str) -> pd.DataFrame:
    """Projected year-end value of every (branch, measure) from the year-to-date as of ``as_of``."""
    months = fiscal_months(fy)
    k = months.index(as_of)
    prev_months = fiscal_months(fy - 1)
    cur = actuals[actuals["as_of_month"] == as_of]
    prev = prior if prior is not None and len(prior) else None
    # the previous year's parts at month k and at its end, looked up by (branch, measure)
    prev_k, prev_end = _parts_at(prev, prev_months[k]), _parts_at(prev, prev_months[-1])
    rows = []
    columns = [cur[c].tolist() for c in ("branch_code", "measure", "numerator", "denominator")]
    for branch, measure_id, numerator, denominator in zip(*columns):
        m = MEASURES_BY_ID[measure_id]
        factors, method = [], "previous-year profile"
        for i, part in enumerate(("numerator", "denominator") if m.is_ratio else ("numerator",)):
            f = None
            if prev is not None:
                at_k, at_end = prev_k.get((branch, measure_id)), prev_end.get((branch, measure_id))
                if at_k is not None and at_end is not None:
                    at_k, at_end = at_k[i], at_end[i]
                    if pd.notna(at_k) and pd.notna(at_end) and at_k > 0:
                        f = at_end / at_k
            if f is None:
                flow_part = m.kind in _FLOW_KINDS and (part == "numerator" or m.kind == "flow")
                f = 12 / (k + 1) if flow_part and m.kind != "month" else 1.0
                method = "year-to-date pace"
            factors.append(f)
        num = None if pd.isna(numerator) else numerator * factors[0]
        if m.is_ratio:
            den = None if pd.isna(denominator) else denominator * factors[1]
            value = None if num is None or not den else num / den * m.scale
        else:
            value = num
        rows.append((branch, measure_id, value, method))
    return pd.DataFrame(rows, columns=["branch_code", "measure", "projected_value", "method"])


def projected_status(target_value: float | None, target_op: str | None, projected_value: float | None) -> str:
    """見込み達成 / 要注意: the projection against the target, with the row's comparison (``target_op``)."""
    if target_value is None or pd.isna(target_value) or projected_value is None or pd.isna(projected_value) or target_op not in (">=", "<="):
        return ""
    ok = projected_value <= target_value if target_op == "<=" else projected_value >= target_value
    return ON_TRACK if ok else AT_RISK


def backtest(fy: int, actuals: pd.DataFrame, prior: pd.DataFrame | None) -> pd.DataFrame:
    """For each as-of month April … February of a completed year: the median absolute error of the
    projected year-end value against the actual year-end, in percent of the actual, over every
    (branch, measure) with a defined value."""
    months = fiscal_months(fy)
    final = actuals[actuals["as_of_month"] == months[-1]].set_index(["branch_code", "measure"])["value"]
    out = []
    for as_of in months[:-1]:
        if as_of not in set(actuals["as_of_month"]):
            continue
        p = project(fy, actuals, prior, as_of).set_index(["branch_code", "measure"])["projected_value"]
        both = pd.concat([p.rename("projected"), final.rename("actual")], axis=1).dropna()
        both = both[both["actual"] != 0]
        err = (both["projected"] - both["actual"]).abs() / both["actual"].abs() * 100
        out.append({"as_of_month": as_of, "pairs": len(both), "median_abs_error_pct": float(np.median(err)) if len(err) else None,
                    "p90_abs_error_pct": float(np.percentile(err, 90)) if len(err) else None})
    return pd.DataFrame(out)


def add_projection(table: pd.DataFrame, projections: pd.DataFrame) -> pd.DataFrame:
    """Add ``projected_value``, ``projected_text`` (at the row's display precision) and
    ``projected_status`` (with the row's ``target_op``) to in-year evaluation rows whose rule has a
    single numeric target (empty elsewhere). A KPI judged at a month other than
    March (the FY2024 保険証回収率, as of November) is not projected: a year-end projection answers
    another question, and from its month on the KPI is judged."""
    from kenpo_pipeline.domain.kpis.judgement import fmt

    by = projections.set_index(["branch_code", "measure"])["projected_value"].to_dict()
    values, texts, statuses = [], [], []
    for r in table.to_dict("records"):
        measure_id = str(r.get("measure") or "")
        judgement_month = r.get("judgement_month")
        judged_at_year_end = not isinstance(judgement_month, str) or judgement_month.endswith("-03")  # a fiscal year ends in March
        value = by.get((r["branch_code"], measure_id)) if measure_id and "," not in measure_id and judged_at_year_end else None
        if value is None or pd.isna(value) or r.get("target_value") is None or pd.isna(r.get("target_value")):
            values.append(None), texts.append(""), statuses.append("")
            continue
        m = MEASURES_BY_ID[measure_id]
        precision = r.get("display_precision")
        precision = m.precision if precision is None or pd.isna(precision) else int(precision)
        values.append(float(value))
        texts.append(fmt(float(value), m.unit, precision))
        statuses.append(projected_status(r["target_value"], r.get("target_op"), value))
    out = table.copy()
    out["projected_value"], out["projected_text"], out["projected_status"] = values, texts, statuses
    return out
