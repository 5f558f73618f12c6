"""Feed-month status: one type, and one picture of every feed × month (shared spec/feeds.md "Load
history", "A month is loaded for a feed").

- :class:`LoadStatus` is what a ``feed_loads`` row records about one attempt: ``loaded`` (the
  current load of its feed-month), ``rejected`` (nothing of the file was loaded) or ``superseded``
  (a load later replaced by a corrected file).
- :class:`FeedMonthStatus` is what a person is told about a feed-month: after a load attempt
  (``loaded``, ``unchanged``, ``rejected``, ``missing``, ``not_ready``; ``not_loaded`` when no run
  reached it, e.g. after a stop) and in the picture of what
  the warehouse holds (``loaded``, ``rejected``, ``missing``). Its Japanese word and symbol are
  defined here, once, and every renderer (command line, UI, workbook) takes them from here.
- :func:`feed_month_picture` derives the feed × month picture from ``feed_loads`` and
  ``quarantine``: the CLI summary, the ``data_quality`` asset, the workbook's データ品質 sheet and
  the late-feed notice all read it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from enum import StrEnum

import pandas as pd

from kenpo_pipeline.domain.reference import FEED_IDS


class LoadStatus(StrEnum):
    """``feed_loads.status``: one load attempt."""

    LOADED = "loaded"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"

    @property
    def label_ja(self) -> str:
        return {"loaded": "取込済", "rejected": "却下", "superseded": "差替済"}[self.value]


class FeedMonthStatus(StrEnum):
    """What became of a feed-month (after a load attempt, or in the warehouse picture)."""

    LOADED = "loaded"  # the file was loaded (quarantined rows included): it is the month's data
    UNCHANGED = "unchanged"  # the same file (SHA-256) as the current load: nothing to do
    REJECTED = "rejected"  # the latest file was rejected; an earlier good load, if any, stays current
    MISSING = "missing"  # no file for the month
    NOT_READY = "not_ready"  # the file is still being written: left for a later run, nothing changed
    NOT_LOADED = "not_loaded"  # no run reached it (stopped, or an earlier failure ended the run): nothing changed

    @property
    def ok(self) -> bool:
        """The month's data is usable: loaded now, or unchanged since its load."""
        return self in (FeedMonthStatus.LOADED, FeedMonthStatus.UNCHANGED)

    @property
    def label_ja(self) -> str:
        return _LABELS[self]

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_LABELS = {
    FeedMonthStatus.LOADED: "取込済",
    FeedMonthStatus.UNCHANGED: "変更なし",
    FeedMonthStatus.REJECTED: "却下",
    FeedMonthStatus.MISSING: "未着",
    FeedMonthStatus.NOT_READY: "書込中",
    FeedMonthStatus.NOT_LOADED: "未読込",
}
_SYMBOLS = {
    FeedMonthStatus.LOADED: "○",
    FeedMonthStatus.UNCHANGED: "○",
    FeedMonthStatus.REJECTED: "×",
    FeedMonthStatus.MISSING: "－",
    FeedMonthStatus.NOT_READY: "…",
    FeedMonthStatus.NOT_LOADED: "…",
}
QUARANTINED_SYMBOL = "△"  # loaded, with rows in quarantine
NOT_EXPECTED_SYMBOL = ""  # a month before the first month any file arrived, or not over yet: not 未着
PICTURE_LEGEND = "○ 取込済　△ 取込済（隔離行あり：件数）　× 却下（前回の取込があれば維持）　－ 未着"

PICTURE_COLUMNS = [
    "month", "feed", "status", "load_id", "current_load_id", "path", "sha256", "rows_read", "rows_loaded",
    "rows_quarantined", "rows_blank", "warnings", "top_reasons", "reason", "loaded_at",
]


def picture_symbol(status: str, rows_quarantined: float | None) -> str:
    """The grid cell of one feed-month: its status symbol, △ with the count when rows are quarantined."""
    s = FeedMonthStatus(status)
    if s is FeedMonthStatus.LOADED and rows_quarantined and not pd.isna(rows_quarantined) and int(rows_quarantined) > 0:
        return f"{QUARANTINED_SYMBOL} {int(rows_quarantined):,}"
    return s.symbol


def _int(x) -> int | None:
    return None if x is None or pd.isna(x) else int(x)


def feed_month_picture(
    loads: pd.DataFrame, quarantine: pd.DataFrame | None, months: list[str], feeds: tuple[str, ...] | list[str] = FEED_IDS
) -> pd.DataFrame:
    """One row per (month, feed) in ``months`` × ``feeds``: what the warehouse holds for it.

    - ``loaded`` — the month has a current load and its latest attempt is not a rejection;
      ``load_id`` is that load; ``top_reasons`` the most frequent quarantine reasons.
    - ``rejected`` — the latest attempt was rejected; ``load_id`` is that attempt, ``reason`` its
      reason, ``current_load_id`` the earlier good load that stays current (if any).
    - ``missing`` — no attempt at all.
    """
    by_key: dict[tuple[str, str], pd.DataFrame] = {}
    if len(loads):
        wanted = loads[loads["month"].isin(months) & loads["feed"].isin(list(feeds))].sort_values("load_id")
        by_key = {k: g for k, g in wanted.groupby(["feed", "month"], sort=False)}
    reasons: dict[tuple[str, str], str] = {}
    if quarantine is not None and len(quarantine):
        q = quarantine[quarantine["month"].isin(months)]
        for (feed, month), g in q.groupby(["feed", "month"], sort=False):
            top = g["reason"].value_counts().head(3)
            reasons[(feed, month)] = "；".join(f"{r}（{n:,}）" for r, n in top.items())
    rows = []
    for month in months:
        for feed in feeds:
            attempts = by_key.get((feed, month))
            row = dict.fromkeys(PICTURE_COLUMNS)
            row.update(month=month, feed=feed, status=FeedMonthStatus.MISSING.value, top_reasons="", reason="")
            if attempts is not None and len(attempts):
                current = attempts[attempts["status"] == LoadStatus.LOADED.value]
                latest = attempts.iloc[-1]
                cur = current.iloc[-1] if len(current) else None
                row["current_load_id"] = None if cur is None else int(cur["load_id"])
                shown = latest if latest["status"] == LoadStatus.REJECTED.value or cur is None else cur
                row.update(
                    status=(FeedMonthStatus.REJECTED if shown["status"] == LoadStatus.REJECTED.value else FeedMonthStatus.LOADED).value,
                    load_id=int(shown["load_id"]), path=shown["path"], sha256=shown["sha256"],
                    rows_read=_int(shown["rows_read"]), rows_loaded=_int(shown["rows_loaded"]),
                    rows_quarantined=_int(shown["rows_quarantined"]), rows_blank=_int(shown.get("rows_blank")),
                    reason=shown["reason"] or "", loaded_at=shown["loaded_at"],
                )
                if row["status"] == FeedMonthStatus.LOADED.value:
                    warnings = shown.get("warnings")
                    row["warnings"] = len(json.loads(warnings)) if isinstance(warnings, str) and warnings else 0
                    row["top_reasons"] = reasons.get((feed, month), "")
            rows.append(row)
    return pd.DataFrame(rows, columns=PICTURE_COLUMNS)


def first_data_month(loads: pd.DataFrame) -> str | None:
    """The first month any feed file has ever arrived for (loaded or rejected: ``feed_loads`` keeps
    every attempt), or None when none has. Months before it are not 未着: nothing was expected yet."""
    if loads is None or not len(loads):
        return None
    months = loads["month"].dropna()
    months = months[months.astype(str).str.fullmatch(r"\d{4}-\d{2}")]
    return str(months.min()) if len(months) else None


def expected(picture: pd.DataFrame, first_month: str | None, last_month: str | None = None) -> pd.Series:
    """Which rows of a picture are expected: months from ``first_month`` (none before any file
    arrived) through ``last_month`` (the last month that is over; None: no bound)."""
    if first_month is None:
        return pd.Series(False, index=picture.index)
    keep = picture["month"] >= first_month
    return keep & (picture["month"] <= last_month) if last_month is not None else keep


def status_counts(picture: pd.DataFrame, first_month: str | None, last_month: str | None = None) -> dict[str, int]:
    """取込済 (うち隔離行あり) / 却下 / 未着 feed-months of a picture, counting expected months only."""
    shown = picture[expected(picture, first_month, last_month)]
    loaded = shown["status"] == FeedMonthStatus.LOADED.value
    quarantined = loaded & (pd.to_numeric(shown["rows_quarantined"], errors="coerce").fillna(0) > 0)
    return {
        FeedMonthStatus.LOADED.label_ja: int(loaded.sum()),
        "うち隔離行あり": int(quarantined.sum()),
        FeedMonthStatus.REJECTED.label_ja: int((shown["status"] == FeedMonthStatus.REJECTED.value).sum()),
        FeedMonthStatus.MISSING.label_ja: int((shown["status"] == FeedMonthStatus.MISSING.value).sum()),
    }


def not_expected_legend(first_month: str | None, month_label) -> str:
    """What a blank cell of a grid means."""
    if first_month is None:
        return "空欄: まだどのフィードのファイルも届いていません（未着に数えません）"
    return f"空欄: 最初にファイルが届いた月（{month_label(first_month)}）より前の月、まだ終わっていない月（未着に数えません）"


def picture_grid(
    picture: pd.DataFrame, feeds: tuple[str, ...] | list[str] = FEED_IDS, first_month: str | None = None, last_month: str | None = None,
    blank_unexpected: bool = False,
) -> pd.DataFrame:
    """Months × feeds, each cell its symbol (○ △n × －); with ``blank_unexpected``, a month that is
    not expected (before ``first_month``, after ``last_month``) is blank: not 未着."""
    cells = picture.assign(cell=[picture_symbol(s, q) for s, q in zip(picture["status"], picture["rows_quarantined"])])
    if blank_unexpected:
        unexpected = ~expected(picture, first_month, last_month) & (picture["status"] == FeedMonthStatus.MISSING.value)
        cells.loc[unexpected, "cell"] = NOT_EXPECTED_SYMBOL
    return cells.pivot(index="month", columns="feed", values="cell")[list(feeds)]


@dataclass(frozen=True)
class FeedMonthOutcome:
    """What one load attempt decided for a feed-month — the record a run reports (the feed asset puts
    it in its ``accepted`` check's metadata under ``OUTCOME_KEY``; the command line reads it back
    from the run instead of looking at the landing area again)."""

    feed: str
    month: str
    status: FeedMonthStatus
    message: str  # one sentence for a person (Japanese)
    load_id: int | None = None  # the load now current for the month (None when there is none)
    path: str | None = None
    sha256: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_blank: int = 0

    def to_json(self) -> dict:
        return {**asdict(self), "status": self.status.value}

    @classmethod
    def from_json(cls, data: dict) -> "FeedMonthOutcome":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        return cls(**{**values, "status": FeedMonthStatus(values["status"])})


OUTCOME_KEY = "kenpo/outcome"
