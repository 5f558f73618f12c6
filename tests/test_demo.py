"""The README's demo command: sample data FY2022–FY2024 → 4 feeds × 36 months loaded and checked."""

import dagster as dg

from kenpo_pipeline.cli import main
from kenpo_pipeline.domain.reference import FEED_IDS
from kenpo_pipeline.warehouse.store import Warehouse


def test_kenpo_demo_loads_36_months_of_every_feed_and_exits_0(kenpo_env, capsys, monkeypatch):
    # The README's command with fewer rows per file (the default scale is 0.02): every month, year
    # and workbook of the demo is made all the same. That the default scale's 静岡 FY2023 is seed
    # 003's table is tested on the demo's own files by tests/test_demo_seed_003.py.
    # The demo writes its files and loads them at once: a settle time of an hour does not slow it.
    monkeypatch.setenv("KENPO_LANDING_SETTLE_SECONDS", "3600")
    assert main(["demo", "--scale", "0.002"]) == 0
    out = capsys.readouterr().out
    assert "書き込み中" not in out
    assert "UI を開くには:  .venv/bin/kenpo ui" in out and "すべて読み込みました。" in out
    assert "令和6年度 KPI実績一覧表（協会全体） — 2025-03（令和7年3月）時点" in out
    loads = Warehouse(kenpo_env.warehouse_url).loads()
    assert len(loads) == 4 * 36 and set(loads["status"]) == {"loaded"}
    assert loads["rows_quarantined"].sum() == 0
    assert {f: n for f, n in loads.groupby("feed").size().items()} == {f: 36 for f in FEED_IDS}
    with dg.DagsterInstance.from_config(str(kenpo_env.dagster_home)) as instance:
        jobs = sorted(r.dagster_run.job_name for r in instance.get_run_records())
        # per fiscal year: the months, then the year (its three-year view runs in the year's run)
        assert jobs == ["fiscal_year_kpis"] * 3 + ["monthly_feeds"] * 3
        for key in (*FEED_IDS, "monthly_aggregates"):
            assert len(instance.get_materialized_partitions(dg.AssetKey(key))) == 36
        assert instance.get_materialized_partitions(dg.AssetKey("kpi_actuals")) == {"2022", "2023", "2024"}
        assert instance.get_materialized_partitions(dg.AssetKey("pdca_evaluation")) == {"2022", "2023", "2024"}
        assert instance.get_materialized_partitions(dg.AssetKey("incentive_ranking")) == {"2022", "2023", "2024"}
    # the national FY2024 evaluation lists every KPI of seed 000, each judged or with a reason
    from kenpo_pipeline.domain.kpis.catalog import require_catalogs

    national = Warehouse(kenpo_env.warehouse_url).read_table("pdca_evaluation", fiscal_year=2024, branch_code="00")
    plan = require_catalogs(kenpo_env.catalogs)[2024].national
    assert list(national.sort_values("kpi_order")["kpi_id"]) == [k.id for k in plan.kpis] and len(national) == 18
    assert set(national["status"]) <= {"達成", "未達成", "判定不能"}
    assert (national[national["status"] == "判定不能"]["reason"].str.len() > 0).all()
    for kpi in plan.kpis:
        assert kpi.text in out
    # the workbooks of the demo years, and where they are
    assert (kenpo_env.reports / "pdca_FY2024.xlsx").exists()
    assert len(list(kenpo_env.reports.glob("pdca_FY2024_*.xlsx"))) == 47
    assert f"ワークブック FY2024: {kenpo_env.reports / 'pdca_FY2024.xlsx'} と支部別 47 個" in out
    # the FY2024 national workbook has the インセンティブ sheet: the 47 branches ranked at the year end
    from openpyxl import load_workbook

    ws = load_workbook(kenpo_env.reports / "pdca_FY2024.xlsx")["インセンティブ"]
    assert ws["A1"].value == "令和6年度 インセンティブ制度 順位（年度末、令和7年3月時点）"
    assert [ws.cell(5 + i, 1).value for i in range(47)] == list(range(1, 48))
    assert [ws.cell(5 + i, 4).value for i in range(47)] == ["報奨対象"] * 15 + ["報奨対象外"] * 32
