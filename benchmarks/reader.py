"""The CSV read stage, row by row against column-wise (issue 13, round two: the vectorised reader).

    .venv/bin/python benchmarks/reader.py [--scale 1.0] [--seed 1] [--months 2024-04,2024-05] [--reps 5]

For every CSV file of the sample months (made, or reused by scale and seed, under
``.kenpo/bench-data/`` as ``run.py`` does), the CPU seconds (``time.process_time``, this process
only) of
- **read**: ``read_table`` — the bytes decoded and checked, then header, cells and physical line
  numbers (the ``read`` of the loader's ``seconds: …`` log line, without the file's checksum);
- **frame**: what ``_check_table`` does with them before any value is parsed — the header mapped,
  the raw frame of the layout's columns, the row numbers as a Series;
with ``reader="rows"`` (the csv module, row by row: the only reader before this round) and
``reader="auto"`` (column-wise whenever that is provably the same, which it is for every sample
file). The two run interleaved, ``--reps`` times each; medians with min–max, and the 1-minute load
average when each file was done (the machine is shared). Both must give the same row numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import FEEDS, prepare  # noqa: E402

from kenpo_pipeline.domain.intake.feeds import _map_header, _raw_frame  # noqa: E402
from kenpo_pipeline.domain.intake.reading import read_table  # noqa: E402
from kenpo_pipeline.domain.reference import feed_layout  # noqa: E402


def once(path: Path, data: bytes, feed: str, reader: str) -> tuple[float, float, object]:
    layout = feed_layout(feed)
    started = time.process_time()
    table = read_table(path, layout, data, reader=reader)
    read = time.process_time()
    positions, _ = _map_header(table, layout)
    _raw_frame(table, layout, positions)
    pd.Series(table.row_numbers, dtype="int64")
    return read - started, time.process_time() - read, table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--months", default="2024-04,2024-05", help="2024-04: UTF-8, no quote; 2024-05: CP932, CRLF, quoted thousands")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--cache", default=str(ROOT / ".kenpo" / "bench-data"))
    args = p.parse_args(argv)
    months = args.months.split(",")
    landing = prepare(Path(args.cache), args.scale, args.seed, months)
    print(f"CPU seconds, medians of {args.reps} (min–max); scale {args.scale:g}, seed {args.seed}")
    print(f"{'file':<26}{'rows':>9} {'reader':<8}{'read':>16}{'frame':>16}{'read + frame':>14}  load")
    totals = {"rows": [0.0, 0.0], "auto": [0.0, 0.0]}
    for month in months:
        for feed in FEEDS:
            path = landing / feed / f"{month.replace('-', '')}.csv"
            if not path.exists():
                continue
            data = path.read_bytes()
            times: dict[str, list[tuple[float, float]]] = {"rows": [], "auto": []}
            used, numbers = {}, {}
            for _ in range(args.reps):
                for reader in ("rows", "auto"):
                    read, frame, table = once(path, data, feed, reader)
                    times[reader].append((read, frame))
                    used[reader], numbers[reader] = table.reader, list(table.row_numbers)
                    del table
            if numbers["rows"] != numbers["auto"]:
                print(f"{path}: the readers disagree on the row numbers", file=sys.stderr)
                return 1
            load = os.getloadavg()[0]
            for reader in ("rows", "auto"):
                reads, frames = [t[0] for t in times[reader]], [t[1] for t in times[reader]]
                both = [r + f for r, f in times[reader]]
                totals[reader][0] += statistics.median(both)
                name = f"{feed}/{path.name}" if reader == "rows" else ""
                rows = f"{len(numbers[reader]):,}" if reader == "rows" else ""
                print(f"{name:<26}{rows:>9} {used[reader]:<8}"
                      f"{statistics.median(reads):>7.3f} ({min(reads):.2f}–{max(reads):.2f})"
                      f"{statistics.median(frames):>7.3f} ({min(frames):.2f}–{max(frames):.2f})"
                      f"{statistics.median(both):>14.3f}  {load:.1f}", flush=True)
    print(f"all files, read + frame (sum of medians): rows {totals['rows'][0]:.3f} s, columns {totals['auto'][0]:.3f} s "
          f"({totals['rows'][0] / max(totals['auto'][0], 1e-9):.1f}× less CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
