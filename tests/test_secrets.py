"""Secrets never reach the Dagster UI (issue 11 "Configuration").

A real ``dagster-webserver`` serves the code location with ``KENPO_WAREHOUSE_URL`` holding a
password (for the test's PostgreSQL database: the server trusts local connections, so the password is
carried but not checked) and ``KENPO_NOTIFY_WEBHOOK`` holding a token. A run of a feed month is
launched through the webserver's GraphQL API, as the UI launches one. Then nothing the webserver
serves — the resources' configuration, the launchpad's default run config, the run's config, tags and
event log with every metadata entry, the asset's materializations and check evaluations — nor
anything stored in the instance it serves from contains the password or the token; the resources
show the variables by name. The same run did reach the warehouse through that URL.

Needs the PostgreSQL server of ``make test`` (``.ci/with-postgres``), on either pass.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zlib
from pathlib import Path

import pytest

from conftest import pg_database
from kenpo_pipeline.domain.intake.sample import write_sample
from kenpo_pipeline.settings import REPO_ROOT

BIN = Path(sys.executable).parent
PASSWORD = "Pw-7f3a9c-kenpo-secret"
TOKEN = "tok-51d0e2-webhook-secret"
LOCATION = {"repositoryLocationName": "kenpo_pipeline", "repositoryName": "__repository__"}

METADATA = """
fragment md on MetadataEntry { label __typename
  ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr } ... on JsonMetadataEntry { jsonString }
  ... on PathMetadataEntry { path } ... on UrlMetadataEntry { url } ... on IntMetadataEntry { intRepr }
  ... on FloatMetadataEntry { floatValue } ... on BoolMetadataEntry { boolValue } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - still starting
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class Webserver:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}"
        self.served: list[str] = []  # every response body, as served

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        req = urllib.request.Request(
            f"{self.url}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            body = resp.read().decode()
        self.served.append(body)
        out = json.loads(body)
        assert "errors" not in out, out["errors"]
        return out["data"]


@pytest.fixture
def secret_env(tmp_path):
    import sqlalchemy as sa

    from kenpo_pipeline.warehouse.store import Warehouse, dispose_engine

    with pg_database() as plain:
        url = sa.engine.make_url(plain).set(password=PASSWORD).render_as_string(hide_password=False)
        assert PASSWORD in url
        Warehouse(url).upgrade()  # what `kenpo db upgrade` does
        home = tmp_path / "kenpo"
        (home / "dagster").mkdir(parents=True)
        # runs launched through the webserver start at once (no daemon to dequeue them)
        (home / "dagster" / "dagster.yaml").write_text(
            "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
        )
        write_sample(home / "landing", 2024, 2024, scale=0.002, months=["2024-04"])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KENPO_", "DAGSTER_"))}
        env.update(
            KENPO_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), KENPO_WAREHOUSE_URL=url,
            KENPO_NOTIFY_WEBHOOK=f"http://127.0.0.1:9/hooks/kenpo?token={TOKEN}", KENPO_LANDING_SETTLE_SECONDS="0",
            GX_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1",
        )
        yield home, env, url
        dispose_engine(url)


@pytest.fixture
def webserver(secret_env):
    home, env, _ = secret_env
    port = _free_port()
    log = home / "webserver.log"
    proc = subprocess.Popen(
        [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    server = Webserver(port)
    try:
        _wait(lambda: urllib.request.urlopen(f"{server.url}/server_info", timeout=5).status == 200, 180, "the webserver")
        _wait(lambda: server.graphql("{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }")
              ["workspaceOrError"]["locationEntries"][0]["loadStatus"] == "LOADED", 180, "the code location")
        yield server
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


def _stored_text(dagster_home: Path) -> str:
    """Everything the instance under ``dagster_home`` holds, as text: its files (SQLite databases,
    compute logs) and the compressed snapshots inside its run database."""
    import sqlite3

    parts = []
    for path in dagster_home.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("utf-8", errors="replace"))
            if path.suffix == ".db":
                with sqlite3.connect(path) as conn:
                    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                    if "snapshots" in tables:
                        for (body,) in conn.execute("SELECT snapshot_body FROM snapshots"):
                            parts.append(zlib.decompress(body).decode("utf-8", errors="replace"))
    return "\n".join(parts)


def test_a_password_in_the_warehouse_url_is_nowhere_in_what_the_webserver_serves(secret_env, webserver):
    home, env, url = secret_env
    # the resources as the UI's Resources page shows them: the variables by name, never their values
    repo = webserver.graphql(
        """query($s: RepositorySelector!) { repositoryOrError(repositorySelector: $s) { ... on Repository {
             allTopLevelResourceDetails { name description configFields { name defaultValueAsJson } configuredValues { key value type } } } } }""",
        {"s": LOCATION},
    )["repositoryOrError"]
    resources = {r["name"]: r for r in repo["allTopLevelResourceDetails"]}
    configured = {r: {v["key"]: (v["type"], v["value"]) for v in d["configuredValues"]} for r, d in resources.items()}
    assert configured["warehouse"]["url"] == ("ENV_VAR", "KENPO_WAREHOUSE_URL")
    assert configured["notifier"]["webhook_url"] == ("ENV_VAR", "KENPO_NOTIFY_WEBHOOK")
    # the launchpad's default run config of the feed job
    job = {**LOCATION, "pipelineName": "monthly_feeds"}
    webserver.graphql(
        "query($s: PipelineSelector!) { runConfigSchemaOrError(selector: $s) { ... on RunConfigSchema { rootDefaultYaml } } }", {"s": job}
    )

    # a feed month launched as the UI launches it
    launched = webserver.graphql(
        """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
             ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } } } }""",
        {"p": {"selector": {**LOCATION, "jobName": "monthly_feeds"}, "runConfigData": {},
               "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "2024-04"}]}}},
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished():
        status = webserver.graphql(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", {"id": run_id}
        )["runOrError"]["status"]
        if status not in ("SUCCESS", "FAILURE", "CANCELED"):
            raise RuntimeError(status)  # _wait reports the last status it saw
        return status

    assert _wait(finished, 600, f"run {run_id}", interval=2) == "SUCCESS", (home / "webserver.log").read_text()[-4000:]

    # the run: its config, tags and every event with its metadata
    webserver.graphql(
        "query($id: ID!) { runOrError(runId: $id) { ... on Run { runConfigYaml tags { key value } } } }", {"id": run_id}
    )
    events = webserver.graphql(
        METADATA + """query($id: ID!) { logsForRun(runId: $id, limit: 100000) { ... on EventConnection { events { __typename
             ... on MessageEvent { message }
             ... on MaterializationEvent { metadataEntries { ...md } }
             ... on AssetCheckEvaluationEvent { evaluation { description metadataEntries { ...md } } }
             ... on ExecutionStepFailureEvent { error { message } failureMetadata { metadataEntries { ...md } } } } } } }""",
        {"id": run_id},
    )["logsForRun"]["events"]
    kinds = {e["__typename"] for e in events}
    assert {"MaterializationEvent", "AssetCheckEvaluationEvent", "RunSuccessEvent"} <= kinds
    # an asset page: materializations and the checks' per-month evaluations
    for feed in ("benefits", "indicators"):
        asset = webserver.graphql(
            METADATA + """query($k: AssetKeyInput!) { assetOrError(assetKey: $k) { ... on Asset {
                 assetMaterializations(limit: 10) { partition metadataEntries { ...md } }
                 definition { assetChecksOrError { ... on AssetChecks { checks { name description
                   executionForLatestMaterialization { status evaluation { description metadataEntries { ...md } } } } } } } } } }""",
            {"k": {"path": [feed]}},
        )["assetOrError"]
        assert [m["partition"] for m in asset["assetMaterializations"]][:1] == ["2024-04"]

    # the run reached the warehouse through the URL with the password
    from kenpo_pipeline.warehouse.store import Warehouse

    assert Warehouse(url).current_load("benefits", "2024-04")["rows_loaded"] > 0

    served = "\n".join(webserver.served)
    assert "KENPO_WAREHOUSE_URL" in served and "2024-04" in served  # what was searched is what the UI shows
    for secret in (PASSWORD, TOKEN):
        assert secret not in served
        assert secret not in _stored_text(home / "dagster")
