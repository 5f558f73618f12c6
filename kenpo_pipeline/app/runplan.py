"""The run plan of ``kenpo run`` and ``kenpo demo``, as pure functions: which months, in which runs,
which fiscal years follow and with which assets, in what order, and what follows a failure.

What follows what is not written here. It is stated once, in the definitions, and read from them
the same way the daemon's automation reads it (``defs/automation.py``): the assets that follow are
the automation sensor's target (``automation_targets``), and which of their partitions follow is
the asset graph's dependencies and partition mappings (``followers``). A month's feeds are followed by that month's ``monthly_aggregates`` (identity), the aggregates by
their fiscal year's ``kpi_actuals`` and ``data_quality`` (``TimeWindowPartitionMapping``), a
year's actuals by that year's *and the next year's* ``pdca_evaluation`` (the evaluation's
``TimeWindowPartitionMapping(start_offset=-1)``: a year is compared with the previous one), and so
on down to the workbooks and the unpartitioned ``action_plan_view``. So the next year's evaluation
is in the plan because the definitions say so.

The plan adds three things of its own, each a decision of the command line:
- months run in chunks of consecutive months of one fiscal year, one Dagster run each (a backfill
  unit, ``BackfillPolicy.single_run()``), oldest first; then each fiscal year that follows, oldest
  first (a year's evaluation needs the previous year's actuals); an unpartitioned follower that a
  year's asset reads (``action_plan_view`` → ``pdca_workbooks``) runs in that year's run, others after;
- ``through`` stops the plan below some assets (``THROUGH``);
- a year that only *follows* (none of its months is in the plan) is left out when it has no KPI
  actuals yet (``computed``): its evaluation would have nothing to evaluate. The automation
  requests it anyway; there it computes nothing.

After a failed chunk (a month rejected or missing) the plan runs the usable months' aggregates
again (``after_failure``): ``kenpo run`` loads everything it can. The automation instead waits for
the month's blocking ``accepted`` check to pass (a good file) before it follows that month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, Iterable, Mapping

import dagster as dg

from kenpo_pipeline.domain import calendar
from kenpo_pipeline.domain.intake.status import FeedMonthOutcome, FeedMonthStatus
from kenpo_pipeline.domain.reference import FEED_IDS

THROUGH: dict[str, tuple[str, ...] | None] = {
    # how far a plan goes below the months: the assets it may materialize (None: every follower)
    "actuals": ("kpi_actuals",),
    "evaluation": ("kpi_actuals", "pdca_evaluation", "data_quality"),
    "reports": None,
}

Followers = dict[dg.AssetKey, set]  # asset → the partition keys that follow (None: unpartitioned)


@dataclass(frozen=True)
class Chunk:
    """One run of the monthly job: consecutive months of one fiscal year, and the assets to run."""

    fiscal_year: int
    months: tuple[str, ...]
    assets: tuple[str, ...] = ()

    @property
    def partition_key(self) -> str | None:
        """The partition of a one-month run (a longer chunk runs as a partition range)."""
        return self.months[0] if len(self.months) == 1 else None

    @property
    def label(self) -> str:
        return f"{calendar.fiscal_year_label(self.fiscal_year)} {self.span}"

    @property
    def span(self) -> str:
        """``2024-04…2024-06``, or the one month."""
        return self.months[0] if len(self.months) == 1 else f"{self.months[0]}…{self.months[-1]}"

    @property
    def feed_months(self) -> list[tuple[str, str]]:
        return [(feed, m) for m in self.months for feed in FEED_IDS if feed in self.assets]


@dataclass(frozen=True)
class YearStep:
    """One run of the fiscal-year job: the assets of one fiscal year that follow the months."""

    fiscal_year: int
    assets: tuple[str, ...]
    touched: bool  # a month of the year is in the plan (False: it only follows, e.g. next year's evaluation)

    @property
    def label(self) -> str:
        return calendar.fiscal_year_label(self.fiscal_year)


@dataclass(frozen=True)
class RunPlan:
    months: tuple[str, ...]
    chunks: tuple[Chunk, ...]
    years: tuple[YearStep, ...]
    after: tuple[str, ...]  # unpartitioned assets no year's asset reads, once the years are done
    through: str = "reports"
    files: Mapping[tuple[str, str], tuple[Path, ...]] = field(default_factory=dict)  # the landing area's files when planned
    problems: tuple[str, ...] = ()  # files in the landing area that are no feed-month, one sentence each
    skipped: tuple[str, ...] = ()  # months outside the partitions, one sentence each

    @property
    def feed_months(self) -> list[tuple[str, str]]:
        return [fm for c in self.chunks for fm in c.feed_months]


def months_to_run(present: list[str], first: str | None, last: str | None) -> list[str]:
    """The months a run covers: ``first``…``last`` (either bound defaults to the first/last month
    with a file), or every month with a file when neither is given."""
    if not (first or last):
        return sorted(present)
    first = first or (min(present) if present else last)
    last = last or (max(present) if present else first)
    return calendar.months_between(first, last)  # ValueError when first is after last


def within_partitions(months: list[str], partition_keys: list[str]) -> tuple[list[str], list[str]]:
    """(months that are partitions, one Japanese sentence per month that is not)."""
    keys = set(partition_keys)
    outside = [
        f"{m} は月のパーティションではないため読み込みません（対象は {partition_keys[0]}〜{partition_keys[-1]}、終わった月までです）。"
        for m in months if m not in keys
    ]
    return [m for m in months if m in keys], outside


def fiscal_year_chunks(months: Iterable[str], assets: tuple[str, ...] = ()) -> list[Chunk]:
    """Consecutive months of the same fiscal year, oldest first."""
    chunks: list[list[str]] = []
    for m in sorted(set(months)):
        if chunks and calendar.fiscal_year_of_month(m) == calendar.fiscal_year_of_month(chunks[-1][-1]) and calendar.add_months(chunks[-1][-1], 1) == m:
            chunks[-1].append(m)
        else:
            chunks.append([m])
    return [Chunk(calendar.fiscal_year_of_month(c[0]), tuple(c), assets) for c in chunks]


def automation_targets(defs: dg.Definitions) -> frozenset[dg.AssetKey]:
    """The assets the daemon's automation keeps up to date (its sensor's target selection)."""
    from kenpo_pipeline.defs.automation import AUTOMATION_SENSOR_NAME

    sensor = defs.resolve_sensor_def(AUTOMATION_SENSOR_NAME)
    return frozenset(sensor.asset_selection.resolve(defs.resolve_asset_graph()))


def followers(graph, roots: Iterable[tuple[dg.AssetKey, str | None]], targets: Collection[dg.AssetKey] | None = None) -> Followers:
    """Every asset partition downstream of ``roots`` (asset, partition key), by the asset graph's
    partition mappings (``graph``: ``Definitions.resolve_asset_graph()``). With ``targets`` only
    those assets follow (an asset outside them is not materialized, so nothing follows it either)."""
    seen: set[tuple[dg.AssetKey, str | None]] = set()
    roots = list(roots)
    frontier = list(roots)
    while frontier:
        key, partition = frontier.pop()
        if partition is None and graph.get(key).partitions_def is None and (key, partition) not in roots:
            # an unpartitioned follower (action_plan_view) does not say which partitions of its
            # children follow: they follow the months through their partitioned parents
            continue
        for child in graph.get_children_partitions(key, partition):
            node = (child.asset_key, child.partition_key)
            if targets is not None and child.asset_key not in targets:
                continue
            if node not in seen:
                seen.add(node)
                frontier.append(node)
    out: Followers = {}
    for key, partition in seen:
        out.setdefault(key, set()).add(partition)
    return out


def month_followers(graph, months: Iterable[str], targets: Collection[dg.AssetKey] | None = None) -> Followers:
    """What follows the feeds of ``months`` (see the module docstring)."""
    return followers(graph, [(dg.AssetKey(feed), m) for m in months for feed in FEED_IDS], targets)


def plan_run(
    graph,
    months: Iterable[str],
    through: str = "reports",
    computed: Callable[[int], bool] = lambda fy: False,
    files: Mapping[tuple[str, str], tuple[Path, ...]] | None = None,
    problems: Iterable[str] = (),
    skipped: Iterable[str] = (),
    targets: Collection[dg.AssetKey] | None = None,
) -> RunPlan:
    """The plan for ``months``: their chunks (the feeds and what follows them month by month), then
    the fiscal years that follow (``through`` limits the assets; a year that only follows is kept
    when ``computed(year)``: it has KPI actuals), then the unpartitioned followers. ``targets``:
    the assets that may follow (``automation_targets``; None: every asset downstream)."""
    if through not in THROUGH:
        raise ValueError(f"through must be one of {', '.join(THROUGH)}, not {through!r}")
    months = sorted(set(months))
    follow = month_followers(graph, months, targets)
    allowed = THROUGH[through]
    monthly_def = graph.get(dg.AssetKey(FEED_IDS[0])).partitions_def
    monthly = tuple(sorted(k.to_user_string() for k in follow if graph.get(k).partitions_def == monthly_def))
    chunks = fiscal_year_chunks(months, tuple(FEED_IDS) + monthly)
    touched = {calendar.fiscal_year_of_month(m) for m in months}
    by_year: dict[int, set[str]] = {}
    after: list[str] = []
    for key, parts in follow.items():
        name = key.to_user_string()
        if name in monthly or (allowed is not None and name not in allowed):
            continue
        if parts == {None}:
            after.append(name)
            continue
        for p in parts:
            by_year.setdefault(int(p), set()).add(name)
    # an unpartitioned follower that a year's asset reads (action_plan_view → pdca_workbooks) runs in
    # that year's run, before its reader (as in the fiscal-year job); the others run after the years
    for name in list(after):
        readers = {c.to_user_string() for c in graph.get(dg.AssetKey(name)).child_keys}
        years_reading = [fy for fy, assets in by_year.items() if assets & readers]
        if years_reading:
            after.remove(name)
            for fy in years_reading:
                by_year[fy].add(name)
    years = tuple(
        YearStep(fy, tuple(sorted(assets)), fy in touched)
        for fy, assets in sorted(by_year.items())
        if fy in touched or computed(fy)
    )
    return RunPlan(
        tuple(months), tuple(chunks), years, tuple(sorted(after)), through, dict(files or {}), tuple(problems), tuple(skipped)
    )


def after_failure(chunk: Chunk, outcomes: Iterable[FeedMonthOutcome]) -> list[Chunk]:
    """What follows a chunk whose run failed (a month rejected or missing: the run's month-level
    followers were skipped): the months whose data is usable (a feed loaded or unchanged) get their
    followers again, in runs of consecutive months, without the feeds."""
    usable = {o.month for o in outcomes if o.month in chunk.months and o.status.ok}
    followers_only = tuple(a for a in chunk.assets if a not in FEED_IDS)
    if not followers_only:
        return []
    return fiscal_year_chunks([m for m in chunk.months if m in usable], followers_only)


NOT_REACHED = {  # why a feed-month of the plan was not decided by any run
    "stopped": "実行を中止したため",
    "broken": "倉庫に書き込めなかったため",
    "": "実行がそこまで進まなかったため",
}


def outcomes(plan: RunPlan, decided: Mapping[tuple[str, str], FeedMonthOutcome], landing: Path, why: str = "") -> list[FeedMonthOutcome]:
    """One outcome per feed-month of the plan, in plan order: the one a run decided, else
    ``not_loaded`` naming the file the landing area held when the plan was made (``NOT_REACHED[why]``)."""
    out = []
    for feed, month in plan.feed_months:
        outcome = decided.get((feed, month))
        if outcome is None:
            path = (plan.files.get((feed, month)) or (Path(landing) / feed / f"{month.replace('-', '')}.*",))[0]
            outcome = FeedMonthOutcome(feed, month, FeedMonthStatus.NOT_LOADED, f"{path} は{NOT_REACHED[why]}読み込まれていません。", path=str(path))
        out.append(outcome)
    return out
