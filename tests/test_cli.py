"""The ``kenpo`` command line: exit codes and what it prints (shared spec/outputs.md)."""

import hashlib

import dagster as dg
import pytest

from conftest import HEADERS, write_csv
from kenpo_pipeline.cli import main
from kenpo_pipeline.domain.intake.sample import write_sample

pytestmark = pytest.mark.warehouse  # runs on SQLite and on PostgreSQL (see conftest.py)


def digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.*"))}


def test_sample_is_deterministic_for_a_seed(tmp_path, capsys):
    args = ["sample", "--from-fy", "2024", "--to-fy", "2024", "--scale", "0.002"]
    assert main(args + ["--out", str(tmp_path / "a"), "--seed", "7"]) == 0
    assert main(args + ["--out", str(tmp_path / "b"), "--seed", "7"]) == 0
    assert main(args + ["--out", str(tmp_path / "c"), "--seed", "8"]) == 0
    a, b, c = digest(tmp_path / "a"), digest(tmp_path / "b"), digest(tmp_path / "c")
    assert len(a) == 48 and a == b and a != c
    assert "wrote 48 files" in capsys.readouterr().out


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
        assert sorted(r.dagster_run.job_name for r in runs) == ["action_plan", "fiscal_year_kpis", "monthly_feeds"]
        assert all(r.dagster_run.tags["kenpo/source"] == "cli" for r in runs)
        assert instance.get_materialized_partitions(dg.AssetKey("benefits")) == {"2024-04", "2024-05"}


def test_run_exit_1_when_a_month_is_rejected_and_2_on_usage_errors(kenpo_env, capsys):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.005, months=["2024-04"])
    bad = write_csv(kenpo_env.landing / "screenings" / "202404.csv", ["支部コード", "区分"], [["22", "被保険者"]])
    assert main(["run", "--from", "2024-04", "--to", "2024-04"]) == 1
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
    assert main(["run"]) == 1
    out = capsys.readouterr().out
    assert f"{stray} を却下しました：ファイル名 '202413' は実在する年月ではありません" in out
    assert "フォルダー 'payments' はフィードではありません" in out


def test_validate_gives_the_verdict_a_load_would(kenpo_env, capsys):
    write_sample(kenpo_env.landing, 2024, 2024, scale=0.002, months=["2024-04"])
    good = kenpo_env.landing / "screenings" / "202404.csv"
    assert main(["validate", str(good)]) == 0
    assert capsys.readouterr().out.startswith("OK")
    lines = good.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace("被保険者", "本人")
    good.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["validate", str(good)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("QUARANTINE") and "line 4 区分" in out and "区分が被保険者・被扶養者のいずれでもありません" in out
    broken = write_csv(kenpo_env.home / "elsewhere" / "202404.csv", ["支部コード"], [["22"]])
    assert main(["validate", "--feed", "indicators", str(broken)]) == 1
    assert "REJECTED" in capsys.readouterr().out
    assert main(["validate", str(kenpo_env.home / "missing.csv")]) == 2


def test_demo_refuses_a_non_default_warehouse(kenpo_env, monkeypatch, capsys):
    monkeypatch.setenv("KENPO_WAREHOUSE_URL", f"sqlite:///{kenpo_env.home / 'production.db'}")
    assert main(["demo"]) == 2
    assert "refuses to run against" in capsys.readouterr().err
    assert not (kenpo_env.home / "production.db").exists()
    assert not any(kenpo_env.landing.iterdir())


def test_bad_configuration_exits_2(kenpo_env, monkeypatch):
    monkeypatch.setenv("KENPO_MAX_BAD_ROW_SHARE", "lots")
    assert main(["validate", "x.csv"]) == 2
