"""The warehouse schema is versioned (Alembic) and upgraded by `kenpo db upgrade`, on SQLite and on
PostgreSQL alike."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from kenpo_pipeline import cli
from kenpo_pipeline.warehouse import migrate, schema
from kenpo_pipeline.warehouse.store import Warehouse

pytestmark = pytest.mark.warehouse


def _diff(engine):
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata)


def test_upgraded_warehouse_matches_the_declared_tables(warehouse):
    """The migrations produce exactly the tables of warehouse/schema.py: nothing missing, nothing
    extra, no column of another type (a change to schema.py without a migration fails here)."""
    assert migrate.current_revision(warehouse.engine) == migrate.head_revision()
    assert _diff(warehouse.engine) == []


def test_db_upgrade_command_on_an_empty_database_then_current(kenpo_env, capsys, monkeypatch):
    if kenpo_env.warehouse_url.startswith("postgresql"):  # the fixture has already upgraded it: start over
        Warehouse(kenpo_env.warehouse_url).engine.dispose()
        migrate.downgrade(Warehouse(kenpo_env.warehouse_url).engine, "base")
    engine = Warehouse(kenpo_env.warehouse_url).engine
    assert migrate.current_revision(engine) is None
    assert cli.main(["db", "current"]) == 1
    assert "no schema yet" in capsys.readouterr().out

    assert cli.main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"→ {migrate.head_revision()}" in out
    assert "feed_loads" in sa.inspect(engine).get_table_names()
    assert cli.main(["db", "current"]) == 0
    assert migrate.head_revision() in capsys.readouterr().out
    assert cli.main(["db", "upgrade"]) == 0  # idempotent
    assert "already at" in capsys.readouterr().out


def test_a_postgres_warehouse_behind_the_code_is_refused_not_silently_changed(kenpo_env):
    """Production schemas change only by the command: the pipeline refuses an unversioned
    PostgreSQL warehouse and says which command to run. SQLite (the embedded default) upgrades."""
    wh = Warehouse(kenpo_env.warehouse_url)
    migrate.downgrade(wh.engine, "base")
    if wh.dialect == "postgresql":
        with pytest.raises(migrate.SchemaOutOfDate, match=r"run `kenpo db upgrade`"):
            wh.ensure_schema()
        assert "feed_loads" not in sa.inspect(wh.engine).get_table_names()
    else:
        wh.ensure_schema()
        assert migrate.current_revision(wh.engine) == migrate.head_revision()


def test_a_warehouse_from_before_versioning_is_adopted_with_its_rows(kenpo_env):
    """Tables made by 0.1.0's create_all (no alembic_version) are stamped at the baseline and kept."""
    wh = Warehouse(kenpo_env.warehouse_url)
    migrate.downgrade(wh.engine, "base")
    migrate.upgrade(wh.engine, migrate.BASELINE_REVISION)  # exactly the tables 0.1.0 made …
    with wh.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE alembic_version"))  # … without a version
    assert migrate.current_revision(wh.engine) is None
    with wh.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO monthly_aggregates (month, branch_code, input, value) VALUES ('2024-04', '01', 'x', 1.5)"))
    before, after = wh.upgrade()
    assert (before, after) == (None, migrate.head_revision())
    assert wh.read_table("monthly_aggregates")["value"].tolist() == [1.5]
    assert _diff(wh.engine) == []
