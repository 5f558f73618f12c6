"""What every asset of the code location shares, applied once.

``kenpo_asset(group=…)`` is ``dg.asset`` with the project's defaults for that group:

- owners and a ``layer`` tag by group (``feeds``, ``kpis``, ``checks``, ``reports``) to filter on;
- the ``warehouse`` concurrency pool (``dagster.yaml``) and the kinds ``pandas`` + ``sql``;
- partitioned assets run a backfill as one run (``BackfillPolicy.single_run()``: a fiscal year of
  months in one step);
- every asset downstream of the feeds follows the loaded months (``defs/automation.py``).

Any argument given to ``kenpo_asset`` wins over the default.
"""

from typing import Any, Callable

import dagster as dg

from kenpo_pipeline.defs.automation import follows_loaded_months
from kenpo_pipeline.defs.partitions import fiscal_year_partitions, monthly_partitions

GROUPS: dict[str, dict[str, Any]] = {
    "feeds": {"owners": ["team:data-operations"], "tags": {"layer": "feed"}},
    "kpis": {"owners": ["team:planning"], "tags": {"layer": "kpi"}},
    "checks": {"owners": ["team:data-operations"], "tags": {"layer": "quality"}},
    "reports": {"owners": ["team:planning"], "tags": {"layer": "report"}},
}


def kenpo_asset(*, group: str, **arguments: Any) -> Callable[..., dg.AssetsDefinition]:
    """``dg.asset`` with the defaults of ``group`` (see the module docstring)."""
    defaults: dict[str, Any] = {
        "group_name": group,
        "pool": "warehouse",
        "kinds": {"pandas", "sql"},
        **GROUPS[group],
    }
    if group != "feeds":
        defaults["automation_condition"] = follows_loaded_months()
    if arguments.get("partitions_def") is not None:
        defaults["backfill_policy"] = dg.BackfillPolicy.single_run()
    return dg.asset(**{**defaults, **arguments})


def monthly_asset(*, group: str, **arguments: Any) -> Callable[..., dg.AssetsDefinition]:
    """An asset partitioned by calendar month (``YYYY-MM``)."""
    return kenpo_asset(group=group, partitions_def=monthly_partitions, **arguments)


def fiscal_year_asset(*, group: str, **arguments: Any) -> Callable[..., dg.AssetsDefinition]:
    """An asset partitioned by fiscal year (``YYYY``, April start)."""
    return kenpo_asset(group=group, partitions_def=fiscal_year_partitions, **arguments)


@dg.definitions
def executor_definitions() -> dg.Definitions:
    """Every job runs its steps in the run's own process (``in_process_executor``), from the UI and
    the daemon as from ``kenpo``. Every step that writes the warehouse is in the pool ``warehouse``
    (limit 1), so steps run one after another whatever the executor: a process per step (Dagster's
    default, the multiprocess executor) only added a start-up per step (Python, Dagster, GX: several
    seconds each). The CPU-heavy part of a feed step — parsing and validating files — uses both cores
    inside the step (the intake worker pool, README "How a month is loaded")."""
    return dg.Definitions(executor=dg.in_process_executor)
