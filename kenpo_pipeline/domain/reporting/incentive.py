"""How the インセンティブ制度 ranking is shown: the national table, a branch's view, its standing in
words, and the UI's Markdown — one presentation for the workbook sheets, the UI and the command line.

Everything here reads rows of the ``incentive_ranking`` table (``kpis.incentive.ranking_table``) and
returns DataFrames with Japanese column titles, numbers as numbers (rounded for display: values and
improvements at the measure's precision, deviation scores, indicator scores and totals at
``SCORE_DECIMALS``), missing numbers as NA. A sheet module only has to render them.

Words: at the year end (as of March) a branch is 報奨対象 / 報奨対象外; before it, on the year-to-date
ranking and on the projected one, 報奨対象圏内 / 報奨対象圏外 (where it would stand); a branch that
cannot be scored is 判定不能 and its reason is in 備考.
"""

from __future__ import annotations

import pandas as pd

from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label_ja, month_label_ja
from kenpo_pipeline.domain.kpis.incentive import UNKNOWN
from kenpo_pipeline.domain.kpis.measures import MEASURES_BY_ID
from kenpo_pipeline.domain.reference import branch_name
from kenpo_pipeline.domain.reporting import markdown

SCORE_DECIMALS = 2
REWARDED_FINAL, NOT_REWARDED_FINAL = "報奨対象", "報奨対象外"
REWARDED_IN_YEAR, NOT_REWARDED_IN_YEAR = "報奨対象圏内", "報奨対象圏外"
REWARDED_WORDS = (REWARDED_FINAL, REWARDED_IN_YEAR)


def latest_as_of(table: pd.DataFrame) -> str | None:
    return str(table["as_of_month"].max()) if len(table) else None


def is_year_end(table: pd.DataFrame, as_of: str) -> bool:
    return as_of == fiscal_months(int(table["fiscal_year"].iloc[0]))[-1]


def _month(table: pd.DataFrame, as_of: str | None) -> tuple[str, pd.DataFrame]:
    as_of = as_of or latest_as_of(table)
    if as_of is None:
        raise ValueError("incentive_ranking has no rows")
    rows = table[table["as_of_month"] == as_of]
    if rows.empty:
        raise ValueError(f"incentive_ranking has no rows as of {as_of}")
    return as_of, rows


def _p(projected: bool) -> str:
    return "projected_" if projected else ""


def standing_word(rewarded, status: str, final: bool) -> str:
    """報奨対象 / 報奨対象外 (year end), 報奨対象圏内 / 報奨対象圏外 (during the year), 判定不能."""
    if status == UNKNOWN or status is None or pd.isna(status) or rewarded is None or pd.isna(rewarded):
        return UNKNOWN
    if final:
        return REWARDED_FINAL if rewarded else NOT_REWARDED_FINAL
    return REWARDED_IN_YEAR if rewarded else NOT_REWARDED_IN_YEAR


def title(table: pd.DataFrame, as_of: str | None = None, projected: bool = False) -> str:
    """``令和6年度 インセンティブ制度 順位（令和6年10月時点の実績）``; projected:
    ``…年度末の順位の見込み（令和6年10月時点）``; at the year end ``…順位（年度末、令和7年3月時点）``."""
    as_of, _ = _month(table, as_of)
    fy = fiscal_year_label_ja(int(table["fiscal_year"].iloc[0]))
    month = month_label_ja(as_of)
    if projected:
        return f"{fy} インセンティブ制度 年度末の順位の見込み（{month}時点）"
    if is_year_end(table, as_of):
        return f"{fy} インセンティブ制度 順位（年度末、{month}時点）"
    return f"{fy} インセンティブ制度 順位（{month}時点の実績）"


def _round(x, decimals: int):
    return pd.NA if x is None or pd.isna(x) else round(float(x), decimals)


def _indicators(rows: pd.DataFrame) -> list[tuple[str, str, int]]:
    """(key, name, precision) of the indicators, in the scheme's order."""
    first = rows.drop_duplicates("indicator").sort_values("indicator_order")
    return [(r.indicator, r.indicator_name, MEASURES_BY_ID[r.measure].precision) for r in first.itertuples(index=False)]


def _ordered_branches(rows: pd.DataFrame, projected: bool) -> pd.DataFrame:
    """One row per branch: ranked branches by rank (then code), then the 判定不能 ones by code."""
    p = _p(projected)
    per_branch = rows.drop_duplicates("branch_code").copy()
    per_branch["_unranked"] = per_branch[f"{p}rank"].isna()
    return per_branch.sort_values(["_unranked", f"{p}rank", "branch_code"], kind="stable")


def national_table(table: pd.DataFrame, as_of: str | None = None, projected: bool = False, compact: bool = False) -> pd.DataFrame:
    """The 47 branches, ranked: 順位 · 支部 · 合計点 · 区分 (報奨対象 …), then per indicator its value
    (実績, or 年度末見込み when ``projected``), 伸び, 偏差値（実績）, 偏差値（伸び）, 得点 and 順位, then
    備考 (why a branch is 判定不能). ``compact``: per indicator only 得点 and 順位 (the UI).
    The line between rewarded and not falls after ``rewarded_line(frame)`` rows."""
    as_of, rows = _month(table, as_of)
    if projected and rows["projected_status"].isna().all():
        return pd.DataFrame()  # the year end: nothing projected
    p = _p(projected)
    final = is_year_end(table, as_of) and not projected
    indicators = _indicators(rows)
    by = rows.set_index(["branch_code", "indicator"])
    out = []
    for b in _ordered_branches(rows, projected).itertuples(index=False):
        status = getattr(b, f"{p}status")
        rec = {
            "順位": getattr(b, f"{p}rank"),
            "支部コード": b.branch_code,
            "支部": branch_name(b.branch_code),
            "合計点": _round(getattr(b, f"{p}total"), SCORE_DECIMALS),
            "区分": standing_word(getattr(b, f"{p}rewarded"), status, final),
        }
        for key, name, precision in indicators:
            r = by.loc[(b.branch_code, key)]
            if not compact:
                rec[f"{name} {'年度末見込み' if projected else '実績'}"] = _round(r[f"{p}value"], precision)
                rec[f"{name} 伸び"] = _round(r[f"{p}improvement"], precision)
                rec[f"{name} 偏差値（実績）"] = _round(r[f"{p}level_score"], SCORE_DECIMALS)
                rec[f"{name} 偏差値（伸び）"] = _round(r[f"{p}improvement_score"], SCORE_DECIMALS)
            rec[f"{name} 得点"] = _round(r[f"{p}indicator_score"], SCORE_DECIMALS)
            rec[f"{name} 順位"] = r[f"{p}indicator_rank"]
        rec["備考"] = (getattr(b, f"{p}reason") or "") if status == UNKNOWN else ""
        out.append(rec)
    frame = pd.DataFrame(out)
    for c in frame.columns:
        if c == "順位" or c.endswith(" 順位"):
            frame[c] = frame[c].astype("Int64")
    return frame


def rewarded_line(frame: pd.DataFrame) -> int:
    """How many rows of a ``national_table`` are above the line between rewarded and not."""
    return int(frame["区分"].isin(REWARDED_WORDS).sum()) if len(frame) else 0


def _nth(rows: pd.DataFrame, projected: bool) -> pd.DataFrame | None:
    """The indicator rows of the last rewarded branch (the highest rank ≤ the number rewarded; of a
    tie there, the first by branch code), or None when fewer branches were scored than are rewarded."""
    p = _p(projected)
    n = int(rows["rewarded_branches"].iloc[0])
    ranked = rows[rows[f"{p}rank"].notna()].drop_duplicates("branch_code")
    if ranked.empty or len(ranked) < n:
        return None
    inside = ranked[ranked[f"{p}rank"] <= n].sort_values([f"{p}rank", "branch_code"], ascending=[False, True])
    return rows[rows["branch_code"] == inside["branch_code"].iloc[0]].set_index("indicator")


def branch_view(table: pd.DataFrame, branch_code: str, as_of: str | None = None) -> pd.DataFrame:
    """One branch: a row per indicator and a 合計 row, with its value, the previous year's, 伸び, the
    deviation scores, 得点 and 順位 now; the score of the branch at the line (the N-th, N = the number
    rewarded) and the difference to it (自支部 − N位: negative = below the line); and the same on the
    projected year-end values during the year. 備考 says why a part cannot be scored."""
    as_of, rows = _month(table, as_of)
    mine = rows[rows["branch_code"] == branch_code].set_index("indicator")
    if mine.empty:
        raise ValueError(f"no incentive_ranking rows for branch {branch_code} as of {as_of}")
    n = int(rows["rewarded_branches"].iloc[0])
    in_year = not is_year_end(table, as_of)
    nth, nth_ahead = _nth(rows, False), (_nth(rows, True) if in_year else None)
    out = []
    for key, name, precision in _indicators(rows):
        r = mine.loc[key]
        rec = {
            "指標": name,
            "実績": _round(r["value"], precision),
            "前年度同月": _round(r["prior_value"], precision),
            "伸び": _round(r["improvement"], precision),
            "偏差値（実績）": _round(r["level_score"], SCORE_DECIMALS),
            "偏差値（伸び）": _round(r["improvement_score"], SCORE_DECIMALS),
            "得点": _round(r["indicator_score"], SCORE_DECIMALS),
            "順位": r["indicator_rank"],
            f"{n}位の支部の得点": _round(nth.at[key, "indicator_score"], SCORE_DECIMALS) if nth is not None else pd.NA,
        }
        rec[f"{n}位との差"] = _difference(r["indicator_score"], nth.at[key, "indicator_score"] if nth is not None else None)
        if in_year:
            rec.update({
                "年度末見込み": _round(r["projected_value"], precision),
                "伸び（見込み）": _round(r["projected_improvement"], precision),
                "得点（見込み）": _round(r["projected_indicator_score"], SCORE_DECIMALS),
                "順位（見込み）": r["projected_indicator_rank"],
                f"{n}位との差（見込み）": _difference(
                    r["projected_indicator_score"], nth_ahead.at[key, "projected_indicator_score"] if nth_ahead is not None else None),
            })
        reasons = [x for x in (r["indicator_reason"], r["projected_indicator_reason"] if in_year else None) if isinstance(x, str) and x]
        rec["備考"] = "；".join(dict.fromkeys(reasons))
        out.append(rec)
    first = mine.iloc[0]
    total = {
        "指標": "合計",
        "得点": _round(first["total"], SCORE_DECIMALS),
        "順位": first["rank"],
        f"{n}位の支部の得点": _round(nth["total"].iloc[0], SCORE_DECIMALS) if nth is not None else pd.NA,
        f"{n}位との差": _difference(first["total"], nth["total"].iloc[0] if nth is not None else None),
    }
    if in_year:
        total.update({
            "得点（見込み）": _round(first["projected_total"], SCORE_DECIMALS),
            "順位（見込み）": first["projected_rank"],
            f"{n}位との差（見込み）": _difference(first["projected_total"], nth_ahead["projected_total"].iloc[0] if nth_ahead is not None else None),
        })
    total["備考"] = "；".join(standing_text(table, branch_code, as_of, projected) for projected in ((False, True) if in_year else (False,)))
    out.append(total)
    frame = pd.DataFrame(out, columns=list(out[0].keys()))
    for c in ("順位", "順位（見込み）"):
        if c in frame:
            frame[c] = frame[c].astype("Int64")
    return frame


def _difference(mine, nth):
    if mine is None or nth is None or pd.isna(mine) or pd.isna(nth):
        return pd.NA
    return round(float(mine) - float(nth), SCORE_DECIMALS)


def standing_text(table: pd.DataFrame, branch_code: str, as_of: str | None = None, projected: bool = False) -> str:
    """A branch's standing in words: 「見込み 12位（報奨対象圏内）」, 「現時点 20位（報奨対象圏外）」,
    at the year end 「12位（報奨対象）」, or 「判定不能（…）」 with the reason."""
    as_of, rows = _month(table, as_of)
    row = rows[rows["branch_code"] == branch_code]
    if row.empty:
        raise ValueError(f"no incentive_ranking rows for branch {branch_code} as of {as_of}")
    r = row.iloc[0]
    p = _p(projected)
    final = is_year_end(table, as_of)
    if projected and final:
        return ""
    prefix = "見込み " if projected else ("" if final else "現時点 ")
    status = r[f"{p}status"]
    if status == UNKNOWN or pd.isna(r[f"{p}rank"]):
        return f"{prefix}{UNKNOWN}（{r[f'{p}reason'] or '理由不明'}）"
    return f"{prefix}{int(r[f'{p}rank'])}位（{standing_word(r[f'{p}rewarded'], status, final and not projected)}）"


def ranking_markdown(table: pd.DataFrame, as_of: str | None = None, projected: bool = False) -> str:
    """The national ranking as an escaped Markdown table (the UI): the compact ``national_table``."""
    frame = national_table(table, as_of, projected=projected, compact=True)
    if frame.empty:
        return markdown.EMPTY
    return markdown.table(frame.drop(columns=["支部コード"]), max_rows=60)
