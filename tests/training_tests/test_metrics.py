"""Metrics against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import evaluate, expected_calibration_error, precision_at


def test_ece_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=2_000)
    y = (rng.uniform(size=2_000) < p**1.3).astype(float)
    bins = np.minimum((p * 10).astype(int), 9)
    direct = sum(
        abs(y[bins == b].mean() - p[bins == b].mean()) * (bins == b).mean() for b in range(10)
    )
    assert expected_calibration_error(y, p) == pytest.approx(direct)


def test_integer_weights_equal_repeated_rows() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(size=500)
    y = (rng.uniform(size=500) < p).astype(float)
    w = rng.integers(1, 4, size=500)
    weighted = evaluate(y, p, w.astype(float))
    repeated = evaluate(np.repeat(y, w), np.repeat(p, w))
    for name in ("prevalence", "auc", "brier", "ece", "precision_at_10", "lift_at_20"):
        assert weighted[name] == pytest.approx(repeated[name], abs=1e-3), name


def test_precision_at_top_share() -> None:
    p = np.arange(10, dtype=float)
    y = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 0], dtype=float)
    assert precision_at(y, p, 0.2) == pytest.approx(0.5)
