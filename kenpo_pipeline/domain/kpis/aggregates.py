"""Monthly aggregates: each loaded feed-month reduced to small per-branch sums and counts.

This is the only step that reads feed rows (shared spec/architecture.md). Every measure of
``measures.py`` is computed from these sums, so a year-to-date value never re-reads a year of rows.

The result is a long table ``(month, branch_code, input, value)``. An input is present when the
month's data carries it; its absence is meaningful (spec/kpis.md §1 "Coverage"):
- ``benefits`` / ``claims_review``: when the month's file is loaded, every branch gets every input
  (a branch with no rows had no events: 0).
- ``screenings``: ``completed:<program>`` for every branch when the file is loaded (a missing row is 0
  completions); ``eligible:<program>`` only where the row exists (a stock that carries forward).
- ``indicators``: ``ind:<code>`` only where the (branch, indicator) row exists (absent = missing).

Every loaded feed-month also gets a *loaded marker* (``loaded:<feed>``, branch ``00``, value 1):
written here, read through :func:`loaded_marker` (the coverage of a measure) and
:func:`evaluation_as_of` (the evaluation's as-of month) — the marker's format lives only here.
"""

from __future__ import annotations

import pandas as pd

from kenpo_pipeline.domain.calendar import business_days_between, fiscal_months
from kenpo_pipeline.domain.reference import FEED_IDS, NATIONAL_CODE, branch_codes

SERVICE_STANDARD_TYPES = ("傷病手当金", "出産手当金")
SERVICE_STANDARD_DAYS = 10
CHANNELS = {"郵送": "postal", "窓口": "counter", "電子申請": "online"}

# (区分, 事業) → program key used in input names
PROGRAM_KEYS = {
    ("被保険者", "生活習慣病予防健診"): "life",
    ("被保険者", "事業者健診データ取得"): "employer",
    ("被扶養者", "特定健診"): "dependant",
    ("被保険者", "特定保健指導"): "guid_ins",
    ("被扶養者", "特定保健指導"): "guid_dep",
}

COLUMNS = ["month", "branch_code", "input", "value"]

#: The feed columns each aggregator reads (the aggregate step reads only these from the warehouse).
READS = {
    "benefits": ["branch_code", "benefit_type", "received_on", "paid_on", "channel", "decision"],
    "claims_review": ["branch_code", "review_type", "reduced_points"],
    "screenings": ["branch_code", "population", "program", "eligible", "completed"],
    "indicators": ["branch_code", "indicator", "value"],
}


def _long(month: str, wide: pd.DataFrame) -> pd.DataFrame:
    """branch-indexed wide frame (every branch 01–47) → long rows."""
    wide = wide.reindex(branch_codes()).fillna(0)
    out = wide.reset_index(names="branch_code").melt(id_vars="branch_code", var_name="input", value_name="value")
    out.insert(0, "month", month)
    return out[COLUMNS]


_LOADED = "loaded:"


def loaded_marker(feed: str) -> str:
    """The input that records that ``feed`` is loaded for a month (branch ``00``)."""
    return f"{_LOADED}{feed}"


def _marker(month: str, feed: str) -> pd.DataFrame:
    return pd.DataFrame([[month, NATIONAL_CODE, loaded_marker(feed), 1.0]], columns=COLUMNS)


def evaluation_as_of(fy: int, aggregates: pd.DataFrame) -> str | None:
    """The evaluation's as-of month: the latest month of fiscal year ``fy`` for which all four feeds
    are loaded (their markers are in ``aggregates``), or None when there is none."""
    markers = aggregates[aggregates["input"].str.startswith(_LOADED)]
    every_feed = {loaded_marker(f) for f in FEED_IDS}
    complete = {m for m, g in markers.groupby("month") if every_feed <= set(g["input"])}
    months = [m for m in fiscal_months(fy) if m in complete]
    return months[-1] if months else None


def aggregate_benefits(month: str, rows: pd.DataFrame) -> pd.DataFrame:
    """Channel counts over every row; service-standard counts over 傷病手当金/出産手当金 支給 rows."""
    rows = rows.copy()
    wide = pd.DataFrame(index=pd.Index(branch_codes(), name="branch_code"))
    wide["benefits_rows"] = rows.groupby("branch_code").size()
    for ja, key in CHANNELS.items():
        wide[f"channel_{key}"] = rows[rows["channel"] == ja].groupby("branch_code").size()
    ss = rows[rows["benefit_type"].isin(SERVICE_STANDARD_TYPES) & (rows["decision"] == "支給") & rows["paid_on"].notna()].copy()
    if len(ss):
        ss["days"] = business_days_between(
            pd.to_datetime(ss["received_on"]).values.astype("datetime64[D]"),
            pd.to_datetime(ss["paid_on"]).values.astype("datetime64[D]"),
        )
    else:
        ss["days"] = pd.Series(dtype="int64")
    g = ss.groupby("branch_code")
    wide["ss_rows"] = g.size()
    wide["ss_within_standard"] = ss[ss["days"] <= SERVICE_STANDARD_DAYS].groupby("branch_code").size()
    wide["ss_days_sum"] = g["days"].sum()
    return pd.concat([_long(month, wide), _marker(month, "benefits")], ignore_index=True)


def aggregate_claims_review(month: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The re-review measures use the 内容点検 rows (査定, 原審どおり and 返戻 alike)."""
    content = rows[rows["review_type"] == "内容点検"]
    wide = pd.DataFrame(index=pd.Index(branch_codes(), name="branch_code"))
    g = content.groupby("branch_code")
    wide["content_rows"] = g.size()
    wide["content_reduced_points"] = g["reduced_points"].sum()
    return pd.concat([_long(month, wide), _marker(month, "claims_review")], ignore_index=True)


def aggregate_screenings(month: str, rows: pd.DataFrame) -> pd.DataFrame:
    keyed = rows.assign(key=[PROGRAM_KEYS.get((p, q)) for p, q in zip(rows["population"], rows["program"])]).dropna(subset=["key"])
    completed = keyed.pivot_table(index="branch_code", columns="key", values="completed", aggfunc="sum")
    completed = completed.reindex(columns=list(PROGRAM_KEYS.values())).add_prefix("completed:")
    out = [_long(month, completed)]
    eligible = keyed[["branch_code", "key", "eligible"]].rename(columns={"eligible": "value"})
    eligible = eligible.assign(month=month, input="eligible:" + eligible["key"])
    out.append(eligible[COLUMNS])
    out.append(_marker(month, "screenings"))
    return pd.concat(out, ignore_index=True)


def aggregate_indicators(month: str, rows: pd.DataFrame) -> pd.DataFrame:
    out = rows[["branch_code", "indicator", "value"]].copy()
    out["input"] = "ind:" + out["indicator"]
    out["month"] = month
    return pd.concat([out[COLUMNS], _marker(month, "indicators")], ignore_index=True)


AGGREGATORS = {
    "benefits": aggregate_benefits,
    "claims_review": aggregate_claims_review,
    "screenings": aggregate_screenings,
    "indicators": aggregate_indicators,
}


def aggregate_month(month: str, feeds: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All loaded feeds of one month → the month's aggregate rows (feeds not loaded are absent)."""
    parts = [AGGREGATORS[feed](month, rows) for feed, rows in feeds.items() if rows is not None]
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["value"] = out["value"].astype("float64")
    return out.sort_values(["branch_code", "input"], kind="stable").reset_index(drop=True)


def month_inputs(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Aggregate rows of one month → {branch_code: {input: value}} (convenience for tests)."""
    return {b: dict(zip(g["input"], g["value"])) for b, g in frame.groupby("branch_code")}


