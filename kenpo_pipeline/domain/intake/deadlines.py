"""When a feed month is late: its file has not loaded by a set day of the following month.

The day is ``KENPO_LATE_FEED_DAY`` (default the 20th; the monthly schedule runs on the 10th, so a
feed has ten days' grace after it). A month counts as late from that day's 00:00 Asia/Tokyo. Only
months of the previous and the current fiscal year are considered: older gaps are history, not news.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from kenpo_pipeline.domain.calendar import fiscal_year_of_month

TOKYO = ZoneInfo("Asia/Tokyo")
DEFAULT_LATE_DAY = 20


def deadline(month: str, late_day: int = DEFAULT_LATE_DAY) -> dt.datetime:
    """The moment ``month``'s feeds become late: ``late_day`` of the following month, 00:00 JST."""
    if not 1 <= late_day <= 28:
        raise ValueError(f"the late-feed day must be between 1 and 28, got {late_day}")
    y, m = int(month[:4]), int(month[5:7])
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return dt.datetime(y, m, late_day, tzinfo=TOKYO)


def months_due(now: dt.datetime, late_day: int = DEFAULT_LATE_DAY, first_month: str = "2020-04") -> list[str]:
    """Months whose deadline has passed at ``now``, from the start of the previous fiscal year."""
    now = now.astimezone(TOKYO)
    current_month = f"{now.year:04d}-{now.month:02d}"
    start_fy = fiscal_year_of_month(current_month) - 1
    start = max(f"{start_fy:04d}-04", first_month)
    out = []
    y, m = int(start[:4]), int(start[5:7])
    while True:
        key = f"{y:04d}-{m:02d}"
        if key >= current_month or deadline(key, late_day) > now:
            break
        out.append(key)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def late_feed_months(
    now: dt.datetime, loaded: set[tuple[str, str]], feeds: list[str], late_day: int = DEFAULT_LATE_DAY, first_month: str = "2020-04"
) -> list[tuple[str, str]]:
    """(feed, month) pairs past their deadline with no loaded file, oldest month first."""
    return [(feed, month) for month in months_due(now, late_day, first_month) for feed in feeds if (feed, month) not in loaded]
