"""Row rules with Great Expectations (GX Core 1.x), from the suites in ``expectations/``.

- Suites are JSON files, one per feed, loaded without any GX project folder into an *ephemeral*
  context (nothing is written to disk; safe for parallel runs). GX silently drops an expectation
  type it does not know, so the number built is compared with the number in the file.
- Each expectation's ``meta`` says which rule it is (``rule``), which column a person should look at
  (``blame``) and why the row is wrong, in Japanese (``reason_ja``; ``{column}`` fields are
  filled from the offending row).
- One context per thread (a context shared between threads gave wrong counts; a process runs its
  loads on one thread, so one context per process), created once, progress bars off, analytics off:
  GX runs offline and quietly. A month is validated as a batch (``batch.validate``), which stores
  no result: the context does not grow however many months a process validates; the month's frame,
  which GX's execution engine keeps as its last batch, is dropped after each validation.
- GX is asked for the failing rows' index labels only (``RESULT_FORMAT``) and sees only the columns
  the suite reads. No expectation of the suites is one GX evaluates row by row: the pair rule of
  ``screenings`` is an ``in_set`` on a helper column (``_population_program``), and date columns
  reach GX as ``datetime64[ns]`` (GX compares other datetime units one value at a time).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from kenpo_pipeline.settings import EXPECTATIONS_DIR, apply_library_defaults

apply_library_defaults()  # before Great Expectations is imported: no usage analytics
for _name in ("great_expectations", "great_expectations.core", "great_expectations.expectations"):
    logging.getLogger(_name).setLevel(logging.ERROR)


class SuiteError(RuntimeError):
    """A suite file is unusable (unreadable, or GX dropped an expectation it did not understand)."""


@dataclass(frozen=True)
class ExpectationOutcome:
    rule: str
    expectation_type: str
    columns: tuple[str, ...]
    success: bool
    element_count: int
    unexpected_count: int
    reason_ja: str
    error: str | None = None


@dataclass
class SuiteOutcome:
    feed: str
    suite_name: str
    expectations: list[ExpectationOutcome]
    # frame index label → list of (rule, blamed canonical column, reason template)
    unexpected: dict[Any, list[tuple[str, str, str]]] = field(default_factory=dict)

    @property
    def errors(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if e.error]

    @property
    def success(self) -> bool:
        return all(e.success for e in self.expectations)


def suite_path(feed: str, expectations_dir: Path = EXPECTATIONS_DIR) -> Path:
    return expectations_dir / f"{feed}.json"


def load_suite_json(feed: str, expectations_dir: Path = EXPECTATIONS_DIR) -> dict:
    path = suite_path(feed, expectations_dir)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path}: the expectation suite cannot be read ({exc})") from exc


def build_suite(feed: str, expectations_dir: Path = EXPECTATIONS_DIR):
    import great_expectations as gx

    raw = load_suite_json(feed, expectations_dir)
    declared = len(raw.get("expectations", []))
    suite = gx.ExpectationSuite(**raw)
    if len(suite.expectations) != declared:
        built = {e.expectation_type for e in suite.expectations}
        missing = [e.get("type") for e in raw["expectations"] if e.get("type") not in built]
        raise SuiteError(
            f"{suite_path(feed, expectations_dir)}: {declared} expectations declared but GX built "
            f"{len(suite.expectations)} (not understood: {', '.join(map(str, missing))})"
        )
    for e in raw["expectations"]:
        m = e.get("meta") or {}
        if not {"rule", "blame", "reason_ja"} <= set(m):
            raise SuiteError(f"{suite_path(feed, expectations_dir)}: expectation {e.get('type')} lacks meta rule/blame/reason_ja")
    return suite


RESULT_FORMAT = {
    "result_format": "COMPLETE",  # every failing row's index label (unexpected_index_list): the quarantine
    "return_unexpected_index_query": False,  # no pandas query text per expectation
    "partial_unexpected_count": 0,  # no partial lists or value counts
    "exclude_unexpected_values": True,  # no copies of the failing values: the reasons read the frame
}
"""What is asked of GX: the rows that fail each expectation, and nothing else."""


class _ThreadContext(threading.local):
    context = None
    prepared: dict | None = None


_local = _ThreadContext()


@dataclass(frozen=True)
class _Prepared:
    batch_definition: Any
    suite: Any
    columns: frozenset[str]  # the frame columns the suite reads (expectation columns and row conditions)


def _context():
    """The GX context of this thread (of the process, when it has one thread): created once. Runs
    validate a batch directly (``batch.validate``): no result is stored, so the context does not grow."""
    if _local.context is None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        _local.context = ctx
        _local.prepared = {}
    return _local.context


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")


def suite_columns(raw: dict) -> frozenset[str]:
    """The columns a suite (its JSON) reads: each expectation's columns and every name its row
    condition mentions (``decision == "支給"`` reads ``decision``)."""
    names: set[str] = set()
    for e in raw.get("expectations", []):
        kwargs = e.get("kwargs") or {}
        names.update(_columns_of(kwargs))
        condition = kwargs.get("row_condition")
        if isinstance(condition, dict):
            condition = condition.get("pass_through_filter") or ""
        if isinstance(condition, str):
            names.update(_IDENTIFIER.findall(_QUOTED.sub(" ", condition)))
    return frozenset(names)


def _prepared(feed: str, expectations_dir: Path) -> _Prepared:
    ctx = _context()
    key = (feed, str(expectations_dir))
    if key not in _local.prepared:
        suite = build_suite(feed, expectations_dir)
        source = ctx.data_sources.add_pandas(f"kenpo_{feed}_{len(_local.prepared)}")
        batch_definition = source.add_dataframe_asset(f"{feed}_rows").add_batch_definition_whole_dataframe(f"{feed}_month")
        _local.prepared[key] = _Prepared(batch_definition, suite, suite_columns(load_suite_json(feed, expectations_dir)))
    return _local.prepared[key]


def columns_read(feed: str, expectations_dir: Path = EXPECTATIONS_DIR) -> frozenset[str]:
    """The columns the feed's suite reads (see :func:`suite_columns`)."""
    return _prepared(feed, expectations_dir).columns


def _columns_of(kwargs: dict) -> tuple[str, ...]:
    if "column" in kwargs:
        return (kwargs["column"],)
    if "column_A" in kwargs:
        return (kwargs["column_A"], kwargs["column_B"])
    if "column_list" in kwargs:
        return tuple(kwargs["column_list"])
    return ()


def _exception_text(info: Any) -> str | None:
    if not info:
        return None
    if isinstance(info, dict) and "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    if isinstance(info, dict):  # keyed by metric id in some GX versions
        messages = [v.get("exception_message") for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]
        return "; ".join(m for m in messages if m) or None
    return None


def _forget_batch_data(batch) -> None:
    """Drop the month's frame from the GX execution engine that validated it. The engine's batch
    manager keeps the last batch (its data, and the batch request that carries the frame) until the
    next validation replaces it, so a process held a month's frame between two checks and, while
    checking the next month, two of them."""
    engine = getattr(getattr(batch, "data", None), "execution_engine", None)
    manager = getattr(engine, "batch_manager", None)
    if manager is None:
        return
    manager.reset_batch_cache()
    cache = getattr(manager, "batch_data_cache", None)
    if isinstance(cache, dict):
        cache.clear()


def validate_frame(
    feed: str,
    frame: pd.DataFrame,
    parameters: dict[str, Any],
    expectations_dir: Path = EXPECTATIONS_DIR,
) -> SuiteOutcome:
    """Run the feed's suite once over the whole month (only the columns it reads) and collect every
    unexpected row (by index label of ``frame``)."""
    prepared = _prepared(feed, expectations_dir)
    frame = frame[[c for c in frame.columns if c in prepared.columns]]
    batch = prepared.batch_definition.get_batch(batch_parameters={"dataframe": frame})
    try:
        result = batch.validate(prepared.suite, result_format=RESULT_FORMAT, expectation_parameters=parameters)
    finally:
        _forget_batch_data(batch)
    outcomes: list[ExpectationOutcome] = []
    unexpected: dict[Any, list[tuple[str, str, str]]] = {}
    for r in result.results:
        cfg = r.expectation_config
        meta = cfg.meta or {}
        res = r.result or {}
        error = _exception_text(r.exception_info)
        index_list = res.get("unexpected_index_list") or []
        outcomes.append(
            ExpectationOutcome(
                rule=meta.get("rule", cfg.type),
                expectation_type=cfg.type,
                columns=_columns_of(cfg.kwargs),
                success=bool(r.success),
                element_count=int(res.get("element_count") or len(frame)),
                unexpected_count=int(res.get("unexpected_count") or len(index_list)),
                reason_ja=meta.get("reason_ja", cfg.type),
                error=error,
            )
        )
        for label in index_list:
            if isinstance(label, dict):  # when index column names are requested
                label = next(iter(label.values()))
            unexpected.setdefault(label, []).append((meta.get("rule", cfg.type), meta.get("blame", ""), meta.get("reason_ja", cfg.type)))
    return SuiteOutcome(feed=feed, suite_name=f"kenpo_{feed}", expectations=outcomes, unexpected=unexpected)
