"""Load one feed-month from the landing area into the warehouse (the unit a partition runs).

Parse and validate first (nothing written), then either replace the month in one transaction or
record the rejection and leave the previous good load in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kenpo_pipeline.domain.intake.feeds import FeedCheck, TooManyBadRows, check_feed_file
from kenpo_pipeline.domain.intake.landing import candidate_files, find_feed_file
from kenpo_pipeline.domain.intake.reading import FileRejected, sha256_of
from kenpo_pipeline.warehouse.store import LoadOutcome, Warehouse


@dataclass
class MonthResult:
    feed: str
    month: str
    status: str  # loaded | unchanged | rejected | missing
    message: str  # one sentence for a person
    outcome: LoadOutcome | None = None
    check: FeedCheck | None = None  # present when the file was parsed and validated
    path: str | None = None
    current: dict | None = None  # the feed_loads row now current for the month (if any)

    @property
    def ok(self) -> bool:
        return self.status in ("loaded", "unchanged")


def load_feed_month(
    warehouse: Warehouse,
    landing: Path,
    feed: str,
    month: str,
    max_bad_row_share: float,
    run_id: str | None = None,
    force: bool = False,
) -> MonthResult:
    try:
        path = find_feed_file(landing, feed, month)
    except FileRejected as exc:
        files = candidate_files(landing, feed, month)
        warehouse.record_rejection(feed, month, ", ".join(str(p) for p in files), exc.reason, run_id=run_id)
        return MonthResult(feed, month, "rejected", str(exc), path=exc.path, current=warehouse.current_load(feed, month))
    if path is None:
        expected = Path(landing) / feed / f"{month.replace('-', '')}.csv"
        return MonthResult(
            feed, month, "missing", f"no file for {month} in {Path(landing) / feed} (expected {expected.name} or .xlsx)",
            current=warehouse.current_load(feed, month),
        )
    if not force:
        unchanged = warehouse.is_unchanged(feed, month, sha256_of(path))
        if unchanged:
            return MonthResult(
                feed, month, "unchanged",
                f"{path} is unchanged since load {unchanged['load_id']} (same SHA-256); nothing to do",
                path=str(path), current=unchanged,
            )
    try:
        check = check_feed_file(path, feed, month, max_bad_row_share=max_bad_row_share)
    except TooManyBadRows as exc:
        c = exc.check
        warehouse.record_rejection(
            feed, month, str(path), exc.reason, sha256=c.sha256, rows_read=c.rows_read,
            run_id=run_id, file_format=c.file_format, encoding=c.encoding, rows_blank=c.rows_blank,
        )
        return MonthResult(feed, month, "rejected", str(exc), check=c, path=str(path), current=warehouse.current_load(feed, month))
    except FileRejected as exc:
        sha = exc.sha256 or (sha256_of(path) if path.is_file() else "")
        warehouse.record_rejection(feed, month, str(path), exc.reason, sha256=sha, run_id=run_id)
        return MonthResult(feed, month, "rejected", str(exc), path=str(path), current=warehouse.current_load(feed, month))
    outcome = warehouse.replace_month(check, run_id=run_id)
    message = f"{path}: {check.rows_loaded:,} rows loaded"
    if check.rows_quarantined:
        message += f", {check.rows_quarantined:,} quarantined"
    return MonthResult(feed, month, "loaded", message, outcome=outcome, check=check, path=str(path), current=warehouse.current_load(feed, month))
