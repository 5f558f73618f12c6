"""Errors are classified once: :func:`classify` says whether an exception is worth retrying and,
for the failures a retry cannot fix, gives the one Japanese sentence a person reads.

- ``transient`` — a lost or refused connection, a server restart, a lock timeout, "database is
  locked", a serialization conflict: retried (``WarehouseResource.transient_errors_retried``).
- ``disk_full`` — ENOSPC / EDQUOT, SQLite "database or disk is full", PostgreSQL 53100.
- ``permission`` — EACCES / EPERM / EROFS, SQLite "attempt to write a readonly database",
  PostgreSQL 42501 (insufficient privilege).
- ``read_only`` — PostgreSQL 25006 (a read-only transaction: a standby, or
  ``default_transaction_read_only``).
- ``corrupt`` — SQLite "database disk image is malformed" / "file is not a database", PostgreSQL
  XX001 / XX002.
- ``cannot_open`` — SQLite "unable to open database file" (a missing folder or no access to it).
- ``authentication`` — the server refused the user or password.
- ``other`` — anything else (a bug, a constraint violation, a missing table): not retried, shown as
  it is.

Every kind but ``transient`` and ``other`` fails at once with its sentence, which names the
database (the SQLite file or the PostgreSQL server and database) and what to do.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

TRANSIENT = "transient"
OTHER = "other"

_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_PERMISSION_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}

# (kind, lower-case text found in the message or its causes); the first kind that matches wins
_TEXTS: list[tuple[str, tuple[str, ...]]] = [
    ("disk_full", ("database or disk is full", "no space left on device", "disk quota exceeded", "could not extend file")),
    ("corrupt", ("database disk image is malformed", "file is not a database", "malformed database schema")),
    ("permission", ("attempt to write a readonly database", "readonly database", "read-only file system", "permission denied")),
    ("cannot_open", ("unable to open database file",)),
    ("authentication", ("password authentication failed", "authentication failed", "no password supplied")),
]
_SQLSTATES = {
    "53100": "disk_full",
    "XX001": "corrupt",
    "XX002": "corrupt",
    "42501": "permission",
    "25006": "read_only",
    "28P01": "authentication",
    "28000": "authentication",
}
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "57014"}
# OperationalErrors that are not worth retrying although they are no classified failure either
_PERMANENT_TEXTS = ("no such table", "no such column", "syntax error", "does not exist", "password")


@dataclass(frozen=True)
class ErrorClass:
    kind: str
    sentence: str | None = None  # Japanese, for a failure a retry cannot fix
    detail: str = ""  # the underlying message, first line

    @property
    def transient(self) -> bool:
        return self.kind == TRANSIENT

    @property
    def known_failure(self) -> bool:
        """A failure with a sentence for a person (disk full, permission, corrupt …)."""
        return self.sentence is not None


def _chain(exc: BaseException):
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend([getattr(e, "orig", None), e.__cause__, e.__context__])


def _sqlstate(e: BaseException) -> str | None:
    return getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)


def describe_database(url: str | None) -> str:
    """How the warehouse is named in a sentence: its file (SQLite) or server and database."""
    if not url:
        return "倉庫"
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001 - a malformed URL is reported elsewhere
        return "倉庫"
    if u.get_backend_name() == "sqlite":
        return f"倉庫 {u.database}" if u.database and u.database != ":memory:" else "倉庫（メモリー上の SQLite）"
    where = f"{u.host or 'localhost'}{f':{u.port}' if u.port else ''}"
    return f"倉庫（PostgreSQL サーバー {where} のデータベース {u.database}）"


def _sentence(kind: str, target: str, detail: str, user: str | None) -> str:
    note = f"（{detail}）" if detail else ""
    target = target if target.endswith("）") else f"{target} "  # 倉庫 /path/warehouse.db に… / 倉庫（…）に…
    if kind == "disk_full":
        return f"{target}のディスクが一杯で書き込めないため、空き容量を確保してから、もう一度実行してください{note}。"
    if kind == "permission":
        if user:  # a database server: its privileges
            return f"{target}に書き込む権限がないため、利用者 {user} に書き込み権限を与えて（GRANT）、もう一度実行してください{note}。"
        return f"{target}に書き込む権限がないため、kenpo を実行する利用者がこのファイルとフォルダーに書き込めるようにして、もう一度実行してください{note}。"
    if kind == "read_only":
        return f"{target}が読み取り専用のため、書き込みのできるサーバー（プライマリー）を KENPO_WAREHOUSE_URL に指定して、もう一度実行してください{note}。"
    if kind == "corrupt":
        return f"{target}が壊れていて読み書きできないため、バックアップから復元してから、もう一度実行してください{note}。"
    if kind == "cannot_open":
        return f"{target}を開けないため、そのフォルダーが存在し kenpo を実行する利用者が読み書きできることを確かめて、もう一度実行してください{note}。"
    if kind == "authentication":
        return f"{target}への接続が認証で拒否されたため、KENPO_WAREHOUSE_URL の利用者とパスワードを確かめて、もう一度実行してください{note}。"
    raise ValueError(kind)


def classify(exc: BaseException, url: str | None = None, target: str | None = None) -> ErrorClass:
    """The class of ``exc`` (see the module docstring). ``url`` names the database in the sentence
    (``describe_database``); ``target`` overrides that name (e.g. the Dagster instance)."""
    from sqlalchemy import exc as sa_exc

    chain = list(_chain(exc))
    detail = next((str(e).strip().splitlines()[0] for e in reversed(chain) if str(e).strip()), type(exc).__name__)
    text = " ".join(str(e) for e in chain).lower()
    name = target or describe_database(url)
    user = None
    if url:
        try:
            from sqlalchemy.engine import make_url

            u = make_url(url)
            user = u.username if u.get_backend_name() != "sqlite" else None
        except Exception:  # noqa: BLE001
            user = None

    kind = None
    for e in chain:
        code = _sqlstate(e)
        if code in _SQLSTATES:
            kind = _SQLSTATES[code]
            break
        if isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS:
            kind = "disk_full"
            break
        if isinstance(e, OSError) and e.errno in _PERMISSION_ERRNOS:
            kind = "permission"
            break
    if kind is None:
        for k, needles in _TEXTS:
            if any(n in text for n in needles):
                kind = k
                break
    if kind is not None:
        return ErrorClass(kind, _sentence(kind, name, detail, user), detail)

    for e in chain:
        code = _sqlstate(e)
        if code and (code in _TRANSIENT_SQLSTATES or code.startswith("08")):
            return ErrorClass(TRANSIENT, None, detail)
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return ErrorClass(TRANSIENT, None, detail)
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)) and not isinstance(exc, sa_exc.ProgrammingError):
        if not any(p in text for p in _PERMANENT_TEXTS):
            return ErrorClass(TRANSIENT, None, detail)
    return ErrorClass(OTHER, None, detail)

