"""``kenpo`` — the command line (shared spec/outputs.md "Command line").

Exit status: 0 all loaded and computed; 1 something was rejected, missing or quarantined
(everything valid was still loaded, and the output says what and where); 2 usage or configuration
error. Every command that computes runs through Dagster on the instance under ``DAGSTER_HOME``, so
its runs, materializations and checks appear in the UI.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from kenpo_pipeline.settings import REPO_ROOT, ConfigurationError, Settings, load_settings

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def _print(msg: str = "", *, err: bool = False) -> None:
    print(msg, file=sys.stderr if err else sys.stdout, flush=True)


# --- Dagster plumbing -------------------------------------------------------------------------


def ensure_dagster_home(settings: Settings) -> Path:
    """``DAGSTER_HOME`` (default ``$KENPO_HOME/dagster``) exists and holds a dagster.yaml."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _definitions():
    from kenpo_pipeline.definitions import defs

    return defs()


def _month_arg(value: str, flag: str) -> str:
    from kenpo_pipeline.domain import calendar

    m = re.fullmatch(r"(\d{4})-?(\d{2})", value.strip())
    if not m or not 1 <= int(m[2]) <= 12:
        raise UsageError(f"{flag} expects a month as YYYY-MM (e.g. 2024-04), got {value!r}")
    return calendar.month_key(int(m[1]), int(m[2]))


@dataclass
class FeedMonthStatus:
    feed: str
    month: str
    status: str  # loaded | rejected | missing | not_ready | not_loaded
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str = ""
    load_id: int | None = None


STATUS_COLUMNS = [("loaded", "取込済"), ("rejected", "却下"), ("missing", "未着"), ("not_ready", "書込中"), ("not_loaded", "未読込")]


def feed_month_statuses(
    warehouse, landing: Path, months: list[str], settle_seconds: float = 0.0, why_not: str = "実行がそこまで進まなかったため"
) -> list[FeedMonthStatus]:
    """What the warehouse now holds for each feed-month, judged against the file in the landing area
    (under the same landing contract as a load: a file still being written is *not ready*)."""
    from kenpo_pipeline.domain.intake.landing import FileNotReady, candidate_files, not_ready_message, sha256_settled
    from kenpo_pipeline.domain.intake.reading import FileRejected
    from kenpo_pipeline.domain.reference import FEED_IDS

    out = []
    for month in months:
        for feed in FEED_IDS:
            files = candidate_files(landing, feed, month)
            current = warehouse.current_load(feed, month)
            latest = warehouse.latest_attempt(feed, month)
            kept = f"前回の取込（load {current['load_id']}、{current['path']}）がそのまま使われます。" if current else ""
            if not files:
                msg = f"{landing / feed} に {month.replace('-', '')}.csv|xlsx がありません。" + kept
                out.append(FeedMonthStatus(feed, month, "missing", message=msg))
                continue
            if len(files) > 1:
                reason = latest["reason"] if latest and latest["status"] == "rejected" else f"{month} のファイルが {len(files)} 個あります"
                out.append(FeedMonthStatus(feed, month, "rejected", message=str(FileRejected(files[0].parent / f"{month.replace('-', '')}.*", reason)) + kept))
                continue
            try:
                sha, _ = sha256_settled(files[0], settle_seconds)
            except FileNotReady as exc:
                out.append(FeedMonthStatus(feed, month, "not_ready", message=not_ready_message(exc, current)))
                continue
            except OSError:
                sha = None
            if current and current["sha256"] == sha:
                out.append(FeedMonthStatus(feed, month, "loaded", current["rows_loaded"], current["rows_quarantined"], f"load {current['load_id']}", current["load_id"]))
            elif latest and latest["status"] == "rejected" and (sha is None or latest["sha256"] in (sha, "")):
                out.append(FeedMonthStatus(feed, month, "rejected", message=str(FileRejected(files[0], latest["reason"])) + kept))
            else:
                out.append(FeedMonthStatus(feed, month, "not_loaded", message=f"{files[0]} は{why_not}読み込まれていません。" + kept))
    return out


class Progress:
    """Prints feed-month progress while a run executes (polls ``feed_loads``)."""

    def __init__(self, warehouse, total: int, label: str):
        self.warehouse, self.total, self.label = warehouse, total, label
        self._stop = threading.Event()
        self._start = time.time()
        self._seen = self._count()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._tty = sys.stdout.isatty()

    def _count(self) -> int:
        try:
            return len(self.warehouse.loads())
        except Exception:  # noqa: BLE001 - the table may not exist yet
            return 0

    def say(self, line: str) -> None:
        """A line from the run's watcher (a pool wait, a cleanup), printed between progress bars."""
        _print(("\n" if self._tty else "") + line)

    def _loop(self) -> None:
        last = -1
        while not self._stop.wait(1.0):
            done = min(self.total, self._count() - self._seen)
            if done != last:
                last = done
                bar = "#" * int(20 * done / max(1, self.total))
                line = f"  {self.label} [{bar:<20}] {done}/{self.total} フィード月  {time.time() - self._start:5.1f} 秒"
                if self._tty:
                    print("\r" + line, end="", flush=True)
                elif done and (done == self.total or done % 12 == 0):
                    print(line, flush=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self._tty:
            print("", flush=True)


def fiscal_year_chunks(months: list[str]) -> list[list[str]]:
    """Split months into runs: consecutive months of the same fiscal year (a backfill unit)."""
    from kenpo_pipeline.domain import calendar

    chunks: list[list[str]] = []
    for m in sorted(set(months)):
        if chunks and calendar.fiscal_year_of_month(m) == calendar.fiscal_year_of_month(chunks[-1][-1]) and calendar.add_months(chunks[-1][-1], 1) == m:
            chunks[-1].append(m)
        else:
            chunks.append([m])
    return chunks


THROUGH = {
    # how far `kenpo run` goes after the months: the fiscal-year assets it materializes
    "actuals": ["kpi_actuals"],
    "evaluation": ["kpi_actuals", "pdca_evaluation", "data_quality"],
    "reports": None,  # the whole fiscal_year_kpis job, then the three-year view
}
# `kenpo run` waits at most this many settle times for files still being written (60 s at 10 s)
LANDING_WAIT_FACTOR = 6
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # the command line says what happened itself


@dataclass
class RunOutcome:
    statuses: list[FeedMonthStatus]
    failures: list[str]  # run ids of failed runs
    stopped: bool = False  # a stop signal ended it
    failure_sentences: list[str] | None = None  # infrastructure failures (disk full …), one sentence each


def open_instance(settings: Settings):
    """The Dagster instance under ``DAGSTER_HOME``, after crash recovery (``app.recovery``): runs
    whose process died are marked failed and their pool slots freed; says what it cleaned up."""
    import dagster as dg

    from kenpo_pipeline.app.recovery import recover

    ensure_dagster_home(settings)
    instance = dg.DagsterInstance.get()
    for cleanup in recover(instance):
        _print(cleanup.sentence())
    return instance


def wait_until_settled(landing: Path, months: list[str], settle_seconds: float, stop) -> None:
    """Wait (at most ``LANDING_WAIT_FACTOR`` × the settle time) while files of ``months`` are still
    being written, saying which; a file still being written after that is not loaded this time."""
    from kenpo_pipeline.domain.intake.landing import candidate_files, settle_seconds_left
    from kenpo_pipeline.domain.reference import FEED_IDS

    if settle_seconds <= 0:
        return
    deadline = time.monotonic() + LANDING_WAIT_FACTOR * settle_seconds
    told: set[Path] = set()
    while True:
        pending = []
        for month in months:
            for feed in FEED_IDS:
                for f in candidate_files(landing, feed, month):
                    try:
                        if settle_seconds_left(f.stat(), settle_seconds) > 0:
                            pending.append(f)
                    except FileNotFoundError:
                        continue
        if not pending:
            return
        new = [f for f in pending if f not in told]
        if new:
            told.update(new)
            _print(f"  書き込み中のファイルがあります: {'、'.join(str(f) for f in new)}。"
                   f"{settle_seconds:g} 秒間変化がなくなるまで待ちます（最大 {LANDING_WAIT_FACTOR * settle_seconds:g} 秒）。")
        if time.monotonic() >= deadline:
            _print(f"  まだ書き込み中のため、今回は読み込みません: {'、'.join(str(f) for f in pending)}")
            return
        if stop.wait(1.0):
            return


def _infrastructure_failures(result) -> list[str]:
    """The sentences of step failures a retry cannot fix (disk full, permission …, see
    ``warehouse.errors``), from a run's events."""
    out = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        data = event.event_specific_data.user_failure_data
        if data is not None and "kenpo/error" in (data.metadata or {}) and data.description not in out:
            out.append(data.description)
    return out


def _unexpected_failures(result) -> list[str]:
    """First lines of step failures that are neither a rejected month, an infrastructure failure
    nor an interrupt (those are reported elsewhere)."""
    out = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        data = event.event_specific_data
        if data.user_failure_data is not None and ("kenpo/error" in (data.user_failure_data.metadata or {}) or "not_loaded" in (data.user_failure_data.metadata or {})):
            continue
        if data.error is not None and data.error.cls_name == "DagsterExecutionInterruptedError":
            continue
        message = (data.error.message if data.error else "").strip().splitlines()
        out.append(f"{event.step_key}: {message[0] if message else 'failed'}")
    return out


def run_months(
    settings: Settings, months: list[str], force: bool = False, through: str = "reports", settle_seconds: float | None = None, stop=None
) -> RunOutcome:
    """Materialize the feed assets for ``months`` (one Dagster run per fiscal-year chunk), then the
    fiscal-year assets up to ``through`` (see ``THROUGH``). ``settle_seconds`` overrides the landing
    settle time (``kenpo demo``: 0 for its own files). A stop signal (``stop``) ends it after the run
    in progress: no further run starts. A failure a retry cannot fix (disk full …) ends it too."""
    import dagster as dg

    from kenpo_pipeline.app.execution import StopSignals, execute
    from kenpo_pipeline.defs.schedules import ACTION_PLAN_JOB_NAME, FISCAL_YEAR_JOB_NAME, MONTHLY_JOB_NAME
    from kenpo_pipeline.domain import calendar
    from kenpo_pipeline.domain.reference import FEED_IDS
    from kenpo_pipeline.warehouse.store import Warehouse

    stop = stop or StopSignals()
    settle = settings.landing_settle_seconds if settle_seconds is None else settle_seconds
    instance = open_instance(settings)
    defs = _definitions()
    job = defs.resolve_job_def(MONTHLY_JOB_NAME)
    warehouse = Warehouse(settings.warehouse_url)
    warehouse.ensure_schema()
    run_failures: list[str] = []
    broken: list[str] = []

    def summary_on_abandon():
        report_statuses(feed_month_statuses(warehouse, settings.landing, months, settle, why_not="実行を中止したため"), stop=stop)

    def execute_quietly(job_def, **kwargs):
        return execute(job_def, instance, stop=stop, say=_print, on_abandon=summary_on_abandon, **kwargs)

    chunks = fiscal_year_chunks(months)
    for i, chunk in enumerate(chunks, start=1):
        if stop.requested or broken:
            break
        fy = calendar.fiscal_year_of_month(chunk[0])
        label = f"[{i}/{len(chunks)}] {calendar.fiscal_year_label(fy)} {chunk[0]}…{chunk[-1]}"
        wait_until_settled(settings.landing, chunk, settle, stop)
        if stop.requested:
            break
        _print(f"{label}: 4 フィード × {len(chunk)} か月を読み込みます")
        run_config = dict(QUIET)
        op_config = {"force": True} if force else {}
        if settle_seconds is not None:
            op_config["settle_seconds"] = float(settle_seconds)
        if op_config:
            run_config["ops"] = {feed: {"config": op_config} for feed in FEED_IDS}
        tags = {"kenpo/source": "cli"}
        partition_key = None
        if len(chunk) == 1:
            partition_key = chunk[0]
        else:
            tags.update({"dagster/asset_partition_range_start": chunk[0], "dagster/asset_partition_range_end": chunk[-1]})
        started = time.time()
        with Progress(warehouse, 4 * len(chunk), label) as progress:
            result = execute(job, instance, stop=stop, say=progress.say, on_abandon=summary_on_abandon,
                             tags=tags, run_config=run_config, partition_key=partition_key)
        state = "成功" if result.success else ("中止" if stop.requested else "失敗")
        _print(f"  run {result.run_id[:8]} {state}（{time.time() - started:.1f} 秒）")
        if result.success:
            continue
        run_failures.append(result.run_id)
        broken.extend(s for s in _infrastructure_failures(result) if s not in broken)
        for line in _unexpected_failures(result):
            _print(f"  ✗ {line}")
        if stop.requested or broken:
            break
        # the months that did load still need their aggregates (that step was skipped)
        again = execute_quietly(job, tags=tags, run_config=QUIET, partition_key=partition_key, asset_selection=[dg.AssetKey("monthly_aggregates")])
        _print(f"  読み込めた月の月次集計: run {again.run_id[:8]} {'成功' if again.success else '失敗'}")
        if not again.success:
            broken.extend(s for s in _infrastructure_failures(again) if s not in broken)
    fy_job = defs.resolve_job_def(FISCAL_YEAR_JOB_NAME)
    touched = sorted({calendar.fiscal_year_of_month(m) for m in months})
    # the next year's evaluation takes its previous-year targets from a touched year
    followers = [fy + 1 for fy in touched if fy + 1 not in touched and len(warehouse.read_table("kpi_actuals", fiscal_year=fy + 1))]
    if through == "actuals":
        followers = []
    wanted = [dg.AssetKey(k) for k in THROUGH[through]] if THROUGH[through] else None
    for fy in sorted(touched + followers):
        if stop.requested or broken:
            break
        started = time.time()
        # a follower year: its evaluation (previous-year targets) and, with the reports, its incentive ranking
        # (伸び is against the previous year) change with the touched year
        follower = [dg.AssetKey("pdca_evaluation")] + ([dg.AssetKey("incentive_ranking")] if through == "reports" else [])
        selection = wanted if fy in touched else follower
        result = execute_quietly(fy_job, partition_key=str(fy), tags={"kenpo/source": "cli"}, run_config=QUIET, asset_selection=selection)
        what = "KPI 実績" + ("と評価" if through != "actuals" else "") if fy in touched else "評価" + ("とインセンティブ制度の順位" if through == "reports" else "") + "（前年度の実績が変わったため）"
        state = "を計算しました" if result.success else ("の計算を中止しました" if stop.requested else "の計算に失敗しました")
        _print(f"{calendar.fiscal_year_label(fy)}: {what}{state}（{time.time() - started:.1f} 秒、run {result.run_id[:8]}）")
        if not result.success:
            run_failures.append(result.run_id)
            broken.extend(s for s in _infrastructure_failures(result) if s not in broken)
            for line in _unexpected_failures(result):
                _print(f"  ✗ {line}")
    if through == "reports" and not stop.requested and not broken:
        result = execute_quietly(defs.resolve_job_def(ACTION_PLAN_JOB_NAME), tags={"kenpo/source": "cli"}, run_config=QUIET)
        _print(f"3 か年のアクションプラン表示を{'更新しました' if result.success else '更新できませんでした'}（run {result.run_id[:8]}）")
        if not result.success:
            run_failures.append(result.run_id)
            broken.extend(s for s in _infrastructure_failures(result) if s not in broken)
    why_not = "実行を中止したため" if stop.requested else "倉庫に書き込めなかったため" if broken else "実行がそこまで進まなかったため"
    statuses = feed_month_statuses(warehouse, settings.landing, months, settle, why_not=why_not)
    return RunOutcome(statuses, run_failures, stop.requested, broken)


def report_statuses(statuses: list[FeedMonthStatus], stop=None, broken: list[str] | None = None, other_problems: bool = False) -> int:
    """The summary per feed and one line per feed-month that is not loaded as it stands; the exit
    code (130/143 after a stop signal)."""
    from kenpo_pipeline.domain.reference import FEED_IDS

    _print("")
    _print(f"{'フィード':<12}" + "".join(f"{name:>6}" for _, name in STATUS_COLUMNS) + f"{'取込行数':>12}{'隔離行数':>10}")
    for feed in FEED_IDS:
        s = [x for x in statuses if x.feed == feed]
        _print(
            f"{feed:<16}" + "".join(f"{sum(x.status == key for x in s):>9}" for key, _ in STATUS_COLUMNS)
            + f"{sum(x.rows_loaded for x in s):>16,}{sum(x.rows_quarantined for x in s):>14,}"
        )
    problems = [x for x in statuses if x.status != "loaded"]
    quarantined = [x for x in statuses if x.rows_quarantined]
    for x in problems:
        _print(f"  ✗ {x.feed} {x.month}: {x.message}")
    for x in quarantined:
        _print(f"  ! {x.feed} {x.month}: {x.rows_quarantined:,} 行を隔離しました（テーブル quarantine、load {x.load_id}）")
    for sentence in broken or []:
        _print(f"  ✗ {sentence}")
    _print("")
    if stop is not None and stop.requested:
        loaded = sum(x.status == "loaded" for x in statuses)
        _print(f"{stop.name}を受け取ったため中止しました（終了コード {stop.exit_code}）: 読み込み済みのフィード月は {loaded} 件、"
               f"読み込んでいないものは上のとおりです。途中の月は取り消され、これ以降の run は開始していません。")
        return stop.exit_code
    if broken:
        _print("倉庫に書き込めないため中止しました（終了コード 1）: 上の ✗ の対処をしてから、もう一度実行してください。これ以降の run は開始していません。")
        return EXIT_PROBLEMS
    if problems or quarantined or other_problems:
        _print("問題がありました（終了コード 1）: 読み込めるものはすべて読み込みました。上の ✗ と ! を見てください。")
        return EXIT_PROBLEMS
    _print("すべて読み込みました。")
    return EXIT_OK


def _record_landing_problems(settings: Settings, problems) -> None:
    from kenpo_pipeline.domain.intake.reading import FileRejected
    from kenpo_pipeline.warehouse.store import Warehouse

    if not problems:
        return
    wh = Warehouse(settings.warehouse_url)
    wh.ensure_schema()
    for path, reason in problems:
        feed = path.parent.name if path.is_file() else ""
        if path.is_file() and path.parent.parent == settings.landing:
            from kenpo_pipeline.domain.intake.reading import sha256_of

            wh.record_rejection(feed, "", str(path), reason, sha256=sha256_of(path))
        _print(f"  ✗ {FileRejected(path, reason)}")


# --- commands ---------------------------------------------------------------------------------


def cmd_sample(args) -> int:
    from kenpo_pipeline.domain.intake.sample import write_sample

    out = Path(args.out) if args.out else load_settings().landing
    started = time.time()

    def progress(i, n, month):
        if i == n or i % 12 == 0:
            _print(f"  {i}/{n} months written (…{month})")

    try:
        months = [_month_arg(m.strip(), "--months") for m in args.months.split(",")] if args.months else None
        paths = write_sample(out, args.from_fy, args.to_fy, scale=args.scale, seed=args.seed, progress=progress, months=months)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    _print(f"wrote {len(paths)} files to {out} in {time.time() - started:.1f}s (scale {args.scale}, seed {args.seed})")
    return EXIT_OK


def _partition_bounds_problem(month: str) -> str | None:
    from kenpo_pipeline.defs.partitions import monthly_partitions

    keys = monthly_partitions.get_partition_keys()
    if month not in keys:
        return f"{month} is not a monthly partition (months run from {keys[0]} to {keys[-1]}, the last complete month)"
    return None


def cmd_run(args) -> int:
    from kenpo_pipeline.app.execution import StopSignals
    from kenpo_pipeline.domain import calendar
    from kenpo_pipeline.domain.intake.landing import scan_landing

    if args.landing:
        os.environ["KENPO_LANDING"] = str(Path(args.landing).resolve())
    settings = load_settings()
    if not settings.landing.is_dir():
        raise UsageError(f"the landing area {settings.landing} does not exist (set KENPO_LANDING or pass --landing)")
    scan = scan_landing(settings.landing)
    first = _month_arg(args.from_month, "--from") if args.from_month else None
    last = _month_arg(args.to_month, "--to") if args.to_month else None
    if first or last:
        present = scan.all_months
        first = first or (present[0] if present else last)
        last = last or (present[-1] if present else first)
        if first > last:
            raise UsageError(f"--from {first} is after --to {last}")
        months = calendar.months_between(first, last)
    else:
        months = scan.all_months
    if not months and not scan.problems:
        raise UsageError(f"no feed files in {settings.landing} (expected <landing>/<feed>/<YYYYMM>.csv|xlsx)")
    skipped = [(m, p) for m in months if (p := _partition_bounds_problem(m))]
    months = [m for m in months if not _partition_bounds_problem(m)]
    _print(f"ランディング領域: {settings.landing}   倉庫: {settings.warehouse_url}")
    _record_landing_problems(settings, scan.problems)
    for _m, problem in skipped:
        _print(f"  ✗ skipped: {problem}")
    with StopSignals() as stop:
        if months:
            outcome = run_months(settings, months, force=args.force, through=args.through, stop=stop)
        else:
            outcome = RunOutcome([], [])
        return report_statuses(
            outcome.statuses, stop=stop, broken=outcome.failure_sentences, other_problems=bool(outcome.failures or scan.problems or skipped)
        )


def cmd_demo(args) -> int:
    from kenpo_pipeline.app.execution import StopSignals
    from kenpo_pipeline.domain.intake.sample import write_sample

    settings = load_settings()
    if not settings.uses_default_warehouse and not args.force:
        raise UsageError(
            f"the demo writes sample data and refuses to run against {settings.warehouse_url}; "
            f"unset KENPO_WAREHOUSE_URL to use the embedded default ({settings.default_warehouse_url}) or pass --force"
        )
    _print(f"kenpo demo — sample feeds FY{args.from_fy}–FY{args.to_fy} (scale {args.scale}, seed {args.seed}) into {settings.landing}")
    started = time.time()
    paths = write_sample(settings.landing, args.from_fy, args.to_fy, scale=args.scale, seed=args.seed)
    _print(f"  wrote {len(paths)} files in {time.time() - started:.1f}s")
    months = sorted({f"{p.stem[:4]}-{p.stem[4:]}" for p in paths})
    with StopSignals() as stop:
        # the demo has just written these files itself, whole: no settle time to wait for
        outcome = run_months(settings, months, settle_seconds=0.0, stop=stop)
        code = report_statuses(outcome.statuses, stop=stop, broken=outcome.failure_sentences, other_problems=bool(outcome.failures))
        if outcome.stopped or outcome.failure_sentences:
            return code
    print_evaluation(settings, args.to_fy, "00")
    _print("")
    from kenpo_pipeline.domain.reporting.workbook import workbook_name

    for fy in range(args.from_fy, args.to_fy + 1):
        national = settings.reports / workbook_name(fy, "00")
        if national.exists():
            _print(f"workbooks FY{fy}: {national} and {len(list(settings.reports.glob(f'pdca_FY{fy}_*.xlsx')))} branch workbooks")
    _print(f"warehouse: {settings.warehouse_url}")
    _print(f"Dagster instance: {settings.dagster_home}")
    _print("open the UI with:  .venv/bin/kenpo ui   (then http://127.0.0.1:3000)")
    return code


def print_evaluation(settings: Settings, fy: int, branch: str) -> None:
    """The evaluation table of one scope, as the shared presentation draws it."""
    from kenpo_pipeline.domain.calendar import fiscal_year_label_ja
    from kenpo_pipeline.domain.reference import branch_name
    from kenpo_pipeline.domain.reporting.presentation import evaluation_text
    from kenpo_pipeline.warehouse.store import Warehouse

    table = Warehouse(settings.warehouse_url).read_table("pdca_evaluation", fiscal_year=fy, branch_code=branch)
    _print("")
    if table.empty:
        _print(f"{fiscal_year_label_ja(fy)} KPI実績一覧表（{branch_name(branch)}）: 事業計画未登録 or no data")
        return
    for line in evaluation_text(table):
        _print(line)


def cmd_report(args) -> int:
    import dagster as dg

    from kenpo_pipeline.app.execution import StopSignals, execute
    from kenpo_pipeline.defs.schedules import FISCAL_YEAR_JOB_NAME
    from kenpo_pipeline.domain.calendar import fiscal_year_label
    from kenpo_pipeline.domain.reference import branch_codes
    from kenpo_pipeline.domain.reporting.workbook import workbook_name

    settings = load_settings()
    if args.branch is not None:
        code = args.branch.strip().zfill(2)
        if code not in ["00", *branch_codes()]:
            raise UsageError(f"--branch expects a branch code 00–47, got {args.branch!r}")
        scopes = [code]
    else:
        scopes = []
    out = Path(args.out).resolve() if args.out else settings.reports
    instance = open_instance(settings)
    job = _definitions().resolve_job_def(FISCAL_YEAR_JOB_NAME)
    with StopSignals() as stop:
        result = execute(
            job, instance, stop=stop, say=_print, partition_key=str(args.fiscal_year), tags={"kenpo/source": "cli"},
            asset_selection=[dg.AssetKey("pdca_workbooks")],
            run_config={**QUIET, "ops": {"pdca_workbooks": {"config": {"branches": scopes, "out_dir": str(out)}}}},
        )
        if stop.requested:
            _print(f"kenpo: {stop.name}を受け取ったため、ワークブックの書き出しを中止しました（run {result.run_id[:8]}）。", err=True)
            return stop.exit_code
    if not result.success:
        for sentence in _infrastructure_failures(result):
            _print(f"kenpo: {sentence}", err=True)
        for line in _unexpected_failures(result):
            _print(f"kenpo: report failed: {line}", err=True)
        return EXIT_PROBLEMS
    names = [workbook_name(args.fiscal_year, c) for c in (scopes or ["00", *branch_codes()])]
    _print(f"{fiscal_year_label(args.fiscal_year)}: {len(names)} workbook(s) written to {out}")
    for name in names[: 1 if len(names) > 1 else None]:
        _print(f"  {out / name}")
    if len(names) > 1:
        _print(f"  … and {len(names) - 1} branch workbooks (pdca_FY{args.fiscal_year}_01.xlsx … _47.xlsx)")
    return EXIT_OK


def cmd_backtest(args) -> int:
    """How well the in-year projection would have predicted a completed year's year-end values."""
    from kenpo_pipeline.domain.calendar import fiscal_year_label, month_label_ja
    from kenpo_pipeline.domain.kpis.projection import backtest
    from kenpo_pipeline.warehouse.store import Warehouse

    wh = Warehouse(load_settings().warehouse_url)
    wh.ensure_schema()
    current = wh.read_table("kpi_actuals", fiscal_year=args.fiscal_year)
    if current.empty:
        raise UsageError(f"no kpi_actuals for FY{args.fiscal_year}: run the year first (kenpo run)")
    table = backtest(args.fiscal_year, current, wh.read_table("kpi_actuals", fiscal_year=args.fiscal_year - 1))
    _print(f"{fiscal_year_label(args.fiscal_year)}: projected year-end vs actual year-end, every branch × measure")
    _print(f"{'as of':<14}{'pairs':>7}{'median |error| %':>18}{'90th pct %':>12}")
    for r in table.itertuples():
        _print(f"{month_label_ja(r.as_of_month):<14}{r.pairs:>7}{r.median_abs_error_pct:>18.2f}{r.p90_abs_error_pct:>12.2f}")
    return EXIT_OK


def cmd_finalize(args) -> int:
    """Record a fiscal year's approved evaluation as its published version (確定)."""
    import getpass

    from kenpo_pipeline.domain.calendar import fiscal_months, fiscal_year_label, month_label
    from kenpo_pipeline.domain.kpis.catalog import load_catalogs
    from kenpo_pipeline.domain.kpis.publication import catalog_checksum
    from kenpo_pipeline.warehouse.store import Warehouse, publish_evaluation

    settings = load_settings()
    open_instance(settings)  # a crashed run must not hold the warehouse pool (app.recovery)
    fy = args.fiscal_year
    wh = Warehouse(settings.warehouse_url)
    wh.ensure_schema()
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=fy)
    if evaluation.empty:
        raise UsageError(f"FY{fy} has no evaluation to publish: run the year first (kenpo run)")
    as_of = str(evaluation["as_of_month"].iloc[0])
    if as_of != fiscal_months(fy)[-1]:
        raise UsageError(f"FY{fy} is evaluated as of {month_label(as_of)}, during the year; only a year-end evaluation can be published")
    catalogs, problems = load_catalogs(settings.catalogs)
    if problems or fy not in catalogs:
        raise UsageError(f"the FY{fy} catalog in {settings.catalogs} is missing or has problems (kenpo catalog check)")
    record = publish_evaluation(wh, fy, args.by or getpass.getuser(), args.note or "", catalog_checksum(catalogs[fy].path))
    counts = evaluation["status"].value_counts()
    _print(
        f"{fiscal_year_label(fy)}: published as version {record['version']} by {record['published_by']} at "
        f"{record['published_at']:%Y-%m-%d %H:%M} UTC — {record['rows']} rows ("
        + "、".join(f"{s} {counts.get(s, 0)}" for s in ("達成", "未達成", "判定不能"))
        + f"), as of {month_label(as_of)}, catalog sha256 {record['catalog_sha256'][:12]}…"
    )
    _print("later corrections recompute pdca_evaluation but never rewrite this version; run `kenpo report` to write the published workbooks.")
    return EXIT_OK


def cmd_catalog_check(args) -> int:
    from kenpo_pipeline.domain.kpis.catalog import load_action_plans, load_catalogs

    folder = Path(args.folder) if args.folder else load_settings().catalogs
    catalogs, problems = load_catalogs(folder)  # the Action Plans' problems included
    for fy, catalog in sorted(catalogs.items()):
        plans = "、".join(f"{p.plan} {p.branch_code}（KPI {len(p.kpis)}件、{p.status}）" for p in catalog.plans)
        _print(f"FY{fy}: {catalog.path.name}: {plans}")
    for plan in load_action_plans(folder)[0]:
        _print(f"FY{plan.years[0]}〜FY{plan.years[-1]}: {plan.path.name}: {plan.name}（KPI {len(plan.kpis)}件、{plan.status}）")
    for problem in problems:
        _print(f"  ✗ {problem}")
    if not catalogs and not problems:
        _print(f"{folder} にカタログ（FY<年度>.yaml）がありません")
        return EXIT_PROBLEMS
    _print("カタログに問題はありません。" if not problems else f"{folder} のカタログに問題が {len(problems)} 件あります。")
    return EXIT_OK if not problems else EXIT_PROBLEMS


def cmd_validate(args) -> int:
    from kenpo_pipeline.domain.intake.feeds import TooManyBadRows, check_feed_file
    from kenpo_pipeline.domain.intake.reading import FileRejected

    settings = load_settings()
    share = args.max_bad_row_share if args.max_bad_row_share is not None else settings.max_bad_row_share
    code = EXIT_OK
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
        try:
            check = check_feed_file(path, feed=args.feed, max_bad_row_share=share)
        except TooManyBadRows as exc:
            _print(f"REJECTED  {exc}")
            for line in exc.details:
                _print(f"          {line}")
            code = EXIT_PROBLEMS
            continue
        except FileRejected as exc:
            _print(f"REJECTED  {exc}")
            code = EXIT_PROBLEMS
            continue
        verdict = "OK" if not check.quarantine else "QUARANTINE"
        _print(f"{verdict:<10}{path}: {check.rows_read:,} rows read, {check.rows_loaded:,} would load, {check.rows_quarantined:,} would be quarantined")
        limit = None if args.all else 20
        for q in check.quarantine[:limit]:
            _print(f"          line {q.row_number} {q.column_name} = {q.value!r}: {q.reason}")
        if limit and len(check.quarantine) > limit:
            _print(f"          … {len(check.quarantine) - limit} more (use --all)")
        for w in check.warnings:
            _print(f"  warning: {w}")
        for f in check.findings:
            _print(f"  warning: {f.message}")
        if check.quarantine:
            code = EXIT_PROBLEMS
    return code


def cmd_db(args) -> int:
    """The warehouse schema: ``upgrade`` (apply migrations), ``current``, ``history``."""
    from kenpo_pipeline.warehouse import migrate
    from kenpo_pipeline.warehouse.store import Warehouse

    if args.db_command == "history":
        for rev, down, doc in migrate.history():
            _print(f"{down or '(base)'} → {rev}  {doc}")
        return EXIT_OK
    settings = load_settings()
    wh = Warehouse(settings.warehouse_url)
    where = wh.engine.url.render_as_string(hide_password=True)
    head = migrate.head_revision()
    if args.db_command == "current":
        current = migrate.current_revision(wh.engine)
        if current is None:
            _print(f"{where}: no schema yet (run `kenpo db upgrade`); newest revision {head}")
            return EXIT_PROBLEMS
        _print(f"{where}: revision {current}" + (" (newest)" if current == head else f", behind {head}: run `kenpo db upgrade`"))
        return EXIT_OK if current == head else EXIT_PROBLEMS
    before, after = wh.upgrade(args.revision)
    if before == after:
        _print(f"{where}: already at revision {after}")
    else:
        _print(f"{where}: upgraded {before or '(empty)'} → {after}")
    return EXIT_OK


def cmd_ui(args) -> int:
    settings = load_settings()
    open_instance(settings)  # runs left by a crashed process are cleaned up before the daemon starts
    exe = Path(sys.executable).parent / "dagster"
    cmd = [str(exe if exe.exists() else "dagster"), "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    _print(f"DAGSTER_HOME={settings.dagster_home}  {' '.join(cmd)}")
    os.chdir(REPO_ROOT)
    os.execv(cmd[0], cmd) if os.path.isabs(cmd[0]) else os.execvp(cmd[0], cmd)
    return EXIT_OK  # pragma: no cover


# --- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kenpo", description="kenpo-pipeline: load, check and evaluate 協会けんぽ KPI feeds through Dagster.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="write realistic sample feeds")
    s.add_argument("--out", help="folder to write (default: the landing area)")
    s.add_argument("--from-fy", type=int, default=2022)
    s.add_argument("--to-fy", type=int, default=2024)
    s.add_argument("--scale", type=float, default=0.05, help="1.0 = national volumes")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--months", help="only these months of the fiscal years, comma-separated YYYY-MM (e.g. one month at --scale 1.0)")
    s.set_defaults(func=cmd_sample)

    r = sub.add_parser("run", help="materialize months from the landing area through Dagster")
    r.add_argument("--landing", help="landing area (default $KENPO_LANDING)")
    r.add_argument("--from", dest="from_month", help="first month YYYY-MM")
    r.add_argument("--to", dest="to_month", help="last month YYYY-MM")
    r.add_argument("--force", action="store_true", help="reload even files whose checksum is unchanged")
    r.add_argument("--through", choices=list(THROUGH), default="reports",
                   help="after the months: kpi_actuals only, + evaluation and data quality, or everything incl. workbooks (default)")
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="sample data FY2022–FY2024 → loaded and checked on the embedded default")
    d.add_argument("--force", action="store_true", help="run even against a non-default warehouse")
    d.add_argument("--scale", type=float, default=0.02)
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--from-fy", type=int, default=2022)
    d.add_argument("--to-fy", type=int, default=2024)
    d.set_defaults(func=cmd_demo)

    v = sub.add_parser("validate", help="check feed files exactly as a load would, without loading")
    v.add_argument("files", nargs="+")
    v.add_argument("--feed", help="the feed, when the file is not in a <feed>/ folder")
    v.add_argument("--all", action="store_true", help="list every quarantined row")
    v.add_argument("--max-bad-row-share", type=float, default=None)
    v.set_defaults(func=cmd_validate)

    rp = sub.add_parser("report", help="write the PDCA workbook(s) of a fiscal year")
    rp.add_argument("--fiscal-year", type=int, required=True)
    rp.add_argument("--branch", help="one scope: 00 (national) or a branch code 01–47 (default: all 48)")
    rp.add_argument("--out", help="folder (default $KENPO_REPORTS)")
    rp.set_defaults(func=cmd_report)

    fz = sub.add_parser("finalize", help="record a fiscal year's approved evaluation as the published version (確定)")
    fz.add_argument("--fiscal-year", type=int, required=True)
    fz.add_argument("--by", help="who approved it (default: the current user)")
    fz.add_argument("--note", help="e.g. the meeting that approved it")
    fz.set_defaults(func=cmd_finalize)

    bt = sub.add_parser("backtest", help="how well the in-year projection predicted a completed fiscal year")
    bt.add_argument("--fiscal-year", type=int, required=True)
    bt.set_defaults(func=cmd_backtest)

    c = sub.add_parser("catalog", help="KPIカタログ")
    csub = c.add_subparsers(dest="catalog_command", required=True)
    cc = csub.add_parser("check", help="KPIカタログと手入力ファイルを検査します（何も実行しません）")
    cc.add_argument("folder", nargs="?", help="カタログのフォルダ（省略時は $KENPO_CATALOGS）")
    cc.set_defaults(func=cmd_catalog_check)

    db = sub.add_parser("db", help="the warehouse schema (Alembic migrations)")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    dbu = dbsub.add_parser("upgrade", help="apply the migrations to $KENPO_WAREHOUSE_URL (creates an empty warehouse)")
    dbu.add_argument("--revision", default="head")
    dbsub.add_parser("current", help="the warehouse's schema revision (exit 1 when it is behind)")
    dbsub.add_parser("history", help="the migrations, oldest first")
    db.set_defaults(func=cmd_db)

    u = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on this instance")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.set_defaults(func=cmd_ui)
    return p


def main(argv: list[str] | None = None) -> int:
    from kenpo_pipeline.warehouse.migrate import SchemaOutOfDate

    _quiet()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors already
        return int(exc.code or 0)
    try:
        return args.func(args)
    except (UsageError, ConfigurationError, SchemaOutOfDate) as exc:
        _print(f"kenpo: error: {exc}", err=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _print("kenpo: 中止しました（Ctrl-C）。", err=True)
        return 128 + signal.SIGINT
    except Exception as exc:
        sentence = _classified(exc)
        if sentence is None:
            raise
        _print(f"kenpo: {sentence}", err=True)
        return EXIT_PROBLEMS


def _classified(exc: BaseException) -> str | None:
    """The one sentence for a failure a retry cannot fix (disk full, permission, corrupt database —
    ``warehouse.errors``), naming the warehouse or, when Dagster's own storage failed, the Dagster
    instance; None for anything else (a bug shows its traceback)."""
    import traceback

    from kenpo_pipeline.warehouse.errors import classify

    try:
        settings = load_settings()
    except ConfigurationError:
        return None
    frames = traceback.extract_tb(exc.__traceback__)
    in_dagster_storage = any("dagster/_core/storage" in f.filename.replace(os.sep, "/") for f in frames[-8:])
    if in_dagster_storage:
        error = classify(exc, target=f"Dagster インスタンス {settings.dagster_home}")
    else:
        error = classify(exc, settings.warehouse_url)
    return error.sentence


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
