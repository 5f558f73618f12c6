"""Fiscal calendar, Japanese eras and business days (shared spec/domain.md, spec/kpis.md §2).

- A fiscal year (年度) runs April 1 – March 31 and is named by the calendar year it starts in:
  FY2024 = 令和6年度 = 2024-04-01 … 2025-03-31.
- Months are handled as ``"YYYY-MM"`` strings everywhere outside parsing.
- A business day is Monday–Friday that is neither a Japanese national holiday (substitute and
  citizens' holidays included, from the maintained ``holidays`` package) nor December 29 – January 3.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np

# --- months and fiscal years -------------------------------------------------------------------

FISCAL_MONTH_ORDER = (4, 5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 3)


def month_key(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def parse_month_key(key: str) -> tuple[int, int]:
    """``"2024-04"`` → ``(2024, 4)``; raises ValueError for anything else."""
    if len(key) != 7 or key[4] != "-":
        raise ValueError(f"not a YYYY-MM month: {key!r}")
    year, month = int(key[:4]), int(key[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"not a real month: {key!r}")
    return year, month


def add_months(key: str, n: int) -> str:
    y, m = parse_month_key(key)
    idx = y * 12 + (m - 1) + n
    return month_key(idx // 12, idx % 12 + 1)


def month_start(key: str) -> dt.date:
    y, m = parse_month_key(key)
    return dt.date(y, m, 1)


def month_end(key: str) -> dt.date:
    return month_start(add_months(key, 1)) - dt.timedelta(days=1)


def fiscal_year_of_month(key: str) -> int:
    y, m = parse_month_key(key)
    return y if m >= 4 else y - 1


def fiscal_year_of_date(d: dt.date) -> int:
    return d.year if d.month >= 4 else d.year - 1


def fiscal_months(fy: int) -> list[str]:
    """The twelve months of a fiscal year in order: April of ``fy`` … March of ``fy + 1``."""
    return [month_key(fy if m >= 4 else fy + 1, m) for m in FISCAL_MONTH_ORDER]


def months_between(first: str, last: str) -> list[str]:
    """Inclusive list of months ``first`` … ``last``."""
    if first > last:
        raise ValueError(f"{first} is after {last}")
    out = [first]
    while out[-1] != last:
        out.append(add_months(out[-1], 1))
    return out


# --- eras ----------------------------------------------------------------------------------------

REIWA_START = dt.date(2019, 5, 1)
HEISEI_START = dt.date(1989, 1, 8)
HEISEI_END = dt.date(2019, 4, 30)
ERA_OFFSETS = {"令和": 2018, "平成": 1988}
ERA_RANGES = {"令和": (REIWA_START, dt.date.max), "平成": (HEISEI_START, HEISEI_END)}


def _era_year_text(n: int) -> str:
    return "元" if n == 1 else str(n)


def era_of_date(d: dt.date) -> tuple[str, int]:
    if d >= REIWA_START:
        return "令和", d.year - 2018
    if d >= HEISEI_START:
        return "平成", d.year - 1988
    raise ValueError(f"{d} is before 平成")


def fiscal_year_label_ja(fy: int) -> str:
    """FY2024 → ``令和6年度``; FY2019 → ``令和元年度``; FY2018 → ``平成30年度``.

    A fiscal year is named after the era of its start; FY2019 (April 2019) is customarily called
    令和元年度 although April 2019 was still 平成, as the association's own documents do.
    """
    if fy >= 2019:
        return f"令和{_era_year_text(fy - 2018)}年度"
    return f"平成{_era_year_text(fy - 1988)}年度"


def fiscal_year_label(fy: int) -> str:
    """``FY2024（令和6年度）`` — the form used by the command line and the UI."""
    return f"FY{fy}（{fiscal_year_label_ja(fy)}）"


def parse_fiscal_year(text: str) -> int:
    """A fiscal year as people write it: ``2024``, ``FY2024``, ``2024年度``, ``令和6``, ``令和6年度``,
    ``R6``, ``令和元年度``, ``平成30年度`` (full-width characters too) → ``2024``. Raises ValueError
    with a Japanese sentence for anything else."""
    import re
    import unicodedata

    s = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text)))
    if m := re.fullmatch(r"(?:FY)?(\d{4})(?:年度)?", s, flags=re.IGNORECASE):
        return int(m[1])
    if m := re.fullmatch(r"(令和|平成|R|H)(元|\d{1,2})(?:年度?)?", s, flags=re.IGNORECASE):
        era = {"R": "令和", "H": "平成"}.get(m[1].upper(), m[1])
        n = 1 if m[2] == "元" else int(m[2])
        if n >= 1 and (era == "令和" or n <= 31):
            return ERA_OFFSETS[era] + n
    raise ValueError(f"年度は 2024、FY2024、令和6、令和6年度 のいずれかの形で指定してください（指定値: {text!r}）")


JAPAN_ZONE = "Asia/Tokyo"
JAPAN_ZONE_LABEL = "日本時間"


def japan_time(value: object) -> str:
    """A moment the warehouse recorded (``feed_loads.loaded_at``: UTC, returned without its zone by
    SQLite) as Japan time, ``2024-05-08 18:30``; empty for no value. Whoever shows it names the zone
    (``JAPAN_ZONE_LABEL``)."""
    import pandas as pd

    if value is None or (isinstance(value, float) and value != value):
        return ""
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return ""
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(JAPAN_ZONE).strftime("%Y-%m-%d %H:%M")


def month_label_ja(key: str) -> str:
    """``2025-03`` → ``令和7年3月`` (the era of the month's first day... except May 2019 onward is 令和)."""
    y, m = parse_month_key(key)
    first = dt.date(y, m, 1)
    era, n = era_of_date(first)
    return f"{era}{_era_year_text(n)}年{m}月"


def month_label(key: str) -> str:
    """``2025-03（令和7年3月）``."""
    return f"{key}（{month_label_ja(key)}）"


# --- business days -------------------------------------------------------------------------------

_HOLIDAY_YEARS = range(2010, 2041)


@lru_cache(maxsize=1)
def non_working_days() -> np.ndarray:
    """Sorted ``datetime64[D]`` array of national holidays plus December 29 – January 3.

    Weekends are handled by numpy's weekmask; this array lists the weekday closures only (numpy
    ignores holidays that fall on a weekend anyway).
    """
    import holidays  # maintained library; includes substitute (振替休日) and citizens' (国民の休日) holidays

    days: set[dt.date] = set(holidays.Japan(years=_HOLIDAY_YEARS).keys())
    for year in _HOLIDAY_YEARS:
        for day in (29, 30, 31):
            days.add(dt.date(year, 12, day))
        for day in (1, 2, 3):
            days.add(dt.date(year, 1, day))
    return np.array(sorted(days), dtype="datetime64[D]")


@lru_cache(maxsize=1)
def _busdaycal() -> np.busdaycalendar:
    return np.busdaycalendar(weekmask="1111100", holidays=non_working_days())


def is_business_day(d: dt.date) -> bool:
    if not (_HOLIDAY_YEARS.start <= d.year < _HOLIDAY_YEARS.stop):
        raise ValueError(f"{d}: business days are known for {_HOLIDAY_YEARS.start}–{_HOLIDAY_YEARS.stop - 1}")
    return bool(np.is_busday(np.datetime64(d, "D"), busdaycal=_busdaycal()))


def business_days_between(start, end) -> np.ndarray:
    """Number of business days *d* with ``start < d <= end`` (所要日数, spec/kpis.md §2), vectorised.

    ``start`` and ``end`` are array-likes of dates (``datetime64`` or ``date``). The day of receipt is
    day 0, so a payment on the day of receipt takes 0 days. ``numpy.busday_count`` counts
    ``[begin, end)``; shifting both ends by one day gives ``(start, end]``.
    """
    s = np.asarray(start, dtype="datetime64[D]") + np.timedelta64(1, "D")
    e = np.asarray(end, dtype="datetime64[D]") + np.timedelta64(1, "D")
    return np.busday_count(s, e, busdaycal=_busdaycal())


def add_business_days(d: dt.date, n: int) -> dt.date:
    """The business day ``n`` business days after ``d`` (``n`` may be negative)."""
    out = np.busday_offset(np.datetime64(d, "D"), n, roll="forward" if n >= 0 else "backward", busdaycal=_busdaycal())
    return out.astype(dt.date)


def business_days_in_month(key: str) -> list[dt.date]:
    start, end = month_start(key), month_end(key)
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    mask = np.is_busday(days, busdaycal=_busdaycal())
    return [d.astype(dt.date) for d in days[mask]]
