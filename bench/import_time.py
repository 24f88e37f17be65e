"""Benchmark start-up: the import of `livebot.cli` and of the web tier, each in fresh processes.

Run as `python -m bench.import_time [--runs N]`; prints the median and p90 of each in seconds,
of the clock and of the process's CPU (which a busy machine inflates less); writes JSON too.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from typing import Final

from bench.measure import RESULTS_DIR, percentile, table, write_json

# What `livebot web` imports before it serves: the command, then the web application.
TARGETS: Final = {
    "livebot.cli": "import livebot.cli",
    "web tier": "import livebot.web.app, livebot.services",
}
TIMER: Final = (
    "import time; t, c = time.perf_counter(), time.process_time(); {statement}; "
    "print(time.perf_counter() - t, time.process_time() - c)"
)


def import_seconds(statement: str) -> tuple[float, float]:
    """Seconds of the clock and of CPU one fresh interpreter takes to run `statement` (its own
    start-up not counted)."""
    done = subprocess.run(
        [sys.executable, "-c", TIMER.format(statement=statement)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall, cpu = done.stdout.split()
    return float(wall), float(cpu)


def summary(values: list[float]) -> tuple[str, str]:
    """The median and p90, formatted."""
    ordered = sorted(values)
    return f"{statistics.median(ordered):.3f}", f"{percentile(ordered, 90) or 0.0:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="fresh processes per target")
    args = parser.parse_args()
    rows = []
    for name, statement in TARGETS.items():
        walls, cpus = zip(*(import_seconds(statement) for _ in range(args.runs)), strict=True)
        rows.append((name, *summary(list(walls)), *summary(list(cpus))))
    header = ("import", "median s", "p90 s", "CPU median s", "CPU p90 s")
    print(table(header, rows))
    write_json(
        RESULTS_DIR / "import_time.json",
        {"runs": args.runs, "imports": [dict(zip(header, row, strict=True)) for row in rows]},
    )


if __name__ == "__main__":
    main()
