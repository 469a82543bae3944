"""Spark local[2] against one process: scoring 2.5 million cases and 200 design draws.

Scoring: a 250,000-case generated frame is written ten times over (new case ids) as ten
Parquet partitions, and once more as one file; ``casework score`` reads the file in one
process, ``casework score --engine spark --master local[2]`` the partitions. Both run as
subprocesses watched by psutil every 0.1 s: wall time, peak RSS of the Python driver, of
Spark's JVM (in local mode the executors live in it) and of the whole process tree.
Draws: R balanced draws of one design by ``local_draws`` and by ``SparkDraws``; the per-task
overhead of an empty Spark task and the fixed cost of a draw job give the projection of the
README's "Scaling out". On 2 cores Spark is not expected to win; the point is the arithmetic.

Scale with ``SPARK_BENCH_FRAME`` (250,000), ``SPARK_BENCH_COPIES`` (10),
``SPARK_BENCH_DRAWS`` (200), ``SPARK_BENCH_DRAW_FRAME`` (20,000), ``SPARK_BENCH_DRAW_SIZE`` (300)
and ``SPARK_BENCH_TRAIN`` (10,000 cases train the champion).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import Row, best_of, report
from features.settings import workspace_environment
from features.synthetic.generator import generate
from features.synthetic.truth import true_scores
from serving.sampling import SampleRequest, design_for
from serving.simulation import local_draws
from serving.spark.session import spark_session
from serving.spark.simulation import SparkDraws, draws_per_task

COPIES = int(os.environ.get("SPARK_BENCH_COPIES", 10))
FRAME_CASES = int(os.environ.get("SPARK_BENCH_FRAME", 250_000))
TRAIN_CASES = int(os.environ.get("SPARK_BENCH_TRAIN", 10_000))
DRAWS = int(os.environ.get("SPARK_BENCH_DRAWS", 200))
DRAW_FRAME = int(os.environ.get("SPARK_BENCH_DRAW_FRAME", 20_000))
DRAW_SIZE = int(os.environ.get("SPARK_BENCH_DRAW_SIZE", 300))
MASTER = "local[2]"
EMPTY_TASKS = 64
PROJECTED = (2, 8, 32, 128)
MIB = 2**20


def watch(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``command``; its wall seconds and peak RSS (MiB): driver, JVM, whole tree."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peaks = {"driver": 0.0, "jvm": 0.0, "tree": 0.0}
    done = threading.Event()

    def sample() -> None:
        root = psutil.Process(process.pid)
        while not done.wait(0.1):  # also the pause after a process vanished mid-read
            try:
                family = [root, *root.children(recursive=True)]
                sizes = {p: p.memory_info().rss / MIB for p in family}
            except psutil.Error:
                continue
            peaks["driver"] = max(peaks["driver"], sizes[root])
            jvm = sum(s for p, s in sizes.items() if _is_java(p))
            peaks["jvm"] = max(peaks["jvm"], jvm)
            peaks["tree"] = max(peaks["tree"], sum(sizes.values()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.communicate()[0].decode(errors="replace")
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output[-2000:]}")
    return {"seconds": time.perf_counter() - started, **peaks}


def _is_java(process: psutil.Process) -> bool:
    try:
        return process.name().startswith("java")
    except psutil.Error:
        return False


def registered_champion(root: Path) -> dict[str, str]:
    """Train on ``TRAIN_CASES`` generated cases, register and export the champion; the env."""
    env = {**os.environ, **workspace_environment(root)}
    data = generate(TRAIN_CASES, 1_000, seed=3).inspected
    data.to_parquet(root / "inspected.parquet", index=False)
    casework = str(Path(sys.executable).with_name("casework"))
    subprocess.run(
        [casework, "train", "--data", str(root / "inspected.parquet")],
        env=env,
        check=True,
        capture_output=True,
    )
    return env


def write_frames(root: Path) -> tuple[Path, Path, int]:
    """The frame ×``COPIES`` as a folder of partitions and as one file (written piecewise)."""
    base = pa.Table.from_pandas(generate(100, FRAME_CASES, seed=5).frame, preserve_index=False)
    folder, single = root / "frame", root / "frame.parquet"
    folder.mkdir()
    ids = base.column("case_id").to_pylist()
    where, field = base.schema.get_field_index("case_id"), base.schema.field("case_id")
    with pq.ParquetWriter(single, base.schema) as writer:
        for copy in range(COPIES):
            renamed = pa.array([f"{copy:02d}{case}" for case in ids], type=field.type)
            part = base.set_column(where, field, renamed)
            pq.write_table(part, folder / f"part-{copy:02d}.parquet")
            writer.write_table(part)
    return folder, single, COPIES * base.num_rows


def scoring_rows(root: Path) -> list[Row]:
    """Rows/s and peak memory: ``casework score`` against ``--engine spark`` on local[2]."""
    env = registered_champion(root)
    folder, single, cases = write_frames(root)
    casework = str(Path(sys.executable).with_name("casework"))
    local = watch([casework, "score", "--data", str(single), "--out", str(root / "s.parquet")], env)
    spark_args = ["--engine", "spark", "--master", MASTER, "--conf", "spark.driver.memory=1g"]
    spark = watch(
        [casework, "score", *spark_args, "--data", str(folder), "--out", str(root / "scores")],
        env,
    )
    label = f"score {cases:,} cases"
    return [
        Row(
            f"{label}: Spark {MASTER} vs one process",
            cases / spark["seconds"],
            cases / local["seconds"],
            "casework score, one process",
            "rows/s",
        ),
        Row(
            f"{label}: peak RSS of the Python driver",
            spark["driver"],
            local["driver"],
            "casework score, one process",
            "MiB",
            "Spark < 2 GiB",
        ),
        Row(f"{label}: peak RSS of Spark's JVM (executors inside)", spark["jvm"], None, "-", "MiB"),
        Row(
            f"{label}: peak RSS of all processes",
            spark["tree"],
            local["tree"],
            "casework score, one process",
            "MiB",
        ),
    ]


def projected(cores: int, per_task: float, per_draw: float) -> float:
    """Seconds of ``DRAWS`` draws on ``cores`` cores, fixed costs aside: tasks, then draws."""
    tasks = math.ceil(DRAWS / draws_per_task(DRAWS, cores))
    return math.ceil(tasks / cores) * per_task + math.ceil(DRAWS / cores) * per_draw


def draw_rows() -> list[Row]:
    """R balanced draws: one process against Spark tasks, per-task overhead, projection."""
    data = generate(100, DRAW_FRAME, seed=23, with_truth=True)
    frame = data.frame
    design = design_for(frame, true_scores(frame), SampleRequest(size=DRAW_SIZE))
    local_draws(design, "balanced", 1, 1, 600)  # warm up, as the Spark workers are below
    started = time.perf_counter()
    local = local_draws(design, "balanced", DRAWS, 1, budget_seconds=3_600)
    local_seconds = time.perf_counter() - started
    per_draw = local_seconds / len(local)
    with spark_session(MASTER) as spark:
        context = spark.sparkContext
        cores = context.defaultParallelism
        engine = SparkDraws(spark)
        engine(design, "balanced", 2 * cores, 1, 600)  # warm the Python workers
        started = time.perf_counter()
        remote = engine(design, "balanced", DRAWS, 1, budget_seconds=3_600)
        spark_seconds = time.perf_counter() - started
        empty = context.parallelize(range(EMPTY_TASKS), EMPTY_TASKS)
        per_task = best_of(empty.count, 3) * cores / EMPTY_TASKS
    # what the local[2] run cost beyond its tasks and draws: the jobs' fixed cost
    fixed = max(0.0, spark_seconds - projected(cores, per_task, per_draw))
    same = all(
        a.number == b.number and (a.selected == b.selected).all()
        for a, b in zip(local, remote, strict=True)
    )
    label = f"{DRAWS} balanced draws, N={DRAW_FRAME:,}, n={DRAW_SIZE}"
    rows = [
        Row(
            f"{label}: Spark {MASTER} vs one process (same draws: {same})",
            spark_seconds,
            local_seconds,
            "local_draws, one process",
            "s",
        ),
        Row("one balanced draw (one process)", per_draw, None, "-", "s"),
        Row("Spark: overhead per task (empty task)", per_task, None, "-", "s"),
        Row("Spark: fixed cost of a draw job (rest of the local[2] run)", fixed, None, "-", "s"),
    ]
    for k in PROJECTED:  # README "Scaling out": the arithmetic
        rows.append(
            Row(
                f"{label}: projected on {k} executor cores",
                fixed + projected(k, per_task, per_draw),
                local_seconds,
                "local_draws, one process",
                "s",
                note="fixed + tasks per core x per-task overhead + ceil(R/k) x one draw",
            )
        )
    return rows


def run() -> list[Row]:
    """Every Spark row (scoring in subprocesses, draws in this process)."""
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        return scoring_rows(Path(tmp)) + draw_rows()


if __name__ == "__main__":
    report(run(), "spark")
