"""The landing area: ``<landing>/<feed>/<YYYYMM>.csv|xlsx`` (shared spec/feeds.md "Files")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kenpo_pipeline.domain import calendar
from kenpo_pipeline.domain.intake.reading import FileRejected
from kenpo_pipeline.domain.reference import FEED_IDS

FEED_SUFFIXES = (".csv", ".xlsx")


def candidate_files(landing: Path, feed: str, month: str) -> list[Path]:
    y, m = calendar.parse_month_key(month)
    folder = Path(landing) / feed
    if not folder.is_dir():
        return []
    stem = f"{y:04d}{m:02d}"
    return sorted(p for p in folder.iterdir() if p.is_file() and p.stem == stem and p.suffix.lower() in FEED_SUFFIXES)


def find_feed_file(landing: Path, feed: str, month: str) -> Path | None:
    """The one file for the feed-month, ``None`` when there is none; two files is an error."""
    files = candidate_files(landing, feed, month)
    if len(files) > 1:
        raise FileRejected(
            files[0].parent / f"{files[0].stem}.*",
            f"there are {len(files)} files for {month} ({', '.join(p.name for p in files)}); exactly one is allowed, so none is loaded",
        )
    return files[0] if files else None


@dataclass
class LandingScan:
    months: dict[str, set[str]] = field(default_factory=dict)  # feed → months with a file
    files: dict[tuple[str, str], list[Path]] = field(default_factory=dict)
    problems: list[tuple[Path, str]] = field(default_factory=list)  # files that are not feed-months

    @property
    def all_months(self) -> list[str]:
        return sorted(set().union(*self.months.values())) if self.months else []


def scan_landing(landing: Path) -> LandingScan:
    scan = LandingScan(months={feed: set() for feed in FEED_IDS})
    landing = Path(landing)
    if not landing.is_dir():
        return scan
    for entry in sorted(landing.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            scan.problems.append((entry, "files belong in a feed folder (<landing>/<feed>/<YYYYMM>.csv|xlsx)"))
            continue
        if entry.name not in FEED_IDS:
            scan.problems.append((entry, f"'{entry.name}' is not a feed (expected one of {', '.join(FEED_IDS)})"))
            continue
        for f in sorted(entry.iterdir()):
            if f.name.startswith(".") or not f.is_file():
                continue
            if f.suffix.lower() not in FEED_SUFFIXES:
                scan.problems.append((f, f"'{f.suffix}' files are not feeds (only .csv and .xlsx)"))
                continue
            m = re.fullmatch(r"(\d{4})(\d{2})", f.stem)
            if not m or not 1 <= int(m[2]) <= 12:
                scan.problems.append((f, f"the file name '{f.stem}' is not a real month (expected YYYYMM, e.g. 202404)"))
                continue
            month = calendar.month_key(int(m[1]), int(m[2]))
            scan.months[entry.name].add(month)
            scan.files.setdefault((entry.name, month), []).append(f)
    return scan
