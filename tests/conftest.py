"""Shared fixtures: the calibrated generator is the fixture of every package's tests."""

from __future__ import annotations

import pytest

from features.generator import SyntheticData, generate


@pytest.fixture(scope="session")
def small_data() -> SyntheticData:
    """A small population with truth: 4,000 inspected cases, a 5,000-case frame, seed 7."""
    return generate(4_000, 5_000, seed=7, with_truth=True)
