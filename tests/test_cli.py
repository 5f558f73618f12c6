"""The ``kenpo`` command line: exit codes and what it prints (shared spec/outputs.md)."""

import hashlib

import dagster as dg
import pytest

from conftest import HEADERS, write_csv
from kenpo_pipeline.cli import main
from kenpo_pipeline.cli_args import COMMANDS
from kenpo_pipeline.domain.intake.sample import write_sample

# Not marked `warehouse`: what is tested here is the command line / the automation / the file rules;
# the warehouse's reads and writes are covered on PostgreSQL by test_loading, test_concurrency,
# test_migrations, test_kpi_actuals, test_evaluation_asset, test_publication, test_operations,
# test_edges_intake, test_edges_runs, test_dagster_feeds and test_landing_sensor (keeps `make test`
# within its budget).


def digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.*"))}


def test_sample_is_deterministic_for_a_seed(tmp_path, capsys):
    args = ["sample", "--from-fy", "2024", "--to-fy", "2024", "--scale", "0.002"]
    assert main(args + ["--out", str(tmp_path / "a"), "--seed", "7"]) == 0
    assert main(args + ["--out", str(tmp_path / "b"), "--seed", "7"]) == 0
    assert main(args + ["--out", str(tmp_path / "c"), "--seed", "8"]) == 0
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert len(a) == 48 and a == b and a != c
    assert f"48 個のファイルを {tmp_path / 'a'} に書き出しました（規模 0.002、シード 7）" in capsys.readouterr().out


def test_sample_usage_errors(tmp_path):
    assert main(["sample", "--out", str(tmp_path), "--from-fy", "2024", "--to-fy", "2023"]) == 2
    assert main(["sample", "--bogus"]) == 2


def test_run_exit_0_and_runs_visible_in_the_dagster_instance(kenpo_env, capsys):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.005, months=["2024-04", "2024-05"])
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "すべて読み込みました。" in out and "FY2024（令和6年度） 2024-04…2024-05" in out
    with dg.DagsterInstance.from_config(str(kenpo_env.dagster_home)) as instance:
        runs = instance.get_run_records()
        assert sorted(r.dagster_run.job_name for r in runs) == ["fiscal_year_kpis", "monthly_feeds"]  # the three-year view runs with the year
        assert all(r.dagster_run.tags["kenpo/source"] == "cli" for r in runs)
        assert instance.get_materialized_partitions(dg.AssetKey("benefits")) == {"2024-04", "2024-05"}


def test_run_exit_1_when_a_month_is_rejected_and_2_on_usage_errors(kenpo_env, capsys):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.005, months=["2024-04"])
    bad = write_csv(kenpo_env.landing / "screenings" / "202404.csv", ["支部コード", "区分"], [["22", "被保険者"]])
    assert main(["run", "--from", "2024-04", "--to", "2024-04", "--through", "actuals"]) == 1
    out = capsys.readouterr().out
    assert f"{bad} を却下しました：ヘッダー（1行目）に必須の列がありません：事業、対象者数、実施者数。" in out
    assert "問題がありました（終了コード 1）" in out
    assert main(["run", "--from", "2024-13"]) == 2
    assert main(["run", "--from", "2024-06", "--to", "2024-04"]) == 2
    assert main(["run", "--landing", str(kenpo_env.home / "nowhere")]) == 2


def test_run_reports_files_that_are_not_feed_months(kenpo_env, capsys):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04"])
    stray = write_csv(kenpo_env.landing / "benefits" / "202413.csv", HEADERS["benefits"], [])
    (kenpo_env.landing / "payments").mkdir()
    assert main(["run", "--through", "actuals"]) == 1
    out = capsys.readouterr().out
    assert f"{stray} を却下しました：ファイル名 '202413' は実在する年月ではありません" in out
    assert "フォルダー 'payments' はフィードではありません" in out


def test_validate_gives_the_verdict_a_load_would(kenpo_env, capsys):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04"])
    good = kenpo_env.landing / "screenings" / "202404.csv"
    assert main(["validate", str(good)]) == 0
    assert capsys.readouterr().out.startswith(f"問題なし: {good}（235 行を読み、235 行を取り込めます）")
    lines = good.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("被保険者", "本人")
    good.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["validate", str(good)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"隔離あり: {good}（235 行を読み、234 行を取り込めます。1 行は隔離されます）"
    assert out[1].split() == ["行", "列", "値", "理由"]  # a table: row, column, value, reason, each once
    # the row breaks two rules (区分 itself, and 区分 × 事業): one quarantined row, both reasons, no doubled column names
    assert out[3].split() == ["4", "区分、事業", "本人", "/", "生活習慣病予防健診",
                              "区分が被保険者・被扶養者のいずれでもありません；区分と事業の組み合わせが定められたものではありません"]
    broken = write_csv(kenpo_env.home / "elsewhere" / "202404.csv", ["支部コード"], [["22"]])
    assert main(["validate", "--feed", "indicators", str(broken)]) == 1
    assert capsys.readouterr().out.startswith(f"却下: {broken} を却下しました：")
    assert main(["validate", str(kenpo_env.home / "missing.csv")]) == 2
    assert f"kenpo: ファイルがありません: {kenpo_env.home / 'missing.csv'}。" in capsys.readouterr().err


def test_demo_refuses_a_non_default_warehouse(kenpo_env, monkeypatch, capsys):
    monkeypatch.setenv("KENPO_WAREHOUSE_URL", f"sqlite:///{kenpo_env.home / 'production.db'}")
    assert main(["demo"]) == 2
    assert "デモはサンプルデータを書き込むため" in capsys.readouterr().err
    assert not (kenpo_env.home / "production.db").exists()
    assert not any(kenpo_env.landing.iterdir())


def test_bad_configuration_exits_2(kenpo_env, monkeypatch):
    monkeypatch.setenv("KENPO_MAX_BAD_ROW_SHARE", "lots")
    assert main(["validate", "x.csv"]) == 2


# --- what a person new to kenpo sees: help, year forms, one sentence per problem ---------------------------


@pytest.mark.parametrize("command", [c for c in COMMANDS])
def test_every_command_has_japanese_help_with_examples_and_exit_codes(command, capsys):
    assert main([*command.split(), "--help"]) == 0
    text = capsys.readouterr().out
    summary, description, examples, _ = COMMANDS[command]
    assert text.startswith(f"使い方: kenpo {command}") and description.splitlines()[0] in text
    assert f"例:\n{examples}" in text and "kenpo " + command.split()[0] in examples
    assert "終了コード:" in text and "130  Ctrl-C（SIGINT）で中止" in text and "--debug" in text
    assert "usage:" not in text and "show this help" not in text and "options:" not in text


def test_the_top_level_help_lists_every_command_in_japanese(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("run", "demo", "show", "report", "finalize", "backtest", "validate", "sample", "catalog", "db", "ui"):
        assert f"    {command} " in text
    assert "終了コード:" in text


@pytest.mark.parametrize("form", ["2024", "FY2024", "fy2024", "令和6", "令和6年度", "令和６年度", "R6", "２０２４年度"])
def test_a_fiscal_year_is_accepted_as_people_write_it(form):
    from kenpo_pipeline.cli import HANDLERS
    from kenpo_pipeline.cli_args import build_parser

    assert build_parser(HANDLERS).parse_args(["show", "--fiscal-year", form]).fiscal_year == 2024
    assert build_parser(HANDLERS).parse_args(["report", "--fiscal-year", form, "--branch", "22"]).fiscal_year == 2024


def test_a_wrong_fiscal_year_or_month_is_one_japanese_sentence(capsys):
    assert main(["report", "--fiscal-year", "令和x"]) == 2
    err = capsys.readouterr().err
    assert "kenpo report: エラー: 引数 --fiscal-year: 年度は 2024、FY2024、令和6、令和6年度 のいずれかの形で指定してください（指定値: '令和x'）" in err
    assert main(["run", "--from", "2024-13"]) == 2
    assert "月は YYYY-MM の形で指定してください（例: 2024-04。指定値: '2024-13'）" in capsys.readouterr().err
    assert main(["show"]) == 2
    assert "次の引数が必要です: --fiscal-year" in capsys.readouterr().err


def test_report_and_show_on_a_year_without_data_say_so(kenpo_env, capsys):
    assert main(["report", "--fiscal-year", "2025", "--branch", "22"]) == 1
    captured = capsys.readouterr()
    sentence = "kenpo: FY2025（令和7年度） のデータがまだありません（その年度の月が読み込まれておらず、KPI実績も評価もありません）。先に kenpo run でその年度の月を読み込んでください。\n"
    assert captured.err == sentence and captured.out == ""
    assert not list(kenpo_env.reports.glob("*.xlsx")) if kenpo_env.reports.exists() else True
    assert main(["show", "--fiscal-year", "令和7年度", "--branch", "22"]) == 1
    assert capsys.readouterr().err == sentence
    assert main(["report", "--fiscal-year", "2024", "--branch", "48"]) == 2
    assert "--branch には支部コード 00〜47（00 は協会全体）を指定してください（指定値: '48'）。" in capsys.readouterr().err


def test_show_prints_one_scope_through_the_shared_presentation(kenpo_env, capsys):
    from kenpo_pipeline.domain.reporting.presentation import evaluation_text
    from kenpo_pipeline.warehouse.store import Warehouse

    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04"])
    assert main(["run", "--through", "actuals"]) == 0
    capsys.readouterr()
    assert main(["show", "--fiscal-year", "2024"]) == 1  # actuals, but not evaluated yet
    assert capsys.readouterr().err == ("kenpo: FY2024（令和6年度） の協会全体の評価はありません（適用される事業計画がカタログにない、"
                                       "4 フィードがそろって読み込まれた月がまだない、または評価をまだ計算していない、のいずれかです）。\n")
    assert main(["run", "--through", "evaluation"]) == 0  # the files are unchanged: the year is evaluated
    capsys.readouterr()
    wh = Warehouse(kenpo_env.warehouse_url)
    for args, branch in ((["--fiscal-year", "令和6年度"], "00"), (["--fiscal-year", "FY2024", "--branch", "22"], "22")):
        assert main(["show", *args]) == 0
        table = wh.read_table("pdca_evaluation", fiscal_year=2024, branch_code=branch)
        assert capsys.readouterr().out == "\n".join(evaluation_text(table)) + "\n"


def kenpo_process(args, kenpo_env, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    env.update(GX_ANALYTICS_ENABLED="False", KENPO_HOME=str(kenpo_env.home), KENPO_LANDING_SETTLE_SECONDS="0", KENPO_WAREHOUSE_URL=kenpo_env.warehouse_url)
    return subprocess.run([str(Path(sys.executable).parent / "kenpo"), *args], env=env, capture_output=True, text=True, timeout=600)


def test_a_rejected_file_is_one_sentence_and_never_a_traceback_unless_debug(kenpo_env, tmp_path):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04"])
    bad = write_csv(kenpo_env.landing / "screenings" / "202404.csv", ["支部コード", "区分"], [["22", "被保険者"]])
    done = kenpo_process(["run", "--through", "actuals"], kenpo_env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    sentence = f"  ✗ 健診 2024-04: {bad} を却下しました：ヘッダー（1行目）に必須の列がありません：事業、対象者数、実施者数。"
    assert done.stdout.splitlines().count(sentence) == 1
    for stream in (done.stdout, done.stderr):
        assert "Traceback" not in stream and 'File "' not in stream and "Stack Trace" not in stream and "dagster._core" not in stream
    assert done.stderr == ""
    # the developer's details are in the log file, not on the terminal
    log = (kenpo_env.home / "logs" / "kenpo.log").read_text(encoding="utf-8")
    assert 'File "' in log and "defs/feeds.py" in log and "kenpo run --through actuals" in log
    debug = kenpo_process(["run", "--through", "actuals", "--debug"], kenpo_env, tmp_path)
    assert debug.returncode == 1
    assert sentence in debug.stdout.splitlines()
    assert 'File "' in debug.stderr and "defs/feeds.py" in debug.stderr and "1 か月のうち 1 か月を取り込めませんでした" in debug.stderr


def test_the_first_month_of_the_partitions_is_configurable_and_checked():
    """Issue 12 §12: KENPO_FIRST_MONTH moves where the monthly partitions start (``kenpo ui`` sets
    it to the warehouse's first month; tests/test_ui_browser.py shows the UI starting there)."""
    from kenpo_pipeline.settings import ConfigurationError, first_month

    assert first_month({}) == "2020-04" and first_month({"KENPO_FIRST_MONTH": "2022-04"}) == "2022-04"
    assert first_month({"KENPO_FIRST_MONTH": "202204"}) == "2022-04"
    with pytest.raises(ConfigurationError, match="KENPO_FIRST_MONTH は YYYY-MM の形で指定してください"):
        first_month({"KENPO_FIRST_MONTH": "令和4年4月"})
