"""Versioned warehouse schema: Alembic migrations in ``warehouse/migrations/versions``.

``kenpo db upgrade`` brings a warehouse to the newest revision (a new, empty database included);
``kenpo db current`` shows where it is. The pipeline itself never changes the schema of a
PostgreSQL warehouse: it refuses to run on one that is behind (see ``require_current``). The
embedded SQLite default is upgraded on first use, so that ``make demo`` needs no set-up step.

Two processes upgrading the same warehouse at once are serialised: by an advisory lock on
PostgreSQL and by a lock file beside the database on SQLite.
"""

from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The revision of the schema before versioning (the tables ``create_all`` made in 0.1.0).
BASELINE_REVISION = "0001"
_PG_LOCK_KEY = 0x6B656E706F  # "kenpo"


class SchemaOutOfDate(RuntimeError):
    """The warehouse is not at the newest schema revision."""


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _redacted(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        lock_path = Path(engine.url.database).with_suffix(".migrate.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        yield


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade the warehouse to ``revision``; returns (revision before, revision after).

    A warehouse written before versioning (its tables exist, with no ``alembic_version``) is first
    stamped at the baseline revision, whose tables it has."""
    with _migration_lock(engine):
        before = current_revision(engine)
        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            if before is None and inspect(conn).has_table("feed_loads"):
                command.stamp(cfg, BASELINE_REVISION)
            command.upgrade(cfg, revision)
        after = current_revision(engine)
    return before, after


def downgrade(engine: Engine, revision: str) -> tuple[str | None, str | None]:
    with _migration_lock(engine):
        before = current_revision(engine)
        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)
        return before, current_revision(engine)


def require_current(engine: Engine) -> None:
    """Raise ``SchemaOutOfDate`` unless the warehouse is at the head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "にはまだスキーマがありません" if current is None else f"のスキーマはリビジョン {current} です"
        raise SchemaOutOfDate(  # what the operator reads (kenpo, the Dagster UI): Japanese, with what to run
            f"倉庫 {_redacted(engine)} {state}。この版の kenpo-pipeline にはリビジョン {head} が必要です。"
            "同じ KENPO_WAREHOUSE_URL で kenpo db upgrade を実行してから、もう一度実行してください。"
        )


def history() -> list[tuple[str, str | None, str]]:
    """(revision, down revision, message), oldest first."""
    script = ScriptDirectory.from_config(_config())
    return [(s.revision, s.down_revision, s.doc) for s in reversed(list(script.walk_revisions()))]
