"""Operating limits (issue: operations §4): pools, retries on transient database errors only, and
notifications of failed runs, failed blocking checks and late feeds — to a log file and a real
HTTP webhook."""

import datetime as dt
import http.server
import json
import threading

import dagster as dg
import pytest
import yaml

from conftest import dagster_resources, write_csv
from kenpo_pipeline.defs.feeds import feed_assets
from kenpo_pipeline.defs.notifications import late_feed_sensor, run_failure_notifier
from kenpo_pipeline.defs.resources import NotifierResource, WarehouseResource
from kenpo_pipeline.domain.intake import deadlines
from kenpo_pipeline.domain.reference import FEED_IDS
from kenpo_pipeline.domain.intake.sample import write_sample
from kenpo_pipeline.notify import Notice, Notifier, read_log
from kenpo_pipeline.settings import REPO_ROOT
from kenpo_pipeline.warehouse.store import is_transient

pytestmark = pytest.mark.warehouse

JST = deadlines.TOKYO


# --- the instance: pools and run retries ------------------------------------------------------


@pytest.mark.one_database
def test_the_instance_config_serialises_warehouse_writers_and_retries_dead_runs(tmp_path):
    overrides = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())
    with dg.instance_for_test(overrides=overrides, temp_dir=str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.run_queue_config.max_concurrent_runs == 4
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert instance.run_retries_retry_on_asset_or_op_failure is False
    from kenpo_pipeline.definitions import defs

    graph = defs().resolve_asset_graph()
    writers = {k.to_user_string() for k in graph.get_all_asset_keys()} - {"pdca_workbooks"}
    assert {k for k in writers if graph.get(dg.AssetKey(k)).pools != {"warehouse"}} == set()


# --- retries ------------------------------------------------------------------------------------


@pytest.mark.one_database
def test_transient_database_errors_are_told_from_permanent_ones(tmp_path):
    import sqlalchemy as sa

    refused = sa.create_engine("postgresql+psycopg://kenpo@127.0.0.1:1/kenpo")
    with pytest.raises(sa.exc.OperationalError) as lost:
        refused.connect()
    assert is_transient(lost.value)
    sqlite = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(sa.exc.OperationalError) as missing_table, sqlite.connect() as conn:
        conn.execute(sa.text("SELECT * FROM nowhere"))
    assert not is_transient(missing_table.value)
    with sqlite.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER NOT NULL)"))
    with pytest.raises(sa.exc.IntegrityError) as bad_row, sqlite.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (NULL)"))
    assert not is_transient(bad_row.value)


def _step_events(result, kind):
    return [e for e in result.all_events if e.event_type == kind]


def test_a_lost_database_is_retried_and_bad_data_is_not(kenpo_env, dagster_instance):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04"])
    resources = dagster_resources(kenpo_env)
    # the database server is unreachable (nothing listens on port 1): a transient error, retried
    resources["warehouse"] = WarehouseResource(url="postgresql+psycopg://kenpo@127.0.0.1:1/kenpo", max_retries=2, retry_wait_seconds=0.01)
    lost = dg.materialize(feed_assets[:1], partition_key="2024-04", instance=dagster_instance, resources=resources, raise_on_error=False)
    assert not lost.success
    assert len(_step_events(lost, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 2
    assert len(_step_events(lost, dg.DagsterEventType.STEP_RESTARTED)) == 2
    # a rejected file: failed once, never retried
    write_csv(kenpo_env.landing / "benefits" / "202404.csv", ["支部コード"], [["01"]])
    bad = dg.materialize(feed_assets[:1], partition_key="2024-04", instance=dagster_instance, resources=dagster_resources(kenpo_env), raise_on_error=False)
    assert not bad.success
    assert _step_events(bad, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []


# --- notifications ------------------------------------------------------------------------------


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    _Hook.received = []
    _Hook.status = 200
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/kenpo", _Hook
    server.shutdown()


@pytest.mark.one_database
def test_a_notice_goes_to_the_log_file_and_the_webhook(tmp_path, webhook):
    url, hook = webhook
    log = tmp_path / "notifications.log"
    delivery = Notifier(log, url).send(Notice("feed_late", "健診実施 2026年10月分が未着です", {"feed": "screenings"}))
    assert delivery.webhook_status == 200
    content_type, payload = hook.received[0]
    assert content_type.startswith("application/json")
    assert payload["text"] == "[kenpo-pipeline] フィード未着: 健診実施 2026年10月分が未着です" and payload["details"] == {"feed": "screenings"}
    assert read_log(log)[0]["webhook"] == {"status": 200, "error": None}


@pytest.mark.one_database
def test_an_unreachable_webhook_loses_nothing(tmp_path):
    log = tmp_path / "n.log"
    delivery = Notifier(log, "http://127.0.0.1:1/hook", timeout_seconds=2).send(Notice("run_failed", "x"))
    assert delivery.webhook_status is None and "Connection refused" in delivery.webhook_error
    (entry,) = read_log(log)
    assert entry["kind"] == "run_failed" and "Connection refused" in entry["webhook"]["error"]


@pytest.mark.one_database
def test_a_failed_run_and_its_failed_blocking_check_are_notified(kenpo_env, dagster_instance, webhook):
    url, hook = webhook
    write_csv(kenpo_env.landing / "benefits" / "202404.csv", ["支部コード"], [["01"]])  # rejected: columns missing
    result = dg.materialize(feed_assets[:1], partition_key="2024-04", instance=dagster_instance, resources=dagster_resources(kenpo_env), raise_on_error=False)
    assert not result.success
    run = dagster_instance.get_run_by_id(result.run_id)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    notifier = NotifierResource(log_path=str(kenpo_env.notify_log), webhook_url=url)
    ctx = dg.build_run_status_sensor_context(
        sensor_name="run_failure_notifier", dagster_instance=dagster_instance, dagster_run=run, dagster_event=failure,
        resources={"notifier": notifier},
    ).for_run_failure()
    run_failure_notifier(ctx)
    entries = read_log(kenpo_env.notify_log)
    assert [e["kind"] for e in entries] == ["check_failed", "run_failed"]
    check = entries[0]["details"]
    assert (check["asset"], check["check"], check["partition"]) == ("benefits", "accepted", "2024-04")
    assert "申請番号" in check["description"]
    assert entries[1]["details"]["run_id"] == result.run_id and "[2024-04]" in entries[1]["title"]
    assert [p["kind"] for _, p in hook.received] == ["check_failed", "run_failed"]


# --- late feeds ---------------------------------------------------------------------------------


@pytest.mark.one_database
def test_deadline_is_the_late_day_of_the_following_month_in_tokyo():
    assert deadlines.deadline("2026-10") == dt.datetime(2026, 11, 20, tzinfo=JST)
    assert deadlines.deadline("2026-12", 5) == dt.datetime(2027, 1, 5, tzinfo=JST)
    just_before = dt.datetime(2026, 11, 19, 23, 59, tzinfo=JST)
    assert deadlines.months_due(just_before)[-1] == "2026-09"
    assert deadlines.months_due(just_before + dt.timedelta(minutes=1))[-1] == "2026-10"
    assert deadlines.months_due(just_before)[0] == "2025-04"  # from the previous fiscal year on
    with pytest.raises(ValueError):
        deadlines.deadline("2026-10", 31)


def _late_tick(instance, settings, cursor=None):
    resources = dagster_resources(settings)
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"warehouse": resources["warehouse"], "notifier": resources["notifier"]})
    return late_feed_sensor(ctx), ctx


def test_late_feeds_are_notified_once(kenpo_env, dagster_instance, monkeypatch):
    """Each late feed-month once; only months from the first month any file arrived for (issue 12
    §12: the first notice of a new installation does not list years of months before its data)."""
    now = dt.datetime.now(JST)
    due = deadlines.months_due(now)
    first = due[-3]
    fy = int(first[:4]) - (first[5:] < "04")
    write_sample(kenpo_env.landing, fy, fy, scale=0.002, months=[first])
    dg.materialize(feed_assets[:2], partition_key=first, instance=dagster_instance, resources=dagster_resources(kenpo_env))
    result, ctx = _late_tick(dagster_instance, kenpo_env)
    (entry,) = read_log(kenpo_env.notify_log)
    late = {(i["feed"], i["month"]) for i in entry["details"]["late"]}
    loaded = {(f, first) for f in FEED_IDS[:2]}
    assert late == {(f, m) for m in due[-3:] for f in FEED_IDS} - loaded and len(late) == 10
    assert entry["kind"] == "feed_late" and entry["title"].startswith("10件のフィードが期限（翌月20日）を過ぎても未着です: ")
    # the next tick has nothing new to say
    again, _ = _late_tick(dagster_instance, kenpo_env, cursor=ctx.cursor)
    assert "none new" in again.skip_message and len(read_log(kenpo_env.notify_log)) == 1


def test_no_late_feed_notice_before_any_file_has_arrived(kenpo_env, dagster_instance):
    result, _ = _late_tick(dagster_instance, kenpo_env)
    assert "no feed file has arrived yet" in result.skip_message and read_log(kenpo_env.notify_log) == []
