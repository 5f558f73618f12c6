"""Resources: the warehouse, the landing area, the catalogs, the reports folder and the notifier.

Configuration (shared spec/outputs.md "Configuration"): every URL, path and secret reaches a
resource as ``dg.EnvVar("KENPO_…")`` — resolved by Dagster when a run starts and shown in the UI
by the variable's *name*, never its value (the warehouse URL may hold a password, the webhook URL a
token). A variable that is not set is not configured at all (the field stays empty), and the
resource takes the documented default when a step uses it, from ``settings.load_settings`` with
the configured values laid over the environment: the embedded default under ``$KENPO_HOME``
(``./.kenpo``) therefore works with no environment at all, and nothing is ever written into the
environment. (A ``dg.EnvVar`` of a variable that is not set fails the run: Dagster has no default
for it. Writing the defaults into ``os.environ`` when the code location loads would have made them
the configuration of every later test in the same process, whatever its own ``KENPO_HOME``.)

Numbers (``KENPO_MAX_BAD_ROW_SHARE``, ``KENPO_LANDING_SETTLE_SECONDS``, ``KENPO_LATE_FEED_DAY``,
``KENPO_INTAKE_WORKERS``, ``KENPO_INTAKE_PARALLEL_MIN_BYTES``) are
read the same way at run time; a test may set any field directly.
"""

import contextlib
from pathlib import Path
from typing import ClassVar, Iterator, Optional

import dagster as dg

from kenpo_pipeline.settings import Settings, is_configured, load_settings
from kenpo_pipeline.warehouse.store import Warehouse

_SCHEMA_READY: set[str] = set()


class _SettingsResource(dg.ConfigurableResource):
    """A resource whose empty fields take the documented defaults at run time."""

    VARIABLES: ClassVar[dict[str, str]] = {}
    """field name → the environment variable it stands for"""

    def resolved_settings(self) -> Settings:
        """The settings with this resource's configured fields in place of their variables."""
        return load_settings(overrides={var: str(getattr(self, f)) for f, var in self.VARIABLES.items() if getattr(self, f) is not None})

    @classmethod
    def from_environment(cls, **fields) -> "_SettingsResource":
        """The resource with a ``dg.EnvVar`` for each string variable that is set where the code
        location loads (numbers and unset variables are resolved at run time)."""
        configured = {
            f: dg.EnvVar(var) for f, var in cls.VARIABLES.items()
            if cls.model_fields[f].annotation == Optional[str] and is_configured(var)
        }
        return cls(**configured, **fields)


class WarehouseResource(_SettingsResource):
    """The warehouse database (``KENPO_WAREHOUSE_URL``: SQLite under ``$KENPO_HOME`` by default,
    PostgreSQL in production)."""

    VARIABLES: ClassVar[dict[str, str]] = {"url": "KENPO_WAREHOUSE_URL"}
    url: Optional[str] = None
    max_retries: int = 3
    """How often a step is retried after a transient database error (a lost connection)."""
    retry_wait_seconds: float = 15.0
    """The wait before the first retry; doubled for each further one."""

    @property
    def resolved_url(self) -> str:
        return self.url or self.resolved_settings().warehouse_url

    @contextlib.contextmanager
    def session(self, context: dg.AssetExecutionContext) -> Iterator[Warehouse]:
        """The warehouse for one step: ``with warehouse.session(context) as wh: …`` — checked to be
        at the newest schema revision, with database errors handled as
        :meth:`transient_errors_retried` describes."""
        with self.transient_errors_retried(context):
            yield self.get()

    @contextlib.contextmanager
    def transient_errors_retried(self, context: dg.AssetExecutionContext) -> Iterator[None]:
        """Turn a transient database error into a retry of the step, and a failure a retry cannot
        fix (a full disk, no permission, a corrupt database — ``warehouse.errors.classify``) into
        one failure with the Japanese sentence that names the database and what to do. Every
        other error, bad data included, fails the step for good."""
        from kenpo_pipeline.warehouse.errors import classify, describe_database
        from kenpo_pipeline.warehouse.store import dispose_engine

        url = self.resolved_url
        try:
            yield
        except Exception as exc:
            error = classify(exc, url)
            if error.known_failure:
                context.log.error(f"{error.kind}: {type(exc).__name__}: {error.detail} — not retried")
                raise dg.Failure(
                    description=error.sentence,
                    metadata={"kenpo/error": error.kind, "database": describe_database(url), "detail": error.detail},
                    allow_retries=False,
                ) from exc
            if not error.transient:
                raise
            attempt = context.retry_number
            dispose_engine(url)  # reconnect from scratch on the next attempt
            wait = self.retry_wait_seconds * (2**attempt)
            context.log.warning(
                f"transient database error (attempt {attempt + 1} of {self.max_retries + 1}), retrying in {wait:g}s: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            )
            raise dg.RetryRequested(max_retries=self.max_retries, seconds_to_wait=wait) from exc

    def get(self) -> Warehouse:
        """The warehouse, checked to be at the newest schema revision (once per process).

        The embedded SQLite default is upgraded in place; any other database must have been
        upgraded with ``kenpo db upgrade`` (a run on an older schema fails and says so)."""
        url = self.resolved_url
        wh = Warehouse(url)
        if url not in _SCHEMA_READY:
            wh.ensure_schema()
            _SCHEMA_READY.add(url)
        return wh


class LandingResource(_SettingsResource):
    """The landing area where each month's feed files are dropped (``KENPO_LANDING``)."""

    VARIABLES: ClassVar[dict[str, str]] = {
        "path": "KENPO_LANDING", "max_bad_row_share": "KENPO_MAX_BAD_ROW_SHARE", "settle_seconds": "KENPO_LANDING_SETTLE_SECONDS",
        "intake_workers": "KENPO_INTAKE_WORKERS", "intake_parallel_min_bytes": "KENPO_INTAKE_PARALLEL_MIN_BYTES",
    }
    path: Optional[str] = None
    max_bad_row_share: Optional[float] = None
    """A file whose quarantined share of data rows exceeds this is rejected whole."""
    settle_seconds: Optional[float] = None
    """A file is taken only once it has been unchanged this long."""
    intake_workers: Optional[int] = None
    """Intake worker processes that check feed files ahead of the load steps (0: none, every check in the step's process)."""
    intake_parallel_min_bytes: Optional[int] = None
    """The workers are used only when a run's files to check add up to at least this many bytes."""

    @property
    def root(self) -> Path:
        return self.resolved_settings().landing

    @property
    def bad_row_limit(self) -> float:
        return self.resolved_settings().max_bad_row_share

    @property
    def settle_time(self) -> float:
        return self.resolved_settings().landing_settle_seconds

    @property
    def workers(self) -> int:
        return self.resolved_settings().intake_workers

    @property
    def parallel_min_bytes(self) -> int:
        return self.resolved_settings().intake_parallel_min_bytes


class CatalogResource(_SettingsResource):
    """The KPI catalogs and manual entries (``KENPO_CATALOGS``), validated when loaded."""

    VARIABLES: ClassVar[dict[str, str]] = {"path": "KENPO_CATALOGS"}
    path: Optional[str] = None

    @property
    def folder(self) -> Path:
        return self.resolved_settings().catalogs

    def load(self):
        """Every catalog, validated exactly as ``kenpo catalog check`` does. Any problem fails the
        step with a ``dg.Failure`` listing the problems in Japanese (no retry: the file must be
        corrected), so the UI and ``kenpo run`` show the cause rather than a traceback."""
        from kenpo_pipeline.domain.kpis.catalog import CatalogError, require_catalogs

        try:
            return require_catalogs(self.folder)
        except CatalogError as exc:
            raise catalog_failure(str(self.folder), exc.problems) from None

    def load_action_plans(self):
        """The 保険者機能強化アクションプラン (``AP<n>.yaml``), validated like ``load``."""
        from kenpo_pipeline.domain.kpis.catalog import CatalogError, require_action_plans

        try:
            return require_action_plans(self.folder)
        except CatalogError as exc:
            raise catalog_failure(str(self.folder), exc.problems) from None


CATALOG_PROBLEMS_IN_DESCRIPTION = 5
"""Problems quoted in a catalog failure's first line (what `kenpo run` prints); all are in its metadata."""


def catalog_failure(folder: str, problems: list[str]) -> dg.Failure:
    from kenpo_pipeline.domain.reporting import markdown

    shown = problems[:CATALOG_PROBLEMS_IN_DESCRIPTION]
    more = len(problems) - len(shown)
    first = (
        f"KPIカタログに問題が {len(problems)} 件あるため実行できません（{folder}。kenpo catalog check で確認し、直してから再実行してください）: "
        + " ／ ".join(shown) + (f" ／ ほか {more} 件" if more else "")
    )
    return dg.Failure(
        description="\n".join([first, *(f"・{p}" for p in problems[:100])]),
        metadata={"problems": dg.MetadataValue.md(markdown.bullets(problems, max_items=100)), "catalog_folder": dg.MetadataValue.path(folder)},
        allow_retries=False,
    )


class ReportsResource(_SettingsResource):
    """Where the PDCA workbooks are written (``KENPO_REPORTS``)."""

    VARIABLES: ClassVar[dict[str, str]] = {"path": "KENPO_REPORTS"}
    path: Optional[str] = None

    @property
    def root(self) -> Path:
        return self.resolved_settings().reports


class NotifierResource(_SettingsResource):
    """Where operator notifications go: a JSON-lines log file (``KENPO_NOTIFY_LOG``) and, when set,
    a webhook (``KENPO_NOTIFY_WEBHOOK``, a secret: shown in the UI by name only); and the late-feed
    day (``KENPO_LATE_FEED_DAY``)."""

    VARIABLES: ClassVar[dict[str, str]] = {
        "log_path": "KENPO_NOTIFY_LOG", "webhook_url": "KENPO_NOTIFY_WEBHOOK", "late_feed_day": "KENPO_LATE_FEED_DAY",
    }
    log_path: Optional[str] = None
    webhook_url: Optional[str] = None
    late_feed_day: Optional[int] = None

    @property
    def deadline_day(self) -> int:
        return self.resolved_settings().late_feed_day

    def get(self):
        from kenpo_pipeline.notify import Notifier

        settings = self.resolved_settings()
        return Notifier(settings.notify_log, settings.notify_webhook)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """The code location's resources: ``dg.EnvVar`` for each variable set, defaults at run time."""
    return {
        "notifier": NotifierResource.from_environment(),
        "warehouse": WarehouseResource.from_environment(),
        "landing": LandingResource.from_environment(),
        "catalogs": CatalogResource.from_environment(),
        "reports": ReportsResource.from_environment(),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
