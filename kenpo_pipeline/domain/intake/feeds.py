"""Parse and validate one landed feed file — the single code path used by a load and by
``kenpo validate`` (same rules, same messages). Contract: shared spec/feeds.md.

``check_feed_file`` reads the file once (or takes its bytes), matches the Japanese header, parses
every cell (encodings, era dates, full-width digits, thousands separators, branch codes), runs the
feed's GX suite once over the month, and returns a :class:`FeedCheck`: the rows to load, one
quarantine record per offending physical line, the per-expectation results, and the cross-row
findings GX cannot express. File-level errors raise
:class:`~kenpo_pipeline.domain.intake.reading.FileRejected` (nothing of the file may be loaded).

Parsing checks the *form* and the *bounds* of each value (a date that is not a date or lies outside
1900–2100, an integer above its column's plausible maximum, a control character); the GX suite in
``expectations/<feed>.json`` holds the *row rules* (required, value sets, ranges, cross-column and
uniqueness rules). A cell that could not be parsed is reported once, with the parse reason, and not
again as "empty" — neither in its row's reason nor in the per-expectation counts.

Accounting: every data line of the file is one row read, and is either loaded or quarantined
(``rows_read = rows_loaded + rows_quarantined``); blank lines are counted in ``rows_blank``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kenpo_pipeline.domain import calendar
from kenpo_pipeline.domain.intake.suites import ExpectationOutcome, SuiteOutcome, columns_read, validate_frame
from kenpo_pipeline.domain.intake.reading import UNCLOSED_QUOTE, FileRejected, RawTable, names_list, read_table
from kenpo_pipeline.domain.intake.landing import feed_of_folder, month_of_name
from kenpo_pipeline.domain.reference import (
    NATIONAL_CODE,
    FeedLayout,
    branch_codes,
    branch_name,
    feed_layout,
    indicators,
)
from kenpo_pipeline.domain.intake.values import PARSERS, normalise_header, raw_text, shown_text
from kenpo_pipeline.settings import DEFAULT_MAX_BAD_ROW_SHARE

OUT_OF_HEADER = "（ヘッダー外の列）"
WHOLE_LINE = "（行全体）"


class TooManyBadRows(FileRejected):
    """The quarantined share of the file exceeds the limit: the export is treated as broken."""

    def __init__(self, check: "FeedCheck", reason: str, details: list[str]):
        self.check = check
        super().__init__(check.path, reason, details, sha256=check.sha256)


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
    rows_read: int  # data lines (sheet rows) read = rows loaded + rows quarantined
    frame: pd.DataFrame  # rows to load, canonical columns + month + source_row
    quarantine: list[QuarantineRecord]
    suite: SuiteOutcome
    warnings: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    released_rows: int | None = None  # rows_loaded once the frame has been released
    rows_blank: int = 0  # blank lines (sheet rows), not counted as read
    sheet: str | None = None  # the worksheet read (Excel)
    # where the check's time went: read (bytes → rows), validate (values, suite, quarantine), gx_setup
    # (GX's import, context and suite, paid by the first check of a process)
    seconds: dict[str, float] = field(default_factory=dict)
    # which reader read the file (reading.COLUMNS or reading.ROWS) and, for a CSV file read row by
    # row, why (English, for the developer log)
    reader: str = ""
    reader_note: str = ""

    @property
    def reader_text(self) -> str:
        """``columns reader`` / ``rows reader (why)`` — for a developer log line."""
        return f"{self.reader} reader" + (f" ({self.reader_note})" if self.reader_note else "")

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
            raise FileRejected(table.path, f"ヘッダー（{table.where_header}）に列「{layout.japanese(canonical)}」が2回以上あります")
        else:
            positions[canonical] = pos
    missing = [c.name for c in layout.columns if c.canonical not in positions]
    if missing:
        raise FileRejected(table.path, f"ヘッダー（{table.where_header}）に必須の列がありません：{'、'.join(missing)}")
    # One warning however many columns: metadata and feed_loads.warnings stay small.
    warnings = [f"不明な列（{len(unknown):,}列）を無視しました：{names_list(unknown)}"] if unknown else []
    return positions, warnings


# --- helper columns the suites refer to -------------------------------------------------------

PAIR_SEPARATOR = "×"
"""Between the two values of a pair column (``_population_program``). No allowed value holds it, so
a pair with it inside one of its values never matches an allowed pair."""


def _add_helpers(feed: str, typed: pd.DataFrame, month: str) -> dict:
    """Derive the ``_``-prefixed columns and the run-time parameters of the feed's suite."""
    start = pd.Timestamp(calendar.month_start(month))
    if feed == "benefits":
        typed["_received_floor"] = typed["decided_on"] - pd.DateOffset(years=2)
        typed["_paid_ceiling"] = typed["decided_on"] + pd.Timedelta(days=31)
        return {"month_start": start, "month_end": pd.Timestamp(calendar.month_end(month))}
    if feed == "claims_review":
        # datetime64[ns]: GX compares a date column of any other unit with its bounds one value at a time
        typed["_service_month_start"] = pd.to_datetime(typed["service_month"].map(lambda m: f"{m}-01" if m else None), errors="coerce").astype("datetime64[ns]")
        floor = pd.Timestamp(calendar.month_start(calendar.add_months(month, -60)))
        return {"file_month_start": start, "service_month_floor": floor}
    if feed == "screenings":
        # the pair rule as one column (an ``in_set`` GX evaluates column-wise; its pair expectation
        # walks the rows one by one): ``被保険者×特定保健指導``, empty when either value is missing
        both = typed["population"].notna() & typed["program"].notna()
        pair = typed["population"].astype("object") + PAIR_SEPARATOR + typed["program"].astype("object")
        typed["_population_program"] = pair.where(both, None)
        return {}
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
        # Each indicator's plausible maximum (indicator_codes.csv `max`; rule indicators.value.max).
        typed["_value_max"] = typed["indicator"].map({i.code: i.max for i in indicators()}).astype("float64")
        typed["_value_max_text"] = typed["indicator"].map({i.code: f"{i.max:,.0f}{i.unit}" for i in indicators()})
    return {}


# --- findings (cross-row rules GX cannot express) ---------------------------------------------


def _coverage_findings(layout: FeedLayout, loaded: pd.DataFrame) -> list[Finding]:
    present = set(loaded["branch_code"].dropna())
    return [
        Finding("consistency", code, f"{branch_name(code)}（{code}）の行がこのファイルにありません。当月の{layout.name_ja}の件数は0になります")
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
            findings.append(Finding("consistency", code, f"{branch_name(code)}（{code}）の行がファイルに1行もありません"))
    by_branch = {code: g for code, g in loaded.groupby("branch_code", sort=True)}
    for code, g in by_branch.items():
        rows = {(p, q): e for p, q, e in zip(g["population"], g["program"], g["eligible"])}
        missing = [f"{p}×{q}" for p, q in layout.programs if (p, q) not in rows]
        if missing:
            findings.append(
                Finding(
                    "consistency",
                    code,
                    f"{branch_name(code)}（{code}）：{'、'.join(missing)}の行がありません。当月の実施者数は0として数え、"
                    "対象者数は同じ年度の前月の値を引き継ぎます",
                )
            )
        life = rows.get(("被保険者", "生活習慣病予防健診"))
        employer = rows.get(("被保険者", "事業者健診データ取得"))
        if life is not None and employer is not None and int(life) != int(employer):
            findings.append(
                Finding(
                    "consistency",
                    code,
                    f"{branch_name(code)}（{code}）：生活習慣病予防健診の対象者数（{int(life):,}）が"
                    f"事業者健診データ取得の対象者数（{int(employer):,}）と異なります。両方の行を読み込みました",
                )
            )
    return findings


def indicators_findings(loaded: pd.DataFrame, month: str | None = None) -> list[Finding]:
    """Subordinate rows loaded without their total, and (branch, indicator) pairs the file lacks
    (missing is never zero: a flow's month is unknown, a stock carries forward inside the year).
    An indicator reported once a year (``report_month``) is expected only in the file of its month."""
    findings: list[Finding] = []
    have = set(zip(loaded["branch_code"], loaded["indicator"]))
    for code_b, ind, total in zip(loaded["branch_code"], loaded["indicator"], loaded["_bounded_by"]):
        if isinstance(total, str) and (code_b, total) not in have:
            findings.append(
                Finding("consistency", code_b, f"{branch_name(code_b)}（{code_b}）：{ind}を読み込みましたが、その総数{total}がファイルにありません")
            )
    missing_by_indicator: dict[str, list[str]] = {}
    for ind in indicators():
        if month is not None and not ind.expected_in(month):
            continue
        scope = [NATIONAL_CODE] if ind.national_only else branch_codes()
        for code in scope:
            if (code, ind.code) not in have:
                missing_by_indicator.setdefault(ind.code, []).append(code)
    for ind_code, codes in missing_by_indicator.items():
        ind = next(i for i in indicators() if i.code == ind_code)
        if ind.report_month is not None:
            effect = f"年に1回（{int(ind.report_month)}月分のファイルで）報告する指標のため、この年度の値は不明になります"
        else:
            effect = "当月の値は不明になります" if ind.kind == "flow" else "同じ年度の直近の値を引き継ぎます"
        shown = "、".join(codes[:10]) + (f" …（{len(codes)}支部）" if len(codes) > 10 else "")
        findings.append(Finding("consistency", codes[0] if len(codes) == 1 else None, f"{ind_code}がありません（支部コード {shown}）。{effect}"))
    return findings


# --- reasons ------------------------------------------------------------------------------------


class _RowContext(dict):
    """The values a row reason may name; a field the row lacks shows as its column's name (a
    reason never shows a ``{placeholder}``)."""

    def __init__(self, values: dict, names: dict[str, str]):
        super().__init__(values)
        self.names = names

    def __missing__(self, key: str) -> str:
        return self.names.get(key, "")


def _row_reason(template: str, context: _RowContext) -> str:
    try:
        return template.format_map(context)
    except (ValueError, IndexError, AttributeError):  # a malformed template: never shown raw
        return _summary_reason(template, context, context.names)


def _summary_reason(template: str, file_context: dict, names: dict[str, str]) -> str:
    """An expectation's reason for the whole file (the per-expectation table): the file's own
    fields filled in (``{_file_month}`` → 令和6年4月), a row's fields left out (``内数（{indicator}）``
    → ``内数``)."""

    def parenthesised(m: re.Match) -> str:
        return f"（{file_context[m[1]]}）" if m[1] in file_context else ""

    text = re.sub(r"（\{(\w+)\}）", parenthesised, template)
    return re.sub(r"\{(\w+)\}", lambda m: str(file_context.get(m[1], names.get(m[1], ""))), text)


def _accounted_suite(
    suite: SuiteOutcome, violations: list["Violation"], layout: FeedLayout, rows_read: int, file_context: dict
) -> SuiteOutcome:
    """The per-expectation results as the rows were judged: each expectation counts only the rows
    it is the reason for (a cell that could not be parsed is counted under its parse rule, not
    under "必須項目…が空です"), with its reason readable for the whole file; then one entry per
    column for form and bounds, and one per line-level rule, so that the table accounts for every
    quarantined row."""
    feed = layout.feed
    names = {c.canonical: c.name for c in layout.columns}
    rows_by_rule: dict[str, set[int]] = {}
    reasons_by_rule: dict[str, dict[str, None]] = {}
    for v in violations:
        rows_by_rule.setdefault(v.rule, set()).add(v.row_number)
        reasons_by_rule.setdefault(v.rule, {})[v.reason] = None
    outcomes = []
    for e in suite.expectations:
        n = len(rows_by_rule.get(e.rule, ()))
        outcomes.append(
            dataclasses.replace(
                e, unexpected_count=n, success=e.error is None and n == 0, reason_ja=_summary_reason(e.reason_ja, file_context, names)
            )
        )
    extra = [(f"{feed}.row.unclosed_quote", "kenpo_line", (), UNCLOSED_QUOTE), (f"{feed}.row.unreadable", "kenpo_line", (), "CSVの行として読めません")]
    extra += [(f"{feed}.row.extra_cells", "kenpo_line", (), "ヘッダーのない列に値があります")]
    extra += [(f"{feed}.{c.canonical}.format", "kenpo_parse", (c.canonical,), f"{c.name}の形式・範囲の誤り") for c in layout.columns]
    for rule, kind, columns, reason in extra:
        n = len(rows_by_rule.get(rule, ()))
        if n == 0 and rule == f"{feed}.row.unreadable":  # practically never: listed only when it happened
            continue
        seen = list(reasons_by_rule.get(rule, {}))
        if kind == "kenpo_parse" and seen:
            reason = f"{reason}（{names_list(seen, shown=3, width=60)}）"
        outcomes.append(ExpectationOutcome(rule, kind, columns, n == 0, rows_read, n, reason))
    return dataclasses.replace(suite, expectations=outcomes)


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


def _raw_frame(table: RawTable, layout: FeedLayout, positions: dict[str, int]) -> pd.DataFrame:
    """The layout's columns as read, one object column each: taken straight from a column-wise
    table, or gathered from the rows (a cell beyond a short row's end is None)."""
    if table.columns is not None:
        return pd.DataFrame({c: table.columns[positions[c]] for c in layout.canonical_columns}, dtype="object")
    return pd.DataFrame(
        {c: [r[positions[c]] if positions[c] < len(r) else None for r in table.rows] for c in layout.canonical_columns},
        dtype="object",
    )


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
    reader: str = "auto",
) -> FeedCheck:
    """Parse and validate one file. Raises FileRejected (or TooManyBadRows) when the file must be
    rejected whole; otherwise returns what a load would write.

    ``data``: the file's bytes, already read by the caller (the file is then not opened again, and
    the SHA-256 is of these bytes: a load reads a landed file once, see
    ``domain.intake.landing.read_settled``); without it the file is read once. ``reader``: see
    :func:`~kenpo_pipeline.domain.intake.reading.read_table` (``rows`` forces the row reader)."""
    path = Path(path)
    feed = feed or feed_from_path(path)
    file_month = month_from_filename(path)
    if month is not None and month != file_month:
        raise FileRejected(path, f"ファイル名の月（{file_month}）と読み込む月（{month}）が違います")
    layout = feed_layout(feed)
    if data is None and not path.is_file():
        raise FileRejected(path, "ファイルがありません")
    started = time.perf_counter()
    table = read_table(path, layout, data, reader=reader)
    read = time.perf_counter()
    seconds: dict[str, float] = {}

    def timed(check: FeedCheck) -> FeedCheck:
        setup = seconds.get("gx_setup", 0.0)
        check.seconds = {"read": read - started, "validate": time.perf_counter() - read - setup, "gx_setup": setup}
        return check

    try:
        return timed(_check_table(table, layout, file_month, max_bad_row_share, seconds))
    except TooManyBadRows as exc:
        timed(exc.check)
        exc.sha256 = exc.sha256 or table.sha256
        raise
    except FileRejected as exc:
        exc.sha256 = exc.sha256 or table.sha256
        raise


def _check_table(table: RawTable, layout: FeedLayout, file_month: str, max_bad_row_share: float, seconds: dict | None = None) -> FeedCheck:
    """``seconds`` receives ``gx_setup``: the time GX took to import and build the context and the
    feed's suite, when this check was the first of the process to need them."""
    feed, path = layout.feed, table.path
    positions, header_warnings = _map_header(table, layout)
    warnings = table.warnings + header_warnings
    if not table.rows_read:
        raise FileRejected(path, f"ヘッダー（{table.where_header}）はありますがデータ行がありません")

    width = len(table.header)
    raw = _raw_frame(table, layout, positions)
    row_numbers = pd.Series(np.asarray(table.row_numbers, dtype="int64"))
    violations: list[Violation] = []
    for b in table.broken:
        rule = f"{feed}.row.unclosed_quote" if b.reason == UNCLOSED_QUOTE else f"{feed}.row.unreadable"
        violations.append(Violation(b.row_number, WHOLE_LINE, shown_text(b.text), b.reason, rule))
    for i, r in enumerate(table.rows if table.columns is None else ()):  # column-wise: no row is wider than the header
        if len(r) > width:
            extra = [raw_text(v) for v in r[width:] if raw_text(v).strip()]
            if extra:
                violations.append(
                    Violation(table.row_numbers[i], OUT_OF_HEADER, shown_text(" ".join(extra)), "ヘッダーのない列に値があります", f"{feed}.row.extra_cells")
                )

    typed = pd.DataFrame(index=raw.index)
    parse_failed: set[tuple[int, str]] = set()
    for col in layout.columns:
        values, errors = PARSERS[col.type](raw[col.canonical], label=col.name, lo=col.min, hi=col.max, control=table.may_hold_control)
        typed[col.canonical] = values
        bad = errors.notna()
        for idx in errors.index[bad]:
            parse_failed.add((idx, col.canonical))
            violations.append(
                Violation(int(row_numbers[idx]), col.name, shown_text(raw_text(raw.at[idx, col.canonical])), errors[idx], f"{feed}.{col.canonical}.format")
            )

    parameters = _add_helpers(feed, typed, file_month)
    if len(typed):
        setup = time.perf_counter()
        read = columns_read(feed)  # GX sees only the columns its suite reads (the first call sets GX up)
        if seconds is not None:
            seconds["gx_setup"] = time.perf_counter() - setup
        gx_frame = typed[[c for c in typed.columns if c in read]].copy()
        for col in layout.columns:
            if col.type == "integer" and col.canonical in gx_frame:
                gx_frame[col.canonical] = gx_frame[col.canonical].astype("float64")  # exact: bounded far below 2^53
        suite = validate_frame(feed, gx_frame, parameters)
        if suite.errors:
            failed = "; ".join(f"{e.rule}: {e.error}" for e in suite.errors)
            raise RuntimeError(f"{path}: the {feed} suite could not be evaluated ({failed}); nothing was loaded")
    else:  # every data line was broken: nothing to run the row rules on
        suite = SuiteOutcome(feed=feed, suite_name=f"kenpo_{feed}", expectations=[])

    file_context = {"_file_month": calendar.month_label_ja(file_month)}
    names = {c.canonical: c.name for c in layout.columns}
    # the flagged rows' values, looked up once for all of them (not a frame row per violation)
    flagged = list(suite.unexpected)
    cells = dict(zip(flagged, typed.loc[flagged].astype(object).to_dict("records"))) if flagged else {}
    for idx, hits in suite.unexpected.items():
        values = {k: ("" if pd.isna(v) else v) for k, v in cells[idx].items()}
        for rule, blame, template in hits:
            if (idx, blame) in parse_failed:
                continue
            context = _RowContext({**file_context, **values}, names)
            reason = _row_reason(template, context)
            column = layout.japanese(blame) if blame in layout.canonical_columns else blame
            value = shown_text(raw_text(raw.at[idx, blame])) if blame in raw.columns else ""
            violations.append(Violation(int(row_numbers[idx]), column, value, reason, rule))

    if feed == "indicators" and len(typed):
        violations = _drop_bounds_against_quarantined_totals(typed, row_numbers, violations)
    suite = _accounted_suite(suite, violations, layout, table.rows_read, file_context)
    by_row: dict[int, list[Violation]] = {}
    for v in violations:
        by_row.setdefault(v.row_number, []).append(v)
    numbers = row_numbers.to_numpy()  # increasing: a quarantined row's position by bisection
    broken_text = {b.row_number: b.text for b in table.broken}
    quarantine = []
    for n in sorted(by_row):
        vs = by_row[n]
        if n in broken_text:
            record = json.dumps({WHOLE_LINE: broken_text[n]}, ensure_ascii=False)
        else:
            record = _record_json(table, table.rows[int(np.searchsorted(numbers, n))])
        quarantine.append(
            QuarantineRecord(
                row_number=n,
                column_name="、".join(dict.fromkeys(v.column for v in vs)),
                value=" / ".join(v.value for v in vs),
                reason="；".join(dict.fromkeys(v.reason for v in vs)),
                rules=",".join(dict.fromkeys(v.rule for v in vs)),
                record=record,
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
        sha256=table.sha256,
        file_format=table.file_format,
        encoding=table.encoding,
        rows_read=table.rows_read,
        frame=loaded,
        quarantine=quarantine,
        suite=suite,
        warnings=warnings,
        rows_blank=table.rows_blank,
        sheet=table.sheet,
        reader=table.reader,
        reader_note=table.reader_note,
    )
    if check.rows_read != check.rows_loaded + check.rows_quarantined:  # every data line is accounted for
        raise RuntimeError(f"{path}: {check.rows_read} data lines but {check.rows_loaded} loaded + {check.rows_quarantined} quarantined")
    share = len(quarantine) / check.rows_read
    if share > max_bad_row_share:
        first = [f"{q.row_number}行目 {q.column_name}：{q.reason}" for q in quarantine[:5]]
        raise TooManyBadRows(
            check,
            f"データ行{check.rows_read:,}行のうち{len(quarantine):,}行（{share:.1%}）が行ルールに違反しており、許容される"
            f"{max_bad_row_share:.1%}を超えるため、出力ファイルが壊れているとみなします（最初の違反：{first[0]}）",
            first,
        )

    if feed == "screenings":
        check.findings = screenings_findings(loaded, layout)
    elif feed == "indicators":
        check.findings = indicators_findings(loaded, file_month)
    else:
        check.findings = _coverage_findings(layout, loaded)
    helper_cols = [c for c in loaded.columns if c.startswith("_")]
    check.frame = loaded.drop(columns=helper_cols).reset_index(drop=True)
    return check
