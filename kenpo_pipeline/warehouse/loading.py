"""Load one feed-month from the landing area into the warehouse (the unit a partition runs).

The file is taken only when complete and stable (``domain.landing``: settled, read once, unchanged
by the read); a file that is not ready is left alone — not loaded, not rejected, nothing recorded,
the current load stays. Then parse and validate the bytes that were read (nothing written), and
either replace the month in one transaction or record the rejection and leave the previous good
load in place.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kenpo_pipeline.domain.intake.feeds import FeedCheck, TooManyBadRows, check_feed_file
from kenpo_pipeline.domain.intake.pool import IntakeJob
from kenpo_pipeline.domain.intake.landing import FileNotReady, candidate_files, find_feed_file, not_ready_message, read_settled
from kenpo_pipeline.domain.intake.reading import FileRejected, check_file_size
from kenpo_pipeline.domain.intake.status import FeedMonthOutcome, FeedMonthStatus
from kenpo_pipeline.domain.reference import feed_layout
from kenpo_pipeline.warehouse.store import LoadOutcome, Warehouse


STAGE_SECONDS = re.compile(r"seconds: read (?P<read>[0-9.]+), validate (?P<validate>[0-9.]+), write (?P<write>[0-9.]+)(?:, gx set-up (?P<gx_setup>[0-9.]+))?")
"""The developer log line of a loaded month's stages (the benchmark harness reads it from the run)."""


def stage_seconds_message(read: float, validate: float, write: float, gx_setup: float) -> str:
    """``seconds: read 0.412, validate 1.203, write 0.388, gx set-up 0.000`` — read = the file's bytes
    and their rows, validate = cell values, the suite and the quarantine, write = the month replaced
    in the warehouse, gx set-up = GX's import, context and suite (the first month a process checks)."""
    return f"seconds: read {read:.3f}, validate {validate:.3f}, write {write:.3f}, gx set-up {gx_setup:.3f}"


Checker = Callable[[Path, str, str, float, bytes, str], FeedCheck]
"""``(path, feed, month, max_bad_row_share, data, sha256) → FeedCheck`` (or FileRejected): the check of
the bytes a load read."""


def _check_here(path: Path, feed: str, month: str, max_bad_row_share: float, data: bytes, _sha256: str) -> FeedCheck:
    return check_feed_file(path, feed, month, max_bad_row_share=max_bad_row_share, data=data)


def intake_jobs(warehouse: Warehouse, landing: Path, feed_months: list[tuple[str, str, bool]], max_bad_row_share: float) -> list[IntakeJob]:
    """The checks intake workers could do ahead for ``(feed, month, force)``, in that order: one per
    month whose file is there (a missing month, two files for a month or a file past its feed's size
    limit have nothing to check ahead), with the current load's checksum unless ``force`` (a worker
    then reports an unchanged file without checking it)."""
    jobs = []
    for feed, month, force in feed_months:
        try:
            path = find_feed_file(landing, feed, month)
            if path is None:
                continue
            size = path.stat().st_size
            check_file_size(path, size, feed_layout(feed))
        except (FileRejected, OSError):
            continue
        current = None if force else warehouse.current_load(feed, month)
        jobs.append(IntakeJob(feed, month, str(path), max_bad_row_share, current["sha256"] if current else None, size))
    return jobs


@dataclass
class MonthResult:
    feed: str
    month: str
    status: str  # loaded | unchanged | rejected | missing | not_ready
    message: str  # one sentence for a person
    outcome: LoadOutcome | None = None
    check: FeedCheck | None = None  # present when the file was parsed and validated
    path: str | None = None
    current: dict | None = None  # the feed_loads row now current for the month (if any)

    @property
    def ok(self) -> bool:
        return FeedMonthStatus(self.status).ok

    def report(self) -> FeedMonthOutcome:
        """The outcome as a run reports it: what was decided, and the load now current."""
        cur = self.current or {}
        return FeedMonthOutcome(
            feed=self.feed, month=self.month, status=FeedMonthStatus(self.status), message=self.message,
            load_id=cur.get("load_id"), path=cur.get("path") or self.path, sha256=cur.get("sha256"),
            rows_read=int(cur.get("rows_read") or 0), rows_loaded=int(cur.get("rows_loaded") or 0),
            rows_quarantined=int(cur.get("rows_quarantined") or 0), rows_blank=int(cur.get("rows_blank") or 0),
        )


def load_feed_month(
    warehouse: Warehouse,
    landing: Path,
    feed: str,
    month: str,
    max_bad_row_share: float,
    run_id: str | None = None,
    force: bool = False,
    settle_seconds: float = 0.0,
    log: Callable[[str], None] | None = None,
    checker: Checker | None = None,
) -> MonthResult:
    """``settle_seconds``: how long the file must have been unchanged to be taken (the landing
    contract); ``log``: a developer log for the phases (reading, validating, writing); ``checker``:
    where the bytes read are checked (default ``check_feed_file`` here; ``kenpo_pipeline.domain.
    intake.pool.IntakeQueue.check`` takes an intake worker's check of the same bytes)."""
    log = log or (lambda _msg: None)
    checker = checker or _check_here
    try:
        path = find_feed_file(landing, feed, month)
    except FileRejected as exc:
        files = candidate_files(landing, feed, month)
        warehouse.record_rejection(feed, month, ", ".join(str(p) for p in files), exc.reason, run_id=run_id)
        return MonthResult(feed, month, "rejected", str(exc), path=exc.path, current=warehouse.current_load(feed, month))
    if path is None:
        current = warehouse.current_load(feed, month)
        kept = f"前回の取込（load {current['load_id']}）をそのまま使います。" if current else ""
        return MonthResult(
            feed, month, "missing", f"{Path(landing) / feed} に {month.replace('-', '')}.csv も .xlsx もありません。" + kept, current=current,
        )
    log(f"reading {path}")
    try:
        check_file_size(path, path.stat().st_size, feed_layout(feed))  # before the file is read into memory
    except FileRejected as exc:
        warehouse.record_rejection(feed, month, str(path), exc.reason, run_id=run_id)
        return MonthResult(feed, month, "rejected", str(exc), path=str(path), current=warehouse.current_load(feed, month))
    except OSError:
        pass  # gone or unreadable: the read below says which
    started = time.perf_counter()
    try:
        try:
            data = read_settled(path, settle_seconds)
        except FileNotFoundError as exc:  # removed or renamed between the listing and the read
            raise FileNotReady(path, "読み込みの間にファイルが移動または削除されました") from exc
    except FileNotReady as exc:
        current = warehouse.current_load(feed, month)
        log(f"not ready: {exc.reason}")
        return MonthResult(feed, month, "not_ready", not_ready_message(exc, current), path=str(path), current=current)
    except OSError as exc:
        reason = f"ファイルを読み込めませんでした（{exc.strerror or exc}）"
        warehouse.record_rejection(feed, month, str(path), reason, run_id=run_id)
        return MonthResult(feed, month, "rejected", str(FileRejected(path, reason)), path=str(path), current=warehouse.current_load(feed, month))
    sha = hashlib.sha256(data).hexdigest()
    file_read = time.perf_counter() - started  # the bytes (settled), and their checksum
    if not force:
        unchanged = warehouse.is_unchanged(feed, month, sha)
        if unchanged:
            return MonthResult(
                feed, month, "unchanged",
                f"{path} は取込（load {unchanged['load_id']}）から変わっていません（SHA-256 が同じ）。読み込み直す必要はありません。",
                path=str(path), current=unchanged,
            )
    log(f"validating {path} ({len(data):,} bytes, sha256 {sha[:12]})")
    try:
        check = checker(path, feed, month, max_bad_row_share, data, sha)
    except TooManyBadRows as exc:
        c = exc.check
        log(f"read {path} with the {c.reader_text}")
        warehouse.record_rejection(
            feed, month, str(path), exc.reason, sha256=c.sha256, rows_read=c.rows_read,
            run_id=run_id, file_format=c.file_format, encoding=c.encoding, rows_blank=c.rows_blank,
        )
        return MonthResult(feed, month, "rejected", str(exc), check=c, path=str(path), current=warehouse.current_load(feed, month))
    except FileRejected as exc:
        sha = exc.sha256 or sha
        warehouse.record_rejection(feed, month, str(path), exc.reason, sha256=sha, run_id=run_id)
        return MonthResult(feed, month, "rejected", str(exc), path=str(path), current=warehouse.current_load(feed, month))
    log(f"read {path} with the {check.reader_text}")
    log(f"writing {feed} {month}: {check.rows_loaded:,} rows, {check.rows_quarantined:,} quarantined")
    writing = time.perf_counter()
    outcome = warehouse.replace_month(check, run_id=run_id)
    took = check.seconds
    log(stage_seconds_message(file_read + took.get("read", 0.0), took.get("validate", 0.0), time.perf_counter() - writing, took.get("gx_setup", 0.0)))
    message = f"{path}: {check.rows_loaded:,} 行を取り込みました" + (f"（{check.rows_quarantined:,} 行を隔離）" if check.rows_quarantined else "") + "。"
    return MonthResult(feed, month, "loaded", message, outcome=outcome, check=check, path=str(path), current=warehouse.current_load(feed, month))
