"""インセンティブ制度: each branch's standing in the association's incentive ranking, month by month.

The association ranks its 47 branches every year on a few indicators of members' and employers'
behaviour (five today, each a measure of ``measures.py``) and rewards the top branches. How a year is
scored is data, set by the association: ``incentive/FY<year>.yaml`` in the catalog folder
(``catalog.IncentiveScheme``). This module applies it, as plain functions over DataFrames:

- **Level and improvement.** For every as-of month *m* of the year, an indicator's level (実績) is the
  branch's year-to-date value as of *m* (``kpi_actuals.value``, unrounded), and its improvement (伸び)
  is that value minus the previous year's value as of the same month (*m* − 12): like for like.
- **Deviation score (偏差値)** of a level or an improvement: 50 + 10 × (x − mean) / SD over the
  branches being scored, with the *population* standard deviation (divide by n, not n − 1): the
  branches scored are the whole group compared, not a sample of a larger one, and the population SD
  is the textbook 偏差値 (the scores then have mean 50 and SD 10 exactly). When every branch has the
  same value (SD 0) each gets 50. For an indicator where lower is better the sign is reversed.
- **Score.** indicator score = weight × (level_weight × 偏差値(実績) + improvement_weight × 偏差値(伸び));
  the total is the sum over the indicators.
- **Rank.** 1 = the highest total. Totals are compared at 9 decimals (so that summation order cannot
  split a tie), and equal totals share the best rank (competition ranking: 1, 2, 2, 4). A branch is
  rewarded (報奨対象) when its rank ≤ the scheme's ``rewarded_branches``; a tie at the line rewards
  every branch of the tie. Each indicator's score is ranked the same way (the per-indicator ranks the
  branches publish).
- **Branches that cannot be scored** (the association's method says nothing about them): a branch
  whose level or improvement cannot be computed for any indicator — no value, a year with missing
  months (incomplete), no previous year at the same month — is 判定不能 with a Japanese reason naming
  the indicator and why. It is left out of the means and SDs (its value is unknown, so no score can be
  placed against it) and is not ranked; the others are scored and ranked among themselves (ranks
  1 … n ≤ 47), so the ranking is never silently built on guessed numbers, and the 判定不能 rows say
  why they are missing.
- **Projection.** During the year the same ranking is computed on projected year-end values
  (``projection.project``: the previous-year profile of each branch) with the improvement taken
  against the previous year's year-end value: 「見込み 12位（報奨対象圏内）」. A projection needs a
  complete year-to-date value; at the year end (March) there is nothing to project, and the
  ranking itself is the final one.

``ranking_table`` returns the rows of the warehouse table ``incentive_ranking``: one per as-of month,
branch and indicator, with the branch's total, rank and status repeated on each of its indicator rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kenpo_pipeline.domain.calendar import add_months, fiscal_months, month_label_ja
from kenpo_pipeline.domain.kpis.catalog import IncentiveIndicator, IncentiveScheme
from kenpo_pipeline.domain.kpis.judgement import Actuals, Point
from kenpo_pipeline.domain.kpis.projection import project
from kenpo_pipeline.domain.reference import branch_codes

SCORED, UNKNOWN = "評価", "判定不能"
TIE_DECIMALS = 9  # totals and indicator scores are compared at this many decimals

# The per-branch, per-indicator input of ``score``: the level, the improvement, and why a part is missing.
INPUT_COLUMNS = ["branch_code", "indicator", "value", "prior_value", "improvement", "reason"]

# What ``score`` adds: per indicator, then the branch's (repeated on each of its indicator rows).
SCORE_COLUMNS = ["level_score", "improvement_score", "indicator_score", "indicator_rank", "total", "rank", "rewarded", "status", "branch_reason"]

RANKING_COLUMNS = [
    "fiscal_year", "as_of_month", "branch_code", "indicator_order", "indicator", "indicator_name", "measure",
    "value", "prior_value", "improvement", "level_score", "improvement_score", "indicator_score", "indicator_rank",
    "indicator_reason", "total", "rank", "rewarded", "status", "reason",
    "projected_value", "projected_prior_value", "projected_improvement", "projected_level_score",
    "projected_improvement_score", "projected_indicator_score", "projected_indicator_rank", "projected_indicator_reason",
    "projected_total", "projected_rank", "projected_rewarded", "projected_status", "projected_reason",
    "rewarded_branches",
]


# --- deviation scores and ranks ---------------------------------------------------------------------


def deviation_scores(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """偏差値 = 50 + 10 × (x − mean) / SD, with the population SD (ddof 0); 50 for all when SD is 0.
    ``values`` holds the branches being scored (no missing value)."""
    x = values.astype(float)
    if len(x) == 0:
        return x
    sd = float(x.std(ddof=0))
    if not np.isfinite(sd) or sd == 0:
        return pd.Series(50.0, index=x.index)
    z = (x - x.mean()) / sd
    return 50 + 10 * (z if higher_is_better else -z)


def competition_rank(scores: pd.Series) -> pd.Series:
    """1 = highest; equal scores (at ``TIE_DECIMALS``) share the best rank (1, 2, 2, 4)."""
    if len(scores) == 0:
        return pd.Series(dtype="Int64")
    return scores.round(TIE_DECIMALS).rank(method="min", ascending=False).astype("Int64")


def _needs(ind: IncentiveIndicator) -> tuple[bool, bool]:
    """(level needed, improvement needed): a part with weight 0 is not needed to score a branch."""
    return ind.level_weight > 0, ind.improvement_weight > 0


def score(inputs: pd.DataFrame, scheme: IncentiveScheme) -> pd.DataFrame:
    """Score and rank the branches of ``inputs`` (``INPUT_COLUMNS``, one row per branch × indicator key
    of ``scheme``; ``reason`` non-empty where the level or the improvement cannot be computed).

    Returns ``inputs`` with ``SCORE_COLUMNS``: the deviation scores and the indicator's score and rank,
    and per branch its total, rank, rewarded flag, status (評価 / 判定不能) and reason. A branch with a
    reason on any indicator it needs is 判定不能 and takes no part in the means, SDs and ranks."""
    frame = inputs.copy()
    frame["reason"] = frame["reason"].fillna("")
    by_key = {ind.key: ind for ind in scheme.indicators}
    branches = list(dict.fromkeys(frame["branch_code"]))
    reasons: dict[str, list[str]] = {b: [] for b in branches}
    for r in frame.itertuples(index=False):
        if r.reason:
            reasons[r.branch_code].append(r.reason)
    for b in branches:  # an indicator of the scheme with no row at all for the branch
        have = set(frame.loc[frame["branch_code"] == b, "indicator"])
        reasons[b] += [f"{ind.name}：値がありません" for ind in scheme.indicators if ind.key not in have]
    scored = [b for b in branches if not reasons[b]]
    for c in ("level_score", "improvement_score", "indicator_score"):
        frame[c] = np.nan
    frame["indicator_rank"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    in_scope = frame["branch_code"].isin(scored)
    for key, ind in by_key.items():
        rows = in_scope & (frame["indicator"] == key)
        part = frame.loc[rows].set_index("branch_code")
        higher = ind.better == "higher"
        level_needed, improvement_needed = _needs(ind)
        level = deviation_scores(part["value"], higher) if level_needed else pd.Series(0.0, index=part.index)
        improvement = deviation_scores(part["improvement"], higher) if improvement_needed else pd.Series(0.0, index=part.index)
        indicator_score = ind.weight * (ind.level_weight * level + ind.improvement_weight * improvement)
        frame.loc[rows, "level_score"] = level.reindex(part.index).to_numpy() if level_needed else np.nan
        frame.loc[rows, "improvement_score"] = improvement.reindex(part.index).to_numpy() if improvement_needed else np.nan
        frame.loc[rows, "indicator_score"] = indicator_score.to_numpy()
        frame.loc[rows, "indicator_rank"] = competition_rank(indicator_score).to_numpy()
    totals = frame[in_scope].groupby("branch_code")["indicator_score"].sum()
    ranks = competition_rank(totals)
    frame["total"] = frame["branch_code"].map(totals).astype(float)
    frame["rank"] = frame["branch_code"].map(ranks).astype("Int64")
    rewarded = {b: bool(ranks[b] <= scheme.rewarded_branches) for b in scored}
    frame["rewarded"] = frame["branch_code"].map(rewarded).astype("boolean")
    frame["status"] = np.where(in_scope, SCORED, UNKNOWN)
    frame["branch_reason"] = frame["branch_code"].map({b: "；".join(reasons[b]) for b in branches})
    return frame


# --- inputs from kpi_actuals -------------------------------------------------------------------------


def _value_reason(name: str, point: Point | None, when: str) -> str:
    """Why a value is not usable (empty when it is). ``when`` names the value (e.g. 令和6年10月時点)."""
    if point is None:
        return f"{name}：{when}の実績がありません"
    if not point.complete:
        months = "、".join(month_label_ja(m) for m in point.missing)
        return f"{name}：{when}の実績にデータのない月があります（{months}）" if months else f"{name}：{when}の実績が不完全です"
    if point.value is None:
        if point.denominator == 0:
            return f"{name}：{when}の実績は分母が0のため算出できません"
        return f"{name}：{when}の実績がありません"
    return ""


def _inputs(fy: int, current: Actuals, prior: Actuals, as_of: str, scheme: IncentiveScheme,
            projected: dict[tuple[str, str], float | None] | None) -> pd.DataFrame:
    """One row per branch × indicator: level, previous-year value, improvement, reason.

    ``projected`` given: the level is the projected year-end value and the previous year's is its
    year-end (March) value; else the level is the year-to-date value as of ``as_of`` and the previous
    year's is as of the same month a year earlier."""
    prior_month = fiscal_months(fy - 1)[-1] if projected is not None else add_months(as_of, -12)
    now_label = f"{month_label_ja(as_of)}時点"
    prior_label = f"前年度{'末' if projected is not None else '同月'}（{month_label_ja(prior_month)}時点）"
    rows = []
    for b in branch_codes():
        for ind in scheme.indicators:
            _, improvement_needed = _needs(ind)
            cur = current.at(b, ind.measure, as_of)
            reason = _value_reason(ind.name, cur, now_label)
            value = cur.value if cur is not None and not reason else None
            if projected is not None and not reason:
                value = projected.get((b, ind.measure))
                if value is None or pd.isna(value):
                    value, reason = None, f"{ind.name}：年度末の見込みを算出できません"
            pri = prior.at(b, ind.measure, prior_month)
            prior_reason = _value_reason(ind.name, pri, prior_label)
            prior_value = pri.value if pri is not None and not prior_reason else None
            improvement = value - prior_value if value is not None and prior_value is not None else None
            # this year's value is needed for the level and for the improvement alike
            needed = [reason] if reason else []
            if prior_reason and improvement_needed:
                needed.append(prior_reason)
            rows.append((b, ind.key, value, prior_value, improvement, "；".join(needed)))
    frame = pd.DataFrame(rows, columns=INPUT_COLUMNS)
    for c in ("value", "prior_value", "improvement"):
        frame[c] = frame[c].astype(float)
    return frame


class _Years:
    """This year's and the previous year's ``kpi_actuals``, restricted to the scheme's measures."""

    def __init__(self, fy: int, actuals: pd.DataFrame, prior: pd.DataFrame | None, scheme: IncentiveScheme):
        measures = [ind.measure for ind in scheme.indicators]
        self.fy = fy
        self.cur = actuals[actuals["measure"].isin(measures)]
        self.pri = prior[prior["measure"].isin(measures)] if prior is not None and len(prior) else self.cur.iloc[0:0]
        self.current, self.prior = Actuals(fy, self.cur), Actuals(fy - 1, self.pri)

    def rank(self, scheme: IncentiveScheme, as_of: str, projection: bool) -> pd.DataFrame:
        projected = None
        if projection:
            p = project(self.fy, self.cur, self.pri if len(self.pri) else None, as_of)
            projected = {(r.branch_code, r.measure): r.projected_value for r in p.itertuples(index=False)}
        return score(_inputs(self.fy, self.current, self.prior, as_of, scheme, projected), scheme)


def ranking_at(fy: int, actuals: pd.DataFrame, prior: pd.DataFrame | None, scheme: IncentiveScheme, as_of: str,
               projection: bool = False) -> pd.DataFrame:
    """The scored ranking of one as-of month (``score``'s columns) of the 47 branches, on the
    year-to-date values or, with ``projection``, on the projected year-end values."""
    return _Years(fy, actuals, prior, scheme).rank(scheme, as_of, projection)


def ranking_table(fy: int, actuals: pd.DataFrame, prior: pd.DataFrame | None, scheme: IncentiveScheme) -> pd.DataFrame:
    """Every as-of month of ``actuals`` (``kpi_actuals`` of ``fy``; ``prior`` = of ``fy`` − 1): each
    branch's indicators, scores, total, rank, rewarded flag and status on the year-to-date values, and
    the same on the projected year-end values for the months before March (the ``incentive_ranking``
    table, ``RANKING_COLUMNS``)."""
    months = [m for m in fiscal_months(fy) if m in set(actuals["as_of_month"])]
    order = {ind.key: i for i, ind in enumerate(scheme.indicators, start=1)}
    by_key = {ind.key: ind for ind in scheme.indicators}
    years = _Years(fy, actuals, prior, scheme)
    parts = []
    for as_of in months:
        now = years.rank(scheme, as_of, projection=False)
        out = pd.DataFrame({
            "fiscal_year": fy,
            "as_of_month": as_of,
            "branch_code": now["branch_code"],
            "indicator_order": now["indicator"].map(order),
            "indicator": now["indicator"],
            "indicator_name": now["indicator"].map(lambda k: by_key[k].name),
            "measure": now["indicator"].map(lambda k: by_key[k].measure),
            **{c: now[c] for c in ("value", "prior_value", "improvement", "level_score", "improvement_score",
                                   "indicator_score", "indicator_rank", "total", "rank", "rewarded", "status")},
            "indicator_reason": now["reason"],
            "reason": now["branch_reason"],
            "rewarded_branches": scheme.rewarded_branches,
        })
        if as_of != fiscal_months(fy)[-1]:
            ahead = years.rank(scheme, as_of, projection=True)
            for c in ("value", "prior_value", "improvement", "level_score", "improvement_score", "indicator_score",
                      "indicator_rank", "total", "rank", "rewarded", "status"):
                out[f"projected_{c}"] = ahead[c].to_numpy()
            out["projected_indicator_reason"] = ahead["reason"].to_numpy()
            out["projected_reason"] = ahead["branch_reason"].to_numpy()
        parts.append(out)
    if not parts:
        return pd.DataFrame(columns=RANKING_COLUMNS)
    table = pd.concat(parts, ignore_index=True)
    for c in RANKING_COLUMNS:
        if c not in table:
            table[c] = None
    for c in ("indicator_rank", "rank", "projected_indicator_rank", "projected_rank"):
        table[c] = table[c].astype("Int64")
    for c in ("rewarded", "projected_rewarded"):
        table[c] = table[c].astype("boolean")
    for c in ("value", "prior_value", "improvement", "level_score", "improvement_score", "indicator_score", "total",
              "projected_value", "projected_prior_value", "projected_improvement", "projected_level_score",
              "projected_improvement_score", "projected_indicator_score", "projected_total"):
        table[c] = table[c].astype("float64")
    return table[RANKING_COLUMNS].sort_values(["as_of_month", "branch_code", "indicator_order"], kind="stable").reset_index(drop=True)
