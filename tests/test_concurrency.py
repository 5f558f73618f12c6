"""Two writers touching the same month never interleave (issue: operations §4): the second waits
for the first and replaces its rows whole — on SQLite and on PostgreSQL."""

import threading

import pandas as pd
import pytest

from conftest import HEADERS, write_csv
from kenpo_pipeline.domain.intake.feeds import check_feed_file
from kenpo_pipeline.warehouse.store import Warehouse

pytestmark = pytest.mark.warehouse

ROW = ["22", "X", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"]


def _file(root, name, n, prefix):
    return write_csv(root / name / "benefits" / "202404.csv", HEADERS["benefits"], [ROW[:1] + [f"{prefix}{i}"] + ROW[2:] for i in range(n)])


def test_two_loads_of_the_same_month_at_once_leave_exactly_one_of_them(kenpo_env, tmp_path):
    checks = [
        check_feed_file(_file(tmp_path, "a", 3000, "A"), "benefits", "2024-04", max_bad_row_share=0.01),
        check_feed_file(_file(tmp_path, "b", 2000, "B"), "benefits", "2024-04", max_bad_row_share=0.01),
    ]
    Warehouse(kenpo_env.warehouse_url).ensure_schema()
    for attempt in range(4):
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def load(check):
            try:
                wh = Warehouse(kenpo_env.warehouse_url)
                barrier.wait()
                wh.replace_month(check)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=load, args=(c,)) for c in checks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        wh = Warehouse(kenpo_env.warehouse_url)
        loads = wh.loads()
        current = loads[(loads["month"] == "2024-04") & (loads["status"] == "loaded")]
        assert len(current) == 1, f"attempt {attempt}: {current}"
        rows = wh.read_table("benefits", month="2024-04")
        assert rows["load_id"].unique().tolist() == [int(current["load_id"].iloc[0])]
        assert len(rows) == int(current["rows_loaded"].iloc[0]) in (3000, 2000)
        assert rows["application_id"].str[0].nunique() == 1  # all from one file, never a mix
        assert (loads["status"] == "superseded").sum() == 2 * attempt + 1  # every earlier load, exactly once


def test_two_replaces_of_the_same_table_slice_at_once_leave_one_frame(warehouse):
    frames = [
        pd.DataFrame({"month": ["2024-04"] * 500, "branch_code": ["01"] * 500, "input": [f"x{i}" for i in range(500)], "value": [float(k)] * 500})
        for k in (1, 2)
    ]
    barrier = threading.Barrier(2)

    def replace(frame):
        wh = Warehouse(warehouse.url)
        barrier.wait()
        wh.replace("monthly_aggregates", {"month": "2024-04"}, frame)

    threads = [threading.Thread(target=replace, args=(f,)) for f in frames]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = warehouse.read_table("monthly_aggregates", month="2024-04")
    assert len(out) == 500 and out["value"].nunique() == 1
