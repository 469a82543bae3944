"""Service latency over loopback HTTP, beside the same work called in-process (the baseline).

Rows: /predict with 1,000 cases p50/p99, single-case /explain p99, /sample n = 120 from a
50,000-case frame file. The gap between the two columns is what HTTP, JSON and the batching
dispatcher cost. Then a locust load (``locustfile.py``: 50 users for 2 minutes, headless, on
loopback) against the same service: failures, p99 per endpoint and throughput.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from benchmarks.common import Row, best_of, percentiles, report
from features.readers import write_table
from features.settings import Settings
from features.synthetic.generator import generate
from serving.launch import running_service
from serving.sampling import SampleRequest, draw_sample
from training.lifecycle.promotion import publish
from training.reporting.explain import explain_cases
from training.trainer import train

TOKEN = "bench-token-0123456789abcdef"
REQUEST = {"size": 120, "strata": ["region", "gender"]}
"""One inspection's sample from a 50,000-case frame (~160 offices): region × gender, as the demo."""
USERS, DURATION = 50, "2m"
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def load(url: str, cases: list[dict], folder: Path) -> list[Row]:
    """Run locust headless against ``url``; rows from its CSV statistics."""
    (folder / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    prefix = folder / "locust"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            url,
            "--users",
            str(USERS),
            "--spawn-rate",
            "10",
            "--run-time",
            DURATION,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        env={
            **os.environ,
            "CASEWORK_BENCH_CASES": str(folder / "cases.json"),
            "CASEWORK_API_TOKEN": TOKEN,
        },
        check=False,  # locust exits 1 when a request failed: that is a figure, not an error
        capture_output=True,
    )
    with open(f"{prefix}_stats.csv", encoding="utf-8") as stats:
        table = {row["Name"]: row for row in csv.DictReader(stats)}
    total = table.pop("Aggregated")
    label = f"locust {USERS} users {DURATION}"
    rows = [
        Row(
            f"{label}: failed requests of {int(total['Request Count']):,}",
            float(total["Failure Count"]),
            None,
            "-",
            "requests",
            "0",
        ),
        Row(f"{label}: throughput", float(total["Requests/s"]), None, "-", "req/s"),
    ]
    rows += [
        Row(f"{label}: {name} {quantile}", float(row[column]), None, "-", "ms")
        for name, row in sorted(table.items())
        for quantile, column in (("p50", "50%"), ("p99", "99%"))
    ]
    return rows


def run() -> list[Row]:
    """Train a model on 20,000 cases, serve it, and time the three calls both ways."""
    data = generate(20_000, 50_000, seed=3)
    model = train(data.inspected, seed=0).model
    frame = data.frame
    batch = json.loads(frame.iloc[:1_000].to_json(orient="records"))
    one = batch[:1]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = Settings(data_dir=root / "data", models_dir=root / "models")
        write_table(frame, settings.data_dir / "frame.parquet")
        publish(model, "1", settings)
        env = {
            "CASEWORK_DATA_DIR": str(settings.data_dir),
            "CASEWORK_MODELS_DIR": str(settings.models_dir),
            "CASEWORK_API_TOKEN": TOKEN,
            "BENTOML_HOME": str(root / "bentoml"),
        }
        with (
            running_service(env, root / "service.log", cwd=root) as url,
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300
            ) as client,
        ):

            def call(path: str, body: dict) -> None:
                client.post(path, json=body).raise_for_status()

            predict = percentiles(lambda: call("/predict", {"cases": batch}), 100)
            explain = percentiles(lambda: call("/explain", {"cases": one}), 200)
            body = {"request": REQUEST, "frame": "frame.parquet", "seed": 1, "sealed": False}
            call("/sample", body)  # the first call loads and scores the frame file
            sample = best_of(lambda: call("/sample", body), repeat=5)
            loaded = load(url, batch, root)
    local_predict = percentiles(lambda: model.predict(frame.iloc[:1_000]), 100)
    local_explain = percentiles(lambda: explain_cases(model, frame.iloc[:1]), 200)
    scores = model.predict(frame)
    local_sample = best_of(lambda: draw_sample(frame, scores, SampleRequest(**REQUEST), 1), 5)
    return [
        Row("/predict 1,000 cases: p50", predict[0], local_predict[0], "in-process", "ms"),
        Row("/predict 1,000 cases: p99", predict[1], local_predict[1], "in-process", "ms", "< 100"),
        Row("/explain one case: p99", explain[1], local_explain[1], "in-process", "ms", "< 20"),
        Row("/sample n=120 from 50,000 (warm)", sample, local_sample, "in-process", "s"),
        *loaded,
    ]


if __name__ == "__main__":
    print(f"results: {report(run(), 'service')}")
