"""Generate 50,000 inspected + 250,000 frame cases, beside drawing unstructured random columns."""

from __future__ import annotations

import numpy as np

from benchmarks.common import Row, best_of, report
from features.synthetic.generator import generate
from features.synthetic.truth import solve_truth

N_CASES, N_FRAME = 50_000, 250_000


def unstructured(seed: int) -> None:
    """The floor: the same number of random values with no structure at all."""
    rng = np.random.default_rng(seed)
    for n, columns in ((N_CASES, 31), (N_FRAME, 17)):
        rng.random((n, columns))
        rng.choice(["a", "b", "c"], size=(n, 8))


def run() -> list[Row]:
    """Rows: generation time (truth solved first, as in a fresh process) vs the floor."""
    solve_seconds = best_of(lambda: (solve_truth.cache_clear(), solve_truth()), repeat=1)
    casework = best_of(lambda: generate(N_CASES, N_FRAME, seed=1))
    floor = best_of(lambda: unstructured(1))
    return [
        Row(
            "generate 50k inspected + 250k frame",
            casework + solve_seconds,
            floor,
            "unstructured random columns",
            "s",
            "< 10 s",
            note=f"includes {solve_seconds:.2f} s solving the calibrated truth",
        ),
    ]


if __name__ == "__main__":
    report(run(), "generate")
