"""The benchmark harness runs (at a tiny scale, so that it cannot rot): pipeline, floor and
reference agree on the month's aggregates and the table is printed. No timing is asserted."""

import json
import subprocess
import sys

from kenpo_pipeline.settings import REPO_ROOT


def test_the_harness_runs_and_the_three_agree(tmp_path):
    out = tmp_path / "latest.json"
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "run.py"), "--scale", "0.003", "--reps", "1", "--cache", str(tmp_path / "cache"), "--out", str(out)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "aggregates agree (pipeline = floor = reference): yes" in run.stdout
    results = json.loads(out.read_text())
    assert set(results["month_runs"]) == {"pipeline", "floor", "reference"}
    assert results["rows"] > 0 and results["aggregates"]["pipeline"]["benefits_rows"] > 0
    for figures in results["month_runs"].values():
        assert figures["wall_s"] > 0 and figures["peak_rss_mb"] > 0 and figures["reps"] == 1
