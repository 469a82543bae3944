"""Locust load on a running casework service: planners and systems calling predict, explain and
sample at once, and one planner drawing big samples back to back.

Run by ``benchmarks.bench_service`` (headless, loopback, bounded users and duration). The cases
come from the JSON file named by ``CASEWORK_BENCH_CASES`` (frame records), the token from
``CASEWORK_API_TOKEN``, and /sample draws from the frame file ``frame.parquet`` in the service's
data directory.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from locust import HttpUser, between, task

CASES = json.loads(Path(os.environ["CASEWORK_BENCH_CASES"]).read_text(encoding="utf-8"))


class Planner(HttpUser):
    """One client: mostly small predictions and single-case explanations, some big batches and
    sealed sample draws."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['CASEWORK_API_TOKEN']}"

    @task(10)
    def predict_few(self) -> None:
        start = random.randrange(len(CASES) - 10)
        self.client.post("/predict", json={"cases": CASES[start : start + 10]}, name="/predict 10")

    @task(2)
    def predict_batch(self) -> None:
        self.client.post("/predict", json={"cases": CASES}, name="/predict 1,000")

    @task(10)
    def explain_one(self) -> None:
        case = random.choice(CASES)
        self.client.post("/explain", json={"cases": [case]}, name="/explain 1")

    @task(1)
    def sample(self) -> None:
        body = {"request": {"size": 120, "strata": ["region", "gender"]}, "frame": "frame.parquet"}
        self.client.post("/sample", json=body, name="/sample n=120")


class HeavyPlanner(HttpUser):
    """One planner drawing big balanced samples back to back: seconds of cube work per call,
    run in a job process, while the other users' predictions must stay fast."""

    fixed_count = 1
    wait_time = between(0, 1)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['CASEWORK_API_TOKEN']}"

    @task
    def sample_big(self) -> None:
        body = {
            "request": {"size": 2_000, "strata": ["region", "gender"]},
            "frame": "frame.parquet",
        }
        self.client.post("/sample", json=body, name="/sample n=2,000 (slow user)")
