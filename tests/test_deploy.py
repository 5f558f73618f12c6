"""The instance configurations in deploy/ pass Dagster's own config validation, and the PostgreSQL
variant runs for real against the test server (issue: operations §1, §6)."""

import importlib

import dagster as dg
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from conftest import pg_database
from kenpo_pipeline.settings import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"


def _validate_instance_file(path, monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    config, _ = dagster_instance_config(str(path.parent), config_filename=path.name)
    for section in ("run_launcher", "run_coordinator"):
        if section not in config:
            continue
        cls = getattr(importlib.import_module(config[section]["module"]), config[section]["class"])
        result = process_config(cls.config_type(), config[section].get("config") or {})
        assert result.success, (path.name, section, [e.message for e in result.errors])
    return config


PG_ENV = {"DAGSTER_PG_HOST": "db.internal", "DAGSTER_PG_PORT": "5432", "DAGSTER_PG_DB": "dagster", "DAGSTER_PG_USER": "dagster", "DAGSTER_PG_PASSWORD": "x"}


def test_kubernetes_instance_config_is_valid(monkeypatch):
    config = _validate_instance_file(DEPLOY / "dagster.k8s.yaml", monkeypatch, PG_ENV)
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert config["concurrency"]["runs"]["max_concurrent_runs"] >= 12  # a fiscal year's months side by side
    # the K8sRunLauncher itself accepts it (constructed from the validated config, no cluster needed)
    from dagster_k8s import K8sRunLauncher

    cfg = process_config(K8sRunLauncher.config_type(), launcher["config"]).value
    assert cfg["job_namespace"] == "kenpo" and cfg["env_secrets"] == ["kenpo-warehouse"]


def test_helm_values_match_the_instance_config():
    values = yaml.safe_load((DEPLOY / "values.yaml").read_text())
    k8s = yaml.safe_load((DEPLOY / "dagster.k8s.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["runLauncher"]["config"]["k8sRunLauncher"]["jobNamespace"] == k8s["run_launcher"]["config"]["job_namespace"]
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "kenpo_pipeline.definitions"]
    assert values["dagsterWebserver"]["service"]["type"] == "ClusterIP"


def test_no_credentials_are_written_in_the_repo_configs():
    for path in [REPO_ROOT / "dagster.yaml", *DEPLOY.glob("*.yaml")]:
        text = path.read_text()
        config = yaml.safe_load(text)
        pg = (config.get("storage") or {}).get("postgres", {}).get("postgres_db") if isinstance(config, dict) else None
        if pg:
            assert pg["password"] == {"env": "DAGSTER_PG_PASSWORD"}, path


def test_the_postgres_instance_runs_on_a_real_server(monkeypatch, tmp_path):
    """deploy/dagster.postgres.yaml with its credentials from the environment: a run is stored in
    PostgreSQL and read back by a second instance on the same database."""
    import sqlalchemy as sa

    with pg_database() as url:
        u = sa.engine.make_url(url)
        env = {"DAGSTER_PG_HOST": u.host, "DAGSTER_PG_PORT": str(u.port), "DAGSTER_PG_DB": u.database,
               "DAGSTER_PG_USER": u.username, "DAGSTER_PG_PASSWORD": u.password or ""}
        config = _validate_instance_file(DEPLOY / "dagster.postgres.yaml", monkeypatch, env)
        home = tmp_path / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text((DEPLOY / "dagster.postgres.yaml").read_text())
        monkeypatch.setenv("DAGSTER_HOME", str(home))

        @dg.asset
        def ping() -> int:
            return 1

        with dg.DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert instance.get_concurrency_config().pool_config.default_pool_limit == config["concurrency"]["pools"]["default_limit"]
            result = dg.materialize([ping], instance=instance)
            assert result.success
        with dg.DagsterInstance.from_config(str(home)) as again:
            assert again.get_run_by_id(result.run_id).is_success
            assert again.get_latest_materialization_event(dg.AssetKey("ping")) is not None
