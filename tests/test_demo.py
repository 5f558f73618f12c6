"""The README's demo command: sample data FY2022–FY2024 → 4 feeds × 36 months loaded and checked."""

import dagster as dg

from kenpo_pipeline.cli import main
from kenpo_pipeline.domain.reference import FEED_IDS
from kenpo_pipeline.warehouse.store import Warehouse


def test_kenpo_demo_loads_36_months_of_every_feed_and_exits_0(kenpo_env, capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "open the UI with" in out
    loads = Warehouse(kenpo_env.warehouse_url).loads()
    assert len(loads) == 4 * 36 and set(loads["status"]) == {"loaded"}
    assert loads["rows_quarantined"].sum() == 0
    assert {f: n for f, n in loads.groupby("feed").size().items()} == {f: 36 for f in FEED_IDS}
    with dg.DagsterInstance.from_config(str(kenpo_env.dagster_home)) as instance:
        jobs = sorted(r.dagster_run.job_name for r in instance.get_run_records())
        assert jobs == ["fiscal_year_kpis"] * 3 + ["monthly_feeds"] * 3  # per fiscal year: the months, then the actuals
        for key in (*FEED_IDS, "monthly_aggregates"):
            assert len(instance.get_materialized_partitions(dg.AssetKey(key))) == 36
        assert instance.get_materialized_partitions(dg.AssetKey("kpi_actuals")) == {"2022", "2023", "2024"}
