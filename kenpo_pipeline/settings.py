"""Configuration from the environment (shared spec/outputs.md "Configuration") — the one module
that reads ``KENPO_*`` variables.

Every path has a default under ``KENPO_HOME`` so that a fresh checkout runs with no set-up at all.
:func:`load_settings` reads the environment each time it is called, at run time: the Dagster
resources (``defs/resources.py``) call it when a step uses them, with the values Dagster resolved
from their ``dg.EnvVar`` fields laid over the environment, so a documented default never needs to be
written into the environment (see ``defs/resources.py`` for why).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"

DEFAULT_MAX_BAD_ROW_SHARE = 0.01
DEFAULT_LANDING_SETTLE_SECONDS = 10.0
DEFAULT_LANDING_INTERVAL_SECONDS = 60
DEFAULT_AUTOMATION_INTERVAL_SECONDS = 30
DEFAULT_FIRST_MONTH = "2020-04"
DEFAULT_INTAKE_PARALLEL_MIN_BYTES = 4 * 1024 * 1024
MAX_INTAKE_WORKERS = 32


def default_intake_workers() -> int:
    """Two intake workers where the machine has two cores or more, none on one core (each worker
    holds a month's rows while it checks them, so more than two is a choice: KENPO_INTAKE_WORKERS)."""
    return 2 if (os.cpu_count() or 1) >= 2 else 0

LIBRARY_DEFAULTS = {"GX_ANALYTICS_ENABLED": "False"}
"""Environment defaults for the libraries we use: Great Expectations sends no usage analytics."""


class ConfigurationError(ValueError):
    """A setting is missing or malformed (the command line exits 2 on it)."""


@dataclass(frozen=True)
class Settings:
    home: Path
    landing: Path
    warehouse_url: str
    reports: Path
    catalogs: Path
    dagster_home: Path
    max_bad_row_share: float
    notify_log: Path = Path(".kenpo/notifications.log")
    notify_webhook: str | None = None
    late_feed_day: int = 20
    landing_settle_seconds: float = DEFAULT_LANDING_SETTLE_SECONDS
    landing_interval_seconds: int = DEFAULT_LANDING_INTERVAL_SECONDS
    automation_interval_seconds: int = DEFAULT_AUTOMATION_INTERVAL_SECONDS
    intake_workers: int = 0
    intake_parallel_min_bytes: int = DEFAULT_INTAKE_PARALLEL_MIN_BYTES

    @property
    def default_warehouse_url(self) -> str:
        return f"sqlite:///{self.home / 'warehouse.db'}"

    @property
    def uses_default_warehouse(self) -> bool:
        return self.warehouse_url == self.default_warehouse_url


def load_settings(env: dict[str, str] | None = None, overrides: dict[str, str] | None = None) -> Settings:
    """Read the ``KENPO_*`` variables (and ``DAGSTER_HOME``) with their documented defaults, from
    ``env`` (default: the environment, read now) with ``overrides`` laid over it."""
    env = {**(os.environ if env is None else env), **(overrides or {})}
    home = Path(env.get("KENPO_HOME") or ".kenpo").expanduser().resolve()
    landing = Path(env.get("KENPO_LANDING") or home / "landing").expanduser().resolve()
    warehouse_url = env.get("KENPO_WAREHOUSE_URL") or f"sqlite:///{home / 'warehouse.db'}"
    reports = Path(env.get("KENPO_REPORTS") or home / "reports").expanduser().resolve()
    catalogs = Path(env.get("KENPO_CATALOGS") or ASSETS_DIR / "catalogs").expanduser().resolve()
    dagster_home = Path(env.get("DAGSTER_HOME") or home / "dagster").expanduser().resolve()
    raw_share = env.get("KENPO_MAX_BAD_ROW_SHARE")
    try:
        share = DEFAULT_MAX_BAD_ROW_SHARE if raw_share in (None, "") else float(raw_share)
    except ValueError as exc:
        raise ConfigurationError(
            f"KENPO_MAX_BAD_ROW_SHARE must be a number between 0 and 1, got {raw_share!r}"
        ) from exc
    if not 0 <= share <= 1:
        raise ConfigurationError(f"KENPO_MAX_BAD_ROW_SHARE must be between 0 and 1, got {share}")
    raw_day = env.get("KENPO_LATE_FEED_DAY") or "20"
    if not raw_day.isdigit() or not 1 <= int(raw_day) <= 28:
        raise ConfigurationError(f"KENPO_LATE_FEED_DAY must be a day of the month between 1 and 28, got {raw_day!r}")
    raw_settle = env.get("KENPO_LANDING_SETTLE_SECONDS")
    try:
        settle = DEFAULT_LANDING_SETTLE_SECONDS if raw_settle in (None, "") else float(raw_settle)
    except ValueError as exc:
        raise ConfigurationError(f"KENPO_LANDING_SETTLE_SECONDS は 0〜3600 の秒数で指定してください（例: 10。指定値: {raw_settle!r}）") from exc
    if not 0 <= settle <= 3600:
        raise ConfigurationError(f"KENPO_LANDING_SETTLE_SECONDS は 0〜3600 の秒数で指定してください（例: 10。指定値: {raw_settle!r}）")
    intervals = {
        name: _seconds(env, name, default)
        for name, default in (
            ("KENPO_LANDING_INTERVAL_SECONDS", DEFAULT_LANDING_INTERVAL_SECONDS),
            ("KENPO_AUTOMATION_INTERVAL_SECONDS", DEFAULT_AUTOMATION_INTERVAL_SECONDS),
        )
    }
    raw_workers = (env.get("KENPO_INTAKE_WORKERS") or "").strip()
    if raw_workers and not (raw_workers.isdigit() and int(raw_workers) <= MAX_INTAKE_WORKERS):
        raise ConfigurationError(f"KENPO_INTAKE_WORKERS は 0〜{MAX_INTAKE_WORKERS} の整数で指定してください（0 で並列処理なし。指定値: {raw_workers!r}）")
    raw_min_bytes = (env.get("KENPO_INTAKE_PARALLEL_MIN_BYTES") or "").strip()
    if raw_min_bytes and not raw_min_bytes.isdigit():
        raise ConfigurationError(f"KENPO_INTAKE_PARALLEL_MIN_BYTES は 0 以上のバイト数（整数）で指定してください（指定値: {raw_min_bytes!r}）")
    webhook = env.get("KENPO_NOTIFY_WEBHOOK") or None
    if webhook and not webhook.startswith(("http://", "https://")):
        raise ConfigurationError(f"KENPO_NOTIFY_WEBHOOK must be an http(s) URL, got {webhook!r}")
    return Settings(
        notify_log=Path(env.get("KENPO_NOTIFY_LOG") or home / "notifications.log").expanduser().resolve(),
        notify_webhook=webhook,
        late_feed_day=int(raw_day),
        landing_settle_seconds=settle,
        landing_interval_seconds=intervals["KENPO_LANDING_INTERVAL_SECONDS"],
        automation_interval_seconds=intervals["KENPO_AUTOMATION_INTERVAL_SECONDS"],
        intake_workers=int(raw_workers) if raw_workers else default_intake_workers(),
        intake_parallel_min_bytes=int(raw_min_bytes) if raw_min_bytes else DEFAULT_INTAKE_PARALLEL_MIN_BYTES,
        home=home,
        landing=landing,
        warehouse_url=warehouse_url,
        reports=reports,
        catalogs=catalogs,
        dagster_home=dagster_home,
        max_bad_row_share=share,
    )


def _seconds(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name) or ""
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 86400:
        raise ConfigurationError(f"{name} は 1〜86400 の秒数（整数）で指定してください（指定値: {raw!r}）")
    return int(raw)


def first_month(env: dict[str, str] | None = None) -> str:
    """``KENPO_FIRST_MONTH`` (``YYYY-MM``, default :data:`DEFAULT_FIRST_MONTH`): the first month of
    the monthly partitions (the fiscal-year partitions start with its fiscal year). Read when the
    definitions are loaded (partitions are defined once, at import); ``kenpo ui`` sets it, when it
    is not set, to the first month the warehouse has ever had a file for."""
    import re

    raw = ((os.environ if env is None else env).get("KENPO_FIRST_MONTH") or "").strip()
    if not raw:
        return DEFAULT_FIRST_MONTH
    m = re.fullmatch(r"(\d{4})-?(\d{2})", raw)
    if not m or not 1 <= int(m[2]) <= 12 or not 2000 <= int(m[1]) <= 2100:
        raise ConfigurationError(f"KENPO_FIRST_MONTH は YYYY-MM の形で指定してください（例: 2022-04。指定値: {raw!r}）")
    return f"{m[1]}-{m[2]}"


def is_configured(name: str, env: dict[str, str] | None = None) -> bool:
    """Whether the variable ``name`` is set (non-empty) in ``env`` (default: the environment)."""
    return bool((os.environ if env is None else env).get(name))


def apply_library_defaults() -> None:
    """Put :data:`LIBRARY_DEFAULTS` into the environment where not set (called before the library is
    imported: Great Expectations reads its analytics switch when it is imported)."""
    for name, value in LIBRARY_DEFAULTS.items():
        os.environ.setdefault(name, value)
