"""The declarative reference data in ``assets/``: branch master, feed layouts, indicator codes.

One definition of each fact: parsing, the GX suites' column lists, the warehouse tables and the
sample generator all read these files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from kenpo_pipeline.settings import ASSETS_DIR

FEED_IDS: tuple[str, ...] = ("benefits", "claims_review", "screenings", "indicators")
NATIONAL_CODE = "00"


@dataclass(frozen=True)
class Branch:
    code: str
    name: str
    display_name: str
    population_thousands: int


@dataclass(frozen=True)
class Column:
    name: str  # Japanese header as exported
    canonical: str
    type: str  # branch_code | text | date | month | integer | number
    required: bool
    allow_national: bool = False


@dataclass(frozen=True)
class FeedLayout:
    feed: str
    name_ja: str
    description_ja: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    programs: tuple[tuple[str, str], ...] = field(default=())

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


@lru_cache(maxsize=None)
def feed_layout(feed: str, assets_dir: Path = ASSETS_DIR) -> FeedLayout:
    if feed not in FEED_IDS:
        raise KeyError(f"unknown feed {feed!r}; feeds are {', '.join(FEED_IDS)}")
    with open(assets_dir / "feeds" / f"{feed}.yaml", encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    return FeedLayout(
        feed=raw["feed"],
        name_ja=raw["name_ja"],
        description_ja=raw["description_ja"],
        key=tuple(raw["key"]),
        columns=tuple(
            Column(
                name=c["name"],
                canonical=c["canonical"],
                type=c["type"],
                required=bool(c["required"]),
                allow_national=bool(c.get("allow_national", False)),
            )
            for c in raw["columns"]
        ),
        programs=tuple((p["population"], p["program"]) for p in raw.get("programs", [])),
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
        )
        for r in rows
    )


def indicator(code: str) -> Indicator:
    for i in indicators():
        if i.code == code:
            return i
    raise KeyError(code)
