"""Realistic, deterministic sample feeds (``kenpo sample``).

Volumes: ``scale`` 1.0 gives the national volumes of shared spec/feeds.md (≈300,000 benefit
decisions and ≈200,000 re-review results a month). ``scale`` applies to the row feeds and to the
yen amounts measured against them (医療費総額, 支払基金査定額, 返納金債権), so every rate is
independent of the scale; populations, offices and other indicator levels are always at national
magnitude.

Realism: branch sizes follow the prefectures' 2020 census populations (``assets/branches.csv``);
processing days are counted in business days, so Golden Week, national holidays and the year-end
closure (12/29–1/3) lengthen calendar times; screening completions follow a seasonal profile (low in
April, peak in autumn); rates sit near the figures in the seeds (national FY2022 reference values of
seed 000), and Shizuoka (22) carries every figure of seed 003's KPI実績一覧表 for FY2022 and FY2023
exactly (see "Shizuoka (22) in the years of seed 003" below). The two counts of 特定保健指導対象者の減少率
(``guidance_cohort_*``) are reported once a year, in the April file, as the indicator codes say.

Formats: most files are UTF-8 CSV; some months are CP932 or UTF-8 with BOM, use era dates
(令和6年4月1日, R6.4.1), slashes, unpadded or full-width branch codes, thousands separators or
full-width digits, and the small feeds are ``.xlsx`` in some months — so a demo run exercises every
parsing path. The same (seed, scale, month) always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kenpo_pipeline.domain import calendar
from kenpo_pipeline.domain.reference import FEED_IDS, NATIONAL_CODE, branches, feed_layout, indicators

NATIONAL_BENEFITS_PER_MONTH = 300_000
NATIONAL_CLAIMS_PER_MONTH = 200_000
FEED_INDEX = {feed: i for i, feed in enumerate(FEED_IDS)}

BENEFIT_TYPES = ["傷病手当金", "出産手当金", "出産育児一時金", "埋葬料", "高額療養費", "療養費", "海外療養費", "その他"]
BENEFIT_P = np.array([0.22, 0.05, 0.06, 0.01, 0.38, 0.20, 0.005, 0.075])
BENEFIT_P = BENEFIT_P / BENEFIT_P.sum()

# Fiscal-month profiles (April … March) of screening completions.
PROFILE_SCREENING = np.array([4, 7, 9, 10, 10, 10, 11, 11, 9, 7, 6, 6], dtype=float)
PROFILE_EMPLOYER = np.array([2, 3, 5, 7, 8, 9, 10, 11, 11, 12, 11, 11], dtype=float)
PROFILE_GUIDANCE = np.array([3, 4, 5, 7, 8, 9, 10, 10, 11, 11, 11, 11], dtype=float)

# Shizuoka's actual rates (seed 003 KPI実績一覧表: 令和5年度実績 / 令和4年度実績).
SHIZUOKA_RATES = {
    2022: {"life": 0.676, "employer": 0.059, "dependant": 0.268, "guid_ins": 0.169, "guid_dep": 0.123},
    2023: {"life": 0.696, "employer": 0.036, "dependant": 0.272, "guid_ins": 0.177, "guid_dep": 0.187},
}
SHIZUOKA_ELIGIBLE_2023 = {"life": 429_567, "dependant": 92_363, "guid_ins": 56_754}

# The other rows of that table, for 静岡 (22): FY2022 = 令和4年度実績 (＜参考＞ column), FY2023 = 令和5年度実績.
# Shares are fractions; review_per_claim in yen; declaration = (offices at the start of the year, at its
# end); tenders = (一般競争入札件数, うち一者応札件数) of the year. The KPI table prints 8.4% for FY2023
# although the body counts 1 of 12 tenders (8.3%): the table's figure is the published one, and 7 of 83
# are the smallest counts that print 8.4% (README "Decisions": seed 003's single-bid rate).
SHIZUOKA_KPIS = {
    2022: dict(postal=0.986, judo=0.0054, dependant_check=0.941, review_rate=0.00334, review_per_claim=6_615, card=0.8900,
               post_loss=0.6429, untreated_3m=0.110, declaration=(6_048, 6_407), committee=0.654, generic=0.824, tenders=(80, 8)),
    2023: dict(postal=0.987, judo=0.0054, dependant_check=0.894, review_rate=0.00452, review_per_claim=7_135, card=0.8412,
               post_loss=0.6225, untreated_3m=0.107, declaration=(6_407, 6_766), committee=0.683, generic=0.842, tenders=(83, 7)),
}
SHIZUOKA = "22"
CONTENT_REVIEW_SHARE = 0.72  # 内容点検's share of the re-review results (the draw below uses the same share)


@dataclass(frozen=True)
class FileStyle:
    file_format: str  # csv | xlsx
    encoding: str  # utf-8 | utf-8-sig | cp932
    date_style: str  # iso | slash | era_kanji | era_roman
    branch_style: str  # padded | unpadded | fullwidth
    number_style: str  # plain | thousands | fullwidth


def _month_index(month: str) -> int:
    y, m = calendar.parse_month_key(month)
    return (y - 2020) * 12 + (m - 4)


def file_style(feed: str, month: str, scale: float) -> FileStyle:
    """Which format and value forms a (feed, month) file uses: deterministic, varied."""
    i = _month_index(month)
    small_feed = feed in ("screenings", "indicators")
    if small_feed and i % 6 == 2:
        return FileStyle("xlsx", "utf-8", "iso", "padded" if i % 12 == 2 else "unpadded", "plain")
    if feed == "claims_review" and i % 12 == 7 and scale <= 0.1:
        return FileStyle("xlsx", "utf-8", "iso", "padded", "plain")
    if i % 4 == 1:
        return FileStyle("csv", "cp932", "era_kanji" if i % 8 == 1 else "era_roman", "unpadded", "thousands")
    if i % 4 == 3:
        return FileStyle("csv", "utf-8-sig", "slash", "fullwidth" if i % 8 == 3 else "padded", "fullwidth" if small_feed else "plain")
    return FileStyle("csv", "utf-8", "iso", "padded", "plain")


# --- value forms -------------------------------------------------------------------------------

_FW = str.maketrans("0123456789", "０１２３４５６７８９")


def _era(d: dt.date) -> tuple[str, str, int]:
    era, n = calendar.era_of_date(d)
    return era, ("R" if era == "令和" else "H"), n


def format_date(d: dt.date | None, style: str) -> str:
    if d is None:
        return ""
    if style == "iso":
        return d.isoformat()
    if style == "slash":
        return f"{d.year}/{d.month}/{d.day}"
    era, roman, n = _era(d)
    if style == "era_kanji":
        return f"{era}{'元' if n == 1 else n}年{d.month}月{d.day}日"
    return f"{roman}{n}.{d.month}.{d.day}"


def format_month(month: str, style: str) -> str:
    y, m = calendar.parse_month_key(month)
    if style == "iso":
        return f"{y}{m:02d}"
    if style == "slash":
        return f"{y}/{m:02d}"
    era, roman, n = _era(dt.date(y, m, 1))
    if style == "era_kanji":
        return f"{era}{'元' if n == 1 else n}年{m}月"
    return f"{roman}{n}.{m}"


def format_branch(code: str, style: str) -> str:
    if style == "unpadded":
        return str(int(code))
    if style == "fullwidth":
        return code.translate(_FW)
    return code


def format_number(x: float | int, style: str) -> str:
    text = f"{int(x)}" if float(x).is_integer() else f"{x}"
    if style == "thousands":
        return f"{int(x):,}" if float(x).is_integer() else f"{x:,}"
    if style == "fullwidth":
        return text.translate(_FW)
    return text


# --- generation helpers -----------------------------------------------------------------------


def _rng(seed: int, *parts: int) -> np.random.Generator:
    return np.random.default_rng([seed, *parts])


def branch_weights() -> np.ndarray:
    pop = np.array([b.population_thousands for b in branches()], dtype=float)
    return pop / pop.sum()


def _branch_factor(seed: int, salt: int, sd: float) -> np.ndarray:
    """A stable per-branch multiplier (the same every month and year for a seed)."""
    return np.exp(_rng(seed, 9_999, salt).normal(0, sd, size=47))


def _fiscal_index(month: str) -> int:
    return calendar.fiscal_months(calendar.fiscal_year_of_month(month)).index(month)


def _busday_calendar() -> np.busdaycalendar:
    return np.busdaycalendar(weekmask="1111100", holidays=calendar.non_working_days())


def _benefit_counts(rng: np.random.Generator, month: str, scale: float) -> np.ndarray:
    """Decisions per branch in ``month``: the first draw of the month's benefits stream."""
    season = 1.0 + 0.08 * np.cos((_fiscal_index(month) - 10) / 12 * 2 * np.pi)
    return rng.poisson(NATIONAL_BENEFITS_PER_MONTH * scale * season * branch_weights())


def _claim_counts(rng: np.random.Generator, scale: float) -> np.ndarray:
    """Re-review results per branch: the first draw of the month's claims_review stream."""
    return rng.poisson(NATIONAL_CLAIMS_PER_MONTH * scale * branch_weights())


# --- Shizuoka (22) in the years of seed 003 ---------------------------------------------------
#
# For FY2022 and FY2023 branch 22 carries every figure of seed 003's KPI実績一覧表 (SHIZUOKA_RATES,
# SHIZUOKA_KPIS). Its values are overridden *after* the month's draws, so no other branch's value and
# no later draw changes. A flow rate is exact on the year: its numerators are set so that the
# year-to-date numerator is round(rate × year-to-date denominator) in every month (`_cumulative_share`),
# which needs the denominators of the earlier months — for row feeds the branch's count, the first
# draw of each month's stream (cheap to repeat); for indicators a deterministic monthly profile. At
# the demo's scale (0.02) and above every rate prints as the seed prints it; far below it (≈0.002)
# a year has too few of 静岡's rows for a rate to one decimal.


def _shizuoka_index() -> int:
    return [b.code for b in branches()].index(SHIZUOKA)


def _split(total: int, parts: int = 12) -> np.ndarray:
    base, extra = divmod(int(total), parts)
    return np.array([base + (1 if i < extra else 0) for i in range(parts)], dtype=np.int64)


def _cumulative_share(denominators: np.ndarray, share: float) -> np.ndarray:
    """Monthly numerators whose year-to-date sum is round(share × year-to-date denominator)."""
    target = np.floor(np.cumsum(np.asarray(denominators, dtype=float)) * share + 0.5)
    return np.diff(target, prepend=0.0)


_MONTH_WAVE = 1.0 + 0.04 * np.cos((np.arange(12) - 10) / 12 * 2 * np.pi)  # a mild seasonal profile


@functools.lru_cache(maxsize=32)
def _shizuoka_postal(fy: int, scale: float, seed: int) -> np.ndarray:
    """静岡's 郵送 decisions in each month of ``fy``: the year-to-date share is seed 003's 郵送化率."""
    s = _shizuoka_index()
    n = [_benefit_counts(_rng(seed, FEED_INDEX["benefits"], *calendar.parse_month_key(m)), m, scale)[s] for m in calendar.fiscal_months(fy)]
    return _cumulative_share(np.array(n), SHIZUOKA_KPIS[fy]["postal"]).astype(np.int64)


@functools.lru_cache(maxsize=32)
def _shizuoka_review(fy: int, scale: float, seed: int) -> dict[str, np.ndarray]:
    """静岡's re-review figures in each month of ``fy``: 内容点検 rows and their 査定点数 (1件当たり査定額),
    医療費総額 and the fund's 査定額 (支払基金と合算した査定率) — seed 003's figures on the year."""
    k = SHIZUOKA_KPIS[fy]
    s = _shizuoka_index()
    n = np.array([_claim_counts(_rng(seed, FEED_INDEX["claims_review"], *calendar.parse_month_key(m)), scale)[s] for m in calendar.fiscal_months(fy)])
    content = np.floor(n * CONTENT_REVIEW_SHARE + 0.5)
    points = _cumulative_share(content, k["review_per_claim"] / 10)  # 1点 = 10円
    medical = np.round(580e9 * scale * branch_weights()[s] * _MONTH_WAVE)
    reduced_to_date = np.floor(np.cumsum(medical) * k["review_rate"] + 0.5)  # yen, association + fund
    fund = np.zeros(12)
    for i in range(12):  # the fund's share is what the association's own reductions leave (never negative)
        fund[i] = max(0.0, reduced_to_date[i] - 10 * points[: i + 1].sum() - fund[:i].sum())
    return {"content": content.astype(np.int64), "points": points.astype(np.int64), "medical": medical, "fund": fund}


def _set_content_rows(rtype: np.ndarray, wanted: int) -> None:
    """Exactly ``wanted`` of the branch's rows (a view) are 内容点検; the rest keep or take another type."""
    is_content = rtype == "内容点検"
    have = int(is_content.sum())
    if have > wanted:
        rtype[np.flatnonzero(is_content)[wanted:]] = "資格点検"
    elif have < wanted:
        rtype[np.flatnonzero(~is_content)[: wanted - have]] = "内容点検"


def _to_total(weights: np.ndarray, caps: np.ndarray, total: int) -> np.ndarray:
    """Integers in 1…cap, in proportion to ``weights``, summing to ``total`` where the caps allow."""
    w = np.where(weights > 0, weights, 1).astype(float)
    new = np.clip(np.floor(w * total / w.sum()), 1, caps)
    diff = total - new.sum()
    room = caps - new if diff > 0 else new - 1
    take = np.clip(abs(diff) - (np.cumsum(room) - room), 0, room)
    return (new + np.sign(diff) * take).astype(np.int64)


def _set_content_points(rtype: np.ndarray, outcome: np.ndarray, claimed: np.ndarray, reduced: np.ndarray, points: int) -> None:
    """The branch's 内容点検 rows (views) reduce ``points`` in all: the 査定 rows' 査定点数 are rescaled
    (1 ≤ 査定点数 ≤ 請求点数), taking 原審どおり/返戻 rows as 査定 when their 請求点数 cannot carry it."""
    content = np.flatnonzero(rtype == "内容点検")
    assessed = content[outcome[content] == "査定"]
    others = content[outcome[content] != "査定"]
    shortfall = points - int(claimed[assessed].sum())
    extra = min(len(others), int(np.searchsorted(np.cumsum(claimed[others]), shortfall)) + 1) if shortfall > 0 else 0
    assessed = np.concatenate([assessed, others[:extra]])
    if points < len(assessed):  # every 査定 row reduces at least one point
        outcome[assessed[points:]] = "原審どおり"
        reduced[assessed[points:]] = 0
        assessed = assessed[:points]
    if len(assessed):
        outcome[assessed] = "査定"
        reduced[assessed] = _to_total(reduced[assessed], claimed[assessed], points)


def _calibrate_shizuoka_indicators(v: dict[str, np.ndarray], fy: int, fm: int, scale: float, seed: int, returned_share: float) -> None:
    """静岡's indicator values of month ``fm`` of ``fy`` (seed 003's figures on the year), set after the
    month's draws."""
    k = SHIZUOKA_KPIS[fy]
    s = _shizuoka_index()
    w = branch_weights()[s]
    years = fy - 2022

    def monthly(level: float) -> np.ndarray:
        return np.round(level * w * _MONTH_WAVE)

    review = _shizuoka_review(fy, scale, seed)
    v["medical_cost_total"][s] = review["medical"][fm]
    v["fund_assessment_amount"][s] = review["fund"][fm]
    judo = monthly(1_000_000)
    v["judo_applications"][s], v["judo_multi_frequent"][s] = judo[fm], _cumulative_share(judo, k["judo"])[fm]
    loss = monthly(180_000)
    v["card_loss_cases"][s], v["card_recovered_1m"][s] = loss[fm], _cumulative_share(loss, k["card"])[fm]
    due = monthly(4.1e8 * scale)
    post_loss_due = np.round(due * 0.7)
    v["receivable_due"][s], v["receivable_collected"][s] = due[fm], np.round(due[fm] * 0.61)
    v["receivable_post_loss_due"][s] = post_loss_due[fm]
    v["receivable_post_loss_collected"][s] = _cumulative_share(post_loss_due, k["post_loss"])[fm]
    notified = monthly(52_000)
    v["untreated_notified"][s] = notified[fm]
    v["untreated_visited_3m"][s] = _cumulative_share(notified, k["untreated_3m"])[fm]
    v["untreated_visited_10m"][s] = np.round(notified[fm] * (0.33 + 0.005 * years))
    # a stock: the returned share climbs through the year to the seed's rate in March
    v["dependant_check_returned"][s] = np.round(v["dependant_check_offices"][s] * returned_share / 0.95 * k["dependant_check"])
    start, end = k["declaration"]
    v["health_declaration_offices"][s] = round(start + (end - start) * (fm + 1) / 12)
    tenders, single = k["tenders"]
    v["procurement_competitive"][s], v["procurement_single_bid"][s] = _split(tenders)[fm], _split(single)[fm]
    if fm == 6:  # 意見発信: at least once a year (October)
        v["opinion_statements"][s] = max(1, v["opinion_statements"][s])


# --- benefits ---------------------------------------------------------------------------------


def make_benefits(month: str, scale: float, seed: int) -> pd.DataFrame:
    rng = _rng(seed, FEED_INDEX["benefits"], *calendar.parse_month_key(month))
    fy = calendar.fiscal_year_of_month(month)
    codes = [b.code for b in branches()]
    counts = _benefit_counts(rng, month, scale)
    n = int(counts.sum())
    branch = np.repeat(np.array(codes), counts)
    cal = _busday_calendar()
    bdays = np.array(calendar.business_days_in_month(month), dtype="datetime64[D]")
    decided = bdays[rng.integers(0, len(bdays), n)]
    btype = np.array(BENEFIT_TYPES)[rng.choice(len(BENEFIT_TYPES), n, p=BENEFIT_P)]
    paid_flag = rng.random(n) < 0.97
    transfer = rng.choice([0, 1, 2], n, p=[0.2, 0.5, 0.3])
    paid = np.busday_offset(decided, transfer, roll="forward", busdaycal=cal)
    # 所要日数 (business days, receipt → transfer): mostly 4–9; a rare tail beyond the 10-day standard,
    # a little more frequent around the year end (Dec/Jan) when volumes peak.
    base = rng.choice([3, 4, 5, 6, 7], n, p=[0.15, 0.3, 0.3, 0.15, 0.1])
    tail_p = 0.0008 if month[5:] in ("12", "01") else 0.0002
    tail = rng.random(n) < tail_p
    shizuoka = slice(int(counts[: _shizuoka_index()].sum()), int(counts[: _shizuoka_index() + 1].sum()))
    if fy in SHIZUOKA_KPIS:
        tail[shizuoka] = False  # seed 003: サービススタンダード 100% in FY2022 and FY2023
    base = np.where(tail, rng.integers(9, 14, n), base)
    received = np.busday_offset(paid, -(transfer + base), roll="backward", busdaycal=cal)
    refused_received = np.busday_offset(decided, -base, roll="backward", busdaycal=cal)
    received = np.where(paid_flag, received, refused_received)
    # Channels: postal share rises year by year; 電子申請 exists from January 2026 (協会けんぽ's
    # e-application start); the counter takes the rest.
    branch_idx = np.repeat(np.arange(47), counts)
    postal_base = np.clip(0.952 + 0.006 * (fy - 2022) + 0.012 * np.log(_branch_factor(seed, 1, 1.0)), 0.90, 0.995)
    if codes.index("22") >= 0:
        postal_base[codes.index("22")] = {2022: 0.986, 2023: 0.987}.get(fy, 0.988)
    online_share = 0.05 if month >= "2026-01" else 0.0
    u = rng.random(n)
    p_postal = postal_base[branch_idx] * (1 - online_share)
    channel = np.where(u < online_share, "電子申請", np.where(u < online_share + p_postal, "郵送", "窓口"))
    if fy in SHIZUOKA_KPIS:
        postal = int(_shizuoka_postal(fy, scale, seed)[_fiscal_index(month)])
        channel[shizuoka] = "窓口"
        channel[shizuoka.start : shizuoka.start + postal] = "郵送"
    ym = month.replace("-", "")
    seq = np.arange(n)
    app_id = np.char.add(np.char.add(branch.astype("U2"), ym), np.char.zfill(seq.astype("U7"), 7))
    df = pd.DataFrame(
        {
            "支部コード": branch,
            "申請番号": app_id,
            "給付種別": btype,
            "受付日": received.astype("datetime64[D]").astype(object),
            "決定日": decided.astype(object),
            "支払日": np.where(paid_flag, paid.astype(object), None),
            "受付方法": channel,
            "決定区分": np.where(paid_flag, "支給", "不支給"),
        }
    )
    order = rng.permutation(n)
    return df.iloc[order].reset_index(drop=True)


# --- claims_review ----------------------------------------------------------------------------


def make_claims_review(month: str, scale: float, seed: int) -> pd.DataFrame:
    rng = _rng(seed, FEED_INDEX["claims_review"], *calendar.parse_month_key(month))
    fy = calendar.fiscal_year_of_month(month)
    codes = [b.code for b in branches()]
    counts = _claim_counts(rng, scale)
    n = int(counts.sum())
    branch = np.repeat(np.array(codes), counts)
    rtype = np.array(["内容点検", "資格点検", "外傷点検"])[rng.choice(3, n, p=[CONTENT_REVIEW_SHARE, 0.18, 0.10])]
    shizuoka = slice(int(counts[: _shizuoka_index()].sum()), int(counts[: _shizuoka_index() + 1].sum()))
    review = _shizuoka_review(fy, scale, seed) if fy in SHIZUOKA_KPIS else None
    if review is not None:
        _set_content_rows(rtype[shizuoka], int(review["content"][_fiscal_index(month)]))
    lag = rng.choice(np.arange(1, 15), n, p=np.array([3, 8, 10, 9, 7, 5, 4, 3, 2, 2, 1, 1, 1, 1], dtype=float) / 57)
    service = np.array([calendar.add_months(month, -int(k)) for k in range(0, 15)])[lag]
    claimed = np.maximum(50, rng.lognormal(np.log(5200), 0.9, n)).round().astype(np.int64)
    growth = 1.0 + 0.04 * (fy - 2022)
    p_assess = {"内容点検": 0.40, "資格点検": 0.04, "外傷点検": 0.05}
    p_return = {"内容点検": 0.10, "資格点検": 0.70, "外傷点検": 0.50}
    u = rng.random(n)
    pa = np.vectorize(p_assess.get)(rtype)
    pr = np.vectorize(p_return.get)(rtype)
    outcome = np.where(u < pa, "査定", np.where(u < pa + pr, "返戻", "原審どおり"))
    fraction = np.clip(rng.beta(2, 7, n) * growth, 0.001, 1.0)
    reduced = np.where(outcome == "査定", np.maximum(1, (claimed * fraction).round()), 0).astype(np.int64)
    if review is not None:
        _set_content_points(rtype[shizuoka], outcome[shizuoka], claimed[shizuoka], reduced[shizuoka], int(review["points"][_fiscal_index(month)]))
    ym = month.replace("-", "")
    claim_id = np.char.add("R", np.char.add(np.char.add(branch.astype("U2"), ym), np.char.zfill(np.arange(n).astype("U7"), 7)))
    return pd.DataFrame(
        {
            "支部コード": branch,
            "レセプト番号": claim_id,
            "診療年月": service,
            "点検区分": rtype,
            "請求点数": claimed,
            "査定点数": reduced,
            "結果": outcome,
        }
    )


# --- screenings -------------------------------------------------------------------------------


def _screening_year(fy: int, seed: int) -> dict[str, np.ndarray]:
    """Per-branch eligible populations and annual rates of one fiscal year."""
    w = branch_weights()
    years = fy - 2022
    eligible = {
        "life": 14_600_000 * w * (1 + 0.012 * years) * _branch_factor(seed, 11, 0.05),
        "dependant": 3_300_000 * w * (1 - 0.01 * years) * _branch_factor(seed, 12, 0.05),
        "guid_ins": 2_000_000 * w * (1 + 0.01 * years) * _branch_factor(seed, 13, 0.05),
        "guid_dep": 120_000 * w * _branch_factor(seed, 14, 0.08),
    }
    rates = {
        "life": np.clip((0.575 + 0.021 * years) * _branch_factor(seed, 21, 0.06), 0.3, 0.85),
        "employer": np.clip((0.086 + 0.002 * years) * _branch_factor(seed, 22, 0.35), 0.01, 0.3),
        "dependant": np.clip((0.282 + 0.01 * years) * _branch_factor(seed, 23, 0.08), 0.1, 0.5),
        "guid_ins": np.clip((0.190 + 0.012 * years) * _branch_factor(seed, 24, 0.2), 0.05, 0.5),
        "guid_dep": np.clip((0.160 + 0.01 * years) * _branch_factor(seed, 25, 0.25), 0.03, 0.5),
    }
    s = [b.code for b in branches()].index("22")
    if fy in SHIZUOKA_RATES:
        for k, v in SHIZUOKA_RATES[fy].items():
            rates[k][s] = v
    if fy == 2023:
        for k, v in SHIZUOKA_ELIGIBLE_2023.items():
            eligible[k][s] = v
    return {"eligible": eligible, "rates": rates}


def _allocate(total: np.ndarray, profile: np.ndarray, fm: int, rng: np.random.Generator) -> np.ndarray:
    """This fiscal month's share of an annual total (deterministic rounding of cumulative sums)."""
    cum = np.cumsum(profile) / profile.sum()
    before = np.floor(total * (cum[fm - 1] if fm > 0 else 0.0))
    upto = np.floor(total * cum[fm])
    return (upto - before).astype(np.int64)


def make_screenings(month: str, seed: int) -> pd.DataFrame:
    fy = calendar.fiscal_year_of_month(month)
    fm = _fiscal_index(month)
    rng = _rng(seed, FEED_INDEX["screenings"], *calendar.parse_month_key(month))
    year = _screening_year(fy, seed)
    elig, rates = year["eligible"], year["rates"]
    known = 0.985 + 0.015 * fm / 11  # the eligible population as known this month (a stock)
    rows = []
    plan = [
        ("被保険者", "生活習慣病予防健診", "life", "life", PROFILE_SCREENING),
        ("被保険者", "事業者健診データ取得", "life", "employer", PROFILE_EMPLOYER),
        ("被扶養者", "特定健診", "dependant", "dependant", PROFILE_SCREENING),
        ("被保険者", "特定保健指導", "guid_ins", "guid_ins", PROFILE_GUIDANCE),
        ("被扶養者", "特定保健指導", "guid_dep", "guid_dep", PROFILE_GUIDANCE),
    ]
    codes = [b.code for b in branches()]
    for population, program, ekey, rkey, profile in plan:
        annual_eligible = np.round(elig[ekey]).astype(np.int64)
        eligible_now = np.round(annual_eligible * known).astype(np.int64)
        completed = _allocate(annual_eligible * rates[rkey], profile, fm, rng)
        for i, code in enumerate(codes):
            rows.append((code, population, program, int(eligible_now[i]), int(completed[i])))
    return pd.DataFrame(rows, columns=["支部コード", "区分", "事業", "対象者数", "実施者数"])


# --- indicators -------------------------------------------------------------------------------


def make_indicators(month: str, scale: float, seed: int) -> pd.DataFrame:
    fy = calendar.fiscal_year_of_month(month)
    fm = _fiscal_index(month)
    years = fy - 2022
    rng = _rng(seed, FEED_INDEX["indicators"], *calendar.parse_month_key(month))
    w = branch_weights()
    codes = [b.code for b in branches()]
    shizuoka = codes.index("22")
    n = 47
    noise = lambda sd=0.03: np.exp(rng.normal(0, sd, n))  # noqa: E731
    v: dict[str, np.ndarray] = {}
    v["medical_cost_total"] = np.round(580e9 * scale * w * noise())
    # The association's own content review reductions are ≈0.17% of medical costs; the fund's ≈0.28%.
    v["fund_assessment_amount"] = np.round(v["medical_cost_total"] * 0.0028 * noise(0.1))
    gen_share = np.clip(0.815 + 0.007 * years + 0.006 * fm / 11 + 0.02 * np.log(_branch_factor(seed, 31, 1.0)), 0.70, 0.95)
    if fy in SHIZUOKA_KPIS:
        gen_share[shizuoka] = SHIZUOKA_KPIS[fy]["generic"] + 0.002 * (fm - 11) / 11
    v["generic_eligible_qty"] = np.round(1.1e9 * w * noise())
    v["generic_qty"] = np.round(v["generic_eligible_qty"] * gen_share)
    v["generic_eligible_amount"] = np.round(95e9 * w * noise())
    v["generic_amount"] = np.round(v["generic_eligible_amount"] * np.clip(gen_share - 0.25, 0.3, 0.9))
    size = _branch_factor(seed, 32, 0.1)
    hd_national = 81_526 + 17_000 * (years + (fm + 1) / 12)
    v["health_declaration_offices"] = np.round(hd_national * w * size)
    v["insured_total"] = np.round(25_100_000 * w * (1 + 0.004 * years))
    committee_share = np.clip(0.505 + 0.004 * years + 0.03 * np.log(_branch_factor(seed, 33, 1.0)), 0.3, 0.8)
    if fy in SHIZUOKA_KPIS:
        committee_share[shizuoka] = SHIZUOKA_KPIS[fy]["committee"]
    v["committee_insured"] = np.round(v["insured_total"] * committee_share)
    v["committee_offices"] = np.round((270_116 + 6_000 * (years + (fm + 1) / 12)) * w * size)
    v["line_posts"] = rng.integers(1, 5, n) if fy >= 2024 else np.zeros(n)
    if fy >= 2024:
        v["line_posts"][rng.random(n) < 0.02] = 0  # an occasional month without a post
    v["procurement_competitive"] = rng.poisson(1.0 * np.sqrt(w * 47), n)
    v["procurement_single_bid"] = rng.binomial(v["procurement_competitive"].astype(np.int64), 0.09)
    v["card_loss_cases"] = np.round(180_000 * w * noise(0.05))
    v["card_recovered_1m"] = np.round(v["card_loss_cases"] * np.clip(0.86 + 0.03 * np.log(_branch_factor(seed, 34, 1.0)) + rng.normal(0, 0.01, n), 0.5, 0.99))
    # Returned-benefit receivables are yen amounts of the same economy as 医療費総額 (≈0.07% of it),
    # so they follow the scale too and 医療費総額に占める資格喪失後受診に伴う返納金の割合 stays ≈0.05%.
    v["receivable_due"] = np.round(4.1e8 * scale * w * noise(0.15))
    v["receivable_collected"] = np.round(v["receivable_due"] * np.clip(rng.normal(0.61, 0.05, n), 0.3, 0.95))
    v["receivable_post_loss_due"] = np.round(v["receivable_due"] * 0.7)
    v["receivable_post_loss_collected"] = np.round(v["receivable_post_loss_due"] * np.clip(rng.normal(0.63, 0.05, n), 0.3, 0.95))
    v["judo_applications"] = np.round(1_000_000 * w * noise(0.05))
    v["judo_multi_frequent"] = np.round(v["judo_applications"] * np.clip(0.0055 - 0.0002 * years + rng.normal(0, 0.0005, n), 0.001, 0.02))
    v["dependant_check_offices"] = np.round(1_150_000 * w * size)
    returned_share = np.clip(0.30 + 0.65 * min(1.0, max(0.0, (fm - 4) / 6)), 0.30, 0.95)
    v["dependant_check_returned"] = np.round(v["dependant_check_offices"] * returned_share * np.clip(rng.normal(1.0, 0.01, n), 0.9, 1.0))
    v["untreated_notified"] = np.round(52_000 * w * noise(0.05))
    v["untreated_visited_10m"] = np.round(v["untreated_notified"] * np.clip(0.33 + 0.005 * years + rng.normal(0, 0.01, n), 0.1, 0.8))
    v["untreated_visited_3m"] = np.round(v["untreated_notified"] * np.clip(0.11 + rng.normal(0, 0.005, n), 0.02, 0.5))
    v["opinion_statements"] = rng.poisson(0.3, n)
    if fm == 0:  # reported once a year, in the April file (indicator_codes.csv report_month)
        v.update(_guidance_cohort(fy, seed))
    if fy in SHIZUOKA_KPIS:
        _calibrate_shizuoka_indicators(v, fy, fm, scale, seed, returned_share)
    rows = []
    for ind in indicators():
        if ind.national_only or not ind.expected_in(month):
            continue
        vals = v[ind.code]
        for i, code in enumerate(codes):
            rows.append((code, ind.code, float(vals[i])))
    rows.append((NATIONAL_CODE, "biosimilar_ingredients", 30.0))
    rows.append((NATIONAL_CODE, "biosimilar_80pct_ingredients", float(4 + years + (1 if fm >= 6 else 0))))
    rows.append((NATIONAL_CODE, "website_visits", float(round(11_300_000 * (1 + 0.05 * years) * np.exp(rng.normal(0, 0.05))))))
    return pd.DataFrame(rows, columns=["支部コード", "指標コード", "値"])


def _guidance_cohort(fy: int, seed: int) -> dict[str, np.ndarray]:
    """特定保健指導対象者の減少率's two counts, reported in the April file of ``fy``: those who were
    specific-guidance targets in FY ``fy``-2 and were screened again in FY ``fy``-1, and among them
    those no longer targets. About 65% of a year's targets are screened the next year; about a fifth
    of them are no longer targets, the share differing by branch and moving a little every year
    (its own random stream, so the other indicators' values do not change)."""
    w = branch_weights()
    years = fy - 2022
    screened = np.round(1_380_000 * w * (1 + 0.01 * years) * _branch_factor(seed, 41, 0.05))
    year_noise = _rng(seed, 7_014, fy).normal(0, 0.006, 47)
    share = np.clip((0.195 + 0.002 * years) * _branch_factor(seed, 42, 0.07) + year_noise, 0.08, 0.4)
    return {"guidance_cohort_screened": screened, "guidance_cohort_no_longer_target": np.round(screened * share)}


# --- writing ----------------------------------------------------------------------------------


def make_feed(feed: str, month: str, scale: float, seed: int) -> pd.DataFrame:
    if feed == "benefits":
        return make_benefits(month, scale, seed)
    if feed == "claims_review":
        return make_claims_review(month, scale, seed)
    if feed == "screenings":
        return make_screenings(month, seed)
    if feed == "indicators":
        return make_indicators(month, scale, seed)
    raise KeyError(feed)


def _styled(feed: str, df: pd.DataFrame, style: FileStyle) -> pd.DataFrame:
    """Apply the file's value forms (text CSV cells)."""
    out = df.copy()
    layout = feed_layout(feed)
    for col in layout.columns:
        s = out[col.name]
        if col.type == "date":
            out[col.name] = [format_date(d, style.date_style) if d is not None and not pd.isna(d) else "" for d in s]
        elif col.type == "month":
            out[col.name] = [format_month(m, style.date_style) for m in s]
        elif col.type == "branch_code":
            out[col.name] = [format_branch(c, style.branch_style) for c in s]
        elif col.type in ("integer", "number"):
            out[col.name] = [format_number(x, style.number_style) for x in s]
    return out


def write_feed_file(folder: Path, feed: str, month: str, df: pd.DataFrame, style: FileStyle) -> Path:
    target_dir = Path(folder) / feed
    target_dir.mkdir(parents=True, exist_ok=True)
    stem = month.replace("-", "")
    for old in target_dir.glob(f"{stem}.*"):
        old.unlink()
    if style.file_format == "xlsx":
        from openpyxl import Workbook

        path = target_dir / f"{stem}.xlsx"
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(feed)
        ws.append([])  # exports often start with a blank row: the header is the first non-empty row
        ws.append(list(df.columns))
        layout = feed_layout(feed)
        kinds = [layout.columns[[c.name for c in layout.columns].index(name)].type for name in df.columns]
        for row in df.itertuples(index=False):
            cells = []
            for kind, value in zip(kinds, row):
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    cells.append(None)
                elif kind == "branch_code":
                    cells.append(format_branch(value, style.branch_style))
                elif kind == "month":
                    cells.append(value.replace("-", ""))
                elif kind in ("integer", "number"):
                    cells.append(int(value) if float(value).is_integer() else float(value))
                elif kind == "date":
                    cells.append(value if isinstance(value, dt.date) else pd.Timestamp(value).date())
                else:
                    cells.append(value)
            ws.append(cells)
        wb.save(path)
        _make_reproducible(path, calendar.month_start(calendar.add_months(month, 1)))
        return path
    path = target_dir / f"{stem}.csv"
    _styled(feed, df, style).to_csv(path, index=False, encoding=style.encoding, lineterminator="\r\n" if style.encoding == "cp932" else "\n")
    return path


def _make_reproducible(path: Path, when: dt.date) -> None:
    """Give an .xlsx fixed timestamps (document properties and zip entries) so that the same seed
    always writes the same bytes."""
    import re
    import zipfile

    stamp = f"{when.isoformat()}T07:00:00Z"
    with zipfile.ZipFile(path) as src:
        entries = [(info.filename, src.read(info.filename)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(<)", rb"\g<1>" + stamp.encode() + rb"\g<2>", data)
            info = zipfile.ZipInfo(name, date_time=(when.year, when.month, when.day, 7, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)


def write_sample(
    out: Path,
    from_fy: int,
    to_fy: int,
    scale: float = 0.05,
    seed: int = 1,
    feeds: tuple[str, ...] = FEED_IDS,
    months: list[str] | None = None,
    progress=None,
) -> list[Path]:
    """Write every feed for every month of the fiscal years ``from_fy`` … ``to_fy`` (or ``months``)."""
    if to_fy < from_fy:
        raise ValueError(f"--to-fy {to_fy} is before --from-fy {from_fy}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    months = months or [m for fy in range(from_fy, to_fy + 1) for m in calendar.fiscal_months(fy)]
    written = []
    for i, month in enumerate(months, start=1):
        for feed in feeds:
            df = make_feed(feed, month, scale, seed)
            written.append(write_feed_file(Path(out), feed, month, df, file_style(feed, month, scale)))
        if progress:
            progress(i, len(months), month)
    return written
