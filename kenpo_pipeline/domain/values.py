"""Cell-level parsing of feed values (shared spec/feeds.md "Common rules").

Each ``parse_*`` function takes a Series of raw cells (text from a CSV; text, numbers or datetimes
from Excel) and returns ``(values, errors)``: the typed values (missing where the cell is empty or
could not be read) and, aligned with them, a Japanese reason for every cell that could not be read
(``None`` elsewhere). Empty cells are not errors here: whether a column may be empty is a row rule
of the feed's Great Expectations suite.

Columns have few distinct values (dates, codes), so every function parses each distinct value once
(``pandas.factorize``) and maps the result back — fast on national volumes.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

from kenpo_pipeline.domain.calendar import ERA_OFFSETS, ERA_RANGES, HEISEI_START, REIWA_START, month_key

Parsed = tuple[object, str | None]  # (value or None, reason or None)


def normalise_text(value: object) -> str | None:
    """NFKC + trim; ``None`` for an empty cell."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, (dt.datetime, dt.date)):
        text = value.isoformat()
    else:
        text = str(value)
    text = unicodedata.normalize("NFKC", text).strip()
    return text or None


def normalise_header(value: object) -> str:
    return normalise_text(value) or ""


def raw_text(value: object) -> str:
    """How a cell is shown back to a person in a quarantine record (never interpreted)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _map_unique(series: pd.Series, parse_one: Callable[[object], Parsed]) -> tuple[np.ndarray, np.ndarray]:
    """Parse each distinct cell once and spread the results back (a month has few distinct dates,
    codes and labels, however many rows): object arrays of values and of errors."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    parsed = [parse_one(u) for u in uniques]
    values_u = np.empty(len(parsed) + 1, dtype=object)  # the last slot is for index -1 (NA)
    errors_u = np.empty(len(parsed) + 1, dtype=object)
    values_u[:-1] = [p[0] for p in parsed]
    errors_u[:-1] = [p[1] for p in parsed]
    return values_u[codes], errors_u[codes]


# --- text and codes ---------------------------------------------------------------------------


def parse_text(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, errors = _map_unique(series, lambda v: (normalise_text(v), None))
    return pd.Series(values, index=series.index, dtype="object"), pd.Series(errors, index=series.index, dtype="object")


def _branch_code(value: object) -> Parsed:
    text = normalise_text(value)
    if text is None:
        return None, None
    if re.fullmatch(r"\d{1,2}", text):
        return f"{int(text):02d}", None
    # Not a code at all: kept as written so the suite's value-set rule names it.
    return text, None


def parse_branch_codes(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, errors = _map_unique(series, _branch_code)
    return pd.Series(values, index=series.index, dtype="object"), pd.Series(errors, index=series.index, dtype="object")


# --- numbers ----------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def _number(value: object) -> Parsed:
    if isinstance(value, bool):
        return None, "数値として読めません"
    if isinstance(value, (int, np.integer)):
        return float(value), None
    if isinstance(value, (float, np.floating)):
        return (None, None) if math.isnan(value) else (float(value), None)
    text = normalise_text(value)
    if text is None:
        return None, None
    text = text.replace(" ", "")
    if not _NUMBER.fullmatch(text):
        return None, "数値として読めません"
    return float(text.replace(",", "")), None


def _integer(value: object) -> Parsed:
    number, error = _number(value)
    if error or number is None:
        return number, error.replace("数値", "整数") if error else None
    if not float(number).is_integer():
        return None, "整数ではありません"
    return int(number), None


def parse_numbers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, errors = _map_unique(series, _number)
    return pd.Series(values, index=series.index, dtype="float64"), pd.Series(errors, index=series.index, dtype="object")


def parse_integers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, errors = _map_unique(series, _integer)
    return pd.Series(values, index=series.index, dtype="Int64"), pd.Series(errors, index=series.index, dtype="object")


# --- dates ------------------------------------------------------------------------------------

_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?")
_SLASH = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?: 00:00(?::00)?)?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_ERA_DATE = re.compile(r"(令和|平成|[RrHh])\s*(元|\d{1,2})\s*[年./\-]\s*(\d{1,2})\s*[月./\-]\s*(\d{1,2})\s*日?")
_ERA_NAMES = {"R": "令和", "r": "令和", "H": "平成", "h": "平成", "令和": "令和", "平成": "平成"}

_ERA_REASON = {
    "令和": "令和の期間外の日付です（令和は2019年5月1日から）",
    "平成": "平成の期間外の日付です（平成は2019年4月30日まで）",
}


def _era_year(era: str, year_text: str) -> int:
    return ERA_OFFSETS[era] + (1 if year_text == "元" else int(year_text))


def _date(value: object) -> Parsed:
    if isinstance(value, dt.datetime):
        return pd.Timestamp(value.date()), None
    if isinstance(value, dt.date):
        return pd.Timestamp(value), None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return None, None
        if not float(value).is_integer():
            return None, "日付として読めません"
        value = str(int(value))  # e.g. 20240401 typed into a number cell
    text = normalise_text(value)
    if text is None:
        return None, None
    era = None
    m = _ISO.fullmatch(text) or _SLASH.fullmatch(text) or _COMPACT.fullmatch(text)
    if m:
        year, month, day = int(m[1]), int(m[2]), int(m[3])
    else:
        m = _ERA_DATE.fullmatch(text)
        if not m:
            return None, "日付として読めません"
        era = _ERA_NAMES[m[1]]
        year, month, day = _era_year(era, m[2]), int(m[3]), int(m[4])
    try:
        d = dt.date(year, month, day)
    except ValueError:
        return None, "存在しない日付です"
    if era is not None:
        lo, hi = ERA_RANGES[era]
        if not lo <= d <= hi:
            return None, _ERA_REASON[era]
    return pd.Timestamp(d), None


def parse_dates(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    parsed = [_date(u) for u in uniques]
    values_u = np.empty(len(parsed) + 1, dtype="datetime64[ns]")  # the last slot is for index -1 (NA)
    values_u[:-1] = [np.datetime64("NaT") if p[0] is None else p[0].to_datetime64() for p in parsed]
    values_u[-1] = np.datetime64("NaT")
    errors_u = np.empty(len(parsed) + 1, dtype=object)
    errors_u[:-1] = [p[1] for p in parsed]
    return pd.Series(values_u[codes], index=series.index), pd.Series(errors_u[codes], index=series.index, dtype="object")


# --- months -----------------------------------------------------------------------------------

_MONTH_COMPACT = re.compile(r"(\d{4})(\d{2})")
_MONTH_SEP = re.compile(r"(\d{4})[-/](\d{1,2})")
_ERA_MONTH = re.compile(r"(令和|平成|[RrHh])\s*(元|\d{1,2})\s*[年./\-]\s*(\d{1,2})\s*月?")
_MONTH_ERA_REASON = {
    "令和": "令和の期間外の年月です（令和は2019年5月から）",
    "平成": "平成の期間外の年月です（平成は2019年4月まで）",
}


def _month(value: object) -> Parsed:
    if isinstance(value, (dt.datetime, dt.date)):
        return month_key(value.year, value.month), None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return None, None
        if not float(value).is_integer():
            return None, "年月として読めません"
        value = str(int(value))  # 202404 typed into a number cell
    text = normalise_text(value)
    if text is None:
        return None, None
    era = None
    m = _MONTH_COMPACT.fullmatch(text) or _MONTH_SEP.fullmatch(text)
    if m:
        year, month = int(m[1]), int(m[2])
    else:
        m = _ERA_MONTH.fullmatch(text)
        if not m:
            return None, "年月として読めません"
        era = _ERA_NAMES[m[1]]
        year, month = _era_year(era, m[2]), int(m[3])
    if not 1 <= month <= 12:
        return None, "存在しない年月です"
    if era == "令和" and (year, month) < (REIWA_START.year, REIWA_START.month):
        return None, _MONTH_ERA_REASON[era]
    if era == "平成" and not ((HEISEI_START.year, HEISEI_START.month) <= (year, month) <= (2019, 4)):
        return None, _MONTH_ERA_REASON[era]
    return month_key(year, month), None


def parse_months(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, errors = _map_unique(series, _month)
    return pd.Series(values, index=series.index, dtype="object"), pd.Series(errors, index=series.index, dtype="object")


PARSERS: dict[str, Callable[[pd.Series], tuple[pd.Series, pd.Series]]] = {
    "branch_code": parse_branch_codes,
    "text": parse_text,
    "date": parse_dates,
    "month": parse_months,
    "integer": parse_integers,
    "number": parse_numbers,
}

TYPE_REASON = {
    "date": "日付",
    "month": "年月",
    "integer": "整数",
    "number": "数値",
}
