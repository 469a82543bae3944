"""Shared fixtures: the calibrated generator is the fixture of every package's tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from features.settings import Settings, get_settings, workspace_environment
from features.synthetic.generator import SyntheticData, generate


@pytest.fixture(scope="session")
def small_data() -> SyntheticData:
    """A small population with truth: 4,000 inspected cases, a 5,000-case frame, seed 7."""
    return generate(4_000, 5_000, seed=7, with_truth=True)


@pytest.fixture(scope="session")
def small_training(small_data):
    """The training result on ``small_data``'s inspected cases (seed 7), for MLflow logging."""
    from training.trainer import train

    return train(small_data.inspected, seed=7)


@pytest.fixture(scope="session")
def small_model(small_training):
    """The bundle trained on ``small_data``'s inspected cases (seed 7)."""
    return small_training.model


@contextlib.contextmanager
def _workspace_at(root: Path) -> Iterator[Settings]:
    """Point the CASEWORK_* settings (data, models, MLflow, reports) at ``root`` while inside."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in workspace_environment(root).items():
            env.setenv(name, value)
        get_settings.cache_clear()
        try:
            yield get_settings()
        finally:
            get_settings.cache_clear()


@pytest.fixture(scope="session")
def workspace_at():
    """``_workspace_at`` for fixtures wider than one test (a module's registry)."""
    return _workspace_at


@pytest.fixture
def workspace(tmp_path):
    """A fresh data/models/MLflow location for one test, through the CASEWORK_* settings."""
    with _workspace_at(tmp_path):
        yield tmp_path


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
