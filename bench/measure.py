"""Measuring: CPU and memory of processes (from /proc), latency percentiles, tables and JSON."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
TCP_ESTABLISHED: Final = "01"


def proc_status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status, such as VmRSS or VmHWM."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def rss_kb(pid: int) -> int:
    """Resident memory of a process now."""
    return proc_status_kb(pid, "VmRSS")


def peak_rss_kb(pid: int) -> int:
    """Peak resident memory of a process so far (VmHWM)."""
    return proc_status_kb(pid, "VmHWM")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, of which interrupts) CPU seconds of the whole machine, summed over every core.

    Interrupt time (`irq` + `softirq`) is mostly the kernel moving loopback TCP packets: no
    process is charged for it.
    """
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK, (irq + softirq) / CLK_TCK


class CpuMeter:
    """CPU used by a set of processes (and the whole machine) between `start` and `stop`."""

    def __init__(self, pids: dict[str, Sequence[int]]) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}
        self._machine: tuple[float, float] = (0.0, 0.0)
        self._wall = 0.0

    def _sample(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.pids.items()}

    def start(self) -> None:
        """Take the first sample."""
        self._start = self._sample()
        self._machine = machine_busy_seconds()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Per group: % of one core used since `start`; also kernel interrupts, the rest of the
        machine (other processes), and how busy the whole machine was (% of all cores)."""
        wall = time.monotonic() - self._wall
        end = self._sample()
        busy, irq = machine_busy_seconds()
        busy -= self._machine[0]
        irq -= self._machine[1]
        ours = sum(end[name] - self._start[name] for name in end)
        percent = {name: round(100 * (end[name] - self._start[name]) / wall, 1) for name in end}
        percent["irq"] = round(100 * irq / wall, 1)
        # Whatever else runs on the machine meanwhile (other test suites…) disturbs the numbers.
        percent["others"] = round(max(0.0, 100 * (busy - irq - ours) / wall), 1)
        percent["machine"] = round(100 * busy / (wall * (os.cpu_count() or 1)), 1)
        return percent


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of sorted values."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_summary(latencies_us: Iterable[int]) -> dict[str, float | None]:
    """p50/p90/p99/max of microsecond latencies, in milliseconds."""
    values = sorted(latencies_us)

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v / 1000, 2)

    return {
        "count": len(values),
        "p50_ms": ms(percentile(values, 50)),
        "p90_ms": ms(percentile(values, 90)),
        "p99_ms": ms(percentile(values, 99)),
        "max_ms": ms(values[-1] if values else None),
    }


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Plain-text table with aligned columns."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    cells = [list(header)] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append(" | ".join(parts))
        if n == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write the results."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def tcp_connections_to(pid: int, port: int) -> int:
    """Established TCP connections a process holds to `port` (its Redis connections)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            target = os.readlink(fd_dir / fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    count = 0
    for table_name in ("tcp", "tcp6"):
        lines = Path(f"/proc/{pid}/net/{table_name}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == TCP_ESTABLISHED and fields[9] in inodes:
                count += 1
    return count
