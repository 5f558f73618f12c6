"""Resources: the warehouse (a SQLAlchemy engine) and the landing area, configured from the
environment (shared spec/outputs.md "Configuration")."""


from pathlib import Path

import dagster as dg

from kenpo_pipeline.settings import load_settings
from kenpo_pipeline.warehouse.store import Warehouse

_SCHEMA_READY: set[str] = set()


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse database (``KENPO_WAREHOUSE_URL``: SQLite by default, PostgreSQL in production)."""

    url: str

    def get(self) -> Warehouse:
        wh = Warehouse(self.url)
        if self.url not in _SCHEMA_READY:
            wh.create_schema()
            _SCHEMA_READY.add(self.url)
        return wh


class LandingResource(dg.ConfigurableResource):
    """The landing area where each month's feed files are dropped (``KENPO_LANDING``)."""

    path: str
    max_bad_row_share: float = 0.01

    @property
    def root(self) -> Path:
        return Path(self.path)


class CatalogResource(dg.ConfigurableResource):
    """The KPI catalogs and manual entries (``KENPO_CATALOGS``), validated when loaded."""

    path: str

    def load(self):
        from kenpo_pipeline.domain.catalog import require_catalogs

        return require_catalogs(Path(self.path))


class ReportsResource(dg.ConfigurableResource):
    """Where the PDCA workbooks are written (``KENPO_REPORTS``)."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    settings = load_settings()
    return {
        "warehouse": WarehouseResource(url=settings.warehouse_url),
        "landing": LandingResource(path=str(settings.landing), max_bad_row_share=settings.max_bad_row_share),
        "catalogs": CatalogResource(path=str(settings.catalogs)),
        "reports": ReportsResource(path=str(settings.reports)),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
