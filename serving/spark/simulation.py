"""Design draws as Spark tasks: the same ``one_draw`` on each draw's own seed, anywhere.

The design is built once on the driver and broadcast; the draws are cut into tasks of
consecutive draw numbers, and the tasks run in waves so the time budget is checked between
waves. Only each draw's selected rows and worst margin come back (n integers and a number).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from serving.design import Design
from serving.simulation import Draw, draw_seeds, one_draw

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

TASKS_PER_CORE = 2
"""A wave (one Spark job) holds this many tasks per core; the budget is checked between waves."""
MAX_DRAWS_PER_TASK = 25
"""Tasks hold at most this many draws, so a long study checks its time budget now and then."""


def draws_per_task(draws: int, cores: int) -> int:
    """Draws in one task: two tasks per core when that keeps them under the cap."""
    return max(1, min(MAX_DRAWS_PER_TASK, math.ceil(draws / (TASKS_PER_CORE * cores))))


class SparkDraws:
    """A ``serving.simulation.DrawEngine`` running the draws as Spark tasks."""

    def __init__(self, spark: SparkSession, draws_per_task: int | None = None) -> None:
        """Use ``spark``; ``draws_per_task`` fixes the task size (default: from the cores)."""
        self.context = spark.sparkContext
        self.draws_per_task = draws_per_task

    def __call__(
        self, design: Design, method: str, draws: int, seed: int, budget_seconds: float
    ) -> list[Draw]:
        """Draws 0 … ``draws`` − 1, in order; fewer when the budget runs out between waves."""
        deadline = time.perf_counter() + budget_seconds
        cores = max(1, self.context.defaultParallelism)
        per_task = self.draws_per_task or draws_per_task(draws, cores)
        numbered = list(enumerate(draw_seeds(seed, draws)))
        tasks = [numbered[i : i + per_task] for i in range(0, draws, per_task)]
        wave = TASKS_PER_CORE * cores
        shared = self.context.broadcast(design)
        done: list[Draw] = []
        try:
            for start in range(0, len(tasks), wave):
                if time.perf_counter() > deadline:
                    break
                batch = tasks[start : start + wave]
                jobs = self.context.parallelize(batch, len(batch))
                done.extend(jobs.flatMap(lambda task: _run(shared.value, method, task)).collect())
        finally:
            shared.unpersist()
        return sorted(done, key=lambda draw: draw.number)


def _run(
    design: Design, method: str, task: Iterable[tuple[int, np.random.SeedSequence]]
) -> Iterator[Draw]:
    """One task's draws, with the same function the local loop calls."""
    for number, seed in task:
        yield one_draw(design, method, number, seed)
