"""What the commands other than ``kenpo run`` do: typed inputs, typed results, nothing printed.

An expected failure raises ``AppError`` (exit 1) or ``UsageError`` (exit 2) with one Japanese
sentence. ``sentence_for`` gives the one sentence for an exception a retry cannot fix (disk full,
permission, a corrupt database: ``warehouse.errors``), naming the warehouse or, when Dagster's own
storage failed, the Dagster instance.
"""

from __future__ import annotations

import getpass
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kenpo_pipeline.app import AppError, UsageError, runner
from kenpo_pipeline.domain import calendar
from kenpo_pipeline.domain.reference import NATIONAL_CODE, branch_codes, branch_name
from kenpo_pipeline.settings import REPO_ROOT, ConfigurationError, Settings, is_configured, load_settings


def warehouse_name(settings: Settings) -> str:
    """The warehouse as a person recognises it (never with its password)."""
    from kenpo_pipeline.warehouse.errors import describe_database

    return describe_database(settings.warehouse_url)


def sentence_for(exc: BaseException) -> str | None:
    """The one sentence for a failure a retry cannot fix; None for anything else (a bug)."""
    from kenpo_pipeline.warehouse.errors import classify
    from kenpo_pipeline.warehouse.migrate import SchemaOutOfDate

    if isinstance(exc, SchemaOutOfDate):
        return f"倉庫のスキーマが最新ではないため実行できません。{exc}"  # the exception's sentence names the revisions and what to run
    try:
        settings = load_settings()
    except ConfigurationError:
        return None
    frames = traceback.extract_tb(exc.__traceback__)
    if any("dagster/_core/storage" in f.filename.replace(os.sep, "/") for f in frames[-8:]):
        return classify(exc, target=f"Dagster インスタンス {settings.dagster_home}").sentence
    return classify(exc, settings.warehouse_url).sentence


def scope(branch: str | None) -> str | None:
    """``--branch``: ``00`` (national) or a branch code ``01``–``47`` (``1`` and ``１`` too)."""
    import unicodedata

    if branch is None:
        return None
    code = unicodedata.normalize("NFKC", branch).strip().zfill(2)
    if code not in [NATIONAL_CODE, *branch_codes()]:
        raise UsageError(f"--branch には支部コード 00〜47（00 は協会全体）を指定してください（指定値: {branch!r}）。")
    return code


def _warehouse(settings: Settings):
    from kenpo_pipeline.warehouse.store import Warehouse

    wh = Warehouse(settings.warehouse_url)
    wh.ensure_schema()
    return wh


def _require_data(wh, fy: int) -> None:
    if wh.read_table("kpi_actuals", fiscal_year=fy).empty:
        raise AppError(f"{calendar.fiscal_year_label(fy)} のデータがまだありません（その年度の月が読み込まれておらず、KPI実績も評価もありません）。"
                       f"先に kenpo run でその年度の月を読み込んでください。")


# --- the evaluation of one scope -------------------------------------------------------------------


def evaluation(settings: Settings, fy: int, branch: str = NATIONAL_CODE) -> pd.DataFrame:
    """The ``pdca_evaluation`` rows of one scope (render with ``presentation.evaluation_text``)."""
    wh = _warehouse(settings)
    table = wh.read_table("pdca_evaluation", fiscal_year=fy, branch_code=branch)
    if table.empty:
        _require_data(wh, fy)
        raise AppError(f"{calendar.fiscal_year_label(fy)} の{branch_name(branch)}の評価はありません（適用される事業計画がカタログにない、4 フィードがそろって読み込まれた月がまだない、"
                       f"または評価をまだ計算していない、のいずれかです）。")
    return table


# --- workbooks -------------------------------------------------------------------------------------------


@dataclass
class WorkbookReport:
    fiscal_year: int
    folder: Path
    names: list[str]
    run: runner.RunRecord
    stopped: str = ""
    stop_exit_code: int = 0


def write_workbooks(settings: Settings, fy: int, branch: str | None, out: Path | None, progress: runner.Progress = lambda e: None) -> WorkbookReport:
    """The PDCA workbook(s) of ``fy`` through Dagster (``pdca_workbooks``): all 48 scopes, or one.
    Refused with one sentence when the catalogs have a problem or the year has no data."""
    from kenpo_pipeline.app.execution import StopSignals
    from kenpo_pipeline.app.runplan import YearStep
    from kenpo_pipeline.defs.resources import catalog_failure
    from kenpo_pipeline.domain.kpis.catalog import load_catalogs
    from kenpo_pipeline.domain.reporting.workbook import workbook_name

    _, problems = load_catalogs(settings.catalogs)
    if problems:
        raise AppError(catalog_failure(str(settings.catalogs), problems).description.splitlines()[0])
    _require_data(_warehouse(settings), fy)
    folder = Path(out).resolve() if out else settings.reports
    scopes = [branch] if branch else []
    instance, cleaned = runner.open_instance(settings)
    for c in cleaned:
        progress(runner.Notice(c.sentence()))
    with StopSignals() as stop:
        step = YearStep(fy, ("pdca_workbooks",), True)
        run = runner.launch(instance, runner.definitions(), "year", step, step.assets, stop=stop, progress=progress,
                            ops={"pdca_workbooks": {"branches": scopes, "out_dir": str(folder)}})
        names = [workbook_name(fy, c) for c in (scopes or [NATIONAL_CODE, *branch_codes()])] if run.ok else []
        return WorkbookReport(fy, folder, names, run, stop.name, stop.exit_code if stop.requested else 0)


# --- finalize, backtest ------------------------------------------------------------------------------


MISSING_SHOWN = 20


def finalize(settings: Settings, fy: int, by: str | None, note: str | None, allow_missing_commentary: bool = False) -> tuple[dict, dict[str, int]]:
    """Record ``fy``'s year-end evaluation as its next published version (確定): (the record, the
    count of rows per status). Refused while a 未達成 KPI has no 要因分析, unless
    ``allow_missing_commentary``; the publication records the commentary versions it shows."""
    from kenpo_pipeline.domain.reporting.commentary import missing_cause_analysis
    from kenpo_pipeline.warehouse.commentary import latest_commentary

    from kenpo_pipeline.domain.kpis.catalog import load_catalogs
    from kenpo_pipeline.domain.kpis.publication import catalog_checksum

    runner.open_instance(settings)  # a crashed run must not hold the warehouse pool (recovery)
    wh = _warehouse(settings)
    table = wh.read_table("pdca_evaluation", fiscal_year=fy)
    label = calendar.fiscal_year_label(fy)
    if table.empty:
        raise UsageError(f"{label} には確定できる評価がありません。先に kenpo run でその年度を計算してください。")
    as_of = str(table["as_of_month"].iloc[0])
    if as_of != calendar.fiscal_months(fy)[-1]:
        raise UsageError(f"{label} の評価は年度途中の {calendar.month_label(as_of)} 時点です。確定できるのは年度末（3月）時点の評価だけです。")
    catalogs, problems = load_catalogs(settings.catalogs)
    if problems or fy not in catalogs:
        raise UsageError(f"{settings.catalogs} の {label} のカタログがないか、問題があります（kenpo catalog check で確認してください）。")
    commentary = latest_commentary(wh, fy)
    missing = missing_cause_analysis(table, commentary)
    if len(missing) and not allow_missing_commentary:
        lines = [f"  {branch_name(r.branch_code)}：{r.kpi_text}" for r in missing.head(MISSING_SHOWN).itertuples()]
        more = f"\n  ほか {len(missing) - MISSING_SHOWN} 件" if len(missing) > MISSING_SHOWN else ""
        raise AppError(
            f"{label} の未達成のKPIのうち {len(missing)} 件に要因分析がありません。ワークブックの要因分析欄に記入して kenpo comments import で取り込むか、"
            f"記入なしで確定するときは --allow-missing-commentary を付けてください。\n" + "\n".join(lines) + more
        )
    record = wh.publish_evaluation(fy, by or getpass.getuser(), note or "", catalog_checksum(catalogs[fy].path),
                                   [int(i) for i in commentary["commentary_id"]])
    return record, {s: int(n) for s, n in table["status"].value_counts().items()}


def backtest(settings: Settings, fy: int) -> pd.DataFrame:
    """How well the in-year projection predicted a completed year (one row per as-of month)."""
    from kenpo_pipeline.domain.kpis.projection import backtest as run_backtest

    wh = _warehouse(settings)
    current = wh.read_table("kpi_actuals", fiscal_year=fy)
    if current.empty:
        raise UsageError(f"{calendar.fiscal_year_label(fy)} の KPI 実績がありません。先に kenpo run でその年度を計算してください。")
    return run_backtest(fy, current, wh.read_table("kpi_actuals", fiscal_year=fy - 1))


# --- validate, catalog check ---------------------------------------------------------------------------


@dataclass
class FileVerdict:
    path: Path
    verdict: str  # ok | quarantine | rejected
    sentence: str = ""  # a rejection: the file, and why
    details: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_loaded: int = 0
    quarantine: list = field(default_factory=list)  # QuarantineRecord: row, column, value, reason
    warnings: list[str] = field(default_factory=list)
    feed: str | None = None
    month: str | None = None
    check: object = None  # the FeedCheck (not rejected): what an error list is written from


def validate_files(paths: list[str], feed: str | None, max_bad_row_share: float | None) -> list[FileVerdict]:
    """Each file checked exactly as a load would check it (same code, same messages), nothing loaded."""
    from kenpo_pipeline.domain.intake.feeds import TooManyBadRows, check_feed_file
    from kenpo_pipeline.domain.intake.reading import FileRejected

    share = max_bad_row_share if max_bad_row_share is not None else load_settings().max_bad_row_share
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise UsageError(f"ファイルがありません: {'、'.join(missing)}。")
    out = []
    for name in paths:
        path = Path(name)
        try:
            check = check_feed_file(path, feed=feed, max_bad_row_share=share)
        except TooManyBadRows as exc:
            out.append(FileVerdict(path, "rejected", str(exc), list(exc.details), feed=feed))
            continue
        except FileRejected as exc:
            out.append(FileVerdict(path, "rejected", str(exc), feed=feed))
            continue
        out.append(FileVerdict(path, "quarantine" if check.quarantine else "ok", rows_read=check.rows_read, rows_loaded=check.rows_loaded,
                               quarantine=list(check.quarantine), warnings=[*check.warnings, *(f.message for f in check.findings)],
                               feed=check.feed, month=check.month, check=check))
    return out


def write_file_error_list(verdict: FileVerdict, out: Path) -> Path:
    """``kenpo validate FILE --out errors.xlsx``: the file's error list, as a branch receives it."""
    from kenpo_pipeline.domain.reporting.error_list import file_error_list, rejected_file_list, write_error_workbook

    if verdict.check is not None:
        listing = file_error_list(verdict.check, verdict.path)
    else:
        reason = verdict.sentence + ("\n" + "\n".join(verdict.details) if verdict.details else "")
        listing = rejected_file_list(verdict.path, verdict.feed, verdict.month, reason)
    return write_error_workbook(listing, out)


# --- error lists (差戻しリスト) ----------------------------------------------------------------------------


@dataclass
class ErrorListReport:
    fiscal_year: int
    branch: str
    path: Path
    rows: int
    rejections: int


def branch_errors(settings: Settings, branch: str, fy: int | None, out: Path | None) -> ErrorListReport:
    """``kenpo errors``: one branch's error list of a fiscal year (the newest year with a load when
    not given), written as ``errors_FY<年度>_<支部>.xlsx``."""
    from kenpo_pipeline.domain.reporting.error_list import branch_error_list, error_workbook_name, write_error_workbook

    wh = _warehouse(settings)
    loads = wh.loads()
    if fy is None:
        if loads.empty:
            raise AppError("まだ何も読み込まれていません（差戻しリストに載せるものがありません）。")
        fy = max(calendar.fiscal_year_of_month(m) for m in loads["month"])
    months = calendar.fiscal_months(fy)
    quarantine = wh.read_table("quarantine")
    quarantine = quarantine[quarantine["month"].isin(months)] if len(quarantine) else quarantine
    listing = branch_error_list(quarantine, loads, branch, fy)
    folder = Path(out).resolve() if out else settings.reports / "errors"
    path = write_error_workbook(listing, folder / error_workbook_name(fy, branch))
    return ErrorListReport(fy, branch, path, len(listing.rows), len(listing.rejections))


@dataclass
class CatalogCheck:
    folder: Path
    catalogs: dict  # fiscal year → Catalog
    action_plans: list
    problems: list[str]


def catalog_check(folder: str | None) -> CatalogCheck:
    from kenpo_pipeline.domain.kpis.catalog import load_action_plans, load_catalogs

    where = Path(folder) if folder else load_settings().catalogs
    catalogs, problems = load_catalogs(where)  # the Action Plans' problems included
    return CatalogCheck(where, catalogs, load_action_plans(where)[0], problems)


# --- the warehouse schema, the demo, the UI ---------------------------------------------------------------


def db_history() -> list[tuple[str, str | None, str]]:
    from kenpo_pipeline.warehouse import migrate

    return migrate.history()


def db_current(settings: Settings) -> tuple[str, str | None, str]:
    """(the warehouse, its revision or None, the newest revision)."""
    from kenpo_pipeline.warehouse import migrate
    from kenpo_pipeline.warehouse.store import Warehouse

    wh = Warehouse(settings.warehouse_url)
    return warehouse_name(settings), migrate.current_revision(wh.engine), migrate.head_revision()


def db_upgrade(settings: Settings, revision: str = "head") -> tuple[str, str | None, str]:
    """(the warehouse, revision before, revision after)."""
    from kenpo_pipeline.warehouse.store import Warehouse

    before, after = Warehouse(settings.warehouse_url).upgrade(revision)
    return warehouse_name(settings), before, after


@dataclass
class DemoReport:
    files: int
    run: runner.RunReport
    evaluation: pd.DataFrame | None  # the national evaluation of the last year
    workbooks: list[tuple[int, Path, int]]  # (fiscal year, national workbook, branch workbooks)


def demo(settings: Settings, from_fy: int, to_fy: int, scale: float, seed: int, force: bool, progress: runner.Progress = lambda e: None) -> DemoReport:
    """Sample feeds ``from_fy``…``to_fy`` written into the landing area, every month run through
    Dagster (no settle time: the demo has just written its files, whole), then the national
    evaluation of the last year and where the workbooks are."""
    from kenpo_pipeline.domain.intake.sample import write_sample
    from kenpo_pipeline.domain.reporting.workbook import workbook_name

    if not settings.uses_default_warehouse and not force:
        raise UsageError(f"デモはサンプルデータを書き込むため、{warehouse_name(settings)} では実行しません。"
                         f"KENPO_WAREHOUSE_URL を外して既定の {settings.default_warehouse_url} を使うか、--force を付けてください。")
    paths = write_sample(settings.landing, from_fy, to_fy, scale=scale, seed=seed)
    progress(runner.Notice(f"  サンプルのフィードファイル {len(paths)} 個を {settings.landing} に書き出しました。"))
    months = sorted({f"{p.stem[:4]}-{p.stem[4:]}" for p in paths})
    report = runner.run_plan(runner.plan_months(settings, months), settings, progress, settle_seconds=0.0)
    table = None
    if not (report.stopped or report.broken):
        table = _warehouse(settings).read_table("pdca_evaluation", fiscal_year=to_fy, branch_code=NATIONAL_CODE)
    workbooks = []
    for fy in range(from_fy, to_fy + 1):
        national = settings.reports / workbook_name(fy, NATIONAL_CODE)
        if national.exists():
            workbooks.append((fy, national, len(list(settings.reports.glob(f"pdca_FY{fy}_*.xlsx")))))
    return DemoReport(len(paths), report, table, workbooks)


def ui_command(settings: Settings, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """``dagster dev`` on this instance, after crash recovery (before the daemon starts), and the
    environment it needs besides ours: ``KENPO_FIRST_MONTH``, when not set, is the first month the
    warehouse has ever had a file for, so the partitions start where the data does (a demo from
    2022-04 does not show two years of empty months)."""
    runner.open_instance(settings)
    exe = Path(sys.executable).parent / "dagster"
    env: dict[str, str] = {}
    if not is_configured("KENPO_FIRST_MONTH"):
        first = ui_first_month(settings)
        if first is not None:
            env["KENPO_FIRST_MONTH"] = first
    return [str(exe if exe.exists() else "dagster"), "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-h", host, "-p", str(port)], env


def ui_first_month(settings: Settings) -> str | None:
    """The first month the warehouse has a file for (loaded or rejected), if not before the default."""
    from kenpo_pipeline.domain.intake.status import first_data_month
    from kenpo_pipeline.settings import DEFAULT_FIRST_MONTH

    first = first_data_month(_warehouse(settings).loads())
    return first if first is not None and first > DEFAULT_FIRST_MONTH else None


# --- commentary (自己評価・要因分析) ---------------------------------------------------------------------


@dataclass
class CommentaryImport:
    path: Path
    fiscal_year: int
    branch: str
    stored: int
    unchanged: int
    conflicts: list[str]
    warnings: list[str]


def comments_import(settings: Settings, path: str, by: str | None) -> CommentaryImport:
    """``kenpo comments import FILE.xlsx``: store what was written in a returned workbook, after
    checking it is a workbook this pipeline wrote for a year and scope the warehouse evaluates."""
    import hashlib

    from kenpo_pipeline.domain.reporting.commentary import CommentaryFileError, changes_to_store, read_commentary_workbook
    from kenpo_pipeline.warehouse.commentary import latest_commentary, store_commentary

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"ファイルがありません: {path}。")
    data = file.read_bytes()
    try:
        read = read_commentary_workbook(file, data)
    except CommentaryFileError as exc:
        raise AppError(str(exc)) from None
    ident = read.identity
    wh = _warehouse(settings)
    evaluation = wh.read_table("pdca_evaluation", fiscal_year=ident.fiscal_year, branch_code=ident.branch_code)
    label = f"{calendar.fiscal_year_label(ident.fiscal_year)} {branch_name(ident.branch_code)}"
    if evaluation.empty:
        raise AppError(f"{file.name} は {label} のブックですが、倉庫にその評価がありません（kenpo run で年度を計算してから取り込んでください）。")
    unknown = sorted(set(read.entries["kpi_id"]) - set(evaluation["kpi_id"]))
    if unknown:
        raise AppError(f"{file.name} のKPI（{'、'.join(unknown[:5])}）は {label} の現在の評価にありません（KPIカタログが変わっています。"
                       f"kenpo report で作り直したブックに記入してください）。")
    texts = dict(zip(evaluation["kpi_id"], evaluation["kpi_text"]))
    plan = changes_to_store(read.entries, latest_commentary(wh, ident.fiscal_year, ident.branch_code), texts)
    ids = store_commentary(wh, read, plan, by or getpass.getuser(), hashlib.sha256(data).hexdigest())
    return CommentaryImport(file, ident.fiscal_year, ident.branch_code, len(ids), plan.unchanged, plan.conflicts, read.warnings)
