"""One running service for the HTTP, schemathesis and browser tests (`casework serve`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from features.readers import write_table
from features.settings import Settings
from training.promotion import publish

TOKEN = "test-token-4b1d"
MAX_ROWS = 2_000


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def service(tmp_path_factory, small_data, small_model):
    """`casework serve` with the small model as champion and the small frame as frame.parquet."""
    root = tmp_path_factory.mktemp("service")
    settings = Settings(data_dir=root / "data", models_dir=root / "models")
    write_table(small_data.frame, root / "data" / "frame.parquet")
    publish(small_model, "1", settings)
    port = free_port()
    env = {
        **os.environ,
        "CASEWORK_DATA_DIR": str(settings.data_dir),
        "CASEWORK_MODELS_DIR": str(settings.models_dir),
        "CASEWORK_API_TOKEN": TOKEN,
        "CASEWORK_MAX_ROWS": str(MAX_ROWS),
        "CASEWORK_RELOAD_SECONDS": "0.5",
        "OMP_NUM_THREADS": "1",
        "BENTOML_HOME": str(root / "bentoml"),
    }
    log = root / "service.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "casework", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield Service(url, TOKEN, root, log, settings)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_ready(url: str, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the service was not ready in {seconds} s:\n{log.read_text()[-3000:]}")
