"""``kenpo`` — the command line: parses arguments, calls the application layer (``kenpo_pipeline.app``)
and renders what it returns (tables with tabulate, a rich progress bar, the evaluation through
``domain.reporting.presentation``). Every message a person reads is Japanese; an expected failure
is one sentence, never a traceback (``--debug`` shows it). The commands, their arguments, help and
exit codes are declared in ``cli_args``.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

from kenpo_pipeline.domain.calendar import fiscal_year_label
from kenpo_pipeline.settings import ConfigurationError, load_settings

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
DEBUG = False


def out(msg: str = "", err: bool = False) -> None:
    print(msg, file=sys.stderr if err else sys.stdout, flush=True)


def table(rows, headers, indent: str = "", numbers: int = 0) -> None:
    """A table (tabulate); the last ``numbers`` columns are numbers, right-aligned."""
    from tabulate import tabulate

    align = ["left"] * (len(headers) - numbers) + ["right"] * numbers
    out("\n".join(indent + line for line in tabulate(rows, headers=headers, disable_numparse=True, colalign=align).splitlines()))


def developer_log() -> Path | None:
    """``$KENPO_HOME/logs/kenpo.log``: the developer's details (tracebacks) of what went wrong, which
    the terminal shows only with ``--debug``."""
    try:
        return load_settings().home / "logs" / "kenpo.log"
    except ConfigurationError:
        return None


def traceback_of(text: str) -> None:
    """A failure's traceback: into the developer log always, on the terminal with ``--debug``."""
    if not text:
        return
    if DEBUG:
        out(text.rstrip(), err=True)
    log = developer_log()
    if log is None:
        return
    import datetime as dt

    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"--- {dt.datetime.now().isoformat(timespec='seconds')} kenpo {' '.join(sys.argv[1:])}\n{text.rstrip()}\n")
    except OSError:  # the log is a convenience: never a reason to fail the command
        pass


# --- kenpo run: progress and the report ------------------------------------------------------------------


class RunView:
    """Renders the runner's progress events: a line per run, a rich progress bar (on a terminal) while
    feed-months are decided, and the summary when a stop ends a wait for a pool slot."""

    def __init__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("フィード月"), TimeElapsedColumn(),
                            disable=not sys.stdout.isatty(), transient=True)
        self.task = None

    def __call__(self, event) -> None:
        from kenpo_pipeline.app import runner as r

        if isinstance(event, r.Notice):
            out(event.sentence)
        elif isinstance(event, r.RunStarted) and event.kind == "feeds":
            out(f"{event.step.label}: 4 フィード × {len(event.step.months)} か月を読み込みます")
            self.bar.start()
            self.task = self.bar.add_task(event.step.label, total=event.feed_months)
        elif isinstance(event, r.FeedMonthDone) and self.task is not None:
            self.bar.advance(self.task)
        elif isinstance(event, (r.RunFinished, r.Abandoned)):
            self.bar.stop()
            self.task = None
            if isinstance(event, r.Abandoned):
                render_run(event.report)
                return
            run, state = event.run, {"success": "成功", "canceled": "中止", "failure": "失敗"}[event.run.status]
            step, took = run.step, f"{run.seconds:.1f} 秒、run {run.run_id[:8]}"
            if run.kind == "feeds":
                out(f"  run {run.run_id[:8]} {state}（{run.seconds:.1f} 秒）")
            elif run.kind == "followers":
                out(f"  読み込めた月（{step.span}）の月次集計: {state}（{took}）")
            elif run.kind == "year":
                what = ("KPI 実績" + ("と評価" if "pdca_evaluation" in step.assets else "")) if step.touched else "評価（前年度の実績が変わったため）"
                out(f"{step.label}: {what}の計算 {state}（{took}）")
            else:
                out(f"3 か年のアクションプラン表示の更新 {state}（{took}）")
            for f in run.failures:
                if f.kind == "error":
                    out(f"  ✗ {f.sentence}")
                traceback_of(f.traceback)


def render_run(report) -> int:
    """The summary per feed, one line per feed-month that is not usable as it stands, and the exit code."""
    from kenpo_pipeline.domain.intake.status import FeedMonthStatus
    from kenpo_pipeline.domain.reference import FEED_IDS, FEED_SHORT_JA, feed_layout

    rows = []
    for feed in FEED_IDS:
        mine = [o for o in report.outcomes if o.feed == feed]
        usable = [o for o in mine if o.status.ok]
        rows.append([f"{feed_layout(feed).name_ja}（{feed}）", *(f"{sum(o.status is s for o in mine)}" for s in FeedMonthStatus),
                     f"{sum(o.rows_loaded for o in usable):,}", f"{sum(o.rows_quarantined for o in usable):,}"])
    out()
    table(rows, ["フィード", *(s.label_ja for s in FeedMonthStatus), "取込行数", "隔離行数"], numbers=len(FeedMonthStatus) + 2)
    for o in report.not_ok:
        out(f"  ✗ {FEED_SHORT_JA[o.feed]} {o.month}: {o.message}")
    for o in report.quarantined:
        out(f"  ! {FEED_SHORT_JA[o.feed]} {o.month}: {o.rows_quarantined:,} 行が隔離されています（テーブル quarantine、load {o.load_id}）。")
    for sentence in report.broken:
        out(f"  ✗ {sentence}")
    out()
    if report.stopped:
        loaded = sum(o.status.ok for o in report.outcomes)
        out(f"{report.stopped}を受け取ったため中止しました（終了コード {report.stop_exit_code}）: 読み込み済みのフィード月は {loaded} 件、"
            f"読み込んでいないものは上のとおりです。途中の月は取り消され、これ以降の run は開始していません。")
        return report.stop_exit_code
    if report.broken:
        out("倉庫に書き込めないため中止しました（終了コード 1）: 上の ✗ の対処をしてから、もう一度実行してください。これ以降の run は開始していません。")
        return EXIT_PROBLEMS
    if not report.clean:
        out("問題がありました（終了コード 1）: 読み込めるものはすべて読み込みました。上の ✗ と ! を見てください。")
        return EXIT_PROBLEMS
    out("すべて読み込みました。")
    return EXIT_OK


def show_plan(plan, settings) -> None:
    from kenpo_pipeline.app.commands import warehouse_name

    out(f"ランディング領域 {settings.landing}   {warehouse_name(settings)}")
    for sentence in (*plan.problems, *plan.skipped):
        out(f"  ✗ {sentence}")


# --- commands ----------------------------------------------------------------------------------------------


def cmd_run(args) -> int:
    if args.landing:
        os.environ["KENPO_LANDING"] = str(Path(args.landing).resolve())
    settings = load_settings()
    from kenpo_pipeline.domain.intake.pool import warm_for_landing

    warm_for_landing(settings.landing, settings.intake_workers, settings.intake_parallel_min_bytes, args.from_month, args.to_month)
    from kenpo_pipeline.app import runner

    plan = runner.plan_from_landing(settings, args.from_month, args.to_month, args.through)
    show_plan(plan, settings)
    return render_run(runner.run_plan(plan, settings, RunView(), force=args.force))


def cmd_demo(args) -> int:
    from kenpo_pipeline.app.commands import demo
    from kenpo_pipeline.domain.reporting.presentation import evaluation_text

    settings = load_settings()
    out(f"kenpo demo — サンプルのフィード FY{args.from_fy}〜FY{args.to_fy}（規模 {args.scale}、シード {args.seed}）を読み込みます")
    report = demo(settings, args.from_fy, args.to_fy, args.scale, args.seed, args.force, RunView())
    code = render_run(report.run)
    if report.evaluation is not None:
        out()
        out("\n".join(evaluation_text(report.evaluation)) or f"{fiscal_year_label(args.to_fy)} の協会全体の評価はありません。")
        out()
        for fy, national, branches in report.workbooks:
            out(f"ワークブック FY{fy}: {national} と支部別 {branches} 個")
        out(f"倉庫: {settings.warehouse_url}\nDagster インスタンス: {settings.dagster_home}\nUI を開くには:  .venv/bin/kenpo ui   （http://127.0.0.1:3000）")
    return code


def cmd_show(args) -> int:
    from kenpo_pipeline.app.commands import evaluation, scope
    from kenpo_pipeline.domain.reporting.presentation import evaluation_text

    out("\n".join(evaluation_text(evaluation(load_settings(), args.fiscal_year, scope(args.branch) or "00"))))
    return EXIT_OK


def cmd_report(args) -> int:
    from kenpo_pipeline.app.commands import scope, write_workbooks

    report = write_workbooks(load_settings(), args.fiscal_year, scope(args.branch), args.out, RunView())
    if report.stopped:
        out(f"kenpo: {report.stopped}を受け取ったため、ワークブックの書き出しを中止しました（run {report.run.run_id[:8]}）。", err=True)
        return report.stop_exit_code
    for f in report.run.failures:
        out(f"kenpo: {f.sentence}", err=True)
        traceback_of(f.traceback)
    if not report.run.ok:
        return EXIT_PROBLEMS
    out(f"{fiscal_year_label(args.fiscal_year)}: ワークブック {len(report.names)} 個を {report.folder} に書き出しました")
    out(f"  {report.folder / report.names[0]}" + (f" ほか、支部別 {len(report.names) - 1} 個（{report.names[1]} … {report.names[-1]}）" if len(report.names) > 1 else ""))
    return EXIT_OK


def cmd_finalize(args) -> int:
    from kenpo_pipeline.app.commands import finalize
    from kenpo_pipeline.domain.calendar import month_label

    record, counts = finalize(load_settings(), args.fiscal_year, args.by, args.note, args.allow_missing_commentary)
    out(f"{fiscal_year_label(args.fiscal_year)} を第 {record['version']} 版として確定しました（承認: {record['published_by']}、"
        f"{record['published_at']:%Y-%m-%d %H:%M} UTC、{record['rows']} 行: " + "、".join(f"{s} {counts.get(s, 0)}" for s in ("達成", "未達成", "判定不能"))
        + f"、{month_label(record['as_of_month'])}時点、カタログ sha256 {record['catalog_sha256'][:12]}…）。")
    out("このあとの修正で評価が再計算されても、確定した版は書き換わりません。確定版のワークブックは kenpo report で書き出せます。")
    return EXIT_OK


def cmd_backtest(args) -> int:
    from kenpo_pipeline.app.commands import backtest
    from kenpo_pipeline.domain.calendar import month_label_ja

    result = backtest(load_settings(), args.fiscal_year)
    out(f"{fiscal_year_label(args.fiscal_year)}: 年度途中の見込みと年度末の実績の差（全支部 × 全指標）")
    table([[month_label_ja(r.as_of_month), r.pairs, f"{r.median_abs_error_pct:.2f}", f"{r.p90_abs_error_pct:.2f}"] for r in result.itertuples()],
          ["時点", "組数", "誤差の中央値（%）", "誤差の90パーセンタイル（%）"], numbers=3)
    return EXIT_OK


def cmd_validate(args) -> int:
    from kenpo_pipeline.app.commands import validate_files

    code = EXIT_OK
    verdicts = validate_files(args.files, args.feed, args.max_bad_row_share)
    for v in verdicts:
        if v.verdict == "rejected":
            out(f"却下: {v.sentence}")
            for line in v.details:
                out(f"  {line}")
        else:
            q = len(v.quarantine)
            out(f"{'問題なし' if not q else '隔離あり'}: {v.path}（{v.rows_read:,} 行を読み、{v.rows_loaded:,} 行を取り込めます" + (f"。{q:,} 行は隔離されます）" if q else "）"))
            shown = v.quarantine if args.all else v.quarantine[:20]
            if shown:
                table([[r.row_number, r.column_name, r.value if r.value != "" else "（空）", r.reason.removeprefix(f"{r.column_name}: ")] for r in shown], ["行", "列", "値", "理由"], "  ")
            if len(shown) < q:
                out(f"  … ほか {q - len(shown):,} 行（すべて表示するには --all）")
            for w in v.warnings:
                out(f"  注意: {w}")
        code = EXIT_PROBLEMS if v.verdict != "ok" else code
    if args.out:
        from kenpo_pipeline.app.commands import write_file_error_list

        target = Path(args.out)
        many = len(verdicts) > 1 or target.is_dir() or target.suffix.lower() != ".xlsx"
        for v in verdicts:
            path = write_file_error_list(v, target / f"errors_{v.path.stem}.xlsx" if many else target)
            out(f"差戻しリスト: {path}")
    return code


def cmd_comments_import(args) -> int:
    from kenpo_pipeline.app.commands import comments_import
    from kenpo_pipeline.domain.reference import branch_name

    code = EXIT_OK
    for path in args.files:
        r = comments_import(load_settings(), path, args.by)
        out(f"{r.path.name}: {fiscal_year_label(r.fiscal_year)} {branch_name(r.branch)}の記入を {r.stored} 件取り込みました（変更なし {r.unchanged} 件）。")
        for c in r.conflicts:
            out(f"  取り込まなかった記入: {c}")
        for w in r.warnings:
            out(f"  注意: {w}")
        code = EXIT_PROBLEMS if r.conflicts else code
    return code


def cmd_errors(args) -> int:
    from kenpo_pipeline.app.commands import branch_errors, scope

    report = branch_errors(load_settings(), scope(args.branch), args.fiscal_year, args.out)
    from kenpo_pipeline.domain.reference import branch_name

    out(f"{fiscal_year_label(report.fiscal_year)} {branch_name(report.branch)}の差戻しリスト: 差戻し行 {report.rows:,} 行、"
        f"ファイル単位の却下 {report.rejections:,} 件 → {report.path}")
    return EXIT_OK if not (report.rows or report.rejections) else EXIT_PROBLEMS


def cmd_catalog_check(args) -> int:
    from kenpo_pipeline.app.commands import catalog_check

    check = catalog_check(args.folder)
    for fy, catalog in sorted(check.catalogs.items()):
        out(f"FY{fy}: {catalog.path.name}: " + "、".join(f"{p.plan} {p.branch_code}（KPI {len(p.kpis)}件、{p.status}）" for p in catalog.plans))
    for plan in check.action_plans:
        out(f"FY{plan.years[0]}〜FY{plan.years[-1]}: {plan.path.name}: {plan.name}（KPI {len(plan.kpis)}件、{plan.status}）")
    from kenpo_pipeline.domain.kpis.catalog import INCENTIVE_FOLDER, load_incentive_schemes

    for fy, scheme in sorted(load_incentive_schemes(check.folder)[0].items()):
        out(f"FY{fy}: {INCENTIVE_FOLDER}/{scheme.path.name}: インセンティブ制度の評価方法（指標 {len(scheme.indicators)}項目、上位{scheme.rewarded_branches}支部が報奨対象、{scheme.status}）")
    for problem in check.problems:
        out(f"  ✗ {problem}")
    if not check.catalogs and not check.problems:
        out(f"{check.folder} にカタログ（FY<年度>.yaml）がありません")
        return EXIT_PROBLEMS
    out("カタログに問題はありません。" if not check.problems else f"{check.folder} のカタログに問題が {len(check.problems)} 件あります。")
    return EXIT_OK if not check.problems else EXIT_PROBLEMS


def cmd_db(args) -> int:
    from kenpo_pipeline.app import commands

    if args.db_command == "history":
        table([[down or "（最初）", rev, doc] for rev, down, doc in commands.db_history()], ["前", "リビジョン", "内容"])
        return EXIT_OK
    if args.db_command == "current":
        where, current, head = commands.db_current(load_settings())
        state = "スキーマがまだありません（kenpo db upgrade を実行してください）" if current is None else f"リビジョン {current}" + (
            "（最新）" if current == head else f"。最新の {head} より古いため kenpo db upgrade を実行してください")
        out(f"{where}: {state}")
        return EXIT_OK if current == head else EXIT_PROBLEMS
    where, before, after = commands.db_upgrade(load_settings(), args.revision)
    out(f"{where}: すでにリビジョン {after} です" if before == after else f"{where}: {before or '（空）'} → {after} に更新しました")
    return EXIT_OK


def cmd_sample(args) -> int:
    from kenpo_pipeline.app import UsageError
    from kenpo_pipeline.domain.intake.sample import write_sample

    folder = Path(args.out) if args.out else load_settings().landing
    try:
        paths = write_sample(folder, args.from_fy, args.to_fy, scale=args.scale, seed=args.seed, months=args.months)
    except ValueError as exc:
        raise UsageError(f"サンプルを書き出せません: {exc}") from None
    out(f"{len(paths)} 個のファイルを {folder} に書き出しました（規模 {args.scale}、シード {args.seed}）")
    return EXIT_OK


def cmd_ui(args) -> int:
    from kenpo_pipeline.app.commands import ui_command
    from kenpo_pipeline.settings import REPO_ROOT

    cmd, env = ui_command(settings := load_settings(), args.host, args.port)
    os.environ.update(env)
    shown = "  ".join(f"{k}={v}" for k, v in {"DAGSTER_HOME": str(settings.dagster_home), **env}.items())
    if "KENPO_FIRST_MONTH" in env:
        out(f"月のパーティションは、倉庫に最初にファイルが届いた月（{env['KENPO_FIRST_MONTH']}）から始めます（KENPO_FIRST_MONTH で変更できます）。")
    out(f"{shown}  {' '.join(cmd)}")
    os.chdir(REPO_ROOT)
    os.execv(cmd[0], cmd) if os.path.isabs(cmd[0]) else os.execvp(cmd[0], cmd)
    return EXIT_OK  # pragma: no cover


HANDLERS = {"run": cmd_run, "demo": cmd_demo, "show": cmd_show, "report": cmd_report, "finalize": cmd_finalize, "backtest": cmd_backtest,
            "validate": cmd_validate, "errors": cmd_errors, "comments import": cmd_comments_import, "sample": cmd_sample, "catalog check": cmd_catalog_check, "db upgrade": cmd_db, "db current": cmd_db,
            "db history": cmd_db, "ui": cmd_ui}


def main(argv: list[str] | None = None) -> int:
    global DEBUG
    from kenpo_pipeline.app import AppError
    from kenpo_pipeline.cli_args import build_parser

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    try:
        args = build_parser(HANDLERS).parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 after --help
        return int(exc.code or 0)
    DEBUG = args.debug
    try:
        return args.func(args)
    except (AppError, ConfigurationError) as exc:
        traceback_of(traceback.format_exc())
        out(f"kenpo: {exc}", err=True)
        return getattr(exc, "exit_code", EXIT_USAGE)
    except KeyboardInterrupt:
        out("kenpo: 中止しました（Ctrl-C）。", err=True)
        return 128 + signal.SIGINT
    except Exception as exc:
        from kenpo_pipeline.app.commands import sentence_for

        sentence = sentence_for(exc)
        if sentence is None or DEBUG:
            raise
        out(f"kenpo: {sentence}", err=True)
        return EXIT_USAGE if type(exc).__name__ == "SchemaOutOfDate" else EXIT_PROBLEMS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
