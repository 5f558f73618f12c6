"""GX on a SQL datasource against GX on the parsed frame (issue 13, "GX without waste", last point).

    .venv/bin/python benchmarks/gx_sql.py [--scales 0.2 1.0] [--reps 3]
    .ci/with-postgres .venv/bin/python benchmarks/gx_sql.py --postgres env   # adds PostgreSQL

For each feed of the sample month (``benchmarks/run.py``'s files, made or reused under
``.kenpo/bench-data/``) and a *dirty* copy of it (≈ 1 % of its data lines broken, each against a row
rule of the suite; see :data:`BREAKERS`), the frame GX sees today is captured from the pipeline's
own ``check_feed_file`` (the real parse, helper columns and suite parameters), then validated three
ways with the same suite (``expectations/<feed>.json``):

- **pandas**: today's ``domain.intake.suites.validate_frame`` (GX's pandas datasource, the context
  and suite already built, as for every month after a process's first);
- **sqlite**: the frame staged into a table of a SQLite file (``warehouse.store.insert_frame``, the
  pipeline's bulk insert: ``DELETE`` + ``executemany``, one transaction), then validated through a
  GX SQLite datasource (table asset, whole-table batch, ``unexpected_index_column_names`` =
  ``frame_index``, the staged frame index);
- **postgresql** (with ``--postgres``): the same on PostgreSQL (``COPY``), a fresh database.

Each is timed ``--reps`` times (wall = ``perf_counter``, CPU = this process's ``process_time``,
plus on PostgreSQL the server's: its processes' CPU time, read before and after), and the rows and rules each flags are compared with
pandas': the report says, per feed and month, whether the (row, rule) pairs are identical and lists
every difference; it exits 1 unless they are identical everywhere. What SQL needs for that (see
benchmarks/README.md, "GX on a SQL datasource"): the suites' pandas row conditions translated to GX's
structured conditions (:func:`sql_condition`), compound uniqueness as uniqueness of a staged key
(:func:`unique_key`), ``partial_unexpected_count`` as large as the month (:class:`SqlValidator`) and,
on SQLite, dates as ISO text (:func:`sql_parameters`). The load average is printed before and after
each scale. Results go to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import run as harness  # noqa: E402  (benchmarks/run.py: the sample files)

from kenpo_pipeline.domain.intake import feeds as feeds_module  # noqa: E402
from kenpo_pipeline.domain.intake import suites  # noqa: E402
from kenpo_pipeline.warehouse.store import insert_frame  # noqa: E402

FEEDS = ["benefits", "claims_review", "screenings", "indicators"]
INDEX = "frame_index"
"""The staged column that carries the frame's index label: GX on SQL names failing rows by columns."""


# --- the frame GX sees, captured from the pipeline's own check ----------------------------------


def captured_frame(path: Path, feed: str) -> tuple[pd.DataFrame, dict, int]:
    """The frame and parameters ``check_feed_file`` hands to GX for ``path`` (every line checked;
    the bad-line limit lifted so that a dirty copy is validated, not rejected), and its quarantine size."""
    seen: dict = {}
    real = feeds_module.validate_frame

    def recording(feed_, frame, parameters, *args, **kwargs):
        seen.update(frame=frame.copy(), parameters=dict(parameters))
        return real(feed_, frame, parameters, *args, **kwargs)

    feeds_module.validate_frame = recording
    try:
        check = feeds_module.check_feed_file(path, feed=feed, max_bad_row_share=1.0)
    finally:
        feeds_module.validate_frame = real
    return seen["frame"], seen["parameters"], check.rows_quarantined


# --- the dirty copy: ≈ 1 % of data lines broken against the suites' row rules ---------------------


def _swap(a: str, b: str):
    def f(cells, other, names):
        i, j = names[a], names[b]
        if cells[i] != cells[j]:
            cells[i], cells[j] = cells[j], cells[i]
    return f


def _set(column: str, value: str):
    def f(cells, other, names):
        cells[names[column]] = value
    return f


def _copy_from_other(*columns: str):
    def f(cells, other, names):
        for c in columns:
            cells[names[c]] = other[names[c]]
    return f


def _plus_days(column: str, base: str, days: int):
    def f(cells, other, names):
        cells[names[column]] = (pd.Timestamp(cells[names[base]]) + pd.Timedelta(days=days)).strftime("%Y-%m-%d")
    return f


def _points(claimed: str, reduced: str):  # 査定点数 above 請求点数
    def f(cells, other, names):
        cells[names[reduced]] = str(int(cells[names[claimed]]) + 10)
    return f


BREAKERS: dict[str, list] = {
    "benefits": [
        _set("申請番号", ""),  # required
        _set("給付種別", "不明"),  # value set
        _copy_from_other("申請番号"),  # duplicate key: both rows
        _swap("受付日", "決定日"),  # received after decided
        _set("決定日", "2024-05-02"),  # outside the file's month
        _set("受付日", "2020-01-06"),  # received more than two years before the decision
        _set("支払日", ""),  # 支給 without a payment date (row condition)
        _set("決定区分", "不支給"),  # 不支給 with a payment date (row condition)
        _plus_days("支払日", "決定日", 60),  # paid more than 31 days after the decision
        _set("受付方法", "FAX"),  # value set
        _set("支部コード", ""),  # required
    ],
    "claims_review": [
        _set("レセプト番号", ""),
        _copy_from_other("レセプト番号"),
        _set("診療年月", "202406"),  # after the file's month
        _set("診療年月", "201801"),  # more than five years before it
        _set("点検区分", "不明"),
        _points("請求点数", "査定点数"),
        _set("結果", "返戻"),  # breaks 査定 ⇔ 査定点数 > 0 when the row had reduced points
        _set("結果", "不明"),
        _set("査定点数", "0"),  # breaks it when the row was 査定
        _set("結果", ""),
    ],
    "screenings": [
        _set("区分", ""),
        _set("事業", "不明"),
        _set("区分", "被扶養者"),  # 被扶養者×生活習慣病予防健診 and similar: no such pair
        _copy_from_other("支部コード", "区分", "事業"),  # duplicate (branch, population, program)
        _swap("対象者数", "実施者数"),  # completed above eligible
    ],
    "indicators": [
        _set("指標コード", "unknown_code"),
        _copy_from_other("支部コード", "指標コード"),  # duplicate (branch, indicator)
        _set("支部コード", "00"),  # a branch-only indicator on the national row, or a duplicate
        _set("値", "0"),  # insured_total must be > 0; subordinates fine
        _set("値", "99999999999999"),  # above its total and above most indicators' maximum
        _set("支部コード", ""),  # required
    ],
}


def dirty_copy(source: Path, into: Path, feed: str, share: float = 0.01, seed: int = 13) -> int:
    """Write ``into/<feed>/<name>``: ``source`` with ``share`` of its data lines (chosen at random,
    fixed seed) changed by the feed's breakers in turn; returns the number of lines changed. A change
    that leaves its row valid (``不支給`` on a row already refused) leaves it valid: the rows GX flags
    are counted, never assumed; a duplicated key flags both rows."""
    rng = np.random.default_rng(seed)
    text = source.read_text(encoding="utf-8")
    lines = text.splitlines()
    header = next(csv.reader([lines[0]]))
    names = {h: i for i, h in enumerate(header)}
    n = len(lines) - 1
    chosen = sorted(rng.choice(np.arange(1, n + 1), size=max(1, round(n * share)), replace=False).tolist())
    breakers = BREAKERS[feed]
    for k, line_no in enumerate(chosen):
        cells = next(csv.reader([lines[line_no]]))
        other_no = line_no - 1 if line_no > 1 else line_no + 1
        other = next(csv.reader([lines[other_no]]))
        breakers[k % len(breakers)](cells, other, names)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(cells)
        lines[line_no] = buf.getvalue()
    target = into / feed / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(chosen)


# --- the suite on SQL ------------------------------------------------------------------------------

_COMPARE = re.compile(r'^\s*(\w+)\s*(==|!=)\s*"([^"]*)"\s*$')
_SELF_EQUAL = re.compile(r"^\s*(\w+)\s*==\s*(\w+)\s*$")


class NotExpressible(ValueError):
    """A pandas row condition this translation does not know."""


def sql_condition(text: str):
    """A suite's pandas row condition as GX's structured condition (GX refuses pandas query text on
    SQL). The forms the suites use: ``col == "v"``, ``col != "v"``, ``col == col`` (pandas' test for
    "not missing": NaN never equals itself) and their conjunction with ``and``.

    pandas' ``col != "v"`` holds for a missing ``col`` (NaN differs from everything), SQL's
    ``col <> 'v'`` does not (NULL): alone it becomes ``col != "v" OR col IS NULL``; beside
    ``col == col`` it stays ``col != "v"``. GX allows no OR inside an AND: such a mix (it would
    need rewriting as an OR of ANDs) is refused, as no suite has one."""
    from great_expectations.expectations.row_conditions import Column

    comparisons, not_null = [], []
    for part in re.split(r"\s+and\s+", text.strip()):
        m = _COMPARE.match(part)
        s = _SELF_EQUAL.match(part)
        if m:
            comparisons.append(m.groups())
        elif s and s[1] == s[2]:
            not_null.append(s[1])
        else:
            raise NotExpressible(f"row condition {text!r}: part {part!r} has no SQL translation here")
    parts = []
    for col, op, value in comparisons:
        if op == "==":
            parts.append(Column(col) == value)
        elif col in not_null:
            parts.append(Column(col) != value)
        else:
            parts.append((Column(col) != value) | Column(col).is_null())
    parts += [Column(c).is_not_null() for c in not_null]
    if len(parts) > 1 and any(type(p).__name__ == "OrCondition" for p in parts):
        raise NotExpressible(f"row condition {text!r}: pandas semantics need an OR inside an AND, which GX refuses")
    condition = parts[0]
    for p in parts[1:]:
        condition = condition & p
    return condition


UNIQUE_KEY = "_unique_key"
"""The staged key column that stands in for a compound uniqueness rule on SQL."""


def unique_key(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """The columns joined as one text key, as pandas' ``duplicated`` compares them: a missing part is
    a value of its own (``∅``); a row with every part missing has no key (GX's default
    ``ignore_row_if: all_values_are_missing``)."""
    parts = [frame[c].astype(object).where(frame[c].notna(), "∅").astype(str) for c in columns]
    key = parts[0]
    for p in parts[1:]:
        key = key + "\x1f" + p
    return key.where(frame[columns].notna().any(axis=1), None)


def sql_suite_json(feed: str) -> tuple[dict, list[str], list[str] | None]:
    """The feed's suite JSON for SQL: every row condition translated, a compound uniqueness rule
    replaced by uniqueness of :data:`UNIQUE_KEY` (GX 1.24 returns no failing rows for
    ``expect_compound_columns_to_be_unique`` on SQL); what was changed; the key's columns."""
    raw = copy.deepcopy(suites.load_suite_json(feed))
    notes, key_columns = [], None
    for e in raw["expectations"]:
        kw = e["kwargs"]
        if e["type"] == "expect_compound_columns_to_be_unique":
            key_columns = list(kw.pop("column_list"))
            e["type"] = "expect_column_values_to_be_unique"
            kw["column"] = UNIQUE_KEY
            notes.append(f"{e['meta']['rule']}: expect_compound_columns_to_be_unique{key_columns} → expect_column_values_to_be_unique({UNIQUE_KEY})")
        rc = kw.get("row_condition")
        if rc is None:
            continue
        text = rc["pass_through_filter"] if isinstance(rc, dict) else rc
        condition = sql_condition(text)
        kw["row_condition"] = condition.dict()
        kw.pop("condition_parser", None)
        notes.append(f"{e['meta']['rule']}: {text!r} → {condition!r}")
    return raw, notes, key_columns


def build_sql_suite(feed: str):
    import great_expectations as gx

    raw, notes, key_columns = sql_suite_json(feed)
    declared = len(raw["expectations"])
    suite = gx.ExpectationSuite(**raw)
    if len(suite.expectations) != declared:
        raise RuntimeError(f"{feed}: GX built {len(suite.expectations)} of {declared} expectations")
    return suite, notes, key_columns


def staging_table(name: str, frame: pd.DataFrame) -> sa.Table:
    """A table for ``frame``: dates as ``Date`` (what the warehouse stores; ISO text on SQLite),
    floats as ``Float``, the rest as ``Text``, plus ``frame_index``."""
    cols = []
    for c, dtype in frame.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            t = sa.Date
        elif pd.api.types.is_float_dtype(dtype):
            t = sa.Float
        elif pd.api.types.is_integer_dtype(dtype) or c == INDEX:
            t = sa.BigInteger
        else:
            t = sa.Text
        cols.append(sa.Column(c, t))
    return sa.Table(name, sa.MetaData(), *cols)


def sql_parameters(parameters: dict, dialect: str) -> dict:
    """The suite parameters for SQL. sqlite3 cannot bind a pandas Timestamp ("type 'Timestamp' is
    not supported": the expectation fails with ``exception_info``), and a ``Date`` is ISO text there
    (``2024-04-01``): dates go as ``YYYY-MM-DD`` text, which GX binds as dates and which compares
    exactly with the stored text. PostgreSQL binds Timestamps and compares them with dates."""
    if dialect != "sqlite":
        return dict(parameters)
    return {k: (v.strftime("%Y-%m-%d") if isinstance(v, pd.Timestamp) else v) for k, v in parameters.items()}


class SqlValidator:
    """One feed's staging table and GX SQL datasource on one database."""

    # On SQL GX 1.24 cuts ``unexpected_index_list`` at ``partial_unexpected_count`` even for COMPLETE
    # (default 20; suites.RESULT_FORMAT's 0 empties it) while ``unexpected_count`` stays: the rows to
    # quarantine would silently be lost. So the count is raised to the number of staged rows
    # (:meth:`validate`). With ``exclude_unexpected_values`` the list is one dict holding every
    # label: ``[{"frame_index": [203, 209]}]`` (without it, one dict per row with its values).
    RESULT_FORMAT = {**suites.RESULT_FORMAT, "unexpected_index_column_names": [INDEX]}

    def __init__(self, context, url: str, feed: str, frame: pd.DataFrame, label: str):
        self.engine = sa.create_engine(url)
        self.dialect = self.engine.dialect.name
        self.suite, self.notes, self.key_columns = build_sql_suite(feed)
        self.table = staging_table(f"gx_stage_{feed}", self.staged(frame))
        with self.engine.begin() as conn:
            self.table.drop(conn, checkfirst=True)
            self.table.create(conn)
        name = f"{label}_{feed}_{uuid.uuid4().hex[:6]}"
        if self.dialect == "sqlite":
            source = context.data_sources.add_sqlite(name, connection_string=url)
        else:
            source = context.data_sources.add_postgres(name, connection_string=url)
        asset = source.add_table_asset(f"{feed}_staged", table_name=self.table.name)
        self.batch_definition = asset.add_batch_definition_whole_table(f"{feed}_month")

    def staged(self, frame: pd.DataFrame) -> pd.DataFrame:
        staged = frame.copy()
        staged.insert(0, INDEX, frame.index.astype("int64"))
        if self.key_columns:
            staged[UNIQUE_KEY] = unique_key(frame, self.key_columns)
        return staged

    def stage(self, frame: pd.DataFrame) -> None:
        self.rows = len(frame)
        staged = self.staged(frame)
        with self.engine.begin() as conn:
            conn.execute(self.table.delete())
            insert_frame(conn, self.table, staged)

    def validate(self, parameters: dict) -> suites.SuiteOutcome:
        batch = self.batch_definition.get_batch()
        result = batch.validate(self.suite, result_format={**self.RESULT_FORMAT, "partial_unexpected_count": max(self.rows, 1)}, expectation_parameters=sql_parameters(parameters, self.dialect))
        return outcome_of(result, self.suite)

    def close(self) -> None:
        self.engine.dispose()


def outcome_of(result, suite) -> suites.SuiteOutcome:
    """GX's validation result as the pipeline reads it (``suites.validate_frame``'s loop)."""
    outcomes, unexpected = [], {}
    for r in result.results:
        cfg, res = r.expectation_config, (r.result or {})
        meta = cfg.meta or {}
        index_list = res.get("unexpected_index_list") or []
        outcomes.append(
            suites.ExpectationOutcome(
                rule=meta.get("rule", cfg.type), expectation_type=cfg.type, columns=suites._columns_of(cfg.kwargs),
                success=bool(r.success), element_count=int(res.get("element_count") or 0),
                unexpected_count=int(res.get("unexpected_count") or len(index_list)),
                reason_ja=meta.get("reason_ja", cfg.type), error=suites._exception_text(r.exception_info),
            )
        )
        labels = []
        for entry in index_list:  # [{"frame_index": [l1, l2, …]}] or [{"frame_index": l1, col: v1}, …]
            value = entry[INDEX] if isinstance(entry, dict) else entry
            labels.extend(value if isinstance(value, list) else [value])
        for label in labels:
            unexpected.setdefault(int(label), []).append((meta.get("rule", cfg.type), meta.get("blame", ""), meta.get("reason_ja", "")))
    return suites.SuiteOutcome(feed="", suite_name=suite.name, expectations=outcomes, unexpected=unexpected)


def flagged(outcome: suites.SuiteOutcome) -> set[tuple[int, str]]:
    return {(int(label), rule) for label, hits in outcome.unexpected.items() for rule, _, _ in hits}


def compare(reference: suites.SuiteOutcome, other: suites.SuiteOutcome) -> dict:
    a, b = flagged(reference), flagged(other)
    counts_a = {e.rule: e.unexpected_count for e in reference.expectations}
    counts_b = {e.rule: e.unexpected_count for e in other.expectations}
    errors = [f"{e.rule}: {e.error}" for e in other.expectations if e.error]
    return {
        "identical": a == b and not errors and all(counts_a.get(r) == counts_b.get(r) for r in set(counts_a) | set(counts_b)),
        "pairs": len(a),
        "rows": len({r for r, _ in a}),
        "only_pandas": sorted(a - b)[:20],
        "only_sql": sorted(b - a)[:20],
        "n_only_pandas": len(a - b),
        "n_only_sql": len(b - a),
        "count_differences": {r: [counts_a.get(r), counts_b.get(r)] for r in sorted(set(counts_a) | set(counts_b)) if counts_a.get(r) != counts_b.get(r)},
        "errors": errors,
    }


# --- timing ----------------------------------------------------------------------------------------


def server_processes(url: str) -> list[psutil.Process]:
    """The PostgreSQL server of ``url`` (the process listening on its port) and its children."""
    port = sa.engine.make_url(url).port or 5432
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            postmaster = psutil.Process(conn.pid)
            return [postmaster, *postmaster.children(recursive=True)]
    return []


def server_cpu(url: str | None) -> float:
    """CPU seconds (user + system) of the server's live processes; 0 without a server. A backend
    that exits between two readings takes its seconds with it: GX and the staging keep theirs open."""
    if url is None:
        return 0.0
    total = 0.0
    for p in server_processes(url):
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


@contextmanager
def clock(into: dict, key: str, server: str | None = None):
    """Wall and CPU of the block; with ``server`` (a PostgreSQL URL) also the server's CPU, in
    ``<key>_server_cpu``, and ``<key>_cpu`` is this process's plus the server's."""
    w, c, sc = time.perf_counter(), time.process_time(), server_cpu(server)
    yield
    into[f"{key}_wall"] = into.get(f"{key}_wall", 0.0) + time.perf_counter() - w
    spent = server_cpu(server) - sc
    into[f"{key}_cpu"] = into.get(f"{key}_cpu", 0.0) + time.process_time() - c + spent
    if server:
        into[f"{key}_server_cpu"] = into.get(f"{key}_server_cpu", 0.0) + spent


def load() -> str:
    one, five, fifteen = os.getloadavg()
    pressure = ""
    try:
        pressure = Path("/proc/pressure/cpu").read_text().split("\n")[0]
    except OSError:
        pass
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f}" + (f"; cpu pressure {pressure}" if pressure else "")


def median_of(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def pg_database(admin_url: str) -> str:
    name = f"kenpo_gxsql_{uuid.uuid4().hex[:8]}"
    eng = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def pg_drop(admin_url: str, url: str) -> None:
    eng = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    eng.dispose()


def measure_feed(feed: str, frame: pd.DataFrame, parameters: dict, engines: dict[str, str], reps: int) -> dict:
    context = suites._context()
    out: dict = {"rows": len(frame), "columns": list(frame.columns)}
    suites.validate_frame(feed, frame, parameters)  # the context and pandas suite built before timing
    samples = []
    for _ in range(reps):
        s: dict = {}
        with clock(s, "validate"):
            reference = suites.validate_frame(feed, frame, parameters)
        samples.append(s)
    out["pandas"] = {"validate_wall": median_of(samples, "validate_wall"), "validate_cpu": median_of(samples, "validate_cpu"),
                     "samples": samples, "flagged_rows": len(reference.unexpected), "flagged_pairs": len(flagged(reference))}
    for label, url in engines.items():
        server = url if url.startswith("postgresql") else None
        setup: dict = {}
        with clock(setup, "setup"):
            validator = SqlValidator(context, url, feed, frame, label)
        samples = []
        try:
            for _ in range(reps):
                s = {}
                with clock(s, "stage", server):
                    validator.stage(frame)
                with clock(s, "validate", server):
                    outcome = validator.validate(parameters)
                s["total_wall"], s["total_cpu"] = s["stage_wall"] + s["validate_wall"], s["stage_cpu"] + s["validate_cpu"]
                samples.append(s)
        finally:
            validator.close()
        out[label] = {
            "setup_wall": setup["setup_wall"], "setup_cpu": setup["setup_cpu"],
            **{k: median_of(samples, k) for k in ("stage_wall", "stage_cpu", "validate_wall", "validate_cpu", "total_wall", "total_cpu")},
            **({"server_cpu": median_of(samples, "stage_server_cpu") + median_of(samples, "validate_server_cpu")} if server else {}),
            "samples": samples, "conditions": validator.notes, "agreement": compare(reference, outcome),
        }
    return out


# --- report ------------------------------------------------------------------------------------------


def report(results: dict) -> str:
    lines = []
    engines = results["engines"]
    for scale, by_feed in results["scales"].items():
        lines.append(f"\nscale {scale}: {by_feed['_load_before']} (before) · {by_feed['_load_after']} (after)")
        head = "| feed | month | rows | flagged rows | pandas: validate wall / CPU s |"
        rule = "|---|---|---:|---:|---:|"
        for e in engines:
            head += f" {e}: stage + validate = total wall s | {e}: total CPU s | {e}: same rows and rules |"
            rule += "---:|---:|---|"
        lines += [head, rule]
        for key, r in by_feed.items():
            if key.startswith("_"):
                continue
            feed, month = key.split("/")
            row = f"| {feed} | {month} | {r['rows']:,} | {r['pandas']['flagged_rows']:,} | {r['pandas']['validate_wall']:.2f} / {r['pandas']['validate_cpu']:.2f} |"
            for e in engines:
                x = r[e]
                a = x["agreement"]
                same = "yes" if a["identical"] else f"no (+{a['n_only_sql']} / −{a['n_only_pandas']})"
                row += f" {x['stage_wall']:.2f} + {x['validate_wall']:.2f} = {x['total_wall']:.2f} | {x['total_cpu']:.2f} | {same} |"
            lines.append(row)
    lines.append("")
    for scale, by_feed in results["scales"].items():
        for key, r in by_feed.items():
            if key.startswith("_"):
                continue
            for e in engines:
                a = r[e]["agreement"]
                if not a["identical"]:
                    lines.append(f"scale {scale} {key} {e}: differs — only pandas {a['only_pandas']}, only SQL {a['only_sql']}, "
                                 f"counts {a['count_differences']}, errors {a['errors']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", type=float, nargs="+", default=[0.2, 1.0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--month", default="2024-04")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--feeds", nargs="+", default=FEEDS)
    p.add_argument("--postgres", help="admin URL of a PostgreSQL server ('env': $KENPO_TEST_PG_URL, set by .ci/with-postgres)")
    p.add_argument("--cache", default=str(ROOT / ".kenpo" / "bench-data"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gx_sql-latest.json"))
    args = p.parse_args(argv)
    if args.postgres == "env":
        args.postgres = os.environ.get("KENPO_TEST_PG_URL")
        if not args.postgres:
            p.error("--postgres env: KENPO_TEST_PG_URL is not set (run under .ci/with-postgres)")

    work = Path(tempfile.mkdtemp(prefix="kenpo-gxsql-"))
    engines = {"sqlite": f"sqlite:///{work / 'stage.db'}"}
    pg_url = pg_database(args.postgres) if args.postgres else None
    if pg_url:
        engines["postgresql"] = pg_url
    results: dict = {"machine": harness.machine(), "month": args.month, "reps": args.reps, "engines": list(engines), "scales": {}}
    try:
        for scale in args.scales:
            source = harness.prepare(Path(args.cache), scale, args.seed, [args.month])
            name = args.month.replace("-", "") + ".csv"
            by_feed: dict = {"_load_before": load()}
            print(f"scale {scale:g}: {by_feed['_load_before']}", flush=True)
            for feed in args.feeds:
                clean = source / feed / name
                broken = dirty_copy(clean, work / f"dirty-{scale:g}", feed)
                for month_kind, path in (("clean", clean), ("dirty", work / f"dirty-{scale:g}" / feed / name)):
                    frame, parameters, quarantined = captured_frame(path, feed)
                    r = measure_feed(feed, frame, parameters, engines, args.reps)
                    r["quarantined_lines"] = quarantined
                    if month_kind == "dirty":
                        r["lines_broken"] = broken
                    by_feed[f"{feed}/{month_kind}"] = r
                    agreement = ", ".join(f"{e} same={r[e]['agreement']['identical']} total {r[e]['total_wall']:.2f}s" for e in engines)
                    print(f"  {feed} {month_kind}: {r['rows']:,} rows, {r['pandas']['flagged_rows']} flagged; pandas {r['pandas']['validate_wall']:.2f}s; {agreement}", flush=True)
            by_feed["_load_after"] = load()
            results["scales"][f"{scale:g}"] = by_feed
        results["sql_suite_changes"] = {feed: sql_suite_json(feed)[1] for feed in args.feeds}
        print(report(results))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str))
        print(f"\nraw figures: {args.out}")
    finally:
        if pg_url:
            pg_drop(args.postgres, pg_url)
        shutil.rmtree(work, ignore_errors=True)
    same = all(r[e]["agreement"]["identical"] for by_feed in results["scales"].values() for k, r in by_feed.items() if not k.startswith("_") for e in engines)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
