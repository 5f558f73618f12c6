"""The intake worker pool (issue 13, "use both cores"): feed files checked ahead in worker processes.

Real processes and real files throughout: ``kenpo run`` subprocesses with the pool forced on
(``KENPO_INTAKE_PARALLEL_MIN_BYTES=0``) and off (``KENPO_INTAKE_WORKERS=0``) over the same landing
area, their warehouses compared table by table; the pool's own worker processes killed with
SIGKILL; ``kill -9`` of a ``kenpo run`` and the process table read afterwards.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import psutil
import pytest
import sqlalchemy as sa

from kenpo_pipeline.domain.intake import pool as intake_pool
from kenpo_pipeline.domain.intake.feeds import TooManyBadRows, check_feed_file
from kenpo_pipeline.domain.intake.pool import IntakeJob, IntakeQueue, check_in_worker
from kenpo_pipeline.domain.intake.reading import FileRejected
from kenpo_pipeline.domain.intake.sample import write_sample
from kenpo_pipeline.settings import REPO_ROOT, ConfigurationError, load_settings
from kenpo_pipeline.warehouse.loading import load_feed_month
from kenpo_pipeline.warehouse.store import Warehouse

KENPO = str(Path(sys.executable).parent / "kenpo")
LONG = 600  # seconds: generous bounds for a busy 2-core machine; never a timed assertion
MONTHS = ["2024-04", "2024-05", "2024-06"]
COMPARED = ["feed_loads", "quarantine", "benefits", "claims_review", "screenings", "indicators", "monthly_aggregates", "kpi_actuals"]
VARYING = {"loaded_at", "superseded_at", "run_id", "computed_at", "updated_at"}  # when and by which run, not what


# --- helpers ---------------------------------------------------------------------------------------


def append_broken_lines(path: Path, n: int) -> None:
    """``n`` physical lines with an unclosed quote (each quarantined on its own: 引用符…閉じられていません)."""
    with open(path, "ab") as f:
        f.write(b"\r\n" + b"".join(b'"broken,line %d\r\n' % i for i in range(n)))


def data_lines(path: Path) -> int:
    return len([line for line in path.read_bytes().splitlines() if line.strip()]) - 1


def dirty_landing(landing: Path) -> None:
    """Three months of every feed, with a month that quarantines lines, one rejected for too many bad
    lines (TooManyBadRows) and one rejected for its header (FileRejected)."""
    write_sample(landing, 2024, 2024, scale=0.004, months=MONTHS)
    append_broken_lines(landing / "benefits" / "202405.csv", 3)
    claims = landing / "claims_review" / "202406.csv"
    append_broken_lines(claims, data_lines(claims) // 10)
    (landing / "screenings" / "202405.csv").write_text("区分,事業,何か\n被保険者,特定健診,1\n", encoding="utf-8")


def env_for(home: Path, landing: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "KENPO_"))}
    env.update(PYTHONUNBUFFERED="1", GX_ANALYTICS_ENABLED="False", KENPO_HOME=str(home), KENPO_LANDING=str(landing),
               KENPO_LANDING_SETTLE_SECONDS="0", **extra)
    return env


def kenpo_run(args: list[str], env: dict, log: Path) -> subprocess.CompletedProcess:
    with open(log, "a") as out:
        return subprocess.run([KENPO, "run", *args], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=LONG)


def dump(url: str) -> dict[str, pd.DataFrame]:
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine, only=COMPARED)
        out = {}
        with engine.connect() as conn:
            for name in COMPARED:
                t = meta.tables[name]
                cols = [c for c in t.c if c.name not in VARYING]
                order = [c for c in t.primary_key.columns] or cols
                out[name] = pd.DataFrame(conn.execute(sa.select(*cols).order_by(*order)).mappings().all())
        return out
    finally:
        engine.dispose()


def developer_log(home: Path) -> list[str]:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        return [e.user_message for r in instance.get_run_records() for e in instance.all_logs(r.dagster_run.run_id) if e.user_message]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for(what: str, condition, timeout: float = LONG, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


# --- the same warehouse with and without the pool -----------------------------------------------------


def test_a_backfill_and_a_month_of_four_feeds_load_exactly_the_same_with_the_pool(tmp_path):
    landing = tmp_path / "landing"
    dirty_landing(landing)
    write_sample(landing, 2024, 2024, scale=0.004, months=["2024-07"])
    homes = {"off": tmp_path / "off", "on": tmp_path / "on"}
    settings = {}
    for mode, home in homes.items():
        extra = {"KENPO_INTAKE_WORKERS": "0"} if mode == "off" else {"KENPO_INTAKE_WORKERS": "2", "KENPO_INTAKE_PARALLEL_MIN_BYTES": "0"}
        env = env_for(home, landing, **extra)
        settings[mode] = load_settings(env)
        backfill = kenpo_run(["--from", "2024-04", "--to", "2024-06", "--through", "actuals"], env, tmp_path / f"{mode}.log")
        assert backfill.returncode == 1, (tmp_path / f"{mode}.log").read_text()  # two months are rejected
        month = kenpo_run(["--from", "2024-07", "--to", "2024-07", "--through", "actuals"], env, tmp_path / f"{mode}.log")
        assert month.returncode == 0, (tmp_path / f"{mode}.log").read_text()
    off, on = dump(settings["off"].warehouse_url), dump(settings["on"].warehouse_url)
    for name in COMPARED:
        pd.testing.assert_frame_equal(on[name], off[name], check_dtype=False, obj=name)
    loads = on["feed_loads"]
    assert len(loads) == 16  # 4 feeds × 4 months, every month decided once
    rejected = loads[loads.status == "rejected"].set_index(["feed", "month"])
    assert set(rejected.index) == {("claims_review", "2024-06"), ("screenings", "2024-05")}
    assert "行ルールに違反" in rejected.loc[("claims_review", "2024-06"), "reason"]
    assert rejected.loc[("claims_review", "2024-06"), "rows_read"] > 0 and rejected.loc[("claims_review", "2024-06"), "sha256"]
    assert len(on["quarantine"][on["quarantine"].month == "2024-05"]) == 3

    logged = developer_log(homes["on"])
    in_worker = [m for m in logged if " in intake worker " in m]
    # every month was checked by a worker (the rejections too: the worker finds them), and the step
    # says how long it waited for each
    assert len(in_worker) == 16, "\n".join(m for m in logged if "intake" in m)
    assert all("the step waited" in m for m in in_worker)
    assert not [m for m in logged if "checked in the step's process" in m]
    assert not [m for m in developer_log(homes["off"]) if "intake worker" in m]


# --- rejections cross the process boundary whole ----------------------------------------------------


def test_rejections_raised_in_a_worker_reach_the_step_exactly_as_in_process(tmp_path):
    landing = tmp_path / "landing"
    dirty_landing(landing)
    claims, screenings = landing / "claims_review" / "202406.csv", landing / "screenings" / "202405.csv"
    with pytest.raises(TooManyBadRows) as here:
        check_feed_file(claims, "claims_review", "2024-06", 0.01, data=claims.read_bytes())
    with pytest.raises(FileRejected) as header:
        check_feed_file(screenings, "screenings", "2024-05", 0.01, data=screenings.read_bytes())

    for exc in (here.value, header.value):  # pickled and back
        again = pickle.loads(pickle.dumps(exc))
        assert type(again) is type(exc) and str(again) == str(exc)
        assert (again.path, again.reason, again.details, again.sha256) == (exc.path, exc.reason, exc.details, exc.sha256)
    tmb = pickle.loads(pickle.dumps(here.value))
    assert (tmb.check.rows_read, tmb.check.rows_quarantined, tmb.check.rows_blank, tmb.check.sha256) == (
        here.value.check.rows_read, here.value.check.rows_quarantined, here.value.check.rows_blank, here.value.check.sha256)
    assert tmb.check.quarantine == here.value.check.quarantine

    pool = intake_pool.IntakePool(2)  # real workers
    try:
        results = [pool.submit(IntakeJob(f, m, str(p), 0.01)).result(timeout=LONG)
                   for f, m, p in (("claims_review", "2024-06", claims), ("screenings", "2024-05", screenings))]
    finally:
        pool.shutdown()
    for result, exc in zip(results, (here.value, header.value)):
        assert result.pid != os.getpid() and result.check is None
        got = result.rejected
        assert type(got) is type(exc) and str(got) == str(exc) and (got.reason, got.details, got.sha256) == (exc.reason, exc.details, exc.sha256)
    assert results[0].rejected.check.quarantine == here.value.check.quarantine
    assert results[0].rejected.check.rows_read == here.value.check.rows_read


# --- the step's bytes decide -------------------------------------------------------------------------


pytest_warehouse = pytest.mark.warehouse


@pytest_warehouse
def test_a_file_changed_after_the_worker_read_it_is_checked_again_in_the_step(kenpo_env, warehouse):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.004, months=["2024-04", "2024-05"], feeds=("benefits",))
    path = kenpo_env.landing / "benefits" / "202404.csv"
    logged: list[str] = []
    pool = intake_pool.IntakePool(2)
    try:
        jobs = [IntakeJob("benefits", m, str(kenpo_env.landing / "benefits" / f"{m.replace('-', '')}.csv"), 0.01) for m in ("2024-04", "2024-05")]
        queue = IntakeQueue(pool, jobs, window=2, log=logged.append)
        assert queue.wait("benefits", "2024-04", timeout=LONG)  # the worker has read and checked the old bytes
        append_broken_lines(path, 2)  # the file changes before the step reads it
        r = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01, checker=queue.check, log=logged.append)
        queue.release("benefits", "2024-04")
        r2 = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-05", 0.01, checker=queue.check, log=logged.append)
    finally:
        pool.shutdown()
    expected = check_feed_file(path, "benefits", "2024-04", 0.01)
    assert r.status == "loaded" and r.check.sha256 == expected.sha256
    assert (r.check.rows_read, r.check.rows_loaded, r.check.rows_quarantined) == (expected.rows_read, expected.rows_loaded, 2)
    assert warehouse.current_load("benefits", "2024-04")["rows_quarantined"] == 2
    assert any("benefits 2024-04: checked in the step's process (the worker read other bytes" in m for m in logged), logged
    assert r2.status == "loaded" and any("benefits 2024-05: checked in intake worker" in m for m in logged), logged


@pytest_warehouse
def test_one_worker_checks_the_next_month_while_the_step_writes(kenpo_env, warehouse):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.004, months=MONTHS, feeds=("benefits",))
    logged: list[str] = []
    pool = intake_pool.shared_pool(1)  # KENPO_INTAKE_WORKERS=1: one worker, not none
    assert pool is not None and pool.workers == 1
    try:
        jobs = [IntakeJob("benefits", m, str(kenpo_env.landing / "benefits" / f"{m.replace('-', '')}.csv"), 0.01) for m in MONTHS]
        queue = IntakeQueue(pool, jobs, window=1, log=logged.append)
        assert len(queue._ahead) == 1  # one check ahead of the step, no more
        results = []
        for m in MONTHS:
            results.append(load_feed_month(warehouse, kenpo_env.landing, "benefits", m, 0.01, checker=queue.check, log=logged.append))
            queue.release("benefits", m)
        assert len({int(m.split("intake worker ")[1].split()[0]) for m in logged if " in intake worker " in m}) == 1, logged
    finally:
        intake_pool.shutdown_pool()
    for m, r in zip(MONTHS, results):
        expected = check_feed_file(kenpo_env.landing / "benefits" / f"{m.replace('-', '')}.csv", "benefits", m, 0.01)
        assert r.status == "loaded" and r.check.sha256 == expected.sha256
        assert (r.check.rows_loaded, r.check.rows_quarantined) == (expected.rows_loaded, expected.rows_quarantined)
    assert len([m for m in logged if m.startswith("benefits") and " in intake worker " in m]) == len(MONTHS), logged
    assert not [m for m in logged if "checked in the step's process" in m], logged


@pytest_warehouse
def test_a_worker_that_dies_means_the_months_are_checked_in_the_step(kenpo_env, warehouse):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.004, months=MONTHS, feeds=("claims_review",))
    pool = intake_pool.shared_pool(2)
    pool.warm()
    pids = wait_for("two workers", lambda: len(pool.pids()) == 2 and pool.pids())
    wait_for("the workers to start", lambda: all(psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids))
    logged: list[str] = []
    jobs = [IntakeJob("claims_review", m, str(kenpo_env.landing / "claims_review" / f"{m.replace('-', '')}.csv"), 0.01) for m in MONTHS]
    os.kill(pids[0], signal.SIGKILL)
    wait_for("the worker to die", lambda: not alive(pids[0]))
    queue = IntakeQueue(pool, jobs, window=2, log=logged.append)
    results = []
    for m in MONTHS:
        results.append(load_feed_month(warehouse, kenpo_env.landing, "claims_review", m, 0.01, checker=queue.check, log=logged.append))
        queue.release("claims_review", m)
    for m, r in zip(MONTHS, results):
        expected = check_feed_file(kenpo_env.landing / "claims_review" / f"{m.replace('-', '')}.csv", "claims_review", m, 0.01)
        assert r.status == "loaded" and r.check.sha256 == expected.sha256 and r.check.rows_loaded == expected.rows_loaded
        assert warehouse.current_load("claims_review", m)["rows_loaded"] == expected.rows_loaded
    assert any("intake pool:" in m and "the remaining months are checked in the step's process" in m for m in logged), logged
    assert len([m for m in logged if m.startswith("claims_review") and "checked in the step's process" in m]) == 3, logged
    fresh = intake_pool.shared_pool(2)  # the broken pool is replaced by a new one on the next use
    assert fresh is not pool and not fresh.broken
    intake_pool.shutdown_pool()
    assert all(not alive(p) for p in pids)


def test_kenpo_run_warms_the_pool_before_dagster_only_when_the_months_files_are_worth_it(tmp_path):
    landing = tmp_path / "landing"
    write_sample(landing, 2024, 2024, scale=0.002, months=["2024-04", "2024-05"], feeds=("benefits", "claims_review"))
    sizes = {m: sum(f.stat().st_size for f in landing.glob(f"*/{m.replace('-', '')}.csv")) for m in ("2024-04", "2024-05")}
    try:
        assert not intake_pool.warm_for_landing(landing, 2, sizes["2024-04"] + 1, "2024-04", "2024-04")  # too few bytes
        assert not intake_pool.warm_for_landing(landing, 0, 0)  # no worker: no pool
        assert not intake_pool.warm_for_landing(landing, 2, 0, "2025-04", None)  # no file in the months
        assert intake_pool.current_pool() is None
        assert intake_pool.warm_for_landing(landing, 2, sizes["2024-04"], "2024-04", "2024-04")
        pool = intake_pool.current_pool()
        pids = wait_for("two workers", lambda: len(pool.pids()) == 2 and pool.pids())
        pool.warm()  # a second warm (kenpo run warms again with its plan) starts no further worker
        time.sleep(0.5)
        assert sorted(pool.pids()) == sorted(pids)
        from multiprocessing import forkserver

        server = forkserver._forkserver._forkserver_pid
        assert server is not None and alive(server)
    finally:
        intake_pool.shutdown_pool()
    assert intake_pool.current_pool() is None
    assert all(not alive(p) for p in pids) and not alive(server)  # the workers and the fork server, reaped


# --- kill -9 of kenpo leaves no worker ---------------------------------------------------------------


def test_kill_9_of_kenpo_run_leaves_no_intake_process_behind(tmp_path):
    landing = tmp_path / "landing"
    write_sample(landing, 2024, 2024, scale=0.01, months=MONTHS)
    env = env_for(tmp_path / "home", landing, KENPO_INTAKE_WORKERS="2", KENPO_INTAKE_PARALLEL_MIN_BYTES="0")
    proc = subprocess.Popen([KENPO, "run", "--from", "2024-04", "--to", "2024-06", "--through", "actuals"], env=env,
                            stdout=open(tmp_path / "killed.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        kenpo = psutil.Process(proc.pid)

        def workers():  # kenpo's descendants once the fork server has forked both workers
            try:
                found = kenpo.children(recursive=True)
                return found if any(len(p.children()) >= 2 for p in found) else None
            except psutil.NoSuchProcess:
                return None

        pids = [p.pid for p in wait_for("the intake workers", workers)]
        assert len(pids) >= 3  # the fork server, its two workers (and the resource tracker)
        os.kill(proc.pid, signal.SIGKILL)  # kenpo alone, not its process group
        proc.wait(timeout=LONG)
        wait_for("every process kenpo started to end", lambda: not any(alive(p) for p in pids), timeout=120)
        assert [p for p in pids if alive(p)] == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group (nothing, if the test passed)
        except ProcessLookupError:
            pass
        proc.wait()


# --- a stop while a step waits for a worker ------------------------------------------------------------


def logged_in_run(instance: dg.DagsterInstance, text: str) -> bool:
    """Whether a run of ``instance`` has logged ``text`` (polled while kenpo writes the event log)."""
    try:
        return any(text in (e.user_message or "") for r in instance.get_run_records() for e in instance.all_logs(r.dagster_run.run_id))
    except Exception:  # noqa: BLE001 - the event log is being written: "not yet"
        return False


def intake_processes(kenpo: psutil.Process) -> list[int]:
    """The fork server of ``kenpo``'s intake pool, the workers it forked, the resource tracker."""
    found = []
    for p in kenpo.children():
        try:
            if "multiprocessing" in " ".join(p.cmdline()):
                found += [p.pid, *(c.pid for c in p.children(recursive=True))]
        except psutil.NoSuchProcess:
            continue
    return found


def test_ctrl_c_while_a_step_waits_for_a_worker_stops_the_run_and_its_workers(tmp_path):
    landing = tmp_path / "landing"
    write_sample(landing, 2024, 2024, scale=0.01, months=MONTHS)
    home = tmp_path / "home"
    env = env_for(home, landing, KENPO_INTAKE_WORKERS="2", KENPO_INTAKE_PARALLEL_MIN_BYTES="0")
    log = tmp_path / "stopped.log"
    (home / "dagster").mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster" / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))  # made before kenpo uses it
    proc = subprocess.Popen([KENPO, "run", "--from", "2024-04", "--to", "2024-06", "--through", "actuals"], env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        kenpo = psutil.Process(proc.pid)
        wait_for("the benefits step to ask for its first check",
                 lambda: proc.poll() is not None or logged_in_run(instance, "benefits 2024-04: validating"), every=0.05)
        assert proc.poll() is None, log.read_text()
        pids = intake_processes(kenpo)
        assert pids, "kenpo warmed its intake pool before the run"
        # Ctrl-C in a terminal reaches every process of the group: here kenpo and the intake processes
        # (Dagster's own compute-log watcher, also in the group, prints a traceback on SIGINT: not ours)
        for pid in [proc.pid, *pids]:
            os.kill(pid, signal.SIGINT)
        assert proc.wait(timeout=LONG) == 130, log.read_text()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    out = log.read_text()
    assert "Ctrl-C（SIGINT）を受け取ったため中止しました（終了コード 130）" in out, out
    assert "Traceback" not in out
    wait_for("the intake processes to end", lambda: not any(alive(p) for p in pids), timeout=120)
    with instance:
        runs = [r.dagster_run for r in instance.get_run_records()]
    assert [(r.job_name, r.status) for r in runs] == [("monthly_feeds", dg.DagsterRunStatus.CANCELED)]
    wh = Warehouse(load_settings(env).warehouse_url)
    loads = wh.loads()
    for load in loads[loads.status == "loaded"].itertuples():  # a month is in the warehouse whole, or not at all
        assert len(wh.read_table(load.feed, month=load.month)) == load.rows_loaded
        assert load.rows_read == load.rows_loaded + load.rows_quarantined


# --- settings -------------------------------------------------------------------------------------


def test_intake_settings_and_their_defaults():
    s = load_settings({"KENPO_HOME": "/tmp/x"})
    assert s.intake_workers == (2 if (os.cpu_count() or 1) >= 2 else 0)
    assert s.intake_parallel_min_bytes == 4 * 1024 * 1024
    s = load_settings({"KENPO_HOME": "/tmp/x", "KENPO_INTAKE_WORKERS": "0", "KENPO_INTAKE_PARALLEL_MIN_BYTES": "0"})
    assert (s.intake_workers, s.intake_parallel_min_bytes) == (0, 0)
    with pytest.raises(ConfigurationError, match="KENPO_INTAKE_WORKERS は 0〜32 の整数"):
        load_settings({"KENPO_HOME": "/tmp/x", "KENPO_INTAKE_WORKERS": "two"})
    with pytest.raises(ConfigurationError, match="KENPO_INTAKE_PARALLEL_MIN_BYTES は 0 以上のバイト数"):
        load_settings({"KENPO_HOME": "/tmp/x", "KENPO_INTAKE_PARALLEL_MIN_BYTES": "4MB"})
    assert intake_pool.shared_pool(0) is None
    assert check_in_worker(IntakeJob("benefits", "2024-04", "/nonexistent/benefits/202404.csv", 0.01)).sha256 is None
