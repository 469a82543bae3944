"""`make bench`: run every benchmark, print one table, write results/latest.json."""

from __future__ import annotations

import importlib

from benchmarks.common import Row, report

MODULES = (
    "bench_generate",
    "bench_train",
    "bench_sampling",
    "bench_estimate",
    "bench_explain",
    "bench_service",
    "bench_spark",
)


def main() -> None:
    """Run every benchmark module; each contributes rows to one table."""
    rows: list[Row] = []
    for name in MODULES:
        rows += importlib.import_module(f"benchmarks.{name}").run()
    print(f"results: {report(rows, 'latest')}")


if __name__ == "__main__":
    main()
