"""Cell-level parsing of feed values (shared spec/feeds.md "Common rules").

Each ``parse_*`` function takes a Series of raw cells (text from a CSV; text, numbers or datetimes
from Excel) and returns ``(values, errors)``: the typed values (missing where the cell is empty or
could not be read) and, aligned with them, a Japanese reason for every cell that could not be read
(``None`` elsewhere). Empty cells are not errors here: whether a column may be empty is a row rule
of the feed's Great Expectations suite.

Every value is checked against its bounds *while* it is parsed, before anything else is done with
it: integers are read exactly (never through a float) and must lie within ``lo``…``hi`` (the
layout's plausible range, always inside int64); numbers must be finite and within their bounds;
dates and months must lie within 1900-01-01 … 2100-12-31 before a Timestamp is built (pandas'
nanosecond dates end in 2262 and would wrap silently). A value outside its bounds is a row error
whose reason names the bound. With ``control=True`` a cell holding a C0 control character or DEL
is a row error too (no field of a feed holds one; tabs and line breaks inside a cell included).

Normalisation (NFKC, full-width digits, trimming) applies to codes, numbers, dates and months only;
``text`` cells (申請番号, レセプト番号) are kept as sent apart from surrounding whitespace.

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
from kenpo_pipeline.domain.reference import DATE_MAX, DATE_MIN, INT64_MAX, INT64_MIN, MONTH_MAX, MONTH_MIN

Parsed = tuple[object, str | None]  # (value or None, reason or None)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_NAMES = {"\t": "タブ", "\n": "改行", "\r": "復帰（CR）", "\x00": "NUL", "\x7f": "DEL"}


def control_reason(text: str) -> str | None:
    """The row-error reason for a cell holding a C0 control character or DEL, else None."""
    m = _CONTROL.search(text)
    if m is None:
        return None
    ch = m[0]
    name = _CONTROL_NAMES.get(ch)
    code = f"U+{ord(ch):04X}"
    return f"制御文字（{name} {code}）が含まれています" if name else f"制御文字（{code}）が含まれています"


def shown_text(text: str, limit: int = 200) -> str:
    """A cell or line as shown back to a person: control characters made visible (``\\n``,
    ``\\x07``), and cut at ``limit`` characters (the quarantine's ``record`` keeps the whole row)."""
    if _CONTROL.search(text):
        text = _CONTROL.sub(lambda m: repr(m[0])[1:-1], text)
    if len(text) > limit:
        text = f"{text[:limit]}…（全{len(text):,}文字）"
    return text


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


def _checked(parse_one: Callable[[object], Parsed], control: bool) -> Callable[[object], Parsed]:
    if not control:
        return parse_one

    def parse(value: object) -> Parsed:
        if isinstance(value, str):
            reason = control_reason(value)
            if reason:
                return None, reason
        return parse_one(value)

    return parse


def _map_unique(series: pd.Series, parse_one: Callable[[object], Parsed], control: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Parse each distinct cell once and spread the results back (a month has few distinct dates,
    codes and labels, however many rows): object arrays of values and of errors."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    parse_one = _checked(parse_one, control)
    parsed = [parse_one(u) for u in uniques]
    values_u = np.empty(len(parsed) + 1, dtype=object)  # the last slot is for index -1 (NA)
    errors_u = np.empty(len(parsed) + 1, dtype=object)
    values_u[:-1] = [p[0] for p in parsed]
    errors_u[:-1] = [p[1] for p in parsed]
    return values_u[codes], errors_u[codes]


def _series(values: np.ndarray, errors: np.ndarray, index: pd.Index, dtype: str = "object") -> tuple[pd.Series, pd.Series]:
    return pd.Series(values, index=index, dtype=dtype), pd.Series(errors, index=index, dtype="object")


# --- text and codes ---------------------------------------------------------------------------


def _text(value: object) -> Parsed:
    """As sent, without surrounding whitespace (an Excel number cell as its digits)."""
    text = value.strip() if isinstance(value, str) else raw_text(value).strip()
    return (text or None), None


def parse_text(series: pd.Series, *, control: bool = False, **_bounds) -> tuple[pd.Series, pd.Series]:
    """Free text (申請番号, レセプト番号): kept as sent — `ID①` stays `ID①`, `㈱` stays `㈱`."""
    values, errors = _map_unique(series, _text, control)
    return _series(values, errors, series.index)


def parse_codes(series: pd.Series, *, control: bool = False, **_bounds) -> tuple[pd.Series, pd.Series]:
    """An enumerated value (給付種別, 区分, 指標コード …): NFKC + trim, so that full-width and
    half-width variants match the suite's value set."""
    values, errors = _map_unique(series, lambda v: (normalise_text(v), None), control)
    return _series(values, errors, series.index)


def _branch_code(value: object) -> Parsed:
    text = normalise_text(value)
    if text is None:
        return None, None
    if re.fullmatch(r"\d{1,2}", text):
        return f"{int(text):02d}", None
    # Not a code at all: kept as written so the suite's value-set rule names it.
    return text, None


def parse_branch_codes(series: pd.Series, *, control: bool = False, **_bounds) -> tuple[pd.Series, pd.Series]:
    values, errors = _map_unique(series, _branch_code, control)
    return _series(values, errors, series.index)


# --- numbers ----------------------------------------------------------------------------------

_NUMBER = re.compile(r"([+-]?)((?:\d{1,3}(?:,\d{3})+|\d+))(?:\.(\d+))?")


def _shown_bound(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}"


def _bound_reason(label: str, value, lo, hi) -> str | None:
    if hi is not None and value > hi:
        return f"{label}が上限（{_shown_bound(hi)}）を超えています"
    if lo is not None and value < lo:
        return f"{label}が下限（{_shown_bound(lo)}）を下回っています"
    return None


def _number_text(value: object) -> tuple[re.Match | None, str | None]:
    text = normalise_text(value)
    if text is None:
        return None, None
    return _NUMBER.fullmatch(text.replace(" ", "")), text


def _number(value: object, label: str, lo: float | None, hi: float | None) -> Parsed:
    if isinstance(value, bool):
        return None, "数値として読めません"
    if isinstance(value, (int, np.integer)):
        number = float(value)
    elif isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None, None
        number = float(value)
    else:
        m, text = _number_text(value)
        if text is None:
            return None, None
        if m is None:
            return None, "数値として読めません"
        number = float(text.replace(" ", "").replace(",", ""))  # a huge digit string becomes inf: caught below
    if math.isnan(number):
        return None, "数値として読めません"
    if math.isinf(number):
        bound = hi if number > 0 else lo
        if bound is not None:
            return None, _bound_reason(label, number, lo, hi)
        return None, "有限の数値ではありません"
    reason = _bound_reason(label, number, lo, hi)
    return (None, reason) if reason else (number, None)


def _integer(value: object, label: str, lo: int, hi: int) -> Parsed:
    """Exact: a cell's digits become a Python int (never a float on the way), then the bounds."""
    if isinstance(value, bool):
        return None, "整数として読めません"
    if isinstance(value, (int, np.integer)):
        number = int(value)
    elif isinstance(value, (float, np.floating)):  # an Excel number cell
        if math.isnan(value):
            return None, None
        if math.isinf(value):
            return None, _bound_reason(label, value, lo, hi)
        if not float(value).is_integer():
            return None, "整数ではありません"
        number = int(value)
    else:
        m, text = _number_text(value)
        if text is None:
            return None, None
        if m is None:
            return None, "整数として読めません"
        sign, digits, fraction = m[1], m[2].replace(",", ""), m[3]
        if fraction and fraction.strip("0"):
            return None, "整数ではありません"
        digits = digits.lstrip("0") or "0"
        if len(digits) > 19:  # beyond int64 whatever the digits: no int() of a huge string
            return None, _bound_reason(label, -math.inf if sign == "-" else math.inf, lo, hi)
        number = int(sign + digits)
    reason = _bound_reason(label, number, lo, hi)
    return (None, reason) if reason else (number, None)


def parse_numbers(
    series: pd.Series, *, label: str = "値", lo: float | None = None, hi: float | None = None, control: bool = False
) -> tuple[pd.Series, pd.Series]:
    values, errors = _map_unique(series, lambda v: _number(v, label, lo, hi), control)
    return _series(values, errors, series.index, "float64")


def parse_integers(
    series: pd.Series, *, label: str = "値", lo: int | None = None, hi: int | None = None, control: bool = False
) -> tuple[pd.Series, pd.Series]:
    lo = INT64_MIN if lo is None else max(int(lo), INT64_MIN)
    hi = INT64_MAX if hi is None else min(int(hi), INT64_MAX)
    values, errors = _map_unique(series, lambda v: _integer(v, label, lo, hi), control)
    return _series(values, errors, series.index, "Int64")


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


def _date_bound_reason(label: str, d: dt.date, lo: dt.date, hi: dt.date) -> str | None:
    if lo <= d <= hi:
        return None
    return f"{label}が範囲（{lo:%Y-%m-%d}～{hi:%Y-%m-%d}）の外です"


def _date(value: object, label: str = "日付", lo: dt.date = DATE_MIN, hi: dt.date = DATE_MAX) -> Parsed:
    """The bounds are checked on the ``datetime.date`` — before any Timestamp exists."""
    if isinstance(value, (dt.datetime, dt.date)):
        d = value.date() if isinstance(value, dt.datetime) else value
        reason = _date_bound_reason(label, d, lo, hi)
        return (None, reason) if reason else (pd.Timestamp(d), None)
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return None, None
        if not math.isfinite(value) or not float(value).is_integer():
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
        first, last = ERA_RANGES[era]
        if not first <= d <= last:
            return None, _ERA_REASON[era]
    reason = _date_bound_reason(label, d, lo, hi)
    return (None, reason) if reason else (pd.Timestamp(d), None)


def parse_dates(
    series: pd.Series, *, label: str = "日付", lo: dt.date | None = None, hi: dt.date | None = None, control: bool = False
) -> tuple[pd.Series, pd.Series]:
    lo = DATE_MIN if lo is None else max(lo, DATE_MIN)
    hi = DATE_MAX if hi is None else min(hi, DATE_MAX)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    parse_one = _checked(lambda v: _date(v, label, lo, hi), control)
    parsed = [parse_one(u) for u in uniques]
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


def _month(value: object, label: str = "年月", lo: str = MONTH_MIN, hi: str = MONTH_MAX) -> Parsed:
    if isinstance(value, (dt.datetime, dt.date)):
        key = month_key(value.year, value.month)
        return (key, None) if lo <= key <= hi else (None, f"{label}が範囲（{lo}～{hi}）の外です")
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return None, None
        if not math.isfinite(value) or not float(value).is_integer():
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
    key = f"{year:04d}-{month:02d}"
    if not lo <= key <= hi:
        return None, f"{label}が範囲（{lo}～{hi}）の外です"
    return month_key(year, month), None


def parse_months(
    series: pd.Series, *, label: str = "年月", lo: str | None = None, hi: str | None = None, control: bool = False
) -> tuple[pd.Series, pd.Series]:
    lo = MONTH_MIN if lo is None else max(lo, MONTH_MIN)
    hi = MONTH_MAX if hi is None else min(hi, MONTH_MAX)
    values, errors = _map_unique(series, lambda v: _month(v, label, lo, hi), control)
    return _series(values, errors, series.index)


# Every parser: ``parser(series, label=<Japanese column name>, lo=<min>, hi=<max>, control=<bool>)``
# (bounds are ignored by the text-like types).
PARSERS: dict[str, Callable[..., tuple[pd.Series, pd.Series]]] = {
    "branch_code": parse_branch_codes,
    "code": parse_codes,
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
