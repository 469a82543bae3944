"""`make bench`: run every benchmark, print one table, write results/latest.json."""

from __future__ import annotations

import importlib

from benchmarks.common import Row, report

MODULES = ("bench_generate", "bench_train", "bench_sampling", "bench_explain", "bench_service")


def main() -> None:
    """Run the benchmark modules that exist; each contributes rows to one table."""
    rows: list[Row] = []
    for name in MODULES:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"benchmarks.{name}":
                raise
            continue
        rows += module.run()
    print(f"results: {report(rows, 'latest')}")


if __name__ == "__main__":
    main()
