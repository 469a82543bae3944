"""Shared helpers of the benchmark scripts: timing, peak memory, the results table and JSON.

Every workload is measured beside a baseline or peer in the same run on the same machine, and
reported as a row: workload, casework figure, baseline figure, ratio (baseline / casework for
times, casework / baseline for rates: above 1 means casework is faster), goal.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"


@dataclass
class Row:
    """One measured workload against its baseline."""

    workload: str
    casework: float
    baseline: float | None
    baseline_name: str
    unit: str
    goal: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times better casework is: baseline / casework for times and sizes,
        casework / baseline for rates (units ending in /s)."""
        if self.baseline is None or not self.casework or not self.baseline:
            return None
        if self.unit.endswith("/s"):
            return self.casework / self.baseline
        return self.baseline / self.casework


def percentiles(func: Callable[[], object], calls: int = 200) -> tuple[float, float]:
    """p50 and p99 wall time of ``func`` in milliseconds, after a warm-up."""
    for _ in range(20):
        func()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    p50, p99 = np.percentile(times, [50, 99]) * 1000
    return float(p50), float(p99)


def best_of(func: Callable[[], object], repeat: int = 3) -> float:
    """Fastest wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def in_fresh_process(setup: str, body: str) -> tuple[float, float]:
    """Run ``setup`` then ``body`` in a new interpreter: (body seconds, peak memory MiB).

    The peak is the child's own VmHWM: ``ru_maxrss`` survives exec, so it would report this
    (parent) process's peak whenever that is the larger.
    """
    probe = (
        "import re, time\n"
        + setup
        + "\nstart = time.perf_counter()\n"
        + body
        + "\nseconds = time.perf_counter() - start"
        + "\nstatus = open('/proc/self/status').read()"
        + "\nprint(seconds, int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) / 1024)"
    )
    out = (
        subprocess.run(
            [sys.executable, "-c", probe],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent.parent,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    seconds, mib = map(float, out.split())
    return seconds, mib


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "self_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def report(rows: list[Row], name: str) -> Path:
    """Print the rows as a table and write them, with machine info, to results/<name>.json."""
    table = Table(title=f"casework benchmarks: {name}")
    for column in ("workload", "casework", "baseline / peer", "baseline", "ratio", "goal"):
        table.add_column(
            column, justify="left" if column in ("workload", "baseline / peer", "goal") else "right"
        )
    for row in rows:
        table.add_row(
            row.workload,
            f"{row.casework:.4g} {row.unit}",
            row.baseline_name,
            "-" if row.baseline is None else f"{row.baseline:.4g} {row.unit}",
            "-" if row.ratio is None else f"{row.ratio:.2f}",
            row.goal,
        )
    Console(width=150).print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "machine": machine(),
        "rows": [asdict(r) | {"ratio": r.ratio} for r in rows],
    }
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return path
