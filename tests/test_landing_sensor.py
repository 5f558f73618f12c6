"""The landing sensor, evaluated with Dagster's own sensor context on a real instance."""

import os

import dagster as dg

from conftest import HEADERS, dagster_resources, write_csv
from kenpo_pipeline.defs.feeds import feed_assets
from kenpo_pipeline.defs.kpis import monthly_aggregates
from kenpo_pipeline.defs.sensors import NOTHING_NEW, landing_sensor, run_key
from kenpo_pipeline.domain.intake.reading import sha256_of
from kenpo_pipeline.domain.intake.sample import write_sample
import pytest

pytestmark = pytest.mark.warehouse  # runs on SQLite and on PostgreSQL (see conftest.py)


def tick(instance, settings, cursor=None):
    resources = dagster_resources(settings)
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={k: resources[k] for k in ("landing", "warehouse")})
    return landing_sensor(ctx), ctx


def test_new_files_are_requested_once_and_loaded_files_are_left_alone(kenpo_env, dagster_instance):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04"])
    result, ctx = tick(dagster_instance, kenpo_env)
    keys = sorted(r.run_key for r in result.run_requests)
    path = kenpo_env.landing / "benefits" / "202404.csv"
    assert len(keys) == 4 and run_key("benefits", "2024-04", sha256_of(path)) in keys
    request = next(r for r in result.run_requests if r.run_key.startswith("benefits:"))
    assert request.partition_key == "2024-04" and request.asset_selection == [dg.AssetKey("benefits"), dg.AssetKey("monthly_aggregates")]
    # load the month; the next tick has nothing to do
    dg.materialize([*feed_assets, monthly_aggregates], instance=dagster_instance, resources=dagster_resources(kenpo_env), partition_key="2024-04")
    again, _ = tick(dagster_instance, kenpo_env, cursor=result.cursor)
    assert not again.run_requests and again.skip_reason.skip_message == NOTHING_NEW


def test_a_corrected_file_gets_a_new_run_key(kenpo_env, dagster_instance):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04"])
    dg.materialize([*feed_assets, monthly_aggregates], instance=dagster_instance, resources=dagster_resources(kenpo_env), partition_key="2024-04")
    first, _ = tick(dagster_instance, kenpo_env)
    assert not first.run_requests
    path = kenpo_env.landing / "screenings" / "202404.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # a corrected export: one row fewer
    os.utime(path, ns=(1, 1))
    result, _ = tick(dagster_instance, kenpo_env, cursor=first.cursor)
    assert [r.run_key for r in result.run_requests] == [run_key("screenings", "2024-04", sha256_of(path))]


@pytest.mark.one_database
def test_files_that_are_not_feed_months_are_reported_and_skipped(kenpo_env, dagster_instance):
    write_csv(kenpo_env.landing / "benefits" / "202413.csv", HEADERS["benefits"], [])
    write_csv(kenpo_env.landing / "payments" / "202404.csv", ["a"], [["1"]])
    write_csv(kenpo_env.landing / "benefits" / "209901.csv", HEADERS["benefits"], [])
    import logging

    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    resources = dagster_resources(kenpo_env)
    ctx = dg.build_sensor_context(instance=dagster_instance, resources={k: resources[k] for k in ("landing", "warehouse")})
    ctx.log.addHandler(Collect())
    result = landing_sensor(ctx)
    assert not result.run_requests
    logged = " ".join(records)
    assert "202413.csv: ファイル名 '202413' は実在する年月ではありません" in logged
    assert "フォルダー 'payments' はフィードではありません" in logged and "2099-01 is not a monthly partition yet" in logged


@pytest.mark.one_database
def test_the_sensor_is_on_by_default():
    from kenpo_pipeline.definitions import defs

    sensor = defs().resolve_sensor_def("landing_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING and sensor.job_name == "monthly_feeds"
