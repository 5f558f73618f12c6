"""The declarative reference data in ``assets/``: branch master, feed layouts, indicator codes.

One definition of each fact: parsing, the GX suites' column lists, the warehouse tables and the
sample generator all read these files.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from kenpo_pipeline.settings import ASSETS_DIR

FEED_IDS: tuple[str, ...] = ("benefits", "claims_review", "screenings", "indicators")
FEED_SHORT_JA: dict[str, str] = {"benefits": "現金給付", "claims_review": "再審査", "screenings": "健診", "indicators": "指標"}
"""A feed's short Japanese name, for the column of a feed × month grid (the full title is the layout's ``name_ja``)."""
NATIONAL_CODE = "00"


@dataclass(frozen=True)
class Branch:
    code: str
    name: str
    display_name: str
    population_thousands: int


COLUMN_TYPES = ("branch_code", "code", "text", "date", "month", "integer", "number")

# Hard limits every bound must lie inside: integers are stored as 64-bit integers (BIGINT), dates
# as datetime64[ns] while a file is checked (which ends in 2262), so the feeds' dates and months are
# held to 1900-01-01 … 2100-12-31 whatever a layout says.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DATE_MIN, DATE_MAX = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
MONTH_MIN, MONTH_MAX = "1900-01", "2100-12"
NUMBER_ABS_MAX = 2.0**53  # every whole number up to here is exact in a float64


@dataclass(frozen=True)
class Column:
    name: str  # Japanese header as exported
    canonical: str
    type: str  # branch_code | code | text | date | month | integer | number
    required: bool
    allow_national: bool = False
    # Plausible bounds of the value (layout keys ``min``/``max``): int for integer columns, float for
    # number columns, date for date columns, "YYYY-MM" for month columns; None = the hard limit.
    min: object = None
    max: object = None


@dataclass(frozen=True)
class Limits:
    """Resource limits of one feed's files (layout key ``limits``); each rejects the file."""

    max_file_bytes: int
    max_columns: int
    max_line_chars: int


DEFAULT_LIMITS = Limits(max_file_bytes=256 * 1024 * 1024, max_columns=100, max_line_chars=10_000)


@dataclass(frozen=True)
class FeedLayout:
    feed: str
    name_ja: str
    description_ja: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    programs: tuple[tuple[str, str], ...] = field(default=())
    limits: Limits = DEFAULT_LIMITS

    @property
    def canonical_columns(self) -> list[str]:
        return [c.canonical for c in self.columns]

    def column(self, canonical: str) -> Column:
        for c in self.columns:
            if c.canonical == canonical:
                return c
        raise KeyError(canonical)

    def japanese(self, canonical: str) -> str:
        return self.column(canonical).name


@dataclass(frozen=True)
class Indicator:
    code: str
    name_ja: str
    unit: str
    kind: str  # flow | stock | flag
    min: float
    strict_min: bool
    bounded_by: str | None
    national_only: bool
    max: float  # plausible maximum of a month's value (a row above it is quarantined)
    # "MM" for an indicator reported once a year, in that month's file only (e.g. "04": the April
    # file); None for one reported every month. A file of another month is not expected to carry it.
    report_month: str | None = None

    def expected_in(self, month: str) -> bool:
        """Whether the file of ``month`` (``YYYY-MM``) should carry this indicator."""
        return self.report_month is None or month[5:7] == self.report_month


@lru_cache(maxsize=None)
def branches(assets_dir: Path = ASSETS_DIR) -> tuple[Branch, ...]:
    with open(assets_dir / "branches.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    result = tuple(
        Branch(
            code=r["branch_code"],
            name=r["name"],
            display_name=r["display_name"],
            population_thousands=int(r["population_2020_thousands"]),
        )
        for r in rows
    )
    codes = [b.code for b in result]
    if codes != [f"{i:02d}" for i in range(1, 48)]:
        raise ValueError(f"{assets_dir / 'branches.csv'}: expected branch codes 01..47 in order")
    return result


def branch_codes() -> list[str]:
    return [b.code for b in branches()]


def branch_name(code: str) -> str:
    if code == NATIONAL_CODE:
        return "協会全体"
    for b in branches():
        if b.code == code:
            return b.display_name
    raise KeyError(code)


def _bound(where: str, ctype: str, value: object, hard: tuple[object, object]) -> object:
    """A layout bound, checked against its column type and the hard limits (a bad layout is a
    programming error: it fails loudly when the layout is read)."""
    if value is None:
        return None
    if ctype == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif ctype == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif ctype == "date":
        ok = isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    elif ctype == "month":
        ok = isinstance(value, str) and len(value) == 7 and value[4] == "-"
    else:
        raise ValueError(f"{where}: a {ctype} column has no bounds")
    if not ok or not hard[0] <= value <= hard[1]:
        raise ValueError(f"{where}: bound {value!r} is not a {ctype} within {hard[0]} … {hard[1]}")
    return value


_HARD = {
    "integer": (INT64_MIN, INT64_MAX),
    "number": (-NUMBER_ABS_MAX, NUMBER_ABS_MAX),
    "date": (DATE_MIN, DATE_MAX),
    "month": (MONTH_MIN, MONTH_MAX),
}


def _limits(where: str, raw: dict | None) -> Limits:
    if raw is None:
        return DEFAULT_LIMITS
    values = {}
    for name in ("max_file_bytes", "max_columns", "max_line_chars"):
        v = raw.get(name, getattr(DEFAULT_LIMITS, name))
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{where}: limits.{name} must be a positive integer, not {v!r}")
        values[name] = v
    unknown = set(raw) - set(values)
    if unknown:
        raise ValueError(f"{where}: unknown limits {', '.join(sorted(unknown))}")
    return Limits(**values)


@lru_cache(maxsize=None)
def feed_layout(feed: str, assets_dir: Path = ASSETS_DIR) -> FeedLayout:
    if feed not in FEED_IDS:
        raise KeyError(f"unknown feed {feed!r}; feeds are {', '.join(FEED_IDS)}")
    path = assets_dir / "feeds" / f"{feed}.yaml"
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    columns = []
    for c in raw["columns"]:
        where = f"{path}: column {c.get('canonical')}"
        if c["type"] not in COLUMN_TYPES:
            raise ValueError(f"{where}: type {c['type']!r} is not one of {', '.join(COLUMN_TYPES)}")
        hard = _HARD.get(c["type"])
        columns.append(
            Column(
                name=c["name"],
                canonical=c["canonical"],
                type=c["type"],
                required=bool(c["required"]),
                allow_national=bool(c.get("allow_national", False)),
                min=_bound(where, c["type"], c.get("min"), hard) if hard else None,
                max=_bound(where, c["type"], c.get("max"), hard) if hard else None,
            )
        )
    return FeedLayout(
        feed=raw["feed"],
        name_ja=raw["name_ja"],
        description_ja=raw["description_ja"],
        key=tuple(raw["key"]),
        columns=tuple(columns),
        programs=tuple((p["population"], p["program"]) for p in raw.get("programs", [])),
        limits=_limits(str(path), raw.get("limits")),
    )


@lru_cache(maxsize=None)
def indicators(assets_dir: Path = ASSETS_DIR) -> tuple[Indicator, ...]:
    with open(assets_dir / "feeds" / "indicator_codes.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return tuple(
        Indicator(
            code=r["code"],
            name_ja=r["name_ja"],
            unit=r["unit"],
            kind=r["kind"],
            min=float(r["min"]),
            strict_min=r["strict_min"] == "true",
            bounded_by=r["bounded_by"] or None,
            national_only=r["national_only"] == "true",
            max=float(r["max"]),
            report_month=_report_month(r.get("report_month") or ""),
        )
        for r in rows
    )


def _report_month(value: str) -> str | None:
    if not value:
        return None
    if len(value) != 2 or not value.isdigit() or not 1 <= int(value) <= 12:
        raise ValueError(f"indicator_codes.csv: report_month {value!r} is not a month 01–12")
    return value


def indicator(code: str) -> Indicator:
    for i in indicators():
        if i.code == code:
            return i
    raise KeyError(code)
