"""The intake worker pool: the CPU work of checking feed files, done ahead in worker processes.

Checking a landed file (``feeds.check_feed_file``: parse, values, the GX suite, the quarantine) is a
pure function of the file's bytes and by far the heaviest part of a load; writing the month is not,
and must stay serialised. So a load step keeps everything that decides — it finds the file, reads it
settled (``landing.read_settled``), takes its SHA-256, skips an unchanged month, writes — and only
asks this module for the check of the bytes it read (:meth:`IntakeQueue.check`). Workers compute
the checks of the months the step (or the run's later feed steps) will need next, each on bytes it
reads itself; the step takes a worker's result only when the worker's SHA-256 equals its own and
the path is the same, and otherwise checks in its own process. Correctness never depends on the
pool: it is a cache of CPU work, and any trouble with it (a worker that died, a result that could
not be pickled, an exception that is not a rejection) means the month is checked in-process, with
a developer log line saying why.

- **One pool per process** (:func:`shared_pool`), created lazily, reused by every step and run of
  the process, shut down at exit. Workers start with ``forkserver``: the fork server imports GX
  once (``PRELOAD``; it has no threads, so forking it is safe — Dagster's process has threads, so
  ``fork`` is never used) and each worker is forked from it, builds the GX context and the four
  suites once (the initializer) and keeps them for every file it checks.
- **Workers ignore SIGINT** (Ctrl-C reaches the whole process group; the parent decides what a
  stop means) and **never outlive their parent**: a thread of each worker waits on the parent's
  sentinel (``multiprocessing.parent_process().join()``, a pipe the parent holds open) and ends
  the worker the moment the parent is gone, however it ended (``kill -9`` included). The fork
  server ends when its parent does (its own pipe).
- **A queue per run** (:class:`IntakeQueue`): the feed-months the steps will check, in the order
  they will take them; at most ``window`` results are held ahead (submitted and not yet taken), so
  memory stays bounded whatever the number of months.
- Rejections travel faithfully: a :class:`~kenpo_pipeline.domain.intake.reading.FileRejected` or
  :class:`~kenpo_pipeline.domain.intake.feeds.TooManyBadRows` raised in a worker is returned as a
  value and raised again in the step, with the same sentence, reason, details, SHA-256 and (for too
  many bad rows) the same counts — as if it had been raised in-process.

This module knows nothing of Dagster or the warehouse; ``defs/feeds.py`` decides when a run uses it
(``KENPO_INTAKE_WORKERS``, ``KENPO_INTAKE_PARALLEL_MIN_BYTES``) and ``kenpo run`` warms it.
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from kenpo_pipeline.domain.intake.feeds import FeedCheck, check_feed_file
from kenpo_pipeline.domain.intake.reading import FileRejected, check_file_size
from kenpo_pipeline.domain.reference import FEED_IDS, feed_layout

PRELOAD = ["kenpo_pipeline.domain.intake.pool", "great_expectations"]
"""Imported once by the fork server, before it forks any worker (GX's import is most of the set-up)."""

Log = Callable[[str], None]


MIN_FILES = 2
"""Fewer files than this are checked in the step's process: one file has nothing to overlap with."""


def worth_workers(files: int, size: int, min_bytes: int) -> bool:
    """Whether checking ``files`` files of ``size`` bytes in all is worth the intake workers (the one
    rule, for warming them before a run and for a run using them)."""
    return files >= MIN_FILES and size >= min_bytes


# --- what a worker does ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeJob:
    """One file to check ahead: ``unchanged_sha256`` is the checksum of the month's current load
    (None with ``force``): a worker that reads the same bytes reports them unchanged without checking."""

    feed: str
    month: str
    path: str
    max_bad_row_share: float
    unchanged_sha256: str | None = None
    size: int = 0  # the file's size when the job was made (what the run's threshold counts)

    @property
    def key(self) -> tuple[str, str]:
        return (self.feed, self.month)


@dataclass
class WorkerResult:
    """What a worker found for one file: ``sha256`` of the bytes it read (None: it read none, the
    step judges the file itself), and either the check, the rejection, or "unchanged"."""

    sha256: str | None
    check: FeedCheck | None = None
    rejected: FileRejected | None = None
    unchanged: bool = False
    pid: int = 0
    seconds: float = 0.0  # the worker's time for the job (read, checksum, check)


def check_in_worker(job: IntakeJob) -> WorkerResult:
    """Read the file, hash it and check it (runs in a worker; a plain function, usable anywhere)."""
    started = time.perf_counter()
    path = Path(job.path)
    done = lambda **kw: WorkerResult(pid=os.getpid(), seconds=time.perf_counter() - started, **kw)  # noqa: E731
    try:
        check_file_size(path, path.stat().st_size, feed_layout(job.feed))  # never read a file past its limit
        data = path.read_bytes()
    except (OSError, FileRejected):
        return done(sha256=None)  # the step reads the file and says what is wrong with it
    sha = hashlib.sha256(data).hexdigest()
    if job.unchanged_sha256 is not None and sha == job.unchanged_sha256:
        return done(sha256=sha, unchanged=True)
    try:
        check = check_feed_file(path, job.feed, job.month, max_bad_row_share=job.max_bad_row_share, data=data)
    except FileRejected as exc:  # TooManyBadRows included: a verdict, returned as a value
        return done(sha256=sha, rejected=exc)
    return done(sha256=sha, check=check)


def _worker_job(job: IntakeJob) -> WorkerResult:
    """What a worker runs for a job: the memory the previous check freed handed back to the system
    first, then :func:`check_in_worker`."""
    _return_free_memory()
    return check_in_worker(job)


def _return_free_memory() -> None:
    """Give the heap's free memory back to the system (glibc's ``malloc_trim``; nothing elsewhere).
    A worker's previous check (a national month: ≈ 200 MB of frames) is garbage by then, but glibc
    keeps the freed pages (measured over four national months: 535 MB resident between checks
    without, 375 MB with; the peak while checking a month is the same either way)."""
    global _trim
    if _trim is None:
        try:
            import ctypes

            _trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


_trim = None


def _ready() -> int:
    """A no-op job: submitting one per worker starts the workers (``warm``)."""
    return os.getpid()


def _init_worker() -> None:
    """A worker's start: SIGINT ignored, bound to its parent's life, GX's context and suites built."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent,), name="kenpo-intake-parent", daemon=True).start()
    from kenpo_pipeline.domain.intake import suites

    for feed in FEED_IDS:
        suites.columns_read(feed)  # the context and the feed's suite, once per worker


def _end_with(parent) -> None:
    parent.join()  # returns when the parent process has ended (its end of a pipe is closed)
    os._exit(0)


# --- the pool of a process ----------------------------------------------------------------------


def _mp_context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


class IntakePool:
    """A ``ProcessPoolExecutor`` of ``workers`` intake workers (see the module docstring)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.broken = False
        self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(), initializer=_init_worker)
        self._lock = threading.Lock()
        self._warmed = False

    def submit(self, job: IntakeJob) -> Future:
        with self._lock:
            return self._executor.submit(_worker_job, job)

    def warm(self) -> None:
        """Start every worker now (they import nothing more: GX comes from the fork server). Once:
        a second call (``kenpo run`` warms before Dagster starts, and again with its plan) does nothing."""
        with self._lock:
            if self._warmed:
                return
            self._warmed = True
            for _ in range(self.workers):
                self._executor.submit(_ready)

    def pids(self) -> list[int]:
        """The workers' process ids (those started so far)."""
        return list(getattr(self._executor, "_processes", None) or {})

    def shutdown(self, kill: bool = False) -> None:
        """Stop the pool: pending jobs cancelled; ``kill``: running checks ended too (SIGTERM)."""
        self.broken = True
        pids = self.pids()
        self._executor.shutdown(wait=not kill, cancel_futures=True)
        if kill:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass


_pool: IntakePool | None = None
_pool_lock = threading.Lock()
_exit_registered = False


def shared_pool(workers: int) -> IntakePool | None:
    """The process's pool of ``workers`` workers, created on first use (None for none). One worker
    still runs two things at once: it checks the next month while the step writes this one."""
    global _pool, _exit_registered
    if workers < 1:
        return None
    with _pool_lock:
        if _pool is not None and (_pool.broken or _pool.workers != workers):
            _pool.shutdown(kill=True)
            _pool = None
        if _pool is None:
            _pool = IntakePool(workers)
            if not _exit_registered:
                atexit.register(shutdown_pool)
                _exit_registered = True
        return _pool


def warm_pool(workers: int) -> threading.Thread | None:
    """Start the process's pool and its workers in the background (the fork server imports GX while
    the caller goes on); the thread is returned for whoever wants to wait for it."""
    pool = shared_pool(workers)
    if pool is None:
        return None
    thread = threading.Thread(target=pool.warm, name="kenpo-intake-warm", daemon=True)
    thread.start()
    return thread


def warm_for_landing(landing: Path, workers: int, min_bytes: int, from_month: str | None = None, to_month: str | None = None) -> bool:
    """Warm the pool (:func:`warm_pool`) when the feed files in ``landing`` for the months
    ``from_month``–``to_month`` (None: unbounded) are worth workers (:func:`worth_workers`). ``kenpo
    run`` calls it first thing, before it imports Dagster and plans (≈ 2 s): the fork server's import
    of GX, the longest part of a worker's start, then runs while they do, and the first load step
    no longer waits for it. True when started."""
    from kenpo_pipeline.domain.intake.landing import scan_landing

    if workers < 1:
        return False
    count = size = 0
    for (_feed, month), files in scan_landing(landing).files.items():
        if (from_month and month < from_month) or (to_month and month > to_month):
            continue
        for f in files:
            try:
                size += f.stat().st_size
                count += 1
            except OSError:
                continue
    if not worth_workers(count, size, min_bytes):
        return False
    return warm_pool(workers) is not None


def shutdown_pool(kill: bool = False) -> None:
    """Shut the process's pool down (at exit, at the end of ``kenpo run``, or on a stop with ``kill``)."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(kill=kill)
        if not kill:
            _stop_fork_server()


def _stop_fork_server() -> None:
    """End the fork server now and reap it (it would end with this process anyway): the workers' CPU
    time then counts in this process's children, as a benchmark measures it. A new pool starts a new one.

    The workers have ended (the pool was shut down first) and the fork server holds nothing but the
    modules it imported, so it is killed rather than asked to exit: an exit tears GX's modules down
    (≈ 0.6 s the user would wait for at the end of every ``kenpo run``)."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)  # CPython's own (its tests use it): close, reap, forget the address
    if stop is None:
        return
    pid = getattr(server, "_forkserver_pid", None)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        stop()
    except OSError:
        pass


def current_pool() -> IntakePool | None:
    return _pool


# --- the queue of a run ----------------------------------------------------------------------------


class IntakeQueue:
    """The checks a run (or a step) will need, in the order its steps take them, at most ``window``
    submitted ahead. A step asks for a month's check with :meth:`check` and then :meth:`release`-s
    the month (whatever happened to it); :meth:`close` drops whatever is left."""

    def __init__(self, pool: IntakePool, jobs: Sequence[IntakeJob], window: int, log: Log):
        self.pool, self.window, self.log = pool, max(1, window), log
        self._pending: list[IntakeJob] = list(jobs)
        self._ahead: dict[tuple[str, str], tuple[IntakeJob, Future]] = {}
        self.closed = False
        self._fill()

    @property
    def keys(self) -> list[tuple[str, str]]:
        return [*self._ahead, *(j.key for j in self._pending)]

    def _fill(self) -> None:
        while self._pending and len(self._ahead) < self.window and not self.closed:
            job = self._pending.pop(0)
            try:
                self._ahead[job.key] = (job, self.pool.submit(job))
            except (BrokenProcessPool, RuntimeError) as exc:  # broken, or shut down
                self._give_up(f"the intake pool cannot take jobs ({type(exc).__name__}: {exc})")
                return

    def _give_up(self, why: str) -> None:
        self.log(f"intake pool: {why}; the remaining months are checked in the step's process")
        self.pool.broken = True
        self.close()

    def check(self, path: Path | str, feed: str, month: str, max_bad_row_share: float, data: bytes, sha256: str) -> FeedCheck:
        """``check_feed_file(path, feed, month, max_bad_row_share, data)`` of the step's ``data``
        (whose checksum is ``sha256``): the worker's result when it checked the same bytes of the
        same path, else computed here. Raises FileRejected / TooManyBadRows exactly as in-process."""
        got, why = self._take(feed, month)
        if got is not None:
            job = got[0]
            result: WorkerResult = got[1]
            if result.sha256 == sha256 and job.path == str(path) and (result.check is not None or result.rejected is not None):
                if result.rejected is not None:
                    raise result.rejected
                return result.check
            why = ("the worker read no bytes" if result.sha256 is None else "the worker saw the file unchanged" if result.unchanged
                   else f"the worker read other bytes (sha256 {result.sha256[:12]}, the step's {sha256[:12]})")
        self.log(f"{feed} {month}: checked in the step's process ({why})")
        return check_feed_file(path, feed, month, max_bad_row_share=max_bad_row_share, data=data)

    def _take(self, feed: str, month: str) -> tuple[tuple[IntakeJob, WorkerResult] | None, str]:
        key = (feed, month)
        entry = self._ahead.pop(key, None)
        if entry is None:
            if any(j.key == key for j in self._pending):
                self._pending = [j for j in self._pending if j.key != key]
                return None, "not yet submitted: the steps took the months in another order"
            return None, "closed" if self.closed else "not in the run's queue"
        job, future = entry
        started = time.perf_counter()
        try:
            result = future.result()
        except BrokenProcessPool as exc:
            self._give_up(f"a worker died ({exc})")
            return None, "a worker died"
        except CancelledError:
            return None, "the job was cancelled"
        except Exception as exc:  # noqa: BLE001 - pickling or an unexpected error in the worker: check here instead
            self.log(f"intake pool: {feed} {month} failed in the worker ({type(exc).__name__}: {exc})")
            return None, f"the worker failed: {type(exc).__name__}"
        waited = time.perf_counter() - started
        self._fill()
        verdict = "unchanged" if result.unchanged else "rejected" if result.rejected is not None else "checked" if result.check is not None else "not read"
        self.log(f"{feed} {month}: {verdict} in intake worker {result.pid} ({result.seconds:.3f} s there); the step waited {waited:.3f} s for it")
        if result.check is not None:  # the step's stages: what it spent on the check is the wait
            took = result.check.seconds
            result.check.seconds = {"read": 0.0, "validate": waited, "gx_setup": 0.0,
                                    "worker_read": took.get("read", 0.0), "worker_validate": took.get("validate", 0.0)}
        return (job, result), ""

    def wait(self, feed: str, month: str, timeout: float | None = None) -> bool:
        """Wait until the worker has finished the month's check (True), without taking it; False when
        the month is not submitted or the wait timed out (diagnostics and tests)."""
        entry = self._ahead.get((feed, month))
        if entry is None:
            return False
        try:
            entry[1].exception(timeout=timeout)
        except (TimeoutError, CancelledError):
            return False
        return True

    def release(self, feed: str, month: str) -> None:
        """The step is done with the month: a check it did not need is dropped, the next submitted."""
        entry = self._ahead.pop((feed, month), None)
        if entry is not None:
            entry[1].cancel()
        self._pending = [j for j in self._pending if j.key != (feed, month)]
        self._fill()

    def close(self) -> None:
        """Drop everything left (pending jobs cancelled; a running check is left to finish)."""
        self.closed = True
        for _job, future in self._ahead.values():
            future.cancel()
        self._ahead.clear()
        self._pending.clear()

    @property
    def empty(self) -> bool:
        return not self._ahead and not self._pending
