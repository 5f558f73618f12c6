"""The warehouse: table definitions (``schema``) and transactional loading (``store``)."""

from kenpo_pipeline.warehouse.store import LoadOutcome, Warehouse

__all__ = ["LoadOutcome", "Warehouse"]
