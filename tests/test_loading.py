"""Loads are safe and traceable (issue: foundation §5) — real files, a real warehouse (SQLite file or PostgreSQL)."""

import json

import pandas as pd
from sqlalchemy import func, select

import pytest
from conftest import HEADERS, write_csv
from kenpo_pipeline.warehouse import schema
from kenpo_pipeline.warehouse.loading import load_feed_month

pytestmark = pytest.mark.warehouse  # runs on SQLite and on PostgreSQL (see conftest.py)

GOOD = ["22", "X", "傷病手当金", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"]


def benefit_rows(n, prefix="G"):
    return [GOOD[:1] + [f"{prefix}{i}"] + GOOD[2:] for i in range(n)]


def write_benefits(landing, rows, month="202404", suffix="csv"):
    return write_csv(landing / "benefits" / f"{month}.{suffix}", HEADERS["benefits"], rows)


def counts(wh):
    with wh.engine.connect() as c:
        return {
            "loads": c.execute(select(func.count()).select_from(schema.feed_loads)).scalar(),
            "rows": c.execute(select(func.count()).select_from(schema.feed_tables["benefits"])).scalar(),
            "quarantine": c.execute(select(func.count()).select_from(schema.quarantine)).scalar(),
        }


def test_load_records_history_counts_and_load_ids(kenpo_env, warehouse):
    rows = benefit_rows(200) + [["22", "BAD", "傷病手当金", "2024-04-11", "2024-04-10", "2024-04-12", "郵送", "支給"]]
    path = write_benefits(kenpo_env.landing, rows)
    r = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01, run_id="run-1")
    assert r.status == "loaded"
    loads = warehouse.loads()
    assert len(loads) == 1
    load = loads.iloc[0]
    assert load["status"] == "loaded" and load["path"] == str(path) and load["month"] == "2024-04"
    assert load["rows_read"] == 201 == load["rows_loaded"] + load["rows_quarantined"]
    assert load["rows_quarantined"] == 1 and load["run_id"] == "run-1"
    import hashlib

    assert load["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    data = warehouse.read_table("benefits")
    assert len(data) == 200 and set(data["load_id"]) == {load["load_id"]} and set(data["month"]) == {"2024-04"}
    q = warehouse.read_table("quarantine")
    assert len(q) == 1 and q.iloc[0]["load_id"] == load["load_id"] and q.iloc[0]["row_number"] == 202
    assert q.iloc[0]["reason"] == "受付日が決定日より後です" and q.iloc[0]["column_name"] == "受付日"
    assert json.loads(q.iloc[0]["record"])["申請番号"] == "BAD"


def test_rerun_on_unchanged_file_adds_and_changes_nothing(kenpo_env, warehouse):
    write_benefits(kenpo_env.landing, benefit_rows(50))
    first = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    before = counts(warehouse)
    loads_before = warehouse.loads()
    again = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    assert again.status == "unchanged" and again.current["load_id"] == first.outcome.load_id
    assert counts(warehouse) == before
    pd.testing.assert_frame_equal(warehouse.loads(), loads_before)


def test_corrected_resubmission_supersedes_the_old_load_whole(kenpo_env, warehouse):
    write_benefits(kenpo_env.landing, benefit_rows(50, "OLD"))
    old = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    write_benefits(kenpo_env.landing, benefit_rows(30, "NEW"))
    new = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    assert new.status == "loaded" and new.outcome.replaced_load_id == old.outcome.load_id
    loads = warehouse.loads().set_index("load_id")
    assert loads.loc[old.outcome.load_id, "status"] == "superseded"
    assert loads.loc[new.outcome.load_id, "status"] == "loaded"
    data = warehouse.read_table("benefits")
    assert len(data) == 30 and data["application_id"].str.startswith("NEW").all()
    assert set(data["load_id"]) == {new.outcome.load_id}


def test_bad_resubmission_keeps_the_previous_load(kenpo_env, warehouse):
    write_benefits(kenpo_env.landing, benefit_rows(50))
    good = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    before = warehouse.read_table("benefits")
    # a re-submission with a missing column: a file error
    path = kenpo_env.landing / "benefits" / "202404.csv"
    write_csv(path, HEADERS["benefits"][:-1], [r[:-1] for r in benefit_rows(50)])
    bad = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    assert bad.status == "rejected" and "決定区分" in bad.message and str(path) in bad.message
    # a re-submission with too many bad rows
    write_benefits(kenpo_env.landing, benefit_rows(50) + [["22", f"B{i}", "x", "2024-04-01", "2024-04-10", "2024-04-12", "郵送", "支給"] for i in range(5)])
    worse = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    assert worse.status == "rejected" and "データ行55行のうち5行" in worse.message
    loads = warehouse.loads()
    assert list(loads["status"]) == ["loaded", "rejected", "rejected"]
    # nothing of a rejected file is loaded: every data line it was read with is withheld (the rows
    # that broke a rule are counted in the reason), so feed_loads adds up for rejections too
    assert loads.iloc[2]["rows_read"] == 55 and loads.iloc[2]["rows_quarantined"] == 55 and loads.iloc[2]["rows_loaded"] == 0
    assert "行ルールに違反" in loads.iloc[2]["reason"]
    pd.testing.assert_frame_equal(warehouse.read_table("benefits"), before)
    assert warehouse.current_load("benefits", "2024-04")["load_id"] == good.outcome.load_id
    assert len(warehouse.read_table("quarantine")) == 0


def test_same_rejected_file_is_not_recorded_twice(kenpo_env, warehouse):
    path = kenpo_env.landing / "benefits" / "202404.csv"
    write_csv(path, HEADERS["benefits"][:-1], [r[:-1] for r in benefit_rows(5)])
    load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    assert list(warehouse.loads()["status"]) == ["rejected"]


def test_two_files_for_one_month_reject_the_month(kenpo_env, warehouse):
    write_benefits(kenpo_env.landing, benefit_rows(5))
    load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    from conftest import write_xlsx

    write_xlsx(kenpo_env.landing / "benefits" / "202404.xlsx", HEADERS["benefits"], benefit_rows(5))
    r = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    assert r.status == "rejected" and "2024-04 のファイルが 2 個あり（202404.csv、202404.xlsx）" in r.message
    assert warehouse.current_load("benefits", "2024-04") is not None  # the previous good load stays
    assert len(warehouse.read_table("benefits")) == 5


def test_missing_file_is_reported_and_not_recorded(kenpo_env, warehouse):
    r = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    assert r.status == "missing" and "202404.csv" in r.message
    assert warehouse.loads().empty


def test_months_are_independent(kenpo_env, warehouse):
    write_benefits(kenpo_env.landing, benefit_rows(5))
    may = [GOOD[:1] + [f"M{i}"] + ["傷病手当金", "2024-05-01", "2024-05-10", "2024-05-13", "郵送", "支給"] for i in range(7)]
    write_benefits(kenpo_env.landing, may, month="202405")
    load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-05", 0.01)
    write_benefits(kenpo_env.landing, benefit_rows(3, "C"))
    load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 0.01)
    data = warehouse.read_table("benefits")
    assert data.groupby("month").size().to_dict() == {"2024-04": 3, "2024-05": 7}


def test_the_developer_log_names_the_reader_and_why(kenpo_env, warehouse):
    """Which CSV reader read a file, and why the row reader when it did (issue 13)."""
    good = benefit_rows(3)
    write_benefits(kenpo_env.landing, good)
    logged: list[str] = []
    r = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 1.0, log=logged.append)
    path = kenpo_env.landing / "benefits" / "202404.csv"
    assert r.status == "loaded" and r.check.reader == "columns" and f"read {path} with the columns reader" in logged
    with open(path, "a", encoding="utf-8") as f:  # a stray quote inside a field (csv.writer would quote it whole)
        f.write('22,Q"1,傷病手当金,2024-04-01,2024-04-10,2024-04-12,郵送,支給\n')
    logged.clear()
    r = load_feed_month(warehouse, kenpo_env.landing, "benefits", "2024-04", 1.0, log=logged.append)
    assert r.status == "loaded" and r.check.reader == "rows" and (r.check.rows_loaded, r.check.rows_quarantined) == (3, 1)
    assert f"read {path} with the rows reader (a quote character that is not part of a whole quoted field on one line " \
        "(stray, unbalanced, spanning lines, or inside a field))" in logged, logged
