"""Shared fixtures: the calibrated generator is the fixture of every package's tests."""

from __future__ import annotations

import pytest

from features.synthetic.generator import SyntheticData, generate


@pytest.fixture(scope="session")
def small_data() -> SyntheticData:
    """A small population with truth: 4,000 inspected cases, a 5,000-case frame, seed 7."""
    return generate(4_000, 5_000, seed=7, with_truth=True)


@pytest.fixture(scope="session")
def small_model(small_data):
    """The bundle trained on ``small_data``'s inspected cases (seed 7)."""
    from training.trainer import train

    return train(small_data.inspected, seed=7).model


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh data/models/MLflow location for one test, through the CASEWORK_* settings."""
    from features.settings import get_settings

    for name, value in {
        "DATA_DIR": tmp_path / "data",
        "MODELS_DIR": tmp_path / "models",
        "MLFLOW_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "MLFLOW_ARTIFACTS": tmp_path / "mlruns",
        "REPORTS_DIR": tmp_path / "reports",
    }.items():
        monkeypatch.setenv(f"CASEWORK_{name}", str(value))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (installed by `make test` when missing)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
