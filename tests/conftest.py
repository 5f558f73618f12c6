"""Shared fixtures: real files in a temporary landing area, a real warehouse, and a real Dagster
instance in a temporary folder.

The warehouse is a SQLite file by default. With ``KENPO_TEST_DATABASE=postgresql`` it is a fresh
database on the PostgreSQL server at ``KENPO_TEST_PG_URL`` (one database per test, dropped after
it), upgraded with the migrations as an operator would (``kenpo db upgrade``). ``make test`` runs
the tests marked ``warehouse`` a second time that way, against a throwaway server that
``.ci/with-postgres`` starts; without a server those tests fail, they never skip.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from pathlib import Path
from typing import Iterator

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
warnings.filterwarnings("ignore")

HEADERS = {
    "benefits": ["支部コード", "申請番号", "給付種別", "受付日", "決定日", "支払日", "受付方法", "決定区分"],
    "claims_review": ["支部コード", "レセプト番号", "診療年月", "点検区分", "請求点数", "査定点数", "結果"],
    "screenings": ["支部コード", "区分", "事業", "対象者数", "実施者数"],
    "indicators": ["支部コード", "指標コード", "値"],
}


def write_csv(path: Path, header: list[str], rows: list[list[object]], encoding: str = "utf-8") -> Path:
    import csv
    import io

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in r] for r in rows])
    data = buf.getvalue().encode("utf-8" if encoding == "utf-8-sig" else encoding)
    if encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(data)
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]], leading_blank_rows: int = 0) -> Path:
    from openpyxl import Workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    ws = wb.active
    r = 1 + leading_blank_rows
    for c, v in enumerate(header, start=1):
        ws.cell(r, c, v)
    for row in rows:
        r += 1
        for c, v in enumerate(row, start=1):
            if v is not None:
                ws.cell(r, c, v)
    wb.save(path)
    return path


TEST_DATABASE = os.environ.get("KENPO_TEST_DATABASE", "sqlite")


def pg_admin_url() -> str:
    url = os.environ.get("KENPO_TEST_PG_URL")
    if not url:
        pytest.fail(
            "KENPO_TEST_PG_URL is not set: these tests need a PostgreSQL server; run them through "
            "`make test` (which starts one with .ci/with-postgres)", pytrace=False,
        )
    return url


@contextlib.contextmanager
def pg_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database on the test server — empty, or a copy of the database ``template``
    (which nobody may be connected to); dropped afterwards."""
    import sqlalchemy as sa

    from kenpo_pipeline.warehouse import store

    admin = sa.create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"kenpo_test_{uuid.uuid4().hex[:16]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        store.dispose_engine(url)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


SAMPLE_YEARS = (2023, 2024)


def build_sample_years(home: Path, warehouse_url: str | None = None) -> None:
    """FY2023 and FY2024 of the sample data (scale 0.002) in ``home``: landed, loaded month by month,
    and each year's ``kpi_actuals`` and ``pdca_evaluation`` materialized, in a Dagster instance in
    ``home/dagster`` — what a test marked ``sample_years`` starts from."""
    import dagster as dg

    from kenpo_pipeline.defs.evaluation import pdca_evaluation
    from kenpo_pipeline.defs.feeds import feed_assets
    from kenpo_pipeline.defs.kpis import kpi_actuals, monthly_aggregates
    from kenpo_pipeline.domain.intake.sample import write_sample
    from kenpo_pipeline.settings import load_settings
    from kenpo_pipeline.warehouse.store import Warehouse

    env = {"KENPO_HOME": str(home), "KENPO_LANDING_SETTLE_SECONDS": "0"}
    if warehouse_url:
        env["KENPO_WAREHOUSE_URL"] = warehouse_url
    settings = load_settings(env)
    Warehouse(settings.warehouse_url).upgrade()
    first, last = SAMPLE_YEARS[0], SAMPLE_YEARS[-1]
    write_sample(settings.landing, first, last, scale=0.002)
    tags = {"dagster/asset_partition_range_start": f"{first}-04", "dagster/asset_partition_range_end": f"{last + 1}-03"}
    (home / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(home / "dagster")) as instance:
        dg.materialize([*feed_assets, monthly_aggregates], instance=instance, resources=dagster_resources(settings), tags=tags)
        for fy in SAMPLE_YEARS:
            dg.materialize([kpi_actuals, pdca_evaluation], instance=instance, resources=dagster_resources(settings), partition_key=str(fy))
    from kenpo_pipeline.warehouse import store

    store.dispose_engine(settings.warehouse_url)  # SQLite: the last connection closed checkpoints the write-ahead log


@pytest.fixture(scope="session")
def sample_years_snapshot(tmp_path_factory) -> Iterator[tuple[Path, str | None]]:
    """The sample years, built once: (its KENPO_HOME, the PostgreSQL database that holds its
    warehouse — None on SQLite, where the warehouse is the home's ``warehouse.db``). On SQLite the
    workers of a run share one build (the first to ask builds it under a file lock, in the run's
    common temporary folder); on PostgreSQL each worker builds its own template database."""
    if TEST_DATABASE == "sqlite":
        from filelock import FileLock

        shared = tmp_path_factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):
            shared = shared.parent  # the folder all workers' temporary folders are in
        home = shared / "sample-years"
        with FileLock(str(shared / "sample-years.lock")):
            if not (home / "built").exists():
                import shutil

                shutil.rmtree(home, ignore_errors=True)
                home.mkdir()
                build_sample_years(home)
                (home / "built").touch()
        yield home, None
        return
    home = tmp_path_factory.mktemp("sample-years")
    from kenpo_pipeline.warehouse import store

    with pg_database() as url:
        build_sample_years(home, url)
        store.dispose_engine(url)  # a template database must have no connection
        import sqlalchemy as sa

        yield home, sa.engine.make_url(url).database


def _seeded(request) -> tuple[Path, str | None] | None:
    """The sample-years snapshot when the test is marked ``sample_years``."""
    if request.node.get_closest_marker("sample_years") is None:
        return None
    return request.getfixturevalue("sample_years_snapshot")


@pytest.fixture
def kenpo_env(tmp_path, monkeypatch, request):
    """A fresh KENPO_HOME with its own landing area, warehouse and Dagster instance folder.

    A test marked ``sample_years`` starts with a copy of the sample years (``build_sample_years``):
    their landing files, their warehouse and (through ``dagster_instance``) their Dagster history."""
    home = tmp_path / "kenpo"
    home.mkdir()
    for var in ("KENPO_LANDING", "KENPO_WAREHOUSE_URL", "KENPO_REPORTS", "KENPO_CATALOGS", "DAGSTER_HOME", "KENPO_MAX_BAD_ROW_SHARE",
                "KENPO_NOTIFY_LOG", "KENPO_NOTIFY_WEBHOOK", "KENPO_LATE_FEED_DAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KENPO_HOME", str(home))
    # a test writes its landing files whole before it loads them: no settle time (the landing
    # contract itself — settle time, files still being written — is tested in test_edges_runs.py)
    monkeypatch.setenv("KENPO_LANDING_SETTLE_SECONDS", "0")
    (home / "landing").mkdir()
    from kenpo_pipeline.settings import load_settings

    seed = _seeded(request)
    if seed is not None:
        import shutil

        shutil.copytree(seed[0] / "landing", home / "landing", dirs_exist_ok=True)
        if seed[1] is None:  # SQLite's own copy: consistent whatever its write-ahead log holds
            import sqlite3

            with contextlib.closing(sqlite3.connect(seed[0] / "warehouse.db")) as source, contextlib.closing(sqlite3.connect(home / "warehouse.db")) as copy:
                source.backup(copy)
    if TEST_DATABASE == "sqlite":
        yield load_settings()
        return
    with pg_database(template=seed[1] if seed else None) as url:
        monkeypatch.setenv("KENPO_WAREHOUSE_URL", url)
        from kenpo_pipeline.warehouse.store import Warehouse

        if seed is None:
            Warehouse(url).upgrade()  # what `kenpo db upgrade` does
        yield load_settings()


@pytest.fixture
def warehouse(kenpo_env):
    from kenpo_pipeline.warehouse.store import Warehouse

    wh = Warehouse(kenpo_env.warehouse_url)
    wh.ensure_schema()
    return wh


@pytest.fixture
def dagster_instance(tmp_path, request):
    import dagster as dg

    seed = _seeded(request)
    if seed is not None:  # the sample years' runs and materializations
        import shutil

        shutil.copytree(seed[0] / "dagster", tmp_path / "dagster", dirs_exist_ok=True)
    (tmp_path / "dagster").mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        yield instance


def dagster_resources(settings):
    """The code location's resources pointed at a test's KENPO_HOME."""
    from kenpo_pipeline.defs.resources import CatalogResource, LandingResource, NotifierResource, ReportsResource, WarehouseResource

    return {
        "notifier": NotifierResource(log_path=str(settings.notify_log), webhook_url=settings.notify_webhook, late_feed_day=settings.late_feed_day),
        "warehouse": WarehouseResource(url=settings.warehouse_url),
        "landing": LandingResource(path=str(settings.landing), max_bad_row_share=settings.max_bad_row_share, settle_seconds=settings.landing_settle_seconds),
        "catalogs": CatalogResource(path=str(settings.catalogs)),
        "reports": ReportsResource(path=str(settings.reports)),
    }


LONGEST_FIRST = ("test_demo.py", "test_edges_runs.py", "test_ui_browser.py", "test_workbook.py", "test_cli.py", "test_printing.py",
                 "test_benchmarks.py", "test_publication.py", "test_automation.py", "test_dagster_feeds.py")
"""The modules that take longest (``--durations`` of full runs), started first: with ``--dist
loadscope`` a worker takes a whole module, so a long module picked up last ran alone at the end
(the demo test: five minutes with the other worker idle)."""


def _longest_first(items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each module's own order kept


def pytest_collection_modifyitems(config, items):
    """Longest modules first (``LONGEST_FIRST``). With KENPO_TEST_DATABASE=postgresql, only the tests marked ``warehouse`` run (the others do
    not touch the warehouse and have run on the SQLite pass), less those marked ``one_database``
    (what they test — a process killed between steps, a file still being copied, a configuration —
    is the same whatever the database; the kill and signal tests keep their point inside the
    month's write transaction on PostgreSQL)."""
    _longest_first(items)
    if TEST_DATABASE == "sqlite":
        return
    if TEST_DATABASE != "postgresql":
        raise pytest.UsageError(f"KENPO_TEST_DATABASE must be sqlite or postgresql, not {TEST_DATABASE!r}")
    def on_postgres(item) -> bool:
        return item.get_closest_marker("warehouse") is not None and item.get_closest_marker("one_database") is None

    keep = [i for i in items if on_postgres(i)]
    deselected = [i for i in items if not on_postgres(i)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = keep
