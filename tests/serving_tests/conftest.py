"""One running service for the HTTP, schemathesis and browser tests (`casework serve`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.readers import write_table
from features.settings import Settings
from features.synthetic.generator import generate
from features.synthetic.truth import true_scores
from serving.launch import running_service
from training.lifecycle.promotion import publish

TOKEN = "test-token-4b1d-9e27-c0a5"
MAX_ROWS = 2_000
MAX_BYTES = 4 * 1024 * 1024
DEADLINE = 8.0
"""The job deadline of the test service: short enough to wait for, long enough for the
simulations the tests ask for (they stop their margin draws at half of it)."""
SLOW_FRAME = "slow.parquet"
"""A copy of the frame whose jobs spin until the deadline kills them (``Settings.slow_frame``)."""


@dataclass
class Service:
    """A service started for the tests: its address, token, folders and log file."""

    url: str
    token: str
    root: Path
    log: Path
    settings: Settings

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


@pytest.fixture(scope="session")
def service(tmp_path_factory, small_data, small_model):
    """`casework serve` with the small model as champion and the small frame as frame.parquet."""
    root = tmp_path_factory.mktemp("service")
    settings = Settings(data_dir=root / "data", models_dir=root / "models")
    write_table(small_data.frame, root / "data" / "frame.parquet")
    write_table(small_data.frame, root / "data" / SLOW_FRAME)
    publish(small_model, "1", settings)
    env = {
        "CASEWORK_DATA_DIR": str(settings.data_dir),
        "CASEWORK_MODELS_DIR": str(settings.models_dir),
        "CASEWORK_API_TOKEN": TOKEN,
        "CASEWORK_MAX_ROWS": str(MAX_ROWS),
        "CASEWORK_RELOAD_SECONDS": "0.5",
        "CASEWORK_MAX_REQUEST_BYTES": str(MAX_BYTES),
        "CASEWORK_JOB_DEADLINE_SECONDS": str(DEADLINE),
        "CASEWORK_SLOW_FRAME": SLOW_FRAME,
        "OMP_NUM_THREADS": "1",
        "BENTOML_HOME": str(root / "bentoml"),
    }
    log = root / "service.log"
    with running_service(env, log, cwd=root) as url:
        yield Service(url, TOKEN, root, log, settings)


@pytest.fixture(scope="session")
def national() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A 20,000-case frame (seed 11) with its true scores."""
    frame = generate(100, 20_000, seed=11, with_truth=True).frame
    return frame, true_scores(frame)


@pytest.fixture(scope="session")
def local() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A 2,000-case frame (seed 11, 6 offices) with its true scores."""
    frame = generate(100, 2_000, seed=11, with_truth=True).frame
    return frame, true_scores(frame)


@pytest.fixture(scope="session")
def frame_and_scores(tmp_path_factory, small_data, small_model) -> Path:
    """The small frame and its champion scores as Parquet files in one folder (studies)."""
    root = tmp_path_factory.mktemp("frame-and-scores")
    write_table(small_data.frame, root / "frame.parquet")
    write_table(small_model.predict(small_data.frame), root / "scores.parquet")
    return root
