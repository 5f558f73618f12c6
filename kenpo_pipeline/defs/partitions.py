"""Partitions, defined once and imported everywhere.

- ``monthly_partitions``: calendar months from ``KENPO_FIRST_MONTH`` (default 2020-04; ``kenpo ui``
  starts them at the warehouse's first month when it is not set, so a demo from 2022-04 does not
  show two empty years), keys ``YYYY-MM`` (the feed month). A month's partition exists once the
  month is over (its feeds arrive early the following month).
- ``fiscal_year_partitions``: fiscal years (April start) from the first month's fiscal year, keys ``YYYY`` (``"2024"`` = FY2024 =
  2024-04-01 … 2025-03-31). ``end_offset=1`` makes the fiscal year in progress a partition too, so
  year-to-date figures can be computed during the year.

A step reads its partition keys through ``months_of`` / ``fiscal_years_of`` (a single partition
and a backfill's range alike).
"""

from datetime import datetime

import dagster as dg

from kenpo_pipeline.settings import first_month

TIMEZONE = "Asia/Tokyo"
FIRST_MONTH = first_month()
FIRST_FISCAL_YEAR = int(FIRST_MONTH[:4]) - (int(FIRST_MONTH[5:7]) < 4)

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=FIRST_MONTH, fmt="%Y-%m", timezone=TIMEZONE, end_offset=0
)

fiscal_year_partitions = dg.TimeWindowPartitionsDefinition(
    start=datetime(FIRST_FISCAL_YEAR, 4, 1),
    cron_schedule="0 0 1 4 *",
    fmt="%Y",
    timezone=TIMEZONE,
    end_offset=1,
)


def fiscal_years_of(context: dg.AssetExecutionContext) -> list[int]:
    """The fiscal years a step materializes (one, or a range of a backfill), oldest first."""
    return sorted({int(key) for key in context.partition_keys})


def months_of(context: dg.AssetExecutionContext) -> list[str]:
    """The months (``YYYY-MM``) a step materializes (one, or a range of a backfill), oldest first."""
    return sorted(context.partition_keys)
