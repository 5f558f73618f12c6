"""Branch comparison (支部間比較): where each branch stands on each measure of its KPIs.

For every measure that a fiscal year's per-branch KPIs are judged on, :func:`branch_comparison`
ranks the 47 branches on the year-to-date value as of the evaluation month (1 = best), beside the
national value, and on the change from the previous year at the same month (改善幅, the value
minus last year's), with its own rank. Which way is "better" comes from the KPIs themselves: a
measure whose KPIs compare with ``<=`` (平均所要日数, 窓口受付率) ranks the lowest first; every
other measure ranks the highest first. Ties share the better rank (1, 2, 2, 4). A branch with no
value is not ranked (rank empty) and the ranks run over the branches that have one (``ranked_of``).

Nothing is recomputed: values come from ``kpi_actuals`` of the year and of the year before.
"""

from __future__ import annotations

import pandas as pd

from kenpo_pipeline.domain.calendar import add_months
from kenpo_pipeline.domain.reference import NATIONAL_CODE

COLUMNS = [
    "fiscal_year", "as_of_month", "measure", "branch_code", "value", "national_value", "rank", "ranked_of",
    "prior_year_value", "improvement", "improvement_rank", "better",
]
HIGHER, LOWER = "higher", "lower"


def directions(evaluation: pd.DataFrame) -> dict[str, str]:
    """measure → ``higher`` | ``lower`` from the comparison of the KPIs judged on it (``target_op``)."""
    out: dict[str, str] = {}
    if "target_op" not in evaluation.columns:
        return out
    rows = evaluation[evaluation["measure"].astype(object).fillna("") != ""]
    for m, ops in rows.groupby("measure")["target_op"]:
        ops = [o for o in ops if isinstance(o, str) and o]
        if ops:
            lower = sum(o == "<=" for o in ops)
            out[str(m)] = LOWER if lower > len(ops) - lower else HIGHER
    return out


def _rank(values: pd.Series, better: str) -> pd.Series:
    return values.rank(method="min", ascending=(better == LOWER), na_option="keep")


class _ByMeasureMonth:
    """``kpi_actuals`` split once by (measure, as-of month): ``get`` gives the value of each branch
    (indexed by branch code, rows in frame order) without filtering the frame again."""

    def __init__(self, actuals: pd.DataFrame):
        self.actuals = actuals
        self.positions = actuals.groupby(["measure", "as_of_month"], sort=False).indices if len(actuals) else {}

    def get(self, key: tuple[str, str], default=None):
        rows = self.positions.get(key)
        if rows is None:
            return default
        return self.actuals.iloc[rows].set_index("branch_code")["value"]


def branch_comparison(evaluation: pd.DataFrame, actuals: pd.DataFrame, prior_actuals: pd.DataFrame) -> pd.DataFrame:
    """The comparison table of one fiscal year: ``evaluation`` (its ``pdca_evaluation`` rows),
    ``actuals`` (its ``kpi_actuals``) and ``prior_actuals`` (the previous year's; may be empty)."""
    branch_rows = evaluation[(evaluation["branch_code"] != NATIONAL_CODE) & (evaluation["measure"].astype(object).fillna("") != "")]
    if branch_rows.empty or actuals.empty:
        return pd.DataFrame(columns=COLUMNS)
    fy = int(evaluation["fiscal_year"].iloc[0])
    better_of = directions(evaluation)
    # each (measure, month) of the year and of the year before, split once (not filtered per measure)
    current = _ByMeasureMonth(actuals)
    previous = _ByMeasureMonth(prior_actuals)
    out = []
    for (measure, month), _ in branch_rows.groupby(["measure", branch_rows["judgement_month"].fillna(branch_rows["as_of_month"])]):
        now = current.get((measure, month))
        if now is None or now.empty:
            continue
        before = pd.Series(dtype=float)
        if len(prior_actuals):
            before = previous.get((measure, add_months(month, -12)), pd.Series(dtype=float))
        branches = now.drop(NATIONAL_CODE, errors="ignore")
        frame = pd.DataFrame({"value": branches.astype(float)})
        frame["prior_year_value"] = before.reindex(frame.index).astype(float)
        frame["improvement"] = frame["value"] - frame["prior_year_value"]
        better = better_of.get(str(measure), HIGHER)
        frame["rank"] = _rank(frame["value"], better)
        frame["improvement_rank"] = _rank(frame["improvement"], better)
        frame["ranked_of"] = int(frame["value"].notna().sum())
        frame["national_value"] = float(now.get(NATIONAL_CODE)) if NATIONAL_CODE in now.index and pd.notna(now.get(NATIONAL_CODE)) else None
        frame = frame.reset_index().rename(columns={"index": "branch_code"})
        frame = frame.assign(fiscal_year=fy, as_of_month=month, measure=measure, better=better)
        out.append(frame)
    if not out:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.concat(out, ignore_index=True)[COLUMNS]
    for c in ("rank", "improvement_rank"):
        table[c] = table[c].astype("Int64")
    return table.sort_values(["measure", "branch_code"]).reset_index(drop=True)


def standing_text(row: dict | pd.Series | None) -> str:
    """``順位 3/47（全国 58.1）`` style words for a branch's workbook, from one comparison row."""
    if row is None:
        return ""
    rank = row.get("rank")
    if rank is None or pd.isna(rank):
        return "順位なし（値がありません）"
    text = f"順位 {int(rank)}/{int(row['ranked_of'])}"
    imp = row.get("improvement_rank")
    if imp is not None and not pd.isna(imp):
        text += f"・改善幅 {int(imp)}位"
    return text
