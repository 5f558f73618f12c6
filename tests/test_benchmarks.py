"""The benchmark harness runs (at a tiny scale, so that it cannot rot): the pipeline (through
actuals), the whole month job (through the evaluation), the floor and the reference agree on the
month's aggregates, the table is printed, and each pipeline run is broken down into stages from its
own records. No timing is asserted."""

import json
import subprocess
import sys

import pytest

from kenpo_pipeline.settings import REPO_ROOT

FEEDS = ["benefits", "claims_review", "screenings", "indicators"]


def test_the_harness_runs_and_the_four_agree(tmp_path):
    out = tmp_path / "latest.json"
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "run.py"), "--scale", "0.003", "--reps", "1", "--cache", str(tmp_path / "cache"), "--out", str(out)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "aggregates agree (pipeline = month job = floor = reference): yes" in run.stdout
    assert "where the time goes" in run.stdout and "evaluation step (one fiscal year)" in run.stdout
    results = json.loads(out.read_text())
    assert set(results["month_runs"]) == {"pipeline", "month_job", "floor", "reference"}
    assert results["rows"] > 0 and results["aggregates"]["pipeline"]["benefits_rows"] > 0
    assert results["aggregates"]["month_job"] == results["aggregates"]["pipeline"]
    for figures in results["month_runs"].values():
        assert figures["wall_s"] > 0 and figures["peak_rss_mb"] > 0 and figures["reps"] == 1

    # the stages come from the runs' own records: every feed's read / validate / write, then the steps
    through_actuals, month_job = results["stages"]["pipeline"], results["stages"]["month_job"]
    for stages in (through_actuals, month_job):
        for feed in FEEDS:
            assert {f"{feed} read", f"{feed} validate", f"{feed} write"} <= set(stages)
            assert stages[f"{feed} validate"] > 0
        assert stages["aggregate"] > 0 and stages["actuals"] > 0
        assert stages["start-up (process start → first step)"] > 0
        assert stages["GX set-up (import, context, suites: first feed)"] > 0
    assert month_job["evaluation"] > 0 and "evaluation" not in through_actuals
    # the stages account for the whole run: their sum is the run's wall time
    wall = results["month_runs"]["month_job"]["wall_s"]
    assert abs(sum(month_job.values()) - wall) < 0.01 * wall


def test_gx_on_sql_flags_the_same_rows_and_rules_as_gx_on_the_frame(tmp_path):
    """benchmarks/gx_sql.py at a tiny scale, SQLite only: the staged month validated through a GX
    SQL datasource flags exactly the rows and rules GX flags on the frame, clean and dirty."""
    out = tmp_path / "gx_sql.json"
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "gx_sql.py"), "--scales", "0.003", "--reps", "1",
         "--cache", str(tmp_path / "cache"), "--out", str(out)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    by_feed = results["scales"]["0.003"]
    assert {k for k in by_feed if not k.startswith("_")} == {f"{f}/{m}" for f in FEEDS for m in ("clean", "dirty")}
    for feed in FEEDS:
        clean, dirty = by_feed[f"{feed}/clean"], by_feed[f"{feed}/dirty"]
        assert clean["sqlite"]["agreement"] == dict(clean["sqlite"]["agreement"], identical=True, n_only_pandas=0, n_only_sql=0, errors=[])
        assert dirty["sqlite"]["agreement"]["identical"] is True and dirty["sqlite"]["agreement"]["errors"] == []
        assert dirty["pandas"]["flagged_rows"] > 0 and dirty["lines_broken"] > 0
        assert dirty["sqlite"]["total_wall"] > 0 and clean["pandas"]["validate_wall"] > 0
    # what the SQL suites had to change: pandas row conditions translated, compound uniqueness as a key
    changes = results["sql_suite_changes"]
    assert any("OR branch_code IS NULL" in c for c in changes["indicators"])
    assert any("_unique_key" in c for c in changes["screenings"])


def test_a_pandas_row_condition_keeps_its_meaning_on_sql():
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from gx_sql import NotExpressible, sql_condition

    # pandas: NaN != "00" is true, so a row with no branch code is inside the condition; SQL needs IS NULL for that
    assert repr(sql_condition('branch_code != "00"')) == "(branch_code != 00 OR branch_code IS NULL)"
    assert repr(sql_condition('outcome != "査定" and outcome == outcome')) == "(outcome != 査定 AND outcome IS NOT NULL)"
    assert repr(sql_condition('decision == "支給"')) == "decision == 支給"
    with pytest.raises(NotExpressible, match="OR inside an AND"):  # GX refuses an OR inside an AND
        sql_condition('a != "x" and b == "y"')
