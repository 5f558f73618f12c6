"""Executing a run plan (``runplan``) through Dagster on the instance under ``DAGSTER_HOME``.

``plan_from_landing`` plans from what the landing area holds; ``run_plan`` executes the plan's runs
one after the other in this process (``execution.execute``: tagged with the process, watched while
it waits for a pool slot, stoppable with Ctrl-C/SIGTERM), feeding a progress callback with typed
events (``Notice``, ``RunStarted``, ``FeedMonthDone``, ``RunFinished``, ``Abandoned``) and
returning a typed ``RunReport``. It prints nothing.

The report's feed-month outcomes are the ones the runs decided: each feed asset puts a
``FeedMonthOutcome`` under ``OUTCOME_KEY`` in its ``accepted`` check evaluation of every month, and
the runner reads them back from the runs' event logs (``feed_month_outcomes``) — it never looks at
the landing area again after a run. A feed-month no run reached is ``not_loaded``, with why. Each
failed step becomes one ``StepFailure`` with one Japanese sentence (its traceback kept for
``--debug``), classified once here: a rejected month (its outcome says it all), a failure a retry
cannot fix (disk full, permission …: ``kenpo/error``; no further run is started), an interrupt (a
stop), or an error.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

import dagster as dg

from kenpo_pipeline.app import UsageError, recovery, runplan
from kenpo_pipeline.app.execution import StopSignals, execute
from kenpo_pipeline.app.runplan import Chunk, RunPlan, YearStep
from kenpo_pipeline.domain.intake.status import OUTCOME_KEY, FeedMonthOutcome
from kenpo_pipeline.domain.reference import FEED_IDS
from kenpo_pipeline.settings import REPO_ROOT, Settings

LANDING_WAIT_FACTOR = 6  # `kenpo run` waits at most this many settle times for files still being written
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # kenpo says what happened itself
TAGS = {"kenpo/source": "cli"}


# --- events and reports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """A sentence while it runs: files still being written, pool waits, what was cleaned up."""

    sentence: str


@dataclass(frozen=True)
class RunStarted:
    kind: str  # feeds | followers (a failed chunk's usable months) | year | after
    step: Chunk | YearStep | None
    feed_months: int  # how many FeedMonthDone events to expect


@dataclass(frozen=True)
class FeedMonthDone:
    outcome: FeedMonthOutcome


@dataclass(frozen=True)
class StepFailure:
    step: str
    kind: str  # rejected | infrastructure | interrupted | error
    sentence: str  # one Japanese sentence
    traceback: str = ""


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    kind: str
    step: Chunk | YearStep | None
    status: str  # success | failure | canceled
    seconds: float
    failures: tuple[StepFailure, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def errors(self) -> list[str]:
        """Sentences of failures the feed-month outcomes do not already tell."""
        return [f.sentence for f in self.failures if f.kind in ("infrastructure", "error")]


@dataclass(frozen=True)
class RunFinished:
    run: RunRecord


@dataclass
class RunReport:
    plan: RunPlan
    outcomes: list[FeedMonthOutcome] = field(default_factory=list)  # one per feed-month of the plan
    runs: list[RunRecord] = field(default_factory=list)
    stopped: str = ""  # the stop signal's name when one ended it
    stop_exit_code: int = 0
    broken: list[str] = field(default_factory=list)  # failures a retry cannot fix: nothing further was started
    cleaned: list[recovery.Cleanup] = field(default_factory=list)

    @property
    def not_ok(self) -> list[FeedMonthOutcome]:
        return [o for o in self.outcomes if not o.status.ok]

    @property
    def quarantined(self) -> list[FeedMonthOutcome]:
        return [o for o in self.outcomes if o.status.ok and o.rows_quarantined]

    @property
    def failed_runs(self) -> list[RunRecord]:
        return [r for r in self.runs if not r.ok]

    @property
    def clean(self) -> bool:
        """Everything loaded with no quarantined row, every run succeeded, no stray file."""
        return not (self.stopped or self.broken or self.not_ok or self.quarantined or self.failed_runs or self.plan.problems or self.plan.skipped)


@dataclass(frozen=True)
class Abandoned:
    """A stop arrived while a run only waited for a pool slot: the process ends right after this."""

    report: RunReport


Event = Union[Notice, RunStarted, FeedMonthDone, RunFinished, Abandoned]
Progress = Callable[[Event], None]


# --- the instance and the definitions ---------------------------------------------------------------


def ensure_dagster_home(settings: Settings) -> Path:
    """``DAGSTER_HOME`` (default ``$KENPO_HOME/dagster``) exists and holds a dagster.yaml."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def open_instance(settings: Settings) -> tuple[dg.DagsterInstance, list[recovery.Cleanup]]:
    """The Dagster instance under ``DAGSTER_HOME`` after crash recovery (``recovery.recover``: runs
    whose process died marked failed, their pool slots freed), and what was cleaned up."""
    ensure_dagster_home(settings)
    instance = dg.DagsterInstance.get()
    return instance, recovery.recover(instance)


def definitions() -> dg.Definitions:
    from kenpo_pipeline.definitions import defs

    return defs()


def job_name(step_kind: str) -> str:
    from kenpo_pipeline.defs.schedules import ACTION_PLAN_JOB_NAME, FISCAL_YEAR_JOB_NAME, MONTHLY_JOB_NAME

    return {"feeds": MONTHLY_JOB_NAME, "followers": MONTHLY_JOB_NAME, "year": FISCAL_YEAR_JOB_NAME, "after": ACTION_PLAN_JOB_NAME}[step_kind]


def run_config(ops: dict[str, dict] | None = None) -> dict:
    """Every run config kenpo launches: Dagster's console logger silent (kenpo reports from the
    run's events; ``--debug`` shows the tracebacks from there), ``ops`` the assets' config."""
    return {**QUIET, **({"ops": {op: {"config": c} for op, c in ops.items()}} if ops else {})}


# --- reading a run back ---------------------------------------------------------------------------


def outcome_of(entry: dg.EventLogEntry) -> FeedMonthOutcome | None:
    """The feed-month outcome an ``accepted`` check evaluation carries (None for any other event)."""
    from kenpo_pipeline.domain.intake.checks import ACCEPTED

    event = entry.dagster_event
    if event is None or event.event_type != dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        return None
    data = event.event_specific_data
    value = data.metadata.get(OUTCOME_KEY) if data.check_name == ACCEPTED else None
    return FeedMonthOutcome.from_json(value.data) if value is not None else None


def feed_month_outcomes(instance: dg.DagsterInstance, run_id: str) -> list[FeedMonthOutcome]:
    """What a run decided for each feed-month, from its event log."""
    entries = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return [o for o in map(outcome_of, entries) if o is not None]


def step_failures(instance: dg.DagsterInstance, run_id: str) -> tuple[StepFailure, ...]:
    """One ``StepFailure`` per failed step of a run (see the module docstring)."""
    out = []
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        step, data = entry.dagster_event.step_key or "", entry.dagster_event.event_specific_data
        user, error = data.user_failure_data, data.error
        metadata = (user.metadata or {}) if user else {}
        trace = error.to_string() if error else ""
        if "kenpo/error" in metadata:
            out.append(StepFailure(step, "infrastructure", user.description or "", trace))
        elif "not_loaded" in metadata:
            out.append(StepFailure(step, "rejected", user.description or "", trace))
        elif error is not None and error.cls_name == "DagsterExecutionInterruptedError":
            out.append(StepFailure(step, "interrupted", "中止しました。", trace))
        elif user is not None and user.description:
            out.append(StepFailure(step, "error", user.description.strip().splitlines()[0], trace))
        else:
            cause = error
            while cause is not None and cause.cause is not None:
                cause = cause.cause
            first = (cause.message.strip().splitlines() or [""])[0] if cause else ""
            detail = f"{cause.cls_name}: {first}" if cause and not first.startswith(cause.cls_name) else first
            out.append(StepFailure(step, "error", f"{step} の実行中に予期しないエラーが起きました（{detail}）。--debug を付けると詳細が表示されます。", trace))
    return tuple(out)


def launch(instance: dg.DagsterInstance, defs: dg.Definitions, kind: str, step: Chunk | YearStep | None, assets: tuple[str, ...], *,
           stop: StopSignals, progress: Progress, ops: dict[str, dict] | None = None, on_abandon: Callable[[], None] | None = None,
           cleaned: list[recovery.Cleanup] | None = None) -> RunRecord:
    """One run of the plan: ``assets`` of ``step`` (a chunk's months, a fiscal year, or nothing for
    the unpartitioned assets) with the job of its ``kind``; its feed-months reported to ``progress``
    as they are decided; the run read back as a ``RunRecord``."""
    tags, partition_key = dict(TAGS), None
    if isinstance(step, Chunk):
        partition_key = step.partition_key
        if partition_key is None:
            tags.update({"dagster/asset_partition_range_start": step.months[0], "dagster/asset_partition_range_end": step.months[-1]})
    elif isinstance(step, YearStep):
        partition_key = str(step.fiscal_year)

    def on_event(entry: dg.EventLogEntry) -> None:
        outcome = outcome_of(entry)
        if outcome is not None:
            progress(FeedMonthDone(outcome))

    started = time.monotonic()
    result = execute(
        defs.resolve_job_def(job_name(kind)), instance, stop=stop, say=lambda s: progress(Notice(s)), tags=tags, run_config=run_config(ops),
        partition_key=partition_key, asset_selection=[dg.AssetKey(a) for a in assets], on_abandon=on_abandon, on_event=on_event, cleaned=cleaned,
    )
    run = instance.get_run_by_id(result.run_id)
    status = "success" if result.success else "canceled" if run is not None and run.status == dg.DagsterRunStatus.CANCELED else "failure"
    failures = step_failures(instance, result.run_id)
    if status == "failure" and not failures:
        failures = (StepFailure("", "error", f"run {result.run_id[:8]} が失敗しました（Dagster UI の Runs で詳細を確認できます）。"),)
    return RunRecord(result.run_id, kind, step, status, time.monotonic() - started, failures)


# --- planning from the landing area -----------------------------------------------------------------


def plan_from_landing(settings: Settings, first: str | None = None, last: str | None = None, through: str = "reports",
                      defs: dg.Definitions | None = None) -> RunPlan:
    """The plan for the months ``first``…``last`` of the landing area (every month with a file when
    neither is given). Files that are no feed-month are recorded as rejected (``feed_loads``) and
    listed in the plan; months outside the partitions are listed as skipped."""
    from kenpo_pipeline.domain.intake.landing import scan_landing

    if not settings.landing.is_dir():
        raise UsageError(f"ランディング領域 {settings.landing} がありません（KENPO_LANDING を設定するか --landing で指定してください）。")
    scan = scan_landing(settings.landing)
    try:
        months = runplan.months_to_run(scan.all_months, first, last)
    except ValueError:
        raise UsageError(f"--from {first} が --to {last} より後です。") from None
    if not months and not scan.problems:
        raise UsageError(f"{settings.landing} にフィードのファイルがありません（<ランディング領域>/<フィード>/<YYYYMM>.csv|xlsx に置いてください）。")
    return plan_months(settings, months, through, files=scan.files, problems=record_landing_problems(settings, scan.problems), defs=defs)


def plan_months(settings: Settings, months: list[str], through: str = "reports", files: dict | None = None,
                problems: list[str] = (), defs: dg.Definitions | None = None) -> RunPlan:
    """The plan for ``months`` (``runplan.plan_run`` over the code location's asset graph and the
    automation's targets; a year that only follows is kept when the warehouse has KPI actuals for it)."""
    from kenpo_pipeline.warehouse.store import Warehouse

    defs = defs or definitions()
    graph = defs.resolve_asset_graph()
    months, skipped = runplan.within_partitions(months, graph.get(dg.AssetKey(FEED_IDS[0])).partitions_def.get_partition_keys())
    wh = Warehouse(settings.warehouse_url)
    wh.ensure_schema()
    return runplan.plan_run(
        graph, months, through, lambda fy: not wh.read_table("kpi_actuals", fiscal_year=fy).empty,
        {k: tuple(v) for k, v in (files or {}).items()}, problems, skipped, runplan.automation_targets(defs),
    )


def record_landing_problems(settings: Settings, problems: list[tuple[Path, str]]) -> list[str]:
    """Files in the landing area that are no feed-month: recorded as rejected, one sentence each."""
    from kenpo_pipeline.domain.intake.reading import FileRejected, sha256_of
    from kenpo_pipeline.warehouse.store import Warehouse

    if not problems:
        return []
    wh = Warehouse(settings.warehouse_url)
    wh.ensure_schema()
    for path, reason in problems:
        if path.is_file() and path.parent.parent == settings.landing:
            wh.record_rejection(path.parent.name, "", str(path), reason, sha256=sha256_of(path))
    return [str(FileRejected(path, reason)) for path, reason in problems]


# --- executing a plan ---------------------------------------------------------------------------------


def run_plan(plan: RunPlan, settings: Settings, progress: Progress = lambda event: None, *, force: bool = False,
             settle_seconds: float | None = None) -> RunReport:
    """Execute ``plan`` (see the module docstring). ``force`` reloads files whose checksum is
    unchanged; ``settle_seconds`` overrides the landing settle time (``kenpo demo``: 0 for the files
    it has just written). A stop signal ends it after the run in progress (no further run starts);
    so does a failure a retry cannot fix."""
    from kenpo_pipeline.domain.intake.pool import shutdown_pool

    with StopSignals() as stop:
        warm_intake_pool(plan, settings)
        try:
            return _Runner(plan, settings, progress, stop, force, settle_seconds).run()
        finally:
            shutdown_pool(kill=stop.requested)


def intake_bytes(plan: RunPlan, landing: Path) -> tuple[int, int]:
    """How many feed files the plan's runs will check, and their bytes (from the files' sizes now)."""
    from kenpo_pipeline.domain.intake.landing import candidate_files

    count = size = 0
    for feed, month in plan.feed_months:
        files = plan.files.get((feed, month)) or candidate_files(landing, feed, month)
        for f in files:
            try:
                size += Path(f).stat().st_size
                count += 1
            except OSError:
                continue
    return count, size


def warm_intake_pool(plan: RunPlan, settings: Settings) -> bool:
    """Start the intake workers now, before Dagster starts the first run, when the plan's runs will
    use them (``KENPO_INTAKE_WORKERS`` ≥ 1, at least two files and ``KENPO_INTAKE_PARALLEL_MIN_BYTES``
    to check): the fork server imports GX while Dagster starts. True when started."""
    from kenpo_pipeline.domain.intake.pool import warm_pool, worth_workers

    if settings.intake_workers < 1 or not plan.chunks:
        return False
    count, size = intake_bytes(plan, settings.landing)
    if not worth_workers(count, size, settings.intake_parallel_min_bytes):
        return False
    return warm_pool(settings.intake_workers) is not None


class _Runner:
    def __init__(self, plan: RunPlan, settings: Settings, progress: Progress, stop: StopSignals, force: bool, settle_seconds: float | None):
        self.plan, self.settings, self.progress, self.stop = plan, settings, progress, stop
        self.force, self.settle_override = force, settle_seconds
        self.settle = settings.landing_settle_seconds if settle_seconds is None else settle_seconds
        self.decided: dict[tuple[str, str], FeedMonthOutcome] = {}
        self.runs: list[RunRecord] = []
        self.broken: list[str] = []
        self.cleaned: list[recovery.Cleanup] = []

    @property
    def ended(self) -> bool:
        return self.stop.requested or bool(self.broken)

    def run(self) -> RunReport:
        self.instance, cleaned = open_instance(self.settings)
        self.cleaned.extend(cleaned)
        for c in cleaned:
            self.progress(Notice(c.sentence()))
        self.defs = definitions()
        for chunk in self.plan.chunks:
            self._wait_until_settled(chunk.months)
            if self.ended:
                break
            record = self._execute("feeds", chunk, feed_months=len(chunk.feed_months))
            for o in feed_month_outcomes(self.instance, record.run_id):
                self.decided[(o.feed, o.month)] = o
            if record.ok or self.ended:
                continue
            for again in runplan.after_failure(chunk, self.decided.values()):  # the usable months' aggregates
                if not self.ended:
                    self._execute("followers", again)
        for step in self.plan.years:
            if not self.ended:
                self._execute("year", step)
        if self.plan.after and not self.ended:
            self._execute("after", None)
        return self.report()

    def report(self) -> RunReport:
        why = "stopped" if self.stop.requested else "broken" if self.broken else ""
        return RunReport(self.plan, runplan.outcomes(self.plan, self.decided, self.settings.landing, why), list(self.runs), self.stop.name,
                         self.stop.exit_code if self.stop.requested else 0, list(self.broken), list(self.cleaned))

    def _execute(self, kind: str, step: Chunk | YearStep | None, feed_months: int = 0) -> RunRecord:
        ops = {}
        if isinstance(step, Chunk):
            feed_config = {**({"force": True} if self.force else {}),
                           **({"settle_seconds": float(self.settle_override)} if self.settle_override is not None else {})}
            ops = {feed: feed_config for feed in FEED_IDS if feed in step.assets and feed_config}
        self.progress(RunStarted(kind, step, feed_months))
        record = launch(
            self.instance, self.defs, kind, step, step.assets if step is not None else self.plan.after, stop=self.stop, progress=self.progress,
            ops=ops, on_abandon=lambda: self.progress(Abandoned(self.report())), cleaned=self.cleaned,
        )
        self.runs.append(record)
        self.broken.extend(f.sentence for f in record.failures if f.kind == "infrastructure" and f.sentence not in self.broken)
        self.progress(RunFinished(record))
        return record

    def _wait_until_settled(self, months: tuple[str, ...]) -> None:
        """Wait (at most ``LANDING_WAIT_FACTOR`` × the settle time) while files of ``months`` are still
        being written, saying which; a file still being written after that is not loaded this time
        (its run says so). Only the files' modification times are looked at."""
        from kenpo_pipeline.domain.intake.landing import candidate_files, settle_seconds_left

        if self.settle <= 0 or self.ended:
            return
        deadline = time.monotonic() + LANDING_WAIT_FACTOR * self.settle
        told: set[Path] = set()
        while True:
            pending = []
            for month in months:
                for feed in FEED_IDS:
                    for f in candidate_files(self.settings.landing, feed, month):
                        try:
                            if settle_seconds_left(f.stat(), self.settle) > 0:
                                pending.append(f)
                        except FileNotFoundError:
                            continue
            if not pending:
                return
            new = [f for f in pending if f not in told]
            if new:
                told.update(new)
                self.progress(Notice(f"  書き込み中のファイルが {len(new)} 個あります（{files_list(new, self.settings.landing)}）。"
                                     f"{self.settle:g} 秒間変化がなくなるまで待ちます（最大 {LANDING_WAIT_FACTOR * self.settle:g} 秒）。"))
            if time.monotonic() >= deadline:
                self.progress(Notice(f"  まだ書き込み中のため、今回は読み込みません: {files_list(pending, self.settings.landing, shown=20)}"))
                return
            if self.stop.wait(1.0):
                return


def files_list(files: list[Path], landing: Path, shown: int = 3) -> str:
    """Files of the landing area for a sentence: paths relative to it, the first ``shown``, then the count."""
    def rel(f: Path) -> str:
        try:
            return str(Path(f).relative_to(landing))
        except ValueError:
            return str(f)

    names = [rel(f) for f in files]
    return "、".join(names[:shown]) + (f" ほか {len(names) - shown} 個" if len(names) > shown else "")
