"""Resources: the warehouse (a SQLAlchemy engine) and the landing area, configured from the
environment (shared spec/outputs.md "Configuration")."""


import contextlib
from pathlib import Path
from typing import Iterator, Optional

import dagster as dg

from kenpo_pipeline.settings import load_settings
from kenpo_pipeline.warehouse.store import Warehouse

_SCHEMA_READY: set[str] = set()


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse database (``KENPO_WAREHOUSE_URL``: SQLite by default, PostgreSQL in production)."""

    url: str
    max_retries: int = 3
    """How often a step is retried after a transient database error (a lost connection)."""
    retry_wait_seconds: float = 15.0
    """The wait before the first retry; doubled for each further one."""

    @contextlib.contextmanager
    def transient_errors_retried(self, context: dg.AssetExecutionContext) -> Iterator[None]:
        """Turn a transient database error into a retry of the step, and a failure a retry cannot
        fix (a full disk, no permission, a corrupt database — ``warehouse.errors.classify``) into
        one failure with the Japanese sentence that names the database and what to do. Every
        other error, bad data included, fails the step for good."""
        from kenpo_pipeline.warehouse.errors import classify, describe_database
        from kenpo_pipeline.warehouse.store import dispose_engine

        try:
            yield
        except Exception as exc:
            error = classify(exc, self.url)
            if error.known_failure:
                context.log.error(f"{error.kind}: {type(exc).__name__}: {error.detail} — not retried")
                raise dg.Failure(
                    description=error.sentence,
                    metadata={"kenpo/error": error.kind, "database": describe_database(self.url), "detail": error.detail},
                    allow_retries=False,
                ) from exc
            if not error.transient:
                raise
            attempt = context.retry_number
            dispose_engine(self.url)  # reconnect from scratch on the next attempt
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
        wh = Warehouse(self.url)
        if self.url not in _SCHEMA_READY:
            wh.ensure_schema()
            _SCHEMA_READY.add(self.url)
        return wh


class LandingResource(dg.ConfigurableResource):
    """The landing area where each month's feed files are dropped (``KENPO_LANDING``)."""

    path: str
    max_bad_row_share: float = 0.01
    settle_seconds: float = 10.0
    """A file is taken only once it has been unchanged this long (``KENPO_LANDING_SETTLE_SECONDS``)."""

    @property
    def root(self) -> Path:
        return Path(self.path)


class CatalogResource(dg.ConfigurableResource):
    """The KPI catalogs and manual entries (``KENPO_CATALOGS``), validated when loaded."""

    path: str

    def load(self):
        """Every catalog, validated exactly as ``kenpo catalog check`` does. Any problem fails the
        step with a ``dg.Failure`` listing the problems in Japanese (no retry: the file must be
        corrected), so the UI and ``kenpo run`` show the cause rather than a traceback."""
        from kenpo_pipeline.domain.kpis.catalog import CatalogError, require_catalogs

        try:
            return require_catalogs(Path(self.path))
        except CatalogError as exc:
            raise catalog_failure(self.path, exc.problems) from None

    def load_action_plans(self):
        """The 保険者機能強化アクションプラン (``AP<n>.yaml``), validated like ``load``."""
        from kenpo_pipeline.domain.kpis.catalog import CatalogError, require_action_plans

        try:
            return require_action_plans(Path(self.path))
        except CatalogError as exc:
            raise catalog_failure(self.path, exc.problems) from None


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


class ReportsResource(dg.ConfigurableResource):
    """Where the PDCA workbooks are written (``KENPO_REPORTS``)."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


class NotifierResource(dg.ConfigurableResource):
    """Where operator notifications go: a JSON-lines log file (``KENPO_NOTIFY_LOG``) and, when set,
    a webhook (``KENPO_NOTIFY_WEBHOOK``); and the late-feed day (``KENPO_LATE_FEED_DAY``)."""

    log_path: str
    webhook_url: Optional[str] = None
    late_feed_day: int = 20

    def get(self):
        from kenpo_pipeline.notify import Notifier

        return Notifier(self.log_path, self.webhook_url)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    settings = load_settings()
    return {
        "notifier": NotifierResource(
            log_path=str(settings.notify_log), webhook_url=settings.notify_webhook, late_feed_day=settings.late_feed_day
        ),
        "warehouse": WarehouseResource(url=settings.warehouse_url),
        "landing": LandingResource(
            path=str(settings.landing), max_bad_row_share=settings.max_bad_row_share, settle_seconds=settings.landing_settle_seconds
        ),
        "catalogs": CatalogResource(path=str(settings.catalogs)),
        "reports": ReportsResource(path=str(settings.reports)),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
