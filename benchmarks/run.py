"""The benchmark harness: the pipeline against a floor (pandas) and a reference (DuckDB), side by side.

    make bench                        # national scale, 3 repetitions, scaling figures, PostgreSQL
    .venv/bin/python benchmarks/run.py --scale 1.0 --reps 3 [--scaling] [--postgres URL]

For one month (default 2024-04, a UTF-8 CSV month) it makes — or reuses, by scale and seed — the
sample files, then times, each ``--reps`` times in a fresh KENPO_HOME:
- pipeline:  ``kenpo run --from M --to M --through actuals`` (the four loaders with their GX checks
  and the warehouse writes, monthly_aggregates, kpi_actuals of the fiscal year — all through Dagster,
  in a fresh instance and warehouse);
- month job: ``kenpo run --from M --to M --through evaluation`` — the whole job an operator runs for a
  month: the same, then the fiscal year's evaluation and data quality (workbooks excluded);
- floor:     ``benchmarks/floor.py`` (pandas: same parse, rules, business days, aggregation, SQLite);
- reference: ``benchmarks/reference.py`` (the same in DuckDB).
Timed region: the whole process, interpreter start and imports included. CPU: user + system of the
process tree. Peak RSS: the largest resident size of any process of the tree (sampled every 20 ms).
Rows/s: data rows of the month's four files ÷ wall seconds. Medians are reported, with min–max.
The pipeline, the floor and the reference must agree on the month's aggregates (rows, channels,
service-standard counts and days, content re-review points); the harness says so.

Each pipeline run is broken down into stages from the run's own records in its Dagster instance:
start-up (process start → first step), each feed's read / validate / write (the loader's
``seconds: …`` log line, ``warehouse.loading.stage_seconds_message``) and the rest of its step (checks
and events), GX's one-off set-up, then the aggregate, actuals, evaluation and data-quality steps
(STEP_START → STEP_SUCCESS), and the rest (run launches between the runs, bookkeeping, exit).

``--scaling`` adds: a 12-month backfill of the fiscal year (single runs), the re-submission of one
corrected month (which partitions re-materialize, how long) against rebuilding the year, and
``--postgres URL`` the same month on PostgreSQL (a fresh database per repetition, upgraded first).
Results go to ``--out`` (JSON) and the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KENPO = str(BIN / "kenpo")
AGGREGATES = ["benefits_rows", "channel_postal", "channel_counter", "channel_online", "ss_rows", "ss_within_standard", "ss_days_sum",
              "content_rows", "content_reduced_points"]
FEEDS = ["benefits", "claims_review", "screenings", "indicators"]


def measure(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> dict:
    """Run ``cmd`` to completion: wall and CPU seconds of its tree, peak RSS of any of its processes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = peak_sum = 0
    done = threading.Event()

    def sample():
        nonlocal peak, peak_sum
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                rss = [p.memory_info().rss for p in procs if p.is_running()]
                peak, peak_sum = max([peak, *rss]), max(peak_sum, sum(rss))
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{output[-3000:]}")
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak / 2**20, "peak_rss_sum_mb": peak_sum / 2**20, "output": output}


def prepare(cache: Path, scale: float, seed: int, months: list[str]) -> Path:
    """The sample files of ``months`` at ``scale`` and ``seed`` (made once, then reused)."""
    key = f"scale{scale:g}-seed{seed}"
    landing = cache / key
    missing = [m for m in months if not all((landing / f / f"{m.replace('-', '')}.csv").exists() or
                                            (landing / f / f"{m.replace('-', '')}.xlsx").exists() for f in FEEDS)]
    if missing:
        fys = sorted({int(m[:4]) - (m[5:] < "04") for m in missing})
        subprocess.run([KENPO, "sample", "--out", str(landing), "--from-fy", str(fys[0]), "--to-fy", str(fys[-1]),
                        "--scale", str(scale), "--seed", str(seed), "--months", ",".join(missing)], check=True, capture_output=True)
    return landing


def landing_of(source: Path, months: list[str], into: Path) -> Path:
    """A landing area holding only ``months`` (hard links: no copy of the data)."""
    for feed in FEEDS:
        (into / feed).mkdir(parents=True, exist_ok=True)
        for m in months:
            for f in (source / feed).glob(f"{m.replace('-', '')}.*"):
                os.link(f, into / feed / f.name)
    return into


def data_rows(landing: Path) -> int:
    n = 0
    for f in landing.glob("*/*.csv"):
        with open(f, "rb") as fh:
            n += sum(1 for _ in fh) - 1
    return n


def fresh_env(home: Path, landing: Path, warehouse_url: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KENPO_", "DAGSTER_")) or k.startswith("KENPO_INTAKE_")}
    # the sample files are complete before a timed run starts: no settle time to wait for
    # (KENPO_INTAKE_WORKERS / _PARALLEL_MIN_BYTES pass through: the intake pool on or off)
    env.update(KENPO_HOME=str(home), KENPO_LANDING=str(landing), GX_ANALYTICS_ENABLED="False", KENPO_LANDING_SETTLE_SECONDS="0")
    if warehouse_url:
        env["KENPO_WAREHOUSE_URL"] = warehouse_url
    return env


def pipeline_aggregates(url: str, month: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from kenpo_pipeline.warehouse.store import Warehouse, dispose_engine

    frame = Warehouse(url).read_table("monthly_aggregates", month=month)
    dispose_engine(url)
    sums = frame.groupby("input")["value"].sum()
    return {k: float(sums.get(k, 0.0)) for k in AGGREGATES}


def flat(summary: dict) -> dict:
    out = {k: 0.0 for k in AGGREGATES}
    for feed in ("benefits", "claims_review"):
        out.update(summary[feed].get("aggregates", {}))
    return {k: float(out.get(k, 0.0)) for k in AGGREGATES}


def stats(samples: list[dict], rows: int) -> dict:
    def med(key):
        return statistics.median(s[key] for s in samples)

    return {
        "wall_s": med("wall_s"), "wall_min": min(s["wall_s"] for s in samples), "wall_max": max(s["wall_s"] for s in samples),
        "cpu_s": med("cpu_s"), "peak_rss_mb": med("peak_rss_mb"), "peak_rss_sum_mb": med("peak_rss_sum_mb"), "rows_per_s": rows / med("wall_s"),
        "reps": len(samples),
    }


def stage_medians(samples: list[dict]) -> dict[str, float]:
    """Median seconds of each stage over the repetitions (a stage missing from one counts 0)."""
    keys = stage_order({k: 0 for s in samples for k in s.get("stages", {})})
    return {k: statistics.median(s.get("stages", {}).get(k, 0.0) for s in samples) for k in keys}


def pg_database(admin_url: str) -> str:
    import sqlalchemy as sa

    eng = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"kenpo_bench_{uuid.uuid4().hex[:10]}"
    with eng.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return eng.url.set(database=name).render_as_string(hide_password=False)


def run_pipeline(month: str, landing: Path, work: Path, url: str | None = None, extra: list[str] = (),
                 through: str = "actuals") -> tuple[dict, Path, str]:
    home = Path(tempfile.mkdtemp(prefix="kenpo-bench-", dir=work))
    env = fresh_env(home, landing, url)
    if url:
        subprocess.run([KENPO, "db", "upgrade"], env=env, check=True, capture_output=True)  # not timed: a one-off step
    started = time.time()
    sample = measure([KENPO, "run", "--from", month, "--to", month, "--through", through, *extra], env=env, cwd=ROOT)
    sample["stages"] = stage_breakdown(home, started, sample["wall_s"])
    return sample, home, url or f"sqlite:///{home / 'warehouse.db'}"


STEP_STAGES = {"monthly_aggregates": "aggregate", "kpi_actuals": "actuals", "pdca_evaluation": "evaluation", "data_quality": "data quality"}
START_UP = "start-up (process start → first step)"
GX_SETUP = "GX set-up (import, context, suites: first feed)"
REST = "rest (run launches between runs, bookkeeping, exit)"


def stage_breakdown(home: Path, started: float, wall: float) -> dict[str, float]:
    """Seconds per stage of the ``kenpo run`` started at ``started`` (epoch) in ``home``, from the
    run's own records: step events and the loader's ``seconds: …`` log lines (see module docstring)."""
    import dagster as dg

    sys.path.insert(0, str(ROOT))
    from kenpo_pipeline.warehouse.loading import STAGE_SECONDS

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    stages: dict[str, float] = {}
    add = lambda key, seconds: stages.__setitem__(key, stages.get(key, 0.0) + seconds)  # noqa: E731
    first_step, in_steps = None, 0.0
    with dg.DagsterInstance.get() as instance:
        for record in instance.get_run_records():
            if record.create_timestamp.timestamp() < started - 1:  # a run of an earlier command
                continue
            open_steps: dict[str, float] = {}
            for entry in instance.all_logs(record.dagster_run.run_id):
                event = entry.dagster_event
                kind = event.event_type_value if event is not None else None
                if kind == "STEP_START":
                    open_steps[entry.step_key] = entry.timestamp
                    first_step = entry.timestamp if first_step is None else min(first_step, entry.timestamp)
                elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in open_steps:
                    seconds = entry.timestamp - open_steps.pop(entry.step_key)
                    in_steps += seconds
                    add(STEP_STAGES.get(entry.step_key, entry.step_key), seconds)
                elif event is None and entry.step_key and (found := STAGE_SECONDS.search(entry.user_message or "")):
                    parts = {k: float(v or 0) for k, v in found.groupdict().items()}
                    for part in ("read", "validate", "write"):
                        add(f"{entry.step_key} {part}", parts[part])
                    add(f"{entry.step_key} {'checks, events'}", -sum(parts.values()))  # the step's rest, completed below
                    add(GX_SETUP, parts["gx_setup"])
    for key in list(stages):  # a feed's step total → its rest beside read / validate / write
        if f"{key} checks, events" in stages:
            stages[f"{key} checks, events"] += stages.pop(key)
    stages[START_UP] = (first_step - started) if first_step is not None else wall
    stages[REST] = wall - stages[START_UP] - in_steps
    return stages


def stage_order(stages: dict) -> list[str]:
    """Stages in the order of a month's journey."""
    head = [START_UP, GX_SETUP] + [f"{feed} {part}" for feed in FEEDS for part in ("read", "validate", "write", "checks, events")]
    tail = [STEP_STAGES[k] for k in STEP_STAGES]
    known = head + tail + [REST]
    return [k for k in head + tail if k in stages] + sorted(k for k in stages if k not in known) + ([REST] if REST in stages else [])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--month", default="2024-04")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--scaling", action="store_true", help="also the 12-month backfill and the corrected-month figures")
    p.add_argument("--postgres", help="admin URL of a PostgreSQL server for the PostgreSQL figure ('env': $KENPO_TEST_PG_URL)")
    p.add_argument("--cache", default=str(ROOT / ".kenpo" / "bench-data"), help="where sample files are kept between runs")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "latest.json"))
    args = p.parse_args(argv)
    if args.postgres == "env":
        args.postgres = os.environ.get("KENPO_TEST_PG_URL")

    cache, work = Path(args.cache), Path(tempfile.mkdtemp(prefix="kenpo-bench-"))
    month = args.month
    results: dict = {"machine": machine(), "scale": args.scale, "seed": args.seed, "month": month, "reps": args.reps}
    try:
        source = prepare(cache, args.scale, args.seed, [month])
        landing = landing_of(source, [month], work / "landing")
        rows = data_rows(landing)
        results["rows"] = rows
        print(f"{month} at scale {args.scale:g}: {rows:,} data rows in 4 files; {args.reps} repetition(s) each", flush=True)

        samples: dict[str, list[dict]] = {"pipeline": [], "month_job": [], "floor": [], "reference": []}
        answers: dict[str, dict] = {}
        for rep in range(args.reps):
            s, home, url = run_pipeline(month, landing, work)
            samples["pipeline"].append(s)
            answers["pipeline"] = pipeline_aggregates(url, month)
            shutil.rmtree(home, ignore_errors=True)
            s, home, url = run_pipeline(month, landing, work, through="evaluation")
            samples["month_job"].append(s)
            answers["month_job"] = pipeline_aggregates(url, month)
            shutil.rmtree(home, ignore_errors=True)
            out = work / f"floor-{rep}.sqlite"
            s = measure([sys.executable, str(ROOT / "benchmarks" / "floor.py"), str(landing), month, str(out)])
            samples["floor"].append(s)
            answers["floor"] = flat(json.loads(s["output"].strip().splitlines()[-1]))
            out = work / f"reference-{rep}.duckdb"
            s = measure([sys.executable, str(ROOT / "benchmarks" / "reference.py"), str(landing), month, str(out)])
            samples["reference"].append(s)
            answers["reference"] = flat(json.loads(s["output"].strip().splitlines()[-1]))
            print(f"  repetition {rep + 1}: pipeline {samples['pipeline'][-1]['wall_s']:.1f}s, month job {samples['month_job'][-1]['wall_s']:.1f}s, "
                  f"floor {samples['floor'][-1]['wall_s']:.1f}s, reference {samples['reference'][-1]['wall_s']:.1f}s "
                  f"(load average {os.getloadavg()[0]:.1f})", flush=True)
        table = {name: stats(v, rows) for name, v in samples.items()}
        results["month_runs"] = table
        results["stages"] = {name: stage_medians(samples[name]) for name in ("pipeline", "month_job")}
        results["load_average"] = list(os.getloadavg())
        results["agree"] = answers["pipeline"] == answers["month_job"] == answers["floor"] == answers["reference"]
        results["aggregates"] = answers

        if args.postgres:
            pg = []
            for _ in range(args.reps):
                url = pg_database(args.postgres)
                s, home, _ = run_pipeline(month, landing, work, url)
                pg.append(s)
                shutil.rmtree(home, ignore_errors=True)
            results["postgres"] = stats(pg, rows)

        if args.scaling:
            results["scaling"] = scaling(args, cache, work, month)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(report(results))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"\nwritten: {args.out}")
    return 0 if results["agree"] else 1


def scaling(args, cache: Path, work: Path, month: str) -> dict:
    """A fiscal year as single runs (through the evaluation); then one corrected month against rebuilding the year."""
    fy = int(month[:4]) - (month[5:] < "04")
    months = [f"{fy + (m < 4)}-{m:02d}" for m in (*range(4, 13), 1, 2, 3)]
    source = prepare(cache, args.scale, args.seed, months)
    landing = landing_of(source, months, work / "landing-year")
    home = Path(tempfile.mkdtemp(prefix="kenpo-bench-year-", dir=work))
    env = fresh_env(home, landing)
    # issue 13's backfill target is through the evaluation (round one measured it through actuals)
    year = measure([KENPO, "run", "--from", months[0], "--to", months[-1], "--through", "evaluation"], env=env, cwd=ROOT)
    out = {"year_rows": data_rows(landing), "year_backfill": {k: year[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "peak_rss_sum_mb")}}
    # a corrected month: one benefits row fewer in the middle of the year
    corrected = months[6]
    path = landing / "benefits" / f"{corrected.replace('-', '')}.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    path.unlink()  # the hard link: write a new file, the cache stays intact
    path.write_bytes(b"".join(lines[:-1]))
    started = time.time()
    one = measure([KENPO, "run", "--from", corrected, "--to", corrected, "--through", "actuals"], env=env, cwd=ROOT)
    out["corrected_month"] = {"month": corrected, **{k: one[k] for k in ("wall_s", "cpu_s", "peak_rss_mb")},
                              "rematerialized": rematerialized(home, started)}
    started = time.time()
    again = measure([KENPO, "run", "--from", months[0], "--to", months[-1], "--through", "actuals", "--force"], env=env, cwd=ROOT)
    out["year_rebuild"] = {**{k: again[k] for k in ("wall_s", "cpu_s", "peak_rss_mb")}, "rematerialized": rematerialized(home, started)}
    return out


def rematerialized(home: Path, since: float) -> dict[str, list[str]]:
    """asset → partitions materialized after ``since`` in that KENPO_HOME's Dagster instance."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    out: dict[str, set] = {}
    with dg.DagsterInstance.get() as instance:
        for key in instance.get_asset_keys():
            records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_timestamp=since), limit=10_000).records
            for r in records:
                out.setdefault(key.to_user_string(), set()).add(r.partition_key)
    return {k: sorted(v) for k, v in out.items()}


def machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(), "system": platform.platform(), "date": time.strftime("%Y-%m-%d"),
    }


def targets(r: dict) -> list[tuple[str, float, float, str]]:
    """(what, measured, limit, unit) for each target the run measured."""
    t = r["month_runs"]
    out = [("one month through actuals ÷ floor", t["pipeline"]["wall_s"] / t["floor"]["wall_s"], 2.0, "×"),
           ("one month, the whole month job ÷ floor", t["month_job"]["wall_s"] / t["floor"]["wall_s"], 2.5, "×"),
           # the process tree summed (kenpo, the intake fork server and its workers; shared pages count in each): the
           # memory the machine must have; the largest single process is printed in the table above
           ("one month: peak RSS of the process tree (month job)",
            max(t[k].get("peak_rss_sum_mb", t[k]["peak_rss_mb"]) for k in ("pipeline", "month_job")) / 1024, 1.0, " GB")]
    evaluation = r.get("stages", {}).get("month_job", {}).get("evaluation")
    if evaluation is not None:
        out.append(("evaluation step (one fiscal year)", evaluation, 1.5, " s"))
    if "postgres" in r:
        out.append(("one month: PostgreSQL ÷ SQLite", r["postgres"]["wall_s"] / t["pipeline"]["wall_s"], 1.5, "×"))
    if "scaling" in r and r["scale"] >= 1.0:
        year = r["scaling"]["year_backfill"]
        out.append(("12-month national backfill", year["wall_s"], 80.0, " s"))
        out.append(("12-month backfill: peak RSS of the process tree", year.get("peak_rss_sum_mb", year["peak_rss_mb"]) / 1024, 1.0, " GB"))
    return out


def report(r: dict) -> str:
    t = r["month_runs"]
    lines = ["", f"one month ({r['month']}, {r['rows']:,} rows, scale {r['scale']:g}), medians of {r['reps']}"
             + (f"; load average at the end {r['load_average'][0]:.1f}" if "load_average" in r else "") + ":",
             f"{'':<12}{'wall s':>9}{'(min–max)':>16}{'CPU s':>9}{'peak RSS MB':>13}{'rows/s':>11}{'÷ floor':>9}{'÷ ref':>8}"]
    for name in ("pipeline", "month_job", "floor", "reference"):
        s = t[name]
        spread = f"{s['wall_min']:.2f}–{s['wall_max']:.2f}"
        lines.append(f"{name.replace('_', ' '):<12}{s['wall_s']:>9.2f}{spread:>16}{s['cpu_s']:>9.2f}{s['peak_rss_mb']:>13.0f}"
                     f"{s['rows_per_s']:>11,.0f}{s['wall_s'] / t['floor']['wall_s']:>9.2f}{s['wall_s'] / t['reference']['wall_s']:>8.2f}")
    if "postgres" in r:
        s = r["postgres"]
        spread = f"{s['wall_min']:.2f}–{s['wall_max']:.2f}"
        lines.append(f"{'pipeline/PG':<12}{s['wall_s']:>9.2f}{spread:>16}{s['cpu_s']:>9.2f}{s['peak_rss_mb']:>13.0f}"
                     f"{s['rows_per_s']:>11,.0f}{s['wall_s'] / t['floor']['wall_s']:>9.2f}{s['wall_s'] / t['reference']['wall_s']:>8.2f}"
                     f"   PostgreSQL ÷ SQLite {s['wall_s'] / t['pipeline']['wall_s']:.2f}")
    lines.append(f"aggregates agree (pipeline = month job = floor = reference): {'yes' if r['agree'] else 'NO — see the JSON'}")
    if r.get("stages"):
        a, m = r["stages"].get("pipeline", {}), r["stages"].get("month_job", {})
        lines.append("")
        lines.append("where the time goes (seconds, medians; from the runs' own step events and loader logs):")
        lines.append(f"  {'stage':<52}{'through actuals':>16}{'month job':>11}")
        for key in stage_order({**a, **m}):
            shown = lambda v: f"{v:.2f}" if v is not None else "—"  # noqa: E731
            lines.append(f"  {key:<52}{shown(a.get(key)):>16}{shown(m.get(key)):>11}")
    lines.append("")
    lines.append("targets (issue 13: national scale, 2 cores):")
    for label, value, limit, unit in targets(r):
        verdict = "met" if value <= limit else f"MISSED by {100 * (value / limit - 1):.0f}%"
        lines.append(f"  {label:<52}{value:>10.2f}{unit:<3} target ≤ {limit:g}{unit:<3} {verdict}")
    if "scaling" in r:
        sc = r["scaling"]
        lines.append("")
        yb = sc["year_backfill"]
        lines.append(f"12-month backfill through the evaluation ({sc['year_rows']:,} rows, single runs): {yb['wall_s']:.1f} s wall, "
                     f"{yb['cpu_s']:.1f} CPU s, peak RSS {yb['peak_rss_mb']:.0f} MB (largest process), "
                     f"{yb.get('peak_rss_sum_mb', yb['peak_rss_mb']):.0f} MB (process tree)")
        c = sc["corrected_month"]
        lines.append(f"corrected month {c['month']}: {c['wall_s']:.1f} s; re-materialized: "
                     + "; ".join(f"{k} {', '.join(str(p) for p in v)}" for k, v in c["rematerialized"].items()))
        y = sc["year_rebuild"]
        lines.append(f"rebuilding the year instead (--force): {y['wall_s']:.1f} s ({y['wall_s'] / max(c['wall_s'], 1e-9):.1f}× the corrected month)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
