"""Parse and validate one landed feed file — the single code path used by a load and by
``kenpo validate`` (same rules, same messages). Contract: shared spec/feeds.md.

``check_feed_file`` reads the file, matches the Japanese header, parses every cell (encodings, era
dates, full-width digits, thousands separators, branch codes), runs the feed's GX suite once over
the month, and returns a :class:`FeedCheck`: the rows to load, one quarantine record per offending
row, the per-expectation results, and the cross-row findings GX cannot express. File-level errors
raise :class:`~kenpo_pipeline.domain.reading.FileRejected` (nothing of the file may be loaded).

Parsing checks the *form* of each value (a date that is not a date, a number that is not a number);
the GX suite in ``expectations/<feed>.json`` holds the *row rules* (required, value sets, ranges,
cross-column and uniqueness rules). A cell that could not be parsed is reported once, with the
parse reason, and not again as "empty".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kenpo_pipeline.domain import calendar
from kenpo_pipeline.domain.landing import feed_of_folder, month_of_name
from kenpo_pipeline.domain.quality import SuiteOutcome, validate_frame
from kenpo_pipeline.domain.reading import FileRejected, RawTable, read_table, sha256_of
from kenpo_pipeline.domain.reference import (
    FEED_IDS,
    NATIONAL_CODE,
    FeedLayout,
    branch_codes,
    branch_name,
    feed_layout,
    indicators,
)
from kenpo_pipeline.domain.values import PARSERS, normalise_header, raw_text
from kenpo_pipeline.settings import DEFAULT_MAX_BAD_ROW_SHARE

OUT_OF_HEADER = "（ヘッダー外の列）"


class TooManyBadRows(FileRejected):
    """The quarantined share of the file exceeds the limit: the export is treated as broken."""

    def __init__(self, check: "FeedCheck", reason: str, details: list[str]):
        self.check = check
        super().__init__(check.path, reason, details)


@dataclass(frozen=True)
class Violation:
    row_number: int
    column: str  # Japanese column name as in the file's layout
    value: str
    reason: str  # Japanese
    rule: str


@dataclass(frozen=True)
class QuarantineRecord:
    row_number: int
    column_name: str
    value: str
    reason: str
    rules: str
    record: str  # the row's cells as JSON, keyed by the Japanese header


@dataclass(frozen=True)
class Finding:
    """A cross-row observation reported by a warning-level check (the rows still load)."""

    check: str
    branch_code: str | None
    message: str


@dataclass
class FeedCheck:
    feed: str
    month: str
    path: str
    sha256: str
    file_format: str
    encoding: str | None
    rows_read: int
    frame: pd.DataFrame  # rows to load, canonical columns + month + source_row
    quarantine: list[QuarantineRecord]
    suite: SuiteOutcome
    warnings: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    released_rows: int | None = None  # rows_loaded once the frame has been released

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)

    @property
    def rows_loaded(self) -> int:
        return len(self.frame) if self.released_rows is None else self.released_rows

    def release_rows(self, keep: int = 5) -> None:
        """Drop the loaded rows (they are in the warehouse now), keeping the first ``keep`` as a
        preview: a fiscal year of national months then never sits in memory at once."""
        if self.released_rows is None:
            self.released_rows = len(self.frame)
            self.frame = self.frame.head(keep).copy()


# --- file names ------------------------------------------------------------------------------


def month_from_filename(path: Path) -> str:
    """``.../202404.csv`` → ``"2024-04"``; a name that is not a feed-month rejects the file
    (the one rule, :func:`kenpo_pipeline.domain.landing.month_of_name`)."""
    return month_of_name(path)


def feed_from_path(path: Path) -> str:
    """The feed of a file in the landing area: its folder (:func:`kenpo_pipeline.domain.landing.feed_of_folder`)."""
    return feed_of_folder(path)


# --- header ----------------------------------------------------------------------------------


def _map_header(table: RawTable, layout: FeedLayout) -> tuple[dict[str, int], list[str]]:
    by_name = {normalise_header(c.name): c.canonical for c in layout.columns}
    positions: dict[str, int] = {}
    unknown: list[str] = []
    for pos, cell in enumerate(table.header):
        name = normalise_header(cell)
        if not name:
            continue
        canonical = by_name.get(name)
        if canonical is None:
            unknown.append(name)
        elif canonical in positions:
            raise FileRejected(table.path, f"the column {layout.japanese(canonical)} appears more than once in the header")
        else:
            positions[canonical] = pos
    missing = [c.name for c in layout.columns if c.canonical not in positions]
    if missing:
        raise FileRejected(table.path, f"the required column(s) {', '.join(missing)} are missing from the header (line {table.header_row})")
    warnings = [f"unknown column '{u}' ignored" for u in unknown]
    return positions, warnings


# --- helper columns the suites refer to -------------------------------------------------------


def _add_helpers(feed: str, typed: pd.DataFrame, month: str) -> dict:
    """Derive the ``_``-prefixed columns and the run-time parameters of the feed's suite."""
    start = pd.Timestamp(calendar.month_start(month))
    if feed == "benefits":
        typed["_received_floor"] = typed["decided_on"] - pd.DateOffset(years=2)
        typed["_paid_ceiling"] = typed["decided_on"] + pd.Timedelta(days=31)
        return {"month_start": start, "month_end": pd.Timestamp(calendar.month_end(month))}
    if feed == "claims_review":
        typed["_service_month_start"] = pd.to_datetime(typed["service_month"].map(lambda m: f"{m}-01" if m else None), errors="coerce")
        floor = pd.Timestamp(calendar.month_start(calendar.add_months(month, -60)))
        return {"file_month_start": start, "service_month_floor": floor}
    if feed == "indicators":
        bounds = {i.code: i.bounded_by for i in indicators() if i.bounded_by}
        key = typed["branch_code"].astype("object") + "|" + typed["indicator"].astype("object")
        unique_key = ~key.duplicated(keep=False) & typed["value"].notna()
        lookup = dict(zip(key[unique_key], typed.loc[unique_key, "value"]))
        bounded_by = typed["indicator"].map(bounds)
        typed["_bounded_by"] = bounded_by
        typed["_bound_value"] = [
            lookup.get(f"{b}|{t}") if isinstance(t, str) else None for b, t in zip(typed["branch_code"], bounded_by)
        ]
        typed["_bound_value"] = typed["_bound_value"].astype("float64")
    return {}


# --- findings (cross-row rules GX cannot express) ---------------------------------------------


def _coverage_findings(feed: str, loaded: pd.DataFrame) -> list[Finding]:
    present = set(loaded["branch_code"].dropna())
    return [
        Finding("consistency", code, f"{branch_name(code)} ({code}) has no rows in this file; its {feed} count for the month is 0")
        for code in branch_codes()
        if code not in present
    ]


def screenings_findings(loaded: pd.DataFrame, layout: FeedLayout) -> list[Finding]:
    """Cross-row rules of ``screenings`` (spec/feeds.md): eligible populations that should agree,
    programs missing for a branch, branches missing from the file. All warnings; rows load."""
    findings: list[Finding] = []
    present = set(loaded["branch_code"].dropna())
    for code in branch_codes():
        if code not in present:
            findings.append(Finding("consistency", code, f"{branch_name(code)} ({code}) is missing from the file entirely"))
    by_branch = {code: g for code, g in loaded.groupby("branch_code", sort=True)}
    for code, g in by_branch.items():
        rows = {(p, q): e for p, q, e in zip(g["population"], g["program"], g["eligible"])}
        missing = [f"{p}×{q}" for p, q in layout.programs if (p, q) not in rows]
        if missing:
            findings.append(
                Finding(
                    "consistency",
                    code,
                    f"{branch_name(code)} ({code}): no row for {', '.join(missing)}; counted as 0 completions this month and "
                    "its 対象者数 carries forward from the previous month of the fiscal year",
                )
            )
        life = rows.get(("被保険者", "生活習慣病予防健診"))
        employer = rows.get(("被保険者", "事業者健診データ取得"))
        if life is not None and employer is not None and int(life) != int(employer):
            findings.append(
                Finding(
                    "consistency",
                    code,
                    f"{branch_name(code)} ({code}): 対象者数 of 生活習慣病予防健診 ({int(life):,}) differs from "
                    f"事業者健診データ取得 ({int(employer):,}); both rows are loaded",
                )
            )
    return findings


def indicators_findings(loaded: pd.DataFrame) -> list[Finding]:
    """Subordinate rows loaded without their total, and (branch, indicator) pairs the file lacks
    (missing is never zero: a flow's month is unknown, a stock carries forward inside the year)."""
    findings: list[Finding] = []
    have = set(zip(loaded["branch_code"], loaded["indicator"]))
    for code_b, ind, total in zip(loaded["branch_code"], loaded["indicator"], loaded["_bounded_by"]):
        if isinstance(total, str) and (code_b, total) not in have:
            findings.append(
                Finding("consistency", code_b, f"{branch_name(code_b)} ({code_b}): {ind} loaded although its total {total} is absent from the file")
            )
    missing_by_indicator: dict[str, list[str]] = {}
    for ind in indicators():
        scope = [NATIONAL_CODE] if ind.national_only else branch_codes()
        for code in scope:
            if (code, ind.code) not in have:
                missing_by_indicator.setdefault(ind.code, []).append(code)
    for ind_code, codes in missing_by_indicator.items():
        kind = next(i.kind for i in indicators() if i.code == ind_code)
        effect = "its value for the month is unknown" if kind == "flow" else "the last value of the fiscal year carries forward"
        shown = ", ".join(codes[:10]) + (f" … ({len(codes)} branches)" if len(codes) > 10 else "")
        findings.append(Finding("consistency", codes[0] if len(codes) == 1 else None, f"{ind_code} missing for {shown}; {effect}"))
    return findings


# --- the whole check --------------------------------------------------------------------------


def _drop_bounds_against_quarantined_totals(typed: pd.DataFrame, row_numbers: pd.Series, violations: list[Violation]) -> list[Violation]:
    """A total that is itself quarantined does not bound anything: its subordinate row is judged as
    if the total were absent (it loads, and the consistency check warns)."""
    bad_rows = {v.row_number for v in violations if v.rule != "indicators.value.within_total"}
    row_of = {(b, i): int(n) for b, i, n in zip(typed["branch_code"], typed["indicator"], row_numbers)}
    bounded_by = dict(zip(row_numbers.astype(int), typed["_bounded_by"]))
    branch_of = dict(zip(row_numbers.astype(int), typed["branch_code"]))
    kept = []
    for v in violations:
        if v.rule == "indicators.value.within_total":
            total_row = row_of.get((branch_of[v.row_number], bounded_by[v.row_number]))
            if total_row in bad_rows:
                continue
        kept.append(v)
    return kept


def _record_json(table: RawTable, row: list[object]) -> str:
    return json.dumps(
        {normalise_header(h) or f"列{i + 1}": raw_text(row[i]) if i < len(row) else "" for i, h in enumerate(table.header)},
        ensure_ascii=False,
    )


def check_feed_file(
    path: Path | str,
    feed: str | None = None,
    month: str | None = None,
    max_bad_row_share: float = DEFAULT_MAX_BAD_ROW_SHARE,
    data: bytes | None = None,
) -> FeedCheck:
    """Parse and validate one file. Raises FileRejected (or TooManyBadRows) when the file must be
    rejected whole; otherwise returns what a load would write.

    ``data``: the file's bytes when the caller has read them already (a load reads a landed file
    once, see ``domain.landing.read_settled``); the SHA-256 is then computed from those same bytes
    and the file is not opened again."""
    path = Path(path)
    feed = feed or feed_from_path(path)
    file_month = month_from_filename(path)
    if month is not None and month != file_month:
        raise FileRejected(path, f"its name says {file_month} but it was submitted for {month}")
    layout = feed_layout(feed)
    if data is None and not path.is_file():
        raise FileRejected(path, "the file does not exist")
    sha = sha256_of(path) if data is None else hashlib.sha256(data).hexdigest()
    table = read_table(path, data=data)
    positions, warnings = _map_header(table, layout)
    if not table.rows:
        raise FileRejected(path, f"it has a header (line {table.header_row}) but no data rows")

    width = len(table.header)
    raw = pd.DataFrame(
        {c: [r[positions[c]] if positions[c] < len(r) else None for r in table.rows] for c in layout.canonical_columns},
        dtype="object",
    )
    row_numbers = pd.Series(table.row_numbers, dtype="int64")
    violations: list[Violation] = []
    for i, r in enumerate(table.rows):
        extra = [raw_text(v) for v in r[width:] if raw_text(v).strip()]
        if extra:
            violations.append(Violation(table.row_numbers[i], OUT_OF_HEADER, " ".join(extra), "ヘッダーのない列に値があります", f"{feed}.row.extra_cells"))

    typed = pd.DataFrame(index=raw.index)
    parse_failed: set[tuple[int, str]] = set()
    for col in layout.columns:
        values, errors = PARSERS[col.type](raw[col.canonical])
        typed[col.canonical] = values
        bad = errors.notna()
        for idx in errors.index[bad]:
            parse_failed.add((idx, col.canonical))
            violations.append(
                Violation(int(row_numbers[idx]), col.name, raw_text(raw.at[idx, col.canonical]), f"{col.name}: {errors[idx]}", f"{feed}.{col.canonical}.format")
            )

    parameters = _add_helpers(feed, typed, file_month)
    gx_frame = typed.copy()
    for col in layout.columns:
        if col.type == "integer":
            gx_frame[col.canonical] = gx_frame[col.canonical].astype("float64")
    suite = validate_frame(feed, gx_frame, parameters)
    if suite.errors:
        failed = "; ".join(f"{e.rule}: {e.error}" for e in suite.errors)
        raise RuntimeError(f"{path}: the {feed} suite could not be evaluated ({failed}); nothing was loaded")

    context_base = {"_file_month": calendar.month_label_ja(file_month)}
    for idx, hits in suite.unexpected.items():
        for rule, blame, template in hits:
            if (idx, blame) in parse_failed:
                continue
            context = {**context_base, **{k: ("" if pd.isna(v) else v) for k, v in typed.loc[idx].items()}}
            try:
                reason = template.format_map(context)
            except (KeyError, ValueError):
                reason = template
            column = layout.japanese(blame) if blame in layout.canonical_columns else blame
            value = raw_text(raw.at[idx, blame]) if blame in raw.columns else ""
            violations.append(Violation(int(row_numbers[idx]), column, value, reason, rule))

    if feed == "indicators":
        violations = _drop_bounds_against_quarantined_totals(typed, row_numbers, violations)
    by_row: dict[int, list[Violation]] = {}
    for v in violations:
        by_row.setdefault(v.row_number, []).append(v)
    position_of_row = {n: i for i, n in enumerate(table.row_numbers)}
    quarantine = []
    for n in sorted(by_row):
        vs = by_row[n]
        quarantine.append(
            QuarantineRecord(
                row_number=n,
                column_name="、".join(dict.fromkeys(v.column for v in vs)),
                value=" / ".join(v.value for v in vs),
                reason="；".join(dict.fromkeys(v.reason for v in vs)),
                rules=",".join(dict.fromkeys(v.rule for v in vs)),
                record=_record_json(table, table.rows[position_of_row[n]]),
            )
        )

    bad_rows = set(by_row)
    keep = ~row_numbers.isin(bad_rows)
    loaded = typed.loc[keep.values].copy()
    loaded["source_row"] = row_numbers[keep.values].values
    loaded["month"] = file_month

    check = FeedCheck(
        feed=feed,
        month=file_month,
        path=str(path),
        sha256=sha,
        file_format=table.file_format,
        encoding=table.encoding,
        rows_read=len(table.rows),
        frame=loaded,
        quarantine=quarantine,
        suite=suite,
        warnings=warnings,
    )
    share = len(quarantine) / check.rows_read
    if share > max_bad_row_share:
        first = [f"line {q.row_number} {q.column_name}: {q.reason}" for q in quarantine[:5]]
        raise TooManyBadRows(
            check,
            f"{len(quarantine):,} of {check.rows_read:,} data rows ({share:.1%}) break row rules, more than the "
            f"{max_bad_row_share:.1%} allowed, so the export is treated as broken (first: {first[0]})",
            first,
        )

    if feed == "screenings":
        check.findings = screenings_findings(loaded, layout)
    elif feed == "indicators":
        check.findings = indicators_findings(loaded)
    else:
        check.findings = _coverage_findings(feed, loaded)
    helper_cols = [c for c in loaded.columns if c.startswith("_")]
    check.frame = loaded.drop(columns=helper_cols).reset_index(drop=True)
    return check
