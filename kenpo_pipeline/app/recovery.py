"""Crash recovery without a human: runs whose process died, and the pool slots they still hold.

A run that ``kenpo`` starts executes in the ``kenpo`` process itself (``execute_in_process``), so no
daemon watches it. Every such run is tagged with what identifies that process (:func:`process_tags`:
host, pid, the process's start time — a pid can be reused, a start time cannot — and the run id,
so that tags copied onto a re-execution from the UI never count). On start, every ``kenpo`` command
that executes runs calls :func:`recover`:

- a run of this instance that is still NOT_STARTED / STARTING / STARTED / CANCELING but whose
  process is gone is marked failed with the reason (``instance.report_run_failed``), and its pool
  slots are freed (``event_log_storage.free_concurrency_slots_for_run``);
- pool slots still claimed by runs that have finished (or no longer exist) are freed.

Runs launched by the daemon on a local instance (SQLite storage, the default run launcher) are
judged the same way by the pid their run worker reported; on other instances (PostgreSQL storage,
Kubernetes) a daemon-launched run is left to Dagster's run monitoring (``dagster.yaml``), and a run
started by ``kenpo`` on another host is left alone — only its own host can tell whether it lives.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from dataclasses import dataclass, field

import dagster as dg
import psutil

TAG_PID = "kenpo/pid"
TAG_HOST = "kenpo/host"
TAG_STARTED = "kenpo/process_started"
TAG_RUN = "kenpo/run_id"
ACTIVE_STATUSES = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_START_TOLERANCE_SECONDS = 2.0


def _host() -> str:
    return socket.gethostname()


def _started(pid: int) -> float:
    return psutil.Process(pid).create_time()


def process_tags(run_id: str) -> dict[str, str]:
    """The tags that tie a run to the process executing it (this one)."""
    pid = os.getpid()
    return {TAG_PID: str(pid), TAG_HOST: _host(), TAG_STARTED: f"{_started(pid):.3f}", TAG_RUN: run_id}


@dataclass(frozen=True)
class Owner:
    """The process a run belongs to."""

    host: str
    pid: int
    started: float | None  # the process's start time (kenpo tags); None: known only as "before the run started"
    not_after: float | None = None  # for a daemon's run worker: it started no later than this
    launched_by: str = "kenpo"  # kenpo | worker (a run worker known by the pid it reported)

    def describe(self) -> str:
        return f"{'kenpo の ' if self.launched_by == 'kenpo' else ''}pid {self.pid}、ホスト {self.host}"


def owner_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> Owner | None:
    """Which process executes ``run``, when that can be known on this host."""
    tags = run.tags
    if TAG_PID in tags and tags.get(TAG_RUN) == run.run_id:
        try:
            return Owner(tags.get(TAG_HOST, ""), int(tags[TAG_PID]), float(tags[TAG_STARTED]))
        except (KeyError, ValueError):
            return None
    if TAG_PID in tags or not _local_daemon_runs(instance):
        return None
    record = instance.get_run_record_by_id(run.run_id)
    if record is None or record.start_time is None:
        return None  # not started yet: the run monitoring's start timeout covers it
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None:
            try:
                return Owner(_host(), int(pid.text), None, not_after=record.start_time, launched_by="worker")
            except ValueError:
                return None
    return None


def _local_daemon_runs(instance: dg.DagsterInstance) -> bool:
    """Daemon-launched runs are processes on this host: SQLite run storage (a local file) and the
    default run launcher (a local subprocess)."""
    from dagster._core.storage.runs import SqliteRunStorage

    return isinstance(instance.run_storage, SqliteRunStorage) and isinstance(instance.run_launcher, dg.DefaultRunLauncher)


def is_alive(owner: Owner) -> bool | None:
    """True/False when it can be known on this host; None for a process on another host."""
    if owner.host != _host():
        return None
    try:
        proc = psutil.Process(owner.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        started = proc.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # it exists and is not ours to judge
    if owner.started is not None:
        return abs(started - owner.started) <= _START_TOLERANCE_SECONDS  # else: the pid was reused
    return owner.not_after is None or started <= owner.not_after + _START_TOLERANCE_SECONDS


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "不明"
    return dt.datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def describe_run(run: dg.DagsterRun) -> str:
    """``monthly_feeds、2024-04…2024-05`` — a run as a person recognises it."""
    tags = run.tags
    partition = tags.get("dagster/partition")
    if not partition and tags.get("dagster/asset_partition_range_start"):
        partition = f"{tags['dagster/asset_partition_range_start']}…{tags.get('dagster/asset_partition_range_end', '')}"
    return f"{run.job_name}" + (f"、{partition}" if partition else "")


@dataclass
class Cleanup:
    """One thing :func:`recover` cleaned up."""

    run_id: str
    what: str  # describe_run, or "" when the run no longer exists
    kind: str  # dead_run | stale_slots
    owner: Owner | None = None
    started_at: float | None = None
    status: str = ""  # the run's status before
    pools: list[str] = field(default_factory=list)  # pools whose slots were freed

    def sentence(self) -> str:
        """What a person reads (Japanese)."""
        freed = f"、プール {'・'.join(self.pools)} の枠を解放しました" if self.pools else ""
        if self.kind == "dead_run":
            return (
                f"途中で終わった run を片付けました: run {self.run_id[:8]}（{self.what}、{self.owner.describe() if self.owner else ''}、"
                f"開始 {_when(self.started_at)}）は実行していたプロセスがもうないため、失敗として記録し{freed}。"
            )
        what = f"終了済みの run {self.run_id[:8]}（{self.what}）" if self.what else f"もう存在しない run {self.run_id[:8]}"
        return f"{what}が保持していたプール {'・'.join(self.pools)} の枠を解放しました。"


def failure_message(owner: Owner) -> str:
    """The reason recorded on a run whose process died (shown in the UI)."""
    return (
        f"この run を実行していたプロセス（{owner.describe()}）が途中で終了していたため、"
        f"kenpo が {_when(dt.datetime.now().timestamp())} に失敗として記録し、プールの枠を解放しました。"
    )


def _slot_holders(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    """run id → pools in which it holds a slot or has a step waiting."""
    storage = instance.event_log_storage
    out: dict[str, set[str]] = {}
    if not storage.supports_global_concurrency_limits:
        return out
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        for slot in info.claimed_slots:
            out.setdefault(slot.run_id, set()).add(pool)
        for step in info.pending_steps:
            out.setdefault(step.run_id, set()).add(pool)
    for run_id in storage.get_concurrency_run_ids():
        out.setdefault(run_id, set())
    return out


def fail_dead_run(instance: dg.DagsterInstance, run: dg.DagsterRun, owner: Owner) -> Cleanup | None:
    """Mark ``run`` (whose process is gone) failed and free its slots; None when it finished meanwhile."""
    fresh = instance.get_run_by_id(run.run_id)
    if fresh is None or fresh.status not in ACTIVE_STATUSES:
        return None
    record = instance.get_run_record_by_id(run.run_id)
    pools = sorted(_slot_holders(instance).get(run.run_id, set()))
    instance.report_run_failed(fresh, message=failure_message(owner))
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return Cleanup(run.run_id, describe_run(fresh), "dead_run", owner, record.start_time if record else None, fresh.status.value, pools)


def recover(instance: dg.DagsterInstance, exclude: frozenset[str] | set[str] = frozenset()) -> list[Cleanup]:
    """Mark the runs of this instance whose process died as failed, free their pool slots, and
    free slots still held by runs that have finished. Returns what was cleaned up."""
    cleaned: list[Cleanup] = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=ACTIVE_STATUSES)):
        run = record.dagster_run
        if run.run_id in exclude:
            continue
        owner = owner_of(instance, run)
        if owner is None or is_alive(owner) is not False:
            continue
        done = fail_dead_run(instance, run, owner)
        if done:
            cleaned.append(done)
    cleaned.extend(free_stale_slots(instance, exclude | {c.run_id for c in cleaned}))
    return cleaned


def free_stale_slots(instance: dg.DagsterInstance, exclude: frozenset[str] | set[str] = frozenset()) -> list[Cleanup]:
    """Free pool slots held by runs that have finished or no longer exist."""
    cleaned = []
    for run_id, pools in _slot_holders(instance).items():
        if run_id in exclude:
            continue
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            continue
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        if pools:
            cleaned.append(Cleanup(run_id, describe_run(run) if run else "", "stale_slots", status=run.status.value if run else "", pools=sorted(pools)))
    return cleaned


@dataclass(frozen=True)
class Holder:
    """A run holding a slot of a pool another run waits for."""

    run_id: str
    what: str
    owner: Owner | None
    alive: bool | None  # of its process; None when that cannot be known here
    finished: bool  # the run has ended (or no longer exists) but still holds the slot
    started_at: float | None

    def describe(self) -> str:
        who = f"、{self.owner.describe()}" if self.owner else ""
        return f"run {self.run_id[:8]}（{self.what}{who}、開始 {_when(self.started_at)}）"


def waiting_for(instance: dg.DagsterInstance, run_id: str) -> dict[str, list[Holder]]:
    """The pools in which ``run_id`` has a step waiting for a slot that *other* runs hold (or were
    given, or queued for before it), each with those runs; empty when the run waits for nothing
    (or only for its own steps)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    out: dict[str, list[Holder]] = {}
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        mine = [s for s in info.pending_steps if s.run_id == run_id and s.assigned_timestamp is None]
        if not mine:
            continue
        since = min(s.enqueued_timestamp for s in mine)
        # runs that hold a slot, were assigned one, or queued for one before this run
        others = {s.run_id for s in info.claimed_slots}
        others |= {s.run_id for s in info.pending_steps if s.assigned_timestamp is not None or s.enqueued_timestamp <= since}
        others = sorted(others - {run_id})
        if not others:
            continue
        holders = []
        for holder_id in others:
            run = instance.get_run_by_id(holder_id)
            record = instance.get_run_record_by_id(holder_id) if run else None
            owner = owner_of(instance, run) if run else None
            holders.append(
                Holder(
                    holder_id, describe_run(run) if run else "削除済み", owner, is_alive(owner) if owner else None,
                    run is None or run.is_finished, record.start_time if record else None,
                )
            )
        out[pool] = holders
    return out
