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
    assert "スキーマがまだありません" in capsys.readouterr().out

    assert cli.main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"→ {migrate.head_revision()} に更新しました" in out
    assert "feed_loads" in sa.inspect(engine).get_table_names()
    assert cli.main(["db", "current"]) == 0
    assert migrate.head_revision() in capsys.readouterr().out
    assert cli.main(["db", "upgrade"]) == 0  # idempotent
    assert "すでにリビジョン" in capsys.readouterr().out


def test_a_postgres_warehouse_behind_the_code_is_refused_not_silently_changed(kenpo_env):
    """Production schemas change only by the command: the pipeline refuses an unversioned
    PostgreSQL warehouse and says which command to run. SQLite (the embedded default) upgrades."""
    wh = Warehouse(kenpo_env.warehouse_url)
    migrate.downgrade(wh.engine, "base")
    with pytest.raises(migrate.SchemaOutOfDate) as behind:  # what the operator reads: Japanese, and what to run
        migrate.require_current(wh.engine)
    assert str(behind.value).endswith("同じ KENPO_WAREHOUSE_URL で kenpo db upgrade を実行してから、もう一度実行してください。")
    assert f"リビジョン {migrate.head_revision()} が必要です" in str(behind.value)
    if wh.dialect == "postgresql":
        with pytest.raises(migrate.SchemaOutOfDate, match=r"まだスキーマがありません。.*kenpo db upgrade を実行してから") as refused:
            wh.ensure_schema()
        assert "run" not in str(refused.value) and migrate.head_revision() in str(refused.value)  # Japanese, names the revision
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


def test_0004_gives_rows_written_before_it_their_display_facts(kenpo_env):
    """Revision 0004 adds the comparison, unit and display precision to pdca_evaluation and its
    published copy; rows already there get them once, from the texts they were written with (a
    published year keeps its 対目標比 without being recomputed); a later materialization writes them
    from the catalog."""
    wh = Warehouse(kenpo_env.warehouse_url)
    wh.ensure_schema()
    migrate.downgrade(wh.engine, "0003")
    legacy = {"fiscal_year": 2023, "branch_code": "22", "plan": "支部", "kpi_key": "k", "section": "s", "kpi_text": "t", "status": "未達成",
              "as_of_month": "2024-03", "kpi_order": 1}
    rows = [
        {**legacy, "kpi_id": "a", "target_text": "前年度(0.462%)以上", "target_value": 0.462, "actual_value": 0.452, "actual_text": "0.452%"},
        {**legacy, "kpi_id": "b", "target_text": "15.0%以下", "target_value": 15.0, "actual_value": 16.7, "actual_text": "16.7%"},
        {**legacy, "kpi_id": "c", "target_text": "1,200円以上", "target_value": 1200.0, "actual_value": 1234.0, "actual_text": "1,234円"},
        {**legacy, "kpi_id": "d", "target_text": "毎月（12か月）", "target_value": None, "actual_value": None, "actual_text": "11か月"},
    ]
    columns = list(rows[0])
    with wh.engine.begin() as conn:
        for table in ("pdca_evaluation", "pdca_published_evaluation"):
            extra = {"version": 1} if table == "pdca_published_evaluation" else {}
            names = columns + list(extra)
            conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"),
                         [{**r, **extra} for r in rows])
    wh.upgrade()
    assert _diff(wh.engine) == []
    for table in ("pdca_evaluation", "pdca_published_evaluation"):
        got = wh.read_table(table).set_index("kpi_id")
        facts = got[["target_op", "unit", "display_precision"]].astype(object).where(got[["target_op", "unit", "display_precision"]].notna(), None)
        assert facts.loc["a"].tolist() == [">=", "%", 3]
        assert facts.loc["b"].tolist() == ["<=", "%", 1]
        assert facts.loc["c"].tolist() == [">=", "円", 0]
        assert facts.loc["d"].tolist() == [None, None, None]  # no numbers: nothing to show them with
        assert got["rule"].isna().all()  # not in the texts: written by the next materialization
    migrate.downgrade(wh.engine, "0003")  # and back
    assert "target_op" not in {c["name"] for c in sa.inspect(wh.engine).get_columns("pdca_evaluation")}
    wh.upgrade()
