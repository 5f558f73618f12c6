"""Executing a Dagster run from the command line: tagged with its process, watched while it waits
for a pool slot, and stoppable with Ctrl-C (SIGINT) or SIGTERM.

How a stop works. While a run executes in-process, Dagster owns the Python handlers of SIGINT and
SIGTERM: it delays the interrupt to the next safe point and raises it inside the step that is
running (the step's database transaction then rolls back and the run ends, as failed by an unexpected
termination). ``StopSignals`` learns which signal it was (the wakeup file descriptor); once the run
has ended, ``execute`` records it as canceled — a stop asked for, not a failure — and Dagster does
not retry a run ``kenpo`` started (``dagster/max_retries`` 0).
The one place where Dagster never reaches a safe point is the wait for a pool slot (its loop spins
until a slot frees): when a stop arrives while the run only waits — no step executing — the
watcher marks the run canceled, frees its pending claims and ends the process with 130/143 after
``on_abandon`` has said what was and was not loaded. Nothing is half-written then: no step of the
run had started, and the warehouse survives even ``kill -9`` at any point.

While the run waits for a slot, the watcher says which run holds it (every 15 s), and frees slots
of holders whose process has died (``recovery``), so a wait never lasts forever because of a crash.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from typing import Callable, Mapping, Sequence

import dagster as dg

from kenpo_pipeline.app import recovery

SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C（SIGINT）", signal.SIGTERM: "SIGTERM"}
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """SIGINT and SIGTERM for the command line: recorded, never raised at an arbitrary point.

    Outside a run this class's handler only records the signal (the command checks
    :attr:`requested` before it starts anything new); during a run Dagster's handler raises it
    inside the running step. Which signal arrived is known either way through Python's wakeup file
    descriptor (``signal.set_wakeup_fd``: the C-level handler writes the signal number there,
    whatever Python handler is installed), read by a thread of this class. No signal is ever
    blocked: Dagster starts subprocesses (its compute-log ``tail``) that must stay killable. A
    no-op outside the main thread."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._event = threading.Event()
        self._active = False
        self._by_handler = False

    # -- state -------------------------------------------------------------------------------
    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum or 0)

    @property
    def name(self) -> str:
        return SIGNAL_NAMES.get(self.signum, f"signal {self.signum}") if self.signum else ""

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as a stop is requested."""
        return self._event.wait(seconds)

    def redeliver_into_run(self) -> None:
        """A stop that this class's own handler took (it arrived just before Dagster installed its
        handler for a run) is delivered again, so that Dagster interrupts the run at its next safe
        point instead of running it to the end."""
        if self._by_handler and self._active and signal.getsignal(signal.SIGINT) != self._handler:
            self._by_handler = False
            os.kill(os.getpid(), int(self.signum))

    def _record(self, signum: int) -> None:
        if signum not in _STOP_SIGNALS or self.signum is not None:
            return
        self.signum = signal.Signals(signum)
        self._event.set()

    # -- installation ------------------------------------------------------------------------
    def _handler(self, signum, _frame) -> None:
        if self.signum is None:
            self._by_handler = True  # taken while no run was executing: Dagster has not seen it
        self._record(signum)

    def _read_wakeup(self) -> None:
        while True:
            try:
                data = os.read(self._r, 64)
            except OSError:
                return
            if not data:
                return
            for b in data:
                self._record(b)

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is not threading.main_thread():
            return self
        self._r, self._w = os.pipe()
        os.set_blocking(self._w, False)
        self._previous = {s: signal.signal(s, self._handler) for s in _STOP_SIGNALS}
        self._previous_fd = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        self._reader = threading.Thread(target=self._read_wakeup, name="kenpo-signals", daemon=True)
        self._reader.start()
        self._active = True
        return self

    def __exit__(self, *exc) -> None:
        if not self._active:
            return
        self._active = False
        signal.set_wakeup_fd(self._previous_fd)
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        os.close(self._w)  # the reader sees end of file
        self._reader.join(timeout=5)
        os.close(self._r)


def cancel_message(stop: StopSignals) -> str:
    return f"{stop.name}を受け取ったため、kenpo がこの run を中止しました。"


class _Watcher:
    """Watches one run from a second thread (see the module docstring)."""

    REPORT_EVERY = 15.0
    FIRST_REPORT_AFTER = 2.0

    def __init__(self, instance, run_id, stop, say, on_abandon, cleaned: list | None = None):
        self.instance, self.run_id, self.stop, self.say, self.on_abandon = instance, run_id, stop, say, on_abandon
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kenpo-run-watcher", daemon=True)
        self.cleaned: list[recovery.Cleanup] = cleaned if cleaned is not None else []

    def __enter__(self):
        # SQLAlchemy's ORM, imported here before the thread starts: the watcher's first queries and
        # the run (in this thread) could otherwise both import it at once, and one of them then
        # fails inside SQLAlchemy's circular imports ("partially initialized module
        # 'sqlalchemy.orm.exc'", seen once in a clean-clone run of the test suite).
        import sqlalchemy.orm  # noqa: F401

        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        instance = dg.DagsterInstance.from_ref(self.instance.get_ref()) if self.instance.is_persistent else self.instance
        try:
            waiting_since: float | None = None
            last_report = 0.0
            last_holders: tuple = ()
            while not self._done.wait(0.5):
                try:
                    if self.stop.requested:
                        self.stop.redeliver_into_run()
                    waiting = recovery.waiting_for(instance, self.run_id)
                    if self.stop.requested and waiting and not self._step_running(instance):
                        self._abandon(instance)
                        return
                    if not waiting:
                        waiting_since = None
                        continue
                    now = time.monotonic()
                    waiting_since = waiting_since or now
                    self._clean_up_holders(instance, waiting)
                    key = tuple(sorted((p, h.run_id) for p, hs in waiting.items() for h in hs))
                    if now - waiting_since >= self.FIRST_REPORT_AFTER and (key != last_holders or now - last_report >= self.REPORT_EVERY):
                        last_holders, last_report = key, now
                        self.say("  " + self._waiting_sentence(waiting, now - waiting_since))
                except Exception as exc:  # noqa: BLE001 - watching must never break the run itself
                    print(f"kenpo: run watcher: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        finally:
            if instance is not self.instance:
                instance.dispose()

    def _clean_up_holders(self, instance, waiting: dict) -> None:
        """A holder whose process died, or that has finished, must not keep the slot."""
        for holders in waiting.values():
            for h in holders:
                done = None
                if h.finished:
                    found = recovery.free_stale_slots(instance, exclude={self.run_id})
                    done = found[0] if found else None
                    self.cleaned.extend(found[1:])
                elif h.alive is False and h.owner is not None:
                    run = instance.get_run_by_id(h.run_id)
                    done = recovery.fail_dead_run(instance, run, h.owner) if run else None
                if done:
                    self.cleaned.append(done)
                    self.say("  " + done.sentence())

    def _waiting_sentence(self, waiting: dict, seconds: float) -> str:
        parts = []
        for pool, holders in waiting.items():
            parts.append(f"プール {pool}（使用中: {'、'.join(h.describe() for h in holders)}）")
        return f"{' / '.join(parts)}の空きを待っています（{seconds:.0f} 秒）。Ctrl-C で中止できます。"

    def _step_running(self, instance) -> bool:
        return any(s.status is not None and s.status.value == "IN_PROGRESS" for s in instance.get_run_step_stats(self.run_id))

    def _abandon(self, instance) -> None:
        """Stop requested while the run only waits for a slot: end it here (see module docstring)."""
        try:
            self.say(f"  {self.stop.name}を受け取りました。プールの空きを待っていた run {self.run_id[:8]} を中止しました（何も書き込んでいません）。")
            if self.on_abandon is not None:
                self.on_abandon()
        finally:
            run = instance.get_run_by_id(self.run_id)
            if run is not None and run.status != dg.DagsterRunStatus.SUCCESS:
                instance.report_run_canceled(run, message=cancel_message(self.stop) + "（プールの空きを待っている間でした）")
            instance.event_log_storage.free_concurrency_slots_for_run(self.run_id)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(self.stop.exit_code)


def _guarded(on_event: Callable[[dg.EventLogEntry], None]) -> Callable[[dg.EventLogEntry], None]:
    """A listener that can never break the run it listens to (Dagster calls it inline)."""

    def listener(entry: dg.EventLogEntry) -> None:
        try:
            on_event(entry)
        except Exception as exc:  # noqa: BLE001 - progress display only
            print(f"kenpo: event listener: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    return listener


def new_run_id() -> str:
    return str(uuid.uuid4())


def execute(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    *,
    stop: StopSignals,
    say: Callable[[str], None],
    tags: Mapping[str, str] | None = None,
    run_config: Mapping | None = None,
    partition_key: str | None = None,
    asset_selection: Sequence[dg.AssetKey] | None = None,
    on_abandon: Callable[[], None] | None = None,
    on_event: Callable[[dg.EventLogEntry], None] | None = None,
    cleaned: list[recovery.Cleanup] | None = None,
) -> dg.ExecuteInProcessResult:
    """Execute ``job`` in this process on ``instance`` (``execute_in_process``), tagged with this
    process (``recovery.process_tags``) and watched (pool waits, stops). Dagster does not retry a
    run ``kenpo`` started (``dagster/max_retries`` 0): the next ``kenpo`` run redoes the work.

    ``on_event`` receives each event of the run as the instance stores it (in this process, as the
    run goes: ``instance.add_event_listener``); ``cleaned`` collects what the watcher cleaned up
    while the run waited for a pool slot."""
    run_id = new_run_id()
    all_tags = {**(tags or {}), **recovery.process_tags(run_id), "dagster/max_retries": "0"}
    if on_event is not None:
        instance.add_event_listener(run_id, _guarded(on_event))
    with _Watcher(instance, run_id, stop, say, on_abandon, cleaned):
        result = job.execute_in_process(
            instance=instance, run_id=run_id, tags=all_tags, run_config=run_config, partition_key=partition_key,
            asset_selection=list(asset_selection) if asset_selection else None, raise_on_error=False,
        )
    if stop.requested:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status == dg.DagsterRunStatus.FAILURE and run.tags.get("dagster/failure_reason") == "UNEXPECTED_TERMINATION":
            # Dagster treats an interrupt it did not request as a failure: it was a stop
            instance.report_run_canceled(run, message=cancel_message(stop))
    # a step interrupted by a signal keeps its claimed slot: the run has ended, free it now
    if instance.event_log_storage.supports_global_concurrency_limits and run_id in instance.event_log_storage.get_concurrency_run_ids():
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return result
