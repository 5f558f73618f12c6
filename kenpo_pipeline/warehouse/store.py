"""The warehouse: one :class:`Warehouse` object per database with every read and write as a method
(one where-clause builder, :func:`where`), and transactional loading — a feed-month is replaced
whole in one transaction, or not at all.

- ``feed_loads`` keeps every attempt: ``loaded``, ``rejected`` (with its reason), and ``superseded``
  for a load replaced by a corrected file.
- The feed tables and ``quarantine`` hold only the current load of each feed-month.
- A re-run on a file whose SHA-256 equals the current load's changes nothing and adds nothing.
- A rejection is recorded without touching the current load of that month.

Concurrent writers (two runs touching the same month) never interleave: every write transaction
starts by taking a lock on what it replaces — a transaction-scoped advisory lock keyed by, e.g.,
``feed:benefits:2024-04`` on PostgreSQL, and the database write lock (``BEGIN IMMEDIATE``) on
SQLite. The second writer waits, then replaces the first one's rows whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import pandas as pd
from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, select, text, update

from kenpo_pipeline.domain.intake.feeds import FeedCheck
from kenpo_pipeline.warehouse import schema

_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()
INSERT_BATCH = 20_000


def engine_for(url: str) -> Engine:
    """One engine per URL per process (SQLite: WAL + foreign keys + a busy timeout)."""
    with _ENGINES_LOCK:
        if url not in _ENGINES:
            if url.startswith("sqlite"):
                path = url.split("///", 1)[-1]
                if path and path != ":memory:":
                    from pathlib import Path

                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                eng = create_engine(url, connect_args={"timeout": 60})

                @event.listens_for(eng, "connect")
                def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
                    dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
                    cur = dbapi_conn.cursor()
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA foreign_keys=ON")
                    cur.execute("PRAGMA synchronous=NORMAL")
                    cur.close()

                @event.listens_for(eng, "begin")
                def _sqlite_begin(conn):  # pragma: no cover - trivial
                    # A write transaction takes the write lock up front: two writers then queue
                    # (busy timeout) instead of failing on a lock upgrade ("database is locked").
                    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("kenpo_write") else "BEGIN")
            else:
                eng = create_engine(url, pool_pre_ping=True)
            _ENGINES[url] = eng
        return _ENGINES[url]


@contextlib.contextmanager
def write_transaction(engine: Engine, *lock_keys: str) -> Iterator[Connection]:
    """A transaction that holds the write locks of ``lock_keys`` until it commits or rolls back."""
    with engine.execution_options(kenpo_write=True).begin() as conn:
        if engine.dialect.name == "postgresql":
            for key in sorted(set(lock_keys)):  # a fixed order: no deadlock between two writers
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})
        yield conn


def is_transient(exc: BaseException) -> bool:
    """Whether a database error is worth retrying: a lost or refused connection, a server shutting
    down, a lock or serialization conflict (``warehouse.errors.classify``, the one classification).
    A full disk, a permission problem or a corrupt database is not, and neither is a constraint
    violation, a bad type or a missing table — they would fail the same way again."""
    from kenpo_pipeline.warehouse.errors import classify

    return classify(exc).transient


def dispose_engine(url: str) -> None:
    """Close and forget the engine of ``url`` (before its database is dropped)."""
    with _ENGINES_LOCK:
        eng = _ENGINES.pop(url, None)
    if eng is not None:
        eng.dispose()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class LoadOutcome:
    feed: str
    month: str
    status: str  # loaded | unchanged | rejected
    load_id: int | None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reason: str | None = None
    replaced_load_id: int | None = None


def where(stmt, table, conditions: dict[str, Any]):
    """``stmt`` restricted to the rows of ``table`` matching ``conditions`` (column → value; a list,
    tuple or set means ``IN``) — the one where-clause builder of the warehouse."""
    for column, value in conditions.items():
        stmt = stmt.where(table.c[column].in_(value) if isinstance(value, (list, tuple, set)) else table.c[column] == value)
    return stmt


def _column_lists(frame: pd.DataFrame, columns: list[str], dialect: str, table=None) -> list[list]:
    """Each column as a list of Python scalars, None for missing, converted column-wise (no per-row
    Python work): dates as ISO text on SQLite (what SQLAlchemy's Date stores there), as dates
    elsewhere; whole numbers held as floats (a column with gaps) as integers for integer columns."""
    from sqlalchemy import Integer

    out = []
    for col in columns:
        s = frame[col]
        if table is not None and isinstance(table.c[col].type, Integer) and pd.api.types.is_float_dtype(s):
            s = s.astype("Int64")
        if pd.api.types.is_datetime64_any_dtype(s):
            vals = s.dt.strftime("%Y-%m-%d") if dialect == "sqlite" else s.dt.date
            out.append(vals.astype(object).where(s.notna(), None).tolist())
        elif str(s.dtype) in ("bool", "int64", "int32"):  # numpy dtypes: never missing, tolist() gives Python scalars
            out.append(s.tolist())
        else:
            out.append(s.astype(object).where(s.notna(), None).tolist())
    return out


def insert_frame(conn: Connection, table, frame: pd.DataFrame, constants: dict[str, Any] | None = None) -> int:
    """Bulk-insert ``frame`` (the table's columns; ``constants`` for columns with one value) into
    ``table`` within ``conn``'s transaction: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""
    constants = constants or {}
    columns = [c.name for c in table.columns if c.name in frame.columns and c.name not in constants]
    n = len(frame)
    if n == 0:
        return 0
    dialect = conn.dialect.name
    lists = _column_lists(frame, columns, dialect, table) + [[v] * n for v in constants.values()]
    names = columns + list(constants)
    quote = conn.dialect.identifier_preparer.quote
    cols = ", ".join(quote(c) for c in names)
    rows = zip(*lists)
    if dialect == "sqlite":
        sql = f"INSERT INTO {quote(table.name)} ({cols}) VALUES ({', '.join('?' * len(names))})"
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()
    elif dialect == "postgresql" and conn.dialect.driver == "psycopg":
        with conn.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {quote(table.name)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    else:
        records = [dict(zip(names, r)) for r in rows]
        for i in range(0, n, INSERT_BATCH):
            conn.execute(insert(table), records[i : i + INSERT_BATCH])
    return n


class Warehouse:
    def __init__(self, url: str):
        self.url = url
        self.engine = engine_for(url)

    # -- schema ----------------------------------------------------------------------------
    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self, revision: str = "head") -> tuple[str | None, str]:
        """Apply the schema migrations up to ``revision`` (``kenpo db upgrade``)."""
        from kenpo_pipeline.warehouse import migrate

        return migrate.upgrade(self.engine, revision)

    def ensure_schema(self, auto_upgrade: bool | None = None) -> None:
        """Make sure the warehouse is at the newest schema revision before it is used.

        ``auto_upgrade`` (default: only for SQLite, the embedded default) upgrades it in place;
        otherwise a warehouse that is behind is refused with ``SchemaOutOfDate``, which tells the
        operator to run ``kenpo db upgrade``."""
        from kenpo_pipeline.warehouse import migrate

        if auto_upgrade is None:
            auto_upgrade = self.dialect == "sqlite"
        if migrate.current_revision(self.engine) == migrate.head_revision():
            return
        if auto_upgrade:
            self.upgrade()
        else:
            migrate.require_current(self.engine)

    # -- reads -----------------------------------------------------------------------------
    def current_load(self, feed: str, month: str) -> dict | None:
        """The ``feed_loads`` row of the month's current load, or None."""
        return self._latest_load(feed=feed, month=month, status="loaded")

    def latest_attempt(self, feed: str, month: str) -> dict | None:
        """The ``feed_loads`` row of the month's latest attempt (loaded or rejected), or None."""
        return self._latest_load(feed=feed, month=month)

    def _latest_load(self, **conditions: Any) -> dict | None:
        t = schema.feed_loads
        with self.engine.connect() as conn:
            row = conn.execute(where(select(t), t, conditions).order_by(t.c.load_id.desc())).mappings().first()
        return dict(row) if row else None

    def loads(self) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql(select(schema.feed_loads).order_by(schema.feed_loads.c.load_id), conn)

    def read_table(self, name: str, **conditions: Any) -> pd.DataFrame:
        """Rows of a table; a list value means ``IN``."""
        table = schema.metadata.tables[name]
        with self.engine.connect() as conn:
            return pd.read_sql(where(select(table), table, conditions), conn)

    def read_columns(self, name: str, columns: list[str], **conditions: Any) -> pd.DataFrame:
        """Some columns of a table's rows, fetched through the driver's cursor in one go (no per-row
        processing: the aggregate step reads a national month, hundreds of thousands of rows, this
        way). Date columns come back as ``datetime64``; condition values are strings or integers."""
        from sqlalchemy import Date

        table = schema.metadata.tables[name]
        stmt = where(select(*[table.c[c] for c in columns]), table, conditions)
        with self.engine.connect() as conn:
            sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            cursor = conn.connection.driver_connection.cursor()
            try:
                cursor.execute(sql)
                frame = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
            finally:
                cursor.close()
        for c in columns:
            if isinstance(table.c[c].type, Date):
                frame[c] = pd.to_datetime(frame[c])
        return frame

    def read_rows(self, name: str, **conditions: Any) -> pd.DataFrame:
        """The same frame as :meth:`read_table` (every column, the same dtypes) for a table of text,
        numbers and booleans, fetched through the driver's cursor (no per-row processing by
        SQLAlchemy: the evaluation reads two years of ``kpi_actuals`` this way)."""
        from sqlalchemy import Boolean, Date, DateTime

        table = schema.metadata.tables[name]
        if any(isinstance(c.type, (Date, DateTime)) for c in table.columns):
            return self.read_table(name, **conditions)
        frame = self.read_columns(name, [c.name for c in table.columns], **conditions)
        for c in table.columns:  # SQLite hands booleans back as 0/1
            if isinstance(c.type, Boolean) and len(frame) and frame[c.name].notna().all():
                frame[c.name] = frame[c.name].astype(bool)
        return frame

    def replace(self, name: str, conditions: dict[str, Any], frame: pd.DataFrame) -> int:
        """Replace the rows of table ``name`` matching ``conditions`` with ``frame``, in one transaction."""
        table = schema.metadata.tables[name]
        # One lock per table (not per condition): two replaces with overlapping conditions queue too.
        with write_transaction(self.engine, f"table:{name}") as conn:
            conn.execute(where(delete(table), table, conditions))
            return insert_frame(conn, table, frame[[c.name for c in table.columns]] if len(frame) else frame)

    def loaded_months(self, feed: str) -> list[str]:
        t = schema.feed_loads
        with self.engine.connect() as conn:
            rows = conn.execute(where(select(t.c.month), t, {"feed": feed, "status": "loaded"}).distinct()).scalars().all()
        return sorted(rows)

    # -- writes ----------------------------------------------------------------------------
    def is_unchanged(self, feed: str, month: str, sha256: str) -> dict | None:
        current = self.current_load(feed, month)
        return current if current and current["sha256"] == sha256 else None

    def record_rejection(
        self,
        feed: str,
        month: str,
        path: str,
        reason: str,
        sha256: str = "",
        rows_read: int = 0,
        run_id: str | None = None,
        file_format: str | None = None,
        encoding: str | None = None,
        rows_blank: int | None = None,
    ) -> LoadOutcome:
        """Record a rejected attempt. The current load of the month (if any) is left as it is.

        Nothing of a rejected file is loaded, so every data line it was read with counts as
        withheld: ``rows_quarantined = rows_read``, ``rows_loaded = 0`` (how many broke a rule is in
        the reason). The same file rejected for the same reason again adds no second row (a re-run
        on an unchanged file adds nothing)."""
        rows_quarantined = rows_read
        t = schema.feed_loads
        with write_transaction(self.engine, f"feed:{feed}:{month}") as conn:
            last = conn.execute(select(t).where(t.c.feed == feed, t.c.month == month, t.c.path == path).order_by(t.c.load_id.desc())).mappings().first()
            if last and last["status"] == "rejected" and last["sha256"] == sha256 and last["reason"] == reason:
                load_id = last["load_id"]
            else:
                load_id = conn.execute(
                    insert(t).values(
                        feed=feed, month=month, path=path, sha256=sha256, rows_read=rows_read, rows_loaded=0,
                        rows_quarantined=rows_quarantined, status="rejected", reason=reason, loaded_at=_now(),
                        run_id=run_id, file_format=file_format, encoding=encoding, rows_blank=rows_blank,
                    )
                ).inserted_primary_key[0]
        return LoadOutcome(feed, month, "rejected", load_id, rows_read, 0, rows_quarantined, reason)

    def replace_month(self, check: FeedCheck, run_id: str | None = None, extra_warnings: list[str] | None = None) -> LoadOutcome:
        """Replace the feed-month with ``check``'s rows and quarantine, in one transaction."""
        feed, month = check.feed, check.month
        table = schema.feed_tables[feed]
        loads = schema.feed_loads
        warnings = list(check.warnings) + [f.message for f in check.findings] + list(extra_warnings or [])
        if check.rows_read != check.rows_loaded + check.rows_quarantined:
            raise ValueError(f"{check.path}: {check.rows_read} rows read ≠ {check.rows_loaded} loaded + {check.rows_quarantined} quarantined")
        with write_transaction(self.engine, f"feed:{feed}:{month}") as conn:
            previous = conn.execute(
                select(loads.c.load_id).where(loads.c.feed == feed, loads.c.month == month, loads.c.status == "loaded")
            ).scalars().all()
            load_id = conn.execute(
                insert(loads).values(
                    feed=feed, month=month, path=check.path, sha256=check.sha256, rows_read=check.rows_read,
                    rows_loaded=check.rows_loaded, rows_quarantined=check.rows_quarantined, status="loaded",
                    reason=None, loaded_at=_now(), file_format=check.file_format, encoding=check.encoding,
                    warnings=json.dumps(warnings, ensure_ascii=False), run_id=run_id, rows_blank=check.rows_blank,
                )
            ).inserted_primary_key[0]
            if previous:
                conn.execute(update(loads).where(loads.c.load_id.in_(previous)).values(status="superseded", superseded_at=_now()))
            conn.execute(delete(table).where(table.c.month == month))
            conn.execute(delete(schema.quarantine).where(schema.quarantine.c.feed == feed, schema.quarantine.c.month == month))
            insert_frame(conn, table, check.frame, constants={"load_id": load_id})
            if check.quarantine:
                conn.execute(
                    insert(schema.quarantine),
                    [
                        {
                            "load_id": load_id, "feed": feed, "month": month, "path": check.path,
                            "row_number": q.row_number, "column_name": q.column_name, "value": q.value,
                            "reason": q.reason, "rules": q.rules, "record": q.record,
                        }
                        for q in check.quarantine
                    ],
                )
        return LoadOutcome(
            feed, month, "loaded", load_id, check.rows_read, check.rows_loaded, check.rows_quarantined,
            replaced_load_id=previous[-1] if previous else None,
        )


    # -- publication (kenpo finalize) ---------------------------------------------------------
    def publish_evaluation(self, fy: int, published_by: str, note: str, catalog_sha256: str, commentary_ids: list[int] | None = None) -> dict:
        """Record the current ``pdca_evaluation`` of ``fy`` as its next published version, with the
        ``kpi_commentary`` versions it shows (``commentary_ids``)."""
        from kenpo_pipeline.domain.calendar import fiscal_months

        evaluation = self.read_table("pdca_evaluation", fiscal_year=fy)
        if evaluation.empty:
            raise ValueError(f"FY{fy} has no evaluation to publish (run the year first)")
        as_of = str(evaluation["as_of_month"].iloc[0])
        loads = self.read_table("feed_loads", status="loaded")
        months = set(fiscal_months(fy))
        load_ids: dict[str, dict[str, int]] = {}
        for r in loads[loads["month"].isin(months)].itertuples():
            load_ids.setdefault(r.feed, {})[r.month] = int(r.load_id)
        with write_transaction(self.engine, f"publication:{fy}") as conn:
            t = schema.pdca_publications
            version = (conn.execute(select(t.c.version).where(t.c.fiscal_year == fy).order_by(t.c.version.desc())).scalar() or 0) + 1
            record = {
                "fiscal_year": fy, "version": version, "published_at": _now(), "published_by": published_by, "note": note,
                "as_of_month": as_of, "catalog_sha256": catalog_sha256, "load_ids": json.dumps(load_ids, sort_keys=True), "rows": len(evaluation),
                "commentary_ids": json.dumps(sorted(int(i) for i in commentary_ids or [])),
            }
            conn.execute(insert(t).values(**record))
            insert_frame(conn, schema.pdca_published_evaluation, evaluation, constants={"version": version})
        return record

    def latest_publication(self, fy: int) -> tuple[dict | None, pd.DataFrame]:
        """The newest published version of ``fy`` (its record and rows), or ``(None, empty)``."""
        t = schema.pdca_publications
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.fiscal_year == fy).order_by(t.c.version.desc())).mappings().first()
        if row is None:
            return None, pd.DataFrame()
        rows = self.read_table("pdca_published_evaluation", fiscal_year=fy, version=row["version"])
        return dict(row), rows.drop(columns=["version"])
