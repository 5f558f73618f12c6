"""Shared fixtures: real files in a temporary landing area, a real SQLite warehouse file, and a real
Dagster instance in a temporary folder."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

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


@pytest.fixture
def kenpo_env(tmp_path, monkeypatch):
    """A fresh KENPO_HOME with its own landing area, SQLite warehouse and Dagster instance folder."""
    home = tmp_path / "kenpo"
    home.mkdir()
    for var in ("KENPO_LANDING", "KENPO_WAREHOUSE_URL", "KENPO_REPORTS", "KENPO_CATALOGS", "DAGSTER_HOME", "KENPO_MAX_BAD_ROW_SHARE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KENPO_HOME", str(home))
    (home / "landing").mkdir()
    from kenpo_pipeline.settings import load_settings

    return load_settings()


@pytest.fixture
def warehouse(kenpo_env):
    from kenpo_pipeline.warehouse.store import Warehouse

    wh = Warehouse(kenpo_env.warehouse_url)
    wh.create_schema()
    return wh


@pytest.fixture
def dagster_instance(tmp_path):
    import dagster as dg

    (tmp_path / "dagster").mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        yield instance


def dagster_resources(settings):
    """The code location's resources pointed at a test's KENPO_HOME."""
    from kenpo_pipeline.defs.resources import CatalogResource, LandingResource, ReportsResource, WarehouseResource

    return {
        "warehouse": WarehouseResource(url=settings.warehouse_url),
        "landing": LandingResource(path=str(settings.landing), max_bad_row_share=settings.max_bad_row_share),
        "catalogs": CatalogResource(path=str(settings.catalogs)),
        "reports": ReportsResource(path=str(settings.reports)),
    }
