"""Storing the commentary (自己評価・要因分析) imported from returned workbooks: every version kept.

``kpi_commentary`` holds one row per stored version of one fiscal year × scope × KPI's four texts,
with who entered it, when, and from which file (name and SHA-256) written when. The latest version
of each KPI is what every later workbook shows; a publication (``kenpo finalize``) records the ids of
the versions it showed, so the published commentary stays as it was whatever is imported later.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import insert, select

from kenpo_pipeline.domain.reporting.commentary import FIELD_NAMES, CommentaryFile, ImportPlan
from kenpo_pipeline.warehouse import schema
from kenpo_pipeline.warehouse.store import Warehouse, write_transaction

LATEST_COLUMNS = ["commentary_id", "fiscal_year", "branch_code", "kpi_id", *FIELD_NAMES, "entered_by", "entered_at", "source_file"]


def commentary_versions(warehouse: Warehouse, fiscal_year: int, branch_code: str | None = None) -> pd.DataFrame:
    """Every stored version of a fiscal year (one scope, or all), oldest first."""
    t = schema.kpi_commentary
    q = select(t).where(t.c.fiscal_year == fiscal_year)
    if branch_code is not None:
        q = q.where(t.c.branch_code == branch_code)
    with warehouse.engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(q.order_by(t.c.commentary_id)).mappings().all(), columns=[c.name for c in t.columns])
    return frame


def latest_commentary(warehouse: Warehouse, fiscal_year: int, branch_code: str | None = None) -> pd.DataFrame:
    """The latest version of each KPI's commentary (columns ``LATEST_COLUMNS``)."""
    versions = commentary_versions(warehouse, fiscal_year, branch_code)
    if versions.empty:
        return pd.DataFrame(columns=LATEST_COLUMNS)
    latest = versions.sort_values("commentary_id").groupby(["fiscal_year", "branch_code", "kpi_id"], as_index=False).tail(1)
    return latest[LATEST_COLUMNS].reset_index(drop=True)


def commentary_by_ids(warehouse: Warehouse, ids: list[int]) -> pd.DataFrame:
    """The versions a publication recorded (columns ``LATEST_COLUMNS``)."""
    t = schema.kpi_commentary
    if not ids:
        return pd.DataFrame(columns=LATEST_COLUMNS)
    with warehouse.engine.connect() as conn:
        rows = conn.execute(select(t).where(t.c.commentary_id.in_([int(i) for i in ids]))).mappings().all()
    return pd.DataFrame(rows, columns=[c.name for c in t.columns])[LATEST_COLUMNS]


def store_commentary(warehouse: Warehouse, file: CommentaryFile, plan: ImportPlan, entered_by: str, source_sha256: str) -> list[int]:
    """Store ``plan.new_versions`` of ``file`` as new versions; returns their ids."""
    if plan.new_versions.empty:
        return []
    t = schema.kpi_commentary
    now = dt.datetime.now(dt.timezone.utc)
    ident = file.identity
    ids = []
    with write_transaction(warehouse.engine, f"commentary:{ident.fiscal_year}:{ident.branch_code}") as conn:
        for r in plan.new_versions.to_dict("records"):
            result = conn.execute(
                insert(t).values(
                    fiscal_year=ident.fiscal_year, branch_code=ident.branch_code, kpi_id=r["kpi_id"],
                    **{f: r[f] for f in FIELD_NAMES},
                    entered_by=entered_by, entered_at=now, source_file=file.path.rsplit("/", 1)[-1], source_sha256=source_sha256,
                    workbook_generated_at=ident.generated_at,
                )
            )
            ids.append(int(result.inserted_primary_key[0]))
    return ids
