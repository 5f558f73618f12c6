"""The edges of a run's life (issue 10, classes 1, 2, 8 and 9's file names): a crashed ``kenpo run``
never blocks the next one, a file still being written is never loaded, Ctrl-C/SIGTERM stop cleanly
with 130/143, a full disk or a read-only warehouse fails at once with one sentence, and one parser
decides what a feed file name means.

Real components throughout: ``kenpo`` subprocesses killed with SIGKILL at observable points of their
run (the Dagster event log: the step's developer log lines "reading", "validating", "writing" and
STEP_START of ``monthly_aggregates``; the warehouse's write lock, held while the process is frozen
with SIGSTOP), writers appending real files, a real SQLite file or PostgreSQL database (``make
test`` runs the ``warehouse`` tests on both), a small tmpfs as root, real Dagster instances
(SQLite, and PostgreSQL with deploy/dagster.postgres.yaml).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import psutil
import pytest
import sqlalchemy as sa
import yaml

from conftest import HEADERS, TEST_DATABASE, dagster_resources, pg_admin_url, pg_database, write_csv
from kenpo_pipeline.app import recovery
from kenpo_pipeline.cli import main
from kenpo_pipeline.defs.feeds import feed_assets
from kenpo_pipeline.defs.kpis import monthly_aggregates
from kenpo_pipeline.defs.resources import LandingResource, WarehouseResource
from kenpo_pipeline.defs.sensors import landing_sensor, run_key
from kenpo_pipeline.domain.intake import landing
from kenpo_pipeline.domain.intake.reading import FileRejected
from kenpo_pipeline.domain.intake.sample import write_sample
from kenpo_pipeline.settings import REPO_ROOT
from kenpo_pipeline.warehouse import errors, store
from kenpo_pipeline.warehouse.store import Warehouse

KENPO = str(Path(sys.executable).parent / "kenpo")
MONTH = "2024-04"
LONG = 600  # seconds: generous bounds for a busy 2-core machine; never a timed assertion


# --- helpers ---------------------------------------------------------------------------------------


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def age(path: Path, seconds: float = 3600) -> None:
    """Make a landed file look like it arrived ``seconds`` ago (settled)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def subprocess_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    env.update(PYTHONUNBUFFERED="1", GX_ANALYTICS_ENABLED="False", **extra)
    return env


def kenpo(args: list[str], env: dict, out: Path) -> subprocess.Popen:
    """``kenpo ARGS`` in its own process group (so that it can be killed whole, like a terminal would)."""
    return subprocess.Popen([KENPO, *args], env=env, stdout=open(out, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = LONG) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"kenpo (pid {proc.pid}) did not finish within {timeout}s")


def kill_group(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


class EndedFirst(AssertionError):
    """kenpo ended before what a test waited for (a fast run can pass a point between two polls)."""


def wait_for(what: str, condition, proc: subprocess.Popen | None = None, timeout: float = LONG, every: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise EndedFirst(f"kenpo ended (exit {proc.returncode}) before {what}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def instance_at(settings) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def started_run(instance: dg.DagsterInstance, job: str = "monthly_feeds", ignore: frozenset = frozenset()):
    for r in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        if r.dagster_run.job_name == job and r.dagster_run.run_id not in ignore:
            return r.dagster_run
    return None


def run_ids(instance) -> frozenset:
    return frozenset(r.dagster_run.run_id for r in instance.get_run_records())


def run_has(instance, text: str | None = None, step_start: str | None = None, job: str = "monthly_feeds", ignore: frozenset = frozenset()) -> str | None:
    """The id of the started ``job`` run whose event log has the log line ``text`` (or the
    STEP_START of ``step_start``). Polled while kenpo writes the same SQLite event log: a read that
    finds it locked just says "not yet"."""
    try:
        run = started_run(instance, job, ignore)
        if run is None:
            return None
        for entry in instance.all_logs(run.run_id):
            if text and entry.dagster_event is None and text in entry.user_message:
                return run.run_id
            if step_start and entry.dagster_event and entry.dagster_event.event_type_value == "STEP_START" and entry.dagster_event.step_key == step_start:
                return run.run_id
    except sa.exc.OperationalError as exc:
        if "locked" not in str(exc):
            raise
    return None


def write_lock_held(settings) -> bool:
    """Whether some process holds the warehouse's write lock: SQLite's (``BEGIN IMMEDIATE`` fails at
    once) or a feed-month advisory lock on PostgreSQL."""
    url = settings.warehouse_url
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split("///", 1)[1], timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc), exc
            return True
        finally:
            conn.close()
    engine = store.engine_for(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )).scalar()
    return n > 0


def assert_feed_loads_add_up(wh: Warehouse) -> None:
    """Every attempt adds up, exactly one current load per feed-month, and the feed table holds
    exactly the current load's rows."""
    loads = wh.loads()
    assert (loads["rows_read"] == loads["rows_loaded"] + loads["rows_quarantined"]).all(), loads
    current = loads[loads["status"] == "loaded"]
    assert not current.duplicated(["feed", "month"]).any(), current
    for row in current.itertuples():
        rows = wh.read_table(row.feed, month=row.month)
        assert len(rows) == row.rows_loaded, (row.feed, row.month, len(rows), row.rows_loaded)
        assert set(rows["load_id"]) == {row.load_id}, (row.feed, row.month)


def aggregates_match(wh: Warehouse, month: str) -> bool:
    agg = wh.read_table("monthly_aggregates", month=month)
    return int(agg[agg["input"] == "benefits_rows"]["value"].sum()) == wh.current_load("benefits", month)["rows_loaded"]


def no_slots_held(instance: dg.DagsterInstance) -> bool:
    storage = instance.event_log_storage
    return all(not storage.get_concurrency_info(p).claimed_slots and not storage.get_concurrency_info(p).pending_steps for p in storage.get_concurrency_keys())


def first_load(settings, months=(MONTH,), benefits_scale: float = 0.002) -> None:
    """A good load of ``months`` (in this process) to crash the next one against; files aged."""
    from_fy = int(months[0][:4]) - (months[0][5:] < "04")
    to_fy = int(months[-1][:4]) - (months[-1][5:] < "04")
    write_sample(settings.landing, from_fy, to_fy, scale=0.002, months=list(months))
    if benefits_scale != 0.002:
        write_sample(settings.landing, from_fy, to_fy, scale=benefits_scale, months=list(months), feeds=("benefits",))
    for f in settings.landing.rglob("*.*"):
        age(f)
    assert main(["run", "--from", months[0], "--to", months[-1], "--through", "actuals"]) == 0


def corrected_benefits(settings, tmp_path, month=MONTH, scale=0.2, seed=7) -> Path:
    """Another export of the month's benefits (a different seed), dropped into the landing area."""
    other = tmp_path / f"other-{seed}"
    fy = int(month[:4]) - (month[5:] < "04")
    (path,) = write_sample(other, fy, fy, scale=scale, seed=seed, months=[month], feeds=("benefits",))
    target = settings.landing / "benefits" / path.name
    shutil.copyfile(path, target)
    age(target)
    return target


# --- 1. crash recovery: kill -9 at several points, the next run completes -----------------------------

CRASH_POINTS = {
    # how each point shows in the event log of the run
    "reading": dict(text=f"benefits {MONTH}: reading"),
    "validating": dict(text=f"benefits {MONTH}: validating"),
    "writing": dict(text=f"benefits {MONTH}: writing"),
    "aggregating": dict(step_start="monthly_aggregates"),
}


def logged(instance, run_id: str, text: str | None = None, step: str | None = None, kind: str = "STEP_START") -> bool:
    for entry in instance.all_logs(run_id):
        if text and entry.dagster_event is None and text in entry.user_message:
            return True
        if step and entry.dagster_event and entry.dagster_event.event_type_value == kind and entry.dagster_event.step_key == step:
            return True
    return False


def frozen_at(point: str, settings, new_sha: str) -> bool:
    """With the process frozen (SIGSTOP): is it where the point says, and not past it? Judged from
    the warehouse only (the frozen process may hold a lock on Dagster's SQLite event log)."""
    if point == "writing":
        return write_lock_held(settings)  # inside the month's replace transaction
    current = Warehouse(settings.warehouse_url).current_load("benefits", MONTH)
    if point in ("reading", "validating"):
        return not write_lock_held(settings) and current["sha256"] != new_sha  # before the replace
    return current["sha256"] == new_sha  # aggregating: the feeds are loaded


@pytest.mark.warehouse
@pytest.mark.parametrize("point", [p if p == "writing" else pytest.param(p, marks=pytest.mark.one_database) for p in CRASH_POINTS])
def test_a_run_killed_at_any_point_never_blocks_the_next_one(kenpo_env, tmp_path, point):
    first_load(kenpo_env)
    wh = Warehouse(kenpo_env.warehouse_url)
    env = subprocess_env()
    args = ["run", "--from", MONTH, "--to", MONTH, "--through", "actuals"]
    with instance_at(kenpo_env) as instance:
        for attempt in range(5):  # a freeze that lands past the point (a busy machine) is tried again
            old = wh.current_load("benefits", MONTH)
            new_sha = sha(corrected_benefits(kenpo_env, tmp_path, seed=7 + attempt))  # 62k rows: a long write
            earlier = run_ids(instance)  # (a run killed by an earlier attempt is still "started")
            proc = kenpo(args, env, tmp_path / f"killed-{attempt}.log")
            inside = False
            try:
                try:
                    killed = wait_for(f"the {point} point", lambda: run_has(instance, **CRASH_POINTS[point], ignore=earlier), proc)
                except EndedFirst:  # the run passed the point between two polls (a fast machine) and finished
                    continue
                if point == "writing":
                    wait_for("the feed-month's write lock", lambda: write_lock_held(kenpo_env), proc, every=0.005)
                kill_group(proc, signal.SIGSTOP)  # freeze, look, then kill -9 the process group
                inside = frozen_at(point, kenpo_env, new_sha)
            finally:
                kill_group(proc)
                proc.wait()
            # still a run in progress (not one that had just finished) once the process is gone
            if inside and instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED:
                break
        else:
            raise AssertionError(f"the kill never landed at {point} in 5 attempts")

        # what issue 10 saw: the run left STARTED, its pool slot claimed
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED
        info = instance.event_log_storage.get_concurrency_info("warehouse")
        assert killed in {s.run_id for s in info.claimed_slots}
        # the warehouse holds either the previous good load or the complete new one
        assert_feed_loads_add_up(wh)
        current = wh.current_load("benefits", MONTH)
        if point == "aggregating":
            assert current["sha256"] == new_sha
        else:  # killed before or inside the replace transaction: rolled back, nothing recorded
            assert current["load_id"] == old["load_id"]
            assert not (wh.loads()["sha256"] == new_sha).any()

        # the next run cleans up (and says so), completes, and loads the new file whole
        again = kenpo(args, env, tmp_path / "next.log")
        assert finish(again) == 0, (tmp_path / "next.log").read_text()
        out = (tmp_path / "next.log").read_text()
        assert f"途中で終わった run を片付けました: run {killed[:8]}" in out, out
        assert "失敗として記録し、プール warehouse の枠を解放しました" in out
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
        failure = next(e for e in instance.all_logs(killed) if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE")
        assert "途中で終了していたため" in failure.dagster_event.message
        assert no_slots_held(instance)
    assert_feed_loads_add_up(wh)
    assert wh.current_load("benefits", MONTH)["sha256"] == new_sha
    assert aggregates_match(wh, MONTH)


def fake_run(instance, *, pid: int, started: float | None = None, host: str | None = None, status=dg.DagsterRunStatus.STARTED,
             claim: bool = True, own_tags: bool = True) -> str:
    """A run of this instance 'executed' by process ``pid`` (the kenpo tags), holding a warehouse slot."""
    run_id = str(uuid.uuid4())
    tags = {
        recovery.TAG_PID: str(pid), recovery.TAG_HOST: host or recovery._host(),
        recovery.TAG_STARTED: f"{started if started is not None else psutil.Process(pid).create_time():.3f}",
        recovery.TAG_RUN: run_id if own_tags else str(uuid.uuid4()), "dagster/partition": MONTH,
    }
    instance.add_run(dg.DagsterRun(job_name="monthly_feeds", run_id=run_id, tags=tags, status=status))
    if claim:
        storage = instance.event_log_storage
        if "warehouse" not in storage.get_concurrency_keys():
            storage.initialize_concurrency_limit_to_default("warehouse")
        assert storage.claim_concurrency_slot("warehouse", run_id, "benefits").is_claimed
    return run_id


def dead_pid() -> tuple[int, float]:
    p = subprocess.Popen(["true"])
    started = psutil.Process(p.pid).create_time()
    p.wait()
    return p.pid, started


def check_recovery_rules(instance: dg.DagsterInstance) -> None:
    pid, started = dead_pid()
    dead = fake_run(instance, pid=pid, started=started)
    cleaned = recovery.recover(instance)
    assert [c.run_id for c in cleaned] == [dead]
    assert cleaned[0].pools == ["warehouse"] and "失敗として記録し、プール warehouse の枠を解放しました" in cleaned[0].sentence()
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
    assert no_slots_held(instance)
    # alive (this process), on another host, tags copied onto another run: left alone
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        alive = fake_run(instance, pid=sleeper.pid)
        elsewhere = fake_run(instance, pid=pid, started=started, host="another-host", claim=False)
        copied = fake_run(instance, pid=pid, started=started, own_tags=False, claim=False)
        # the pid reused by a later process: dead
        reused = fake_run(instance, pid=sleeper.pid, started=psutil.Process(sleeper.pid).create_time() - 3600, claim=False)
        cleaned = recovery.recover(instance)
        assert [c.run_id for c in cleaned] == [reused]
        for run_id in (alive, elsewhere, copied):
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        # a run that has finished but still holds a slot: the slot is freed
        instance.report_run_failed(instance.get_run_by_id(alive))
        cleaned = recovery.recover(instance)
        assert [(c.run_id, c.kind) for c in cleaned] == [(alive, "stale_slots")]
        assert no_slots_held(instance)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_recovery_marks_dead_runs_failed_and_frees_their_slots(tmp_path):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        check_recovery_rules(instance)


def pg_instance_home(tmp_path, monkeypatch, url: str) -> Path:
    u = sa.engine.make_url(url)
    for k, v in {"DAGSTER_PG_HOST": u.host, "DAGSTER_PG_PORT": str(u.port), "DAGSTER_PG_DB": u.database,
                 "DAGSTER_PG_USER": u.username, "DAGSTER_PG_PASSWORD": u.password or ""}.items():
        monkeypatch.setenv(k, v)
    home = tmp_path / "dagster-pg"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "deploy" / "dagster.postgres.yaml").read_text())
    return home


def test_recovery_works_the_same_on_a_postgres_dagster_instance(tmp_path, monkeypatch):
    with pg_database() as url:
        home = pg_instance_home(tmp_path, monkeypatch, url)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            check_recovery_rules(instance)


def test_a_killed_run_on_a_postgres_dagster_instance_does_not_block_the_next(kenpo_env, tmp_path, monkeypatch):
    with pg_database() as url:
        home = pg_instance_home(tmp_path, monkeypatch, url)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        kenpo_env = type(kenpo_env)(**{**kenpo_env.__dict__, "dagster_home": home})
        first_load(kenpo_env)
        env = subprocess_env(DAGSTER_HOME=str(home), **{k: os.environ[k] for k in os.environ if k.startswith("DAGSTER_PG_")})
        args = ["run", "--from", MONTH, "--to", MONTH, "--through", "actuals"]
        with dg.DagsterInstance.from_config(str(home)) as instance:
            for attempt in range(5):  # a run that passes the step between two polls and finishes: again
                corrected_benefits(kenpo_env, tmp_path, scale=0.002, seed=7 + attempt)
                earlier = run_ids(instance)
                proc = kenpo(args, env, tmp_path / f"killed-{attempt}.log")
                try:
                    killed = wait_for("the aggregate step", lambda: run_has(instance, step_start="monthly_aggregates", ignore=earlier), proc)
                    break
                except EndedFirst:
                    continue
                finally:
                    kill_group(proc)
                    proc.wait()
            else:
                raise AssertionError("the aggregate step was never caught in 5 attempts")
            assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED
            again = kenpo(args, env, tmp_path / "next.log")
            assert finish(again) == 0, (tmp_path / "next.log").read_text()
            assert f"途中で終わった run を片付けました: run {killed[:8]}" in (tmp_path / "next.log").read_text()
            assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
            assert no_slots_held(instance)
        assert aggregates_match(Warehouse(kenpo_env.warehouse_url), MONTH)


@pytest.mark.warehouse
def test_a_wait_for_a_pool_slot_says_who_holds_it_and_ends_when_the_holder_dies(kenpo_env, tmp_path):
    first_load(kenpo_env)
    corrected_benefits(kenpo_env, tmp_path, scale=0.002)
    holder = subprocess.Popen(["sleep", "600"])
    try:
        with instance_at(kenpo_env) as instance:
            held = fake_run(instance, pid=holder.pid)
            proc = kenpo(["run", "--from", MONTH, "--to", MONTH, "--through", "actuals"], subprocess_env(), tmp_path / "wait.log")
            log = tmp_path / "wait.log"
            wait_for("the wait message", lambda: f"プール warehouse（使用中: run {held[:8]}" in log.read_text(), proc)
            assert "の空きを待っています" in log.read_text() and "Ctrl-C で中止できます" in log.read_text()
            holder.kill()  # the holder's process dies while kenpo waits
            holder.wait()
            assert finish(proc) == 0, log.read_text()
            assert f"途中で終わった run を片付けました: run {held[:8]}" in log.read_text()
            assert instance.get_run_by_id(held).status == dg.DagsterRunStatus.FAILURE
            assert no_slots_held(instance)
    finally:
        holder.kill()
        holder.wait()
    assert_feed_loads_add_up(Warehouse(kenpo_env.warehouse_url))


# --- 8. signals ---------------------------------------------------------------------------------------


@pytest.mark.warehouse
@pytest.mark.parametrize("sig, code, point", [(signal.SIGINT, 130, "writing"),
                                               pytest.param(signal.SIGTERM, 143, "validating", marks=pytest.mark.one_database)])
def test_a_signal_stops_kenpo_run_after_rolling_back_the_month(kenpo_env, tmp_path, sig, code, point):
    months = ("2024-03", MONTH)  # two fiscal years: two runs, the second must never start
    first_load(kenpo_env, months)
    wh = Warehouse(kenpo_env.warehouse_url)
    args = ["run", "--from", months[0], "--to", months[-1], "--through", "actuals"]
    with instance_at(kenpo_env) as instance:
        for attempt in range(3):  # a freeze that lands just after the commit is tried again
            before = {(f, m): wh.current_load(f, m)["load_id"] for f in HEADERS for m in months}
            for m in months:
                corrected_benefits(kenpo_env, tmp_path, month=m, seed=7 + attempt)
            runs_before = run_ids(instance)
            log = tmp_path / f"signal-{attempt}.log"
            proc = kenpo(args, subprocess_env(), log)
            try:
                wait_for(point, lambda: run_has(instance, text=f"benefits 2024-03: {point}", ignore=runs_before), proc)
                if point == "writing":
                    wait_for("the write lock", lambda: write_lock_held(kenpo_env), proc, every=0.005)
                    kill_group(proc, signal.SIGSTOP)
                    if not write_lock_held(kenpo_env):
                        continue  # committed just before the freeze (the finally kills it); again
                    os.kill(proc.pid, sig)  # delivered as it continues: inside the write transaction
                    kill_group(proc, signal.SIGCONT)
                else:
                    os.kill(proc.pid, sig)
                assert finish(proc) == code, log.read_text()
                (run,) = [r.dagster_run for r in instance.get_run_records() if r.dagster_run.run_id not in runs_before]
                if run.status == dg.DagsterRunStatus.SUCCESS:
                    # Python runs a signal's handler between bytecodes: a signal that arrives while a C
                    # call runs (the COMMIT itself) takes effect when it returns, after the step. The
                    # month is then loaded whole, and kenpo says so (and still starts no further run).
                    text = log.read_text()
                    assert f"✗ 現金給付 {months[0]}" not in text and f"✗ 現金給付 {months[1]}" in text, text
                    assert "これ以降の run は開始していません" in text, text
                    assert wh.current_load("benefits", months[0])["load_id"] != before[("benefits", months[0])]
                    assert_feed_loads_add_up(wh)
                    continue  # again, for a signal that lands inside the transaction
                break
            finally:
                kill_group(proc)
                proc.wait()
        else:
            raise AssertionError("the signal never landed inside the write transaction in 3 attempts")
        out = log.read_text()
        new_runs = [r.dagster_run for r in instance.get_run_records() if r.dagster_run.run_id not in runs_before]
        assert [r.job_name for r in new_runs] == ["monthly_feeds"], "no further run started"
        assert new_runs[0].status == dg.DagsterRunStatus.CANCELED
        assert no_slots_held(instance)
    name = "Ctrl-C（SIGINT）" if sig == signal.SIGINT else "SIGTERM"
    assert f"{name}を受け取ったため中止しました（終了コード {code}）" in out, out
    assert "これ以降の run は開始していません" in out
    for m in months:  # what was and was not loaded, month by month
        assert f"✗ 現金給付 {m}: {kenpo_env.landing / 'benefits' / (m.replace('-', '') + '.csv')} は実行を中止したため読み込まれていません。" in out
    assert "Traceback" not in out
    assert_feed_loads_add_up(wh)
    assert {(f, m): wh.current_load(f, m)["load_id"] for f in HEADERS for m in months} == before  # nothing half-loaded


@pytest.mark.warehouse
@pytest.mark.one_database
def test_ctrl_c_ends_a_wait_for_a_pool_slot(kenpo_env, tmp_path):
    first_load(kenpo_env)
    corrected_benefits(kenpo_env, tmp_path, scale=0.002)
    holder = subprocess.Popen(["sleep", "600"])
    log = tmp_path / "wait.log"
    try:
        with instance_at(kenpo_env) as instance:
            held = fake_run(instance, pid=holder.pid)
            before = {r.dagster_run.run_id for r in instance.get_run_records()}
            proc = kenpo(["run", "--from", MONTH, "--to", MONTH], subprocess_env(), log)
            try:
                wait_for("the wait message", lambda: "の空きを待っています" in log.read_text(), proc)
                os.kill(proc.pid, signal.SIGINT)
                assert finish(proc) == 130, log.read_text()
            finally:
                kill_group(proc)
            (waiting,) = [r.dagster_run for r in instance.get_run_records() if r.dagster_run.run_id not in before]
            assert waiting.job_name == "monthly_feeds" and waiting.status == dg.DagsterRunStatus.CANCELED
            # the live holder keeps its slot; the run that waited holds nothing, and no step of it ran
            slots = instance.event_log_storage.get_concurrency_info("warehouse")
            assert {s.run_id for s in slots.claimed_slots} == {held}
            assert waiting.run_id not in {s.run_id for s in slots.pending_steps}
            assert not logged(instance, waiting.run_id, step="benefits")
    finally:
        holder.kill()
        holder.wait()
    out = log.read_text()
    assert "プールの空きを待っていた run" in out and "中止しました（何も書き込んでいません）" in out
    assert "Ctrl-C（SIGINT）を受け取ったため中止しました（終了コード 130）" in out


# --- 2. a file is loaded only when complete and stable ---------------------------------------------


class SlowWriter:
    """Copies ``source`` into ``target`` a chunk at a time, like a slow network copy, until told to
    finish; then writes the rest at once."""

    def __init__(self, source: Path, target: Path, chunk: int = 2048, every: float = 0.2):
        self.data = source.read_bytes()
        self.target, self.chunk, self.every = target, chunk, every
        self._finish = threading.Event()
        self.written = 0
        self.max_gap = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with open(self.target, "wb") as f:
            last = time.monotonic()
            while not self._finish.is_set() and self.written < len(self.data) - self.chunk:
                f.write(self.data[self.written : self.written + self.chunk])
                f.flush()
                self.written += self.chunk
                now = time.monotonic()
                self.max_gap, last = max(self.max_gap, now - last), now
                self._finish.wait(self.every)
            f.write(self.data[self.written :])
            self.written = len(self.data)

    def __enter__(self):
        self._thread.start()
        while self.written == 0:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc):
        self._finish.set()
        self._thread.join()


@pytest.mark.warehouse
@pytest.mark.one_database
def test_kenpo_run_never_loads_a_file_still_being_written(kenpo_env, tmp_path):
    first_load(kenpo_env)
    wh = Warehouse(kenpo_env.warehouse_url)
    old = wh.current_load("benefits", MONTH)
    fy = 2024
    (source,) = write_sample(tmp_path / "other", fy, fy, scale=0.05, seed=7, months=[MONTH], feeds=("benefits",))
    target = kenpo_env.landing / "benefits" / source.name
    settle = 5
    env = subprocess_env(KENPO_LANDING_SETTLE_SECONDS=str(settle))
    log = tmp_path / "partial.log"
    with SlowWriter(source, target, chunk=1024, every=0.25) as writer:  # 1.2 MB: five minutes of copying
        proc = kenpo(["run", "--from", MONTH, "--to", MONTH, "--through", "actuals"], env, log)
        code = finish(proc)
        still_writing = writer.written < len(writer.data)
    assert still_writing, "the writer must still have been writing when kenpo ended"
    assert writer.max_gap < settle, f"the writer paused {writer.max_gap:.1f}s: longer than the settle time, the test proves nothing"
    out = log.read_text()
    assert code == 1, out
    assert f"書き込み中のファイルが 1 個あります（benefits/{target.name}）。" in out and f"最大 {6 * settle} 秒" in out
    assert f"✗ 現金給付 {MONTH}: {target} は書き込み中のため読み込みませんでした（" in out
    assert f"現在の取込（load {old['load_id']}）をそのまま使います。" in out
    assert "rejected" not in out and "却下" not in out.split("\n\n")[-1]
    loads = wh.loads()
    assert set(loads[loads["feed"] == "benefits"]["load_id"]) == {old["load_id"]}, "no feed_loads row for a partial file"
    assert wh.current_load("benefits", MONTH)["load_id"] == old["load_id"]
    # the writer has finished: once the file has settled, the next run loads it whole
    assert target.read_bytes() == source.read_bytes()
    proc = kenpo(["run", "--from", MONTH, "--to", MONTH, "--through", "actuals"], env, tmp_path / "whole.log")
    assert finish(proc) == 0, (tmp_path / "whole.log").read_text()
    current = wh.current_load("benefits", MONTH)
    assert current["sha256"] == sha(source) and current["rows_read"] == len(source.read_text(encoding="utf-8").splitlines()) - 1
    assert_feed_loads_add_up(wh)


@pytest.mark.warehouse
@pytest.mark.one_database
def test_the_landing_sensor_waits_for_a_file_still_being_written(kenpo_env, dagster_instance, tmp_path):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=[MONTH])
    for f in kenpo_env.landing.rglob("*.*"):
        age(f)
    resources = dagster_resources(kenpo_env)
    dg.materialize([*feed_assets, monthly_aggregates], instance=dagster_instance, resources=resources, partition_key=MONTH)
    settle = 3.0
    sensor_resources = {"landing": LandingResource(path=str(kenpo_env.landing), settle_seconds=settle), "warehouse": resources["warehouse"]}

    def tick(cursor):
        return landing_sensor(dg.build_sensor_context(instance=dagster_instance, cursor=cursor, resources=sensor_resources))

    (source,) = write_sample(tmp_path / "other", 2024, 2024, scale=0.05, seed=7, months=[MONTH], feeds=("benefits",))
    target = kenpo_env.landing / "benefits" / source.name
    cursor = None
    with SlowWriter(source, target, every=0.1) as writer:
        for _ in range(8):  # evaluations while the copy is under way: never a run for it
            result = tick(cursor)
            cursor = result.cursor
            assert not result.run_requests, [r.run_key for r in result.run_requests]
            assert "書き込み中のファイルが 1 件あります" in result.skip_reason.skip_message
            time.sleep(0.2)
        assert writer.written < len(writer.data)
    assert writer.max_gap < settle
    # finished, but not yet settled: still no run; once settled: one run, for the whole file
    result = tick(cursor)
    assert not result.run_requests
    result = wait_for("a run request", lambda: tick(cursor).run_requests or None, timeout=LONG, every=0.5)
    assert [r.run_key for r in result] == [run_key("benefits", MONTH, sha(source))]
    dg.materialize(feed_assets[:1] + [monthly_aggregates], instance=dagster_instance, resources=resources, partition_key=MONTH)
    wh = Warehouse(kenpo_env.warehouse_url)
    assert wh.current_load("benefits", MONTH)["sha256"] == sha(source)
    assert_feed_loads_add_up(wh)


def test_a_file_that_changes_while_it_is_read_is_not_ready(tmp_path):
    """The stat before and after the read catches a writer that keeps the modification time old."""
    path = tmp_path / "benefits" / "202404.csv"
    path.parent.mkdir()
    path.write_bytes(b"x" * 4_000_000)
    age(path)
    stop = threading.Event()

    def append():
        with open(path, "ab") as f:
            while not stop.is_set():
                f.write(b"y" * 4096)
                f.flush()
                age(path)  # a copy tool that restores the source's old modification time
                time.sleep(0.002)  # between appends the file looks settled: a read starts, and the next append lands in it

    writer = threading.Thread(target=append, daemon=True)
    writer.start()
    reasons = []
    try:
        for _ in range(2000):  # until a read overlaps an append (a few tries, even on a busy machine)
            try:
                data = landing.read_settled(path, settle_seconds=10)
                assert len(data) % 4096 == 4_000_000 % 4096  # whole appends only, never torn
            except landing.FileNotReady as exc:
                reasons.append(exc.reason)
            if landing.CHANGED_WHILE_READ in reasons:
                break
    finally:
        stop.set()
        writer.join()
    assert landing.CHANGED_WHILE_READ in reasons
    # settled and unchanged: read once, whole
    age(path)
    assert landing.read_settled(path, settle_seconds=10) == path.read_bytes()
    fresh = tmp_path / "benefits" / "202405.csv"
    fresh.write_bytes(b"z")
    with pytest.raises(landing.FileNotReady, match="書き込み中のため読み込みませんでした（最後の変更から"):
        landing.read_settled(fresh, settle_seconds=10)


# The demo writes its own files and loads them at once (settle time 0 for that run): with a settle
# time of an hour it still loads everything — tests/test_demo.py runs the demo that way.


# --- 9. one parser of feed file names -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, month",
    [("202409.csv", "2024-09"), ("２０２４０９.csv", "2024-09"), ("２０２４０９．ｃｓｖ", "2024-09"), ("202409.CSV", "2024-09"), ("202503.xlsx", "2025-03")],
)
def test_feed_file_names_are_read_after_nfkc(tmp_path, name, month):
    assert landing.parse_feed_filename(tmp_path / "screenings" / name) == ("screenings", month)


@pytest.mark.parametrize(
    "name, reason",
    [
        ("202413.csv", "ファイル名 '202413' は実在する年月ではありません"),
        ("2024-09.csv", "ファイル名 '2024-09' は実在する年月ではありません"),
        ("٢٠٢٤٠٩.csv", "は実在する年月ではありません"),  # Arabic-Indic digits stay digits of another script after NFKC
        ("202409.txt", "拡張子 '.txt' のファイルはフィードではありません"),
        ("202409", "拡張子 '（拡張子なし）' のファイルはフィードではありません"),
    ],
)
def test_names_that_are_no_feed_month_are_rejected_in_japanese(tmp_path, name, reason):
    with pytest.raises(FileRejected) as exc:
        landing.parse_feed_filename(tmp_path / "screenings" / name)
    assert reason in exc.value.reason
    with pytest.raises(FileRejected, match="フォルダー 'payments' はフィードではありません"):
        landing.parse_feed_filename(tmp_path / "payments" / "202409.csv")


def test_work_files_of_copy_tools_are_ignored(tmp_path):
    write_csv(tmp_path / "benefits" / "202404.csv", HEADERS["benefits"], [])
    for name in (".202404.csv.swp", "~$202404.xlsx", "202404.csv.tmp", "202404.csv.part", "202404.csv.partial",
                 "202404.csv.crdownload", "202404.csv.filepart", "202404.CSV.PART"):
        (tmp_path / "benefits" / name).write_bytes(b"half")
        assert landing.is_ignored_name(name), name
    scan = landing.scan_landing(tmp_path)
    assert scan.files == {("benefits", MONTH): [tmp_path / "benefits" / "202404.csv"]}
    assert scan.problems == [] and len(scan.ignored) == 8
    assert landing.candidate_files(tmp_path, "benefits", MONTH) == [tmp_path / "benefits" / "202404.csv"]


@pytest.mark.warehouse
@pytest.mark.one_database
def test_validate_and_run_agree_on_a_full_width_name(kenpo_env, capsys):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-09"])
    full_width = kenpo_env.landing / "screenings" / "２０２４０９.csv"
    (kenpo_env.landing / "screenings" / "202409.csv").rename(full_width)
    assert main(["validate", str(full_width)]) == 0
    assert capsys.readouterr().out.startswith(f"問題なし: {full_width}（")
    assert main(["run", "--through", "actuals"]) == 0
    wh = Warehouse(kenpo_env.warehouse_url)
    assert wh.current_load("screenings", "2024-09")["path"] == str(full_width)
    # the same month under both spellings: two files for one month, rejected, reported
    write_sample(kenpo_env.home / "again", 2024, 2024, scale=0.002, months=["2024-09"], feeds=("screenings",))
    shutil.copyfile(kenpo_env.home / "again" / "screenings" / "202409.csv", kenpo_env.landing / "screenings" / "202409.csv")
    assert main(["run", "--through", "actuals"]) == 1
    assert "2024-09 のファイルが 2 個あり（202409.csv、２０２４０９.csv）" in capsys.readouterr().out


# --- 8. errors are classified once ---------------------------------------------------------------------


def test_a_real_enospc_is_a_full_disk_and_not_transient():
    with pytest.raises(OSError) as exc:
        with open("/dev/full", "wb") as f:
            f.write(b"x")
            f.flush()
    assert exc.value.errno == errno.ENOSPC
    error = errors.classify(exc.value, "sqlite:////data/kenpo/warehouse.db")
    assert error.kind == "disk_full" and not error.transient
    assert error.sentence.startswith("倉庫 /data/kenpo/warehouse.db のディスクが一杯で書き込めないため、空き容量を確保してから、もう一度実行してください")
    refused = sa.create_engine("postgresql+psycopg://kenpo@127.0.0.1:1/kenpo")
    with pytest.raises(sa.exc.OperationalError) as lost:
        refused.connect()
    assert errors.classify(lost.value).transient  # a refused connection is still retried



def _failed_once_with(result, sentence_part: str, path_part: str) -> str:
    """The step failed once (never retried) with one Japanese sentence naming the database."""
    assert not result.success
    kinds = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in kinds, "not retried"
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    description = failure.event_specific_data.user_failure_data.description
    assert sentence_part in description and path_part in description, description
    assert description.count("。") == 1 and description.endswith("。"), f"one sentence: {description}"
    return description


@contextlib.contextmanager
def sqlite_page_limit(url: str, extra_pages: int = 8):
    """The SQLite warehouse may grow by ``extra_pages`` pages only (``PRAGMA max_page_count`` on every
    connection): a real SQLITE_FULL, "database or disk is full"."""
    engine = store.engine_for(url)
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    def limit(dbapi_conn, _record):
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + extra_pages}")

    engine.dispose()
    sa.event.listen(engine, "connect", limit)
    try:
        yield
    finally:
        sa.event.remove(engine, "connect", limit)
        engine.dispose()


@contextlib.contextmanager
def postgres_small_tablespace(url: str, table: str = "benefits"):
    """``table`` moved into a tablespace on a 512 KiB tmpfs (as root): a real "could not extend file
    …: No space left on device" (SQLSTATE 53100) from the server."""
    if os.geteuid() != 0:
        pytest.skip("a full disk on the PostgreSQL server needs root to mount a small filesystem")
    import pwd

    top = Path(tempfile.mkdtemp(prefix="kenpo-ts-", dir="/tmp"))
    top.chmod(0o755)
    mnt = top / "ts"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", str(mnt)], check=True)
    name = f"kenpo_small_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")
    engine = store.engine_for(url)
    try:
        try:
            pw = pwd.getpwnam("postgres")
            os.chown(mnt, pw.pw_uid, pw.pw_gid)
        except KeyError:
            pass  # the server runs as this user
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE TABLESPACE {name} LOCATION '{mnt}'"))
        with engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {table} SET TABLESPACE {name}"))
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE {table} SET TABLESPACE pg_default"))
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP TABLESPACE IF EXISTS {name}"))
        admin.dispose()
        subprocess.run(["umount", str(mnt)], check=True)
        shutil.rmtree(top)


def describe(url: str) -> str:
    return errors.describe_database(url)


@pytest.mark.warehouse
def test_a_full_disk_is_not_retried_and_gives_one_sentence(kenpo_env, dagster_instance, capsys):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.05, months=[MONTH], feeds=("benefits",))
    url = kenpo_env.warehouse_url
    wh = Warehouse(url)
    wh.ensure_schema()
    resources = dagster_resources(kenpo_env)
    full = sqlite_page_limit(url) if TEST_DATABASE == "sqlite" else postgres_small_tablespace(url)
    with full:
        result = dg.materialize(feed_assets[:1], partition_key=MONTH, instance=dagster_instance, resources=resources, raise_on_error=False)
        _failed_once_with(result, "のディスクが一杯で書き込めないため、空き容量を確保してから、もう一度実行してください", describe(url))
        assert wh.loads().empty, "nothing recorded"
        # the command line: the same sentence, no further run, exit 1
        assert main(["run", "--from", MONTH, "--to", MONTH, "--through", "actuals"]) == 1
        out = capsys.readouterr().out
        assert f"✗ {describe(url)}" in out and "のディスクが一杯で書き込めないため" in out
        assert "倉庫に書き込めないため中止しました（終了コード 1）" in out
        assert "KPI 実績" not in out, "no fiscal-year run after the failure"
        assert "倉庫に書き込めなかったため読み込まれていません" in out
    # space freed: the same file loads
    result = dg.materialize(feed_assets[:1], partition_key=MONTH, instance=dagster_instance, resources=resources)
    assert wh.current_load("benefits", MONTH)["rows_loaded"] > 10_000
    assert_feed_loads_add_up(wh)


@contextlib.contextmanager
def read_only_warehouse(settings):
    """The warehouse made read-only: the SQLite file immutable (root) or not writable (chmod); on
    PostgreSQL a login that may only read."""
    url = settings.warehouse_url
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        store.dispose_engine(url)  # connections opened read-write before must go
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"chattr is not supported here: {done.stderr.strip()}")
            try:
                yield url
            finally:
                subprocess.run(["chattr", "-i", str(path)], check=True)
                store.dispose_engine(url)
            return
        path.chmod(0o444)
        path.parent.chmod(0o555)
        try:
            yield url
        finally:
            path.parent.chmod(0o755)
            path.chmod(0o644)
            store.dispose_engine(url)
        return
    role = f"kenpo_ro_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")
    database = sa.engine.make_url(url).database
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f'GRANT CONNECT ON DATABASE "{database}" TO {role}'))
    with store.engine_for(url).begin() as conn:
        conn.execute(sa.text(f"GRANT USAGE ON SCHEMA public TO {role}"))
        conn.execute(sa.text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"))
    ro_url = sa.engine.make_url(url).set(username=role, password=None).render_as_string(hide_password=False)
    try:
        yield ro_url
    finally:
        store.dispose_engine(ro_url)
        with store.engine_for(url).begin() as conn:
            conn.execute(sa.text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}"))
            conn.execute(sa.text(f"REVOKE ALL ON SCHEMA public FROM {role}"))
        with admin.connect() as conn:
            conn.execute(sa.text(f'REVOKE ALL ON DATABASE "{database}" FROM {role}'))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()


@pytest.mark.warehouse
def test_a_read_only_warehouse_is_not_retried_and_gives_one_sentence(kenpo_env, dagster_instance, tmp_path):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=[MONTH], feeds=("benefits",))
    resources = dagster_resources(kenpo_env)
    dg.materialize(feed_assets[:1], partition_key=MONTH, instance=dagster_instance, resources=resources)
    wh = Warehouse(kenpo_env.warehouse_url)
    before = wh.current_load("benefits", MONTH)
    corrected_benefits(kenpo_env, tmp_path, scale=0.002)
    with read_only_warehouse(kenpo_env) as url:
        resources["warehouse"] = WarehouseResource(url=url)
        result = dg.materialize(feed_assets[:1], partition_key=MONTH, instance=dagster_instance, resources=resources, raise_on_error=False)
        sentence = _failed_once_with(result, "に書き込む権限がないため", describe(url))
        if url.startswith("postgresql"):
            assert f"利用者 {sa.engine.make_url(url).username} に書き込み権限を与えて（GRANT）" in sentence
        else:
            assert "kenpo を実行する利用者がこのファイルとフォルダーに書き込めるようにして" in sentence
    assert wh.current_load("benefits", MONTH)["load_id"] == before["load_id"]
    assert_feed_loads_add_up(wh)


def test_a_corrupt_sqlite_warehouse_is_named_in_one_sentence(kenpo_env, capsys):
    """(SQLite only: a corrupt file is a SQLite matter; the test is not in the PostgreSQL pass.)"""
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=[MONTH])
    path = kenpo_env.home / "warehouse.db"
    path.write_bytes(b"this is not a database, it was overwritten by mistake" * 100)
    assert main(["run", "--from", MONTH, "--to", MONTH]) == 1
    err = capsys.readouterr().err
    assert f"kenpo: 倉庫 {path} が壊れていて読み書きできないため、バックアップから復元してから、もう一度実行してください" in err
    assert "Traceback" not in err


# --- run monitoring for the daemon ------------------------------------------------------------------


def test_run_monitoring_is_on_in_every_instance_config(monkeypatch, tmp_path):
    from dagster._core.instance.config import dagster_instance_config

    for k, v in {"DAGSTER_PG_HOST": "db.internal", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_DB": "dagster",
                 "DAGSTER_PG_USER": "dagster", "DAGSTER_PG_PASSWORD": "x"}.items():
        monkeypatch.setenv(k, v)
    for path in (REPO_ROOT / "dagster.yaml", REPO_ROOT / "deploy" / "dagster.postgres.yaml", REPO_ROOT / "deploy" / "dagster.k8s.yaml"):
        config, _ = dagster_instance_config(str(path.parent), config_filename=path.name)  # Dagster's own validation
        monitoring = config["run_monitoring"]
        assert monitoring["enabled"] is True, path
        assert monitoring["free_slots_after_run_end_seconds"] > 0 and monitoring["start_timeout_seconds"] > 0, path
        assert not monitoring.get("max_runtime_seconds"), "a long rebuild must not be cut off"
    with dg.instance_for_test(overrides=yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text()), temp_dir=str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled
        assert "MONITORING" in instance.get_required_daemon_types()
    k8s = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.k8s.yaml").read_text())["run_monitoring"]
    helm = yaml.safe_load((REPO_ROOT / "deploy" / "values.yaml").read_text())["dagsterDaemon"]["runMonitoring"]
    assert (helm["enabled"], helm["startTimeoutSeconds"], helm["maxResumeRunAttempts"], helm["freeSlotsAfterRunEndSeconds"]) == (
        k8s["enabled"], k8s["start_timeout_seconds"], k8s["max_resume_run_attempts"], k8s["free_slots_after_run_end_seconds"])
