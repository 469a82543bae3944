"""Promotion gates: the paired bootstrap's figures and the decision rule, on small fixtures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from training.bootstrap_metrics import weighted_auc
from training.lifecycle.gates import POOLED, decide, gate_table


def test_weighted_auc_equals_sklearn_for_every_replicate() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(float)
    p = np.round(rng.random(400), 2)  # ties
    W = rng.random((6, 400)) * rng.integers(0, 3, (6, 400))
    expected = [roc_auc_score(y, p, sample_weight=w) for w in W]
    np.testing.assert_allclose(weighted_auc(y, p, W), expected, rtol=1e-12)


def test_the_champion_against_itself_blocks_nothing_and_promotes(small_data, small_model):
    holdout = small_data.inspected.tail(1_000)
    table = gate_table(small_model, small_model, {"latest": holdout})
    assert (table["delta"] == 0).all() and not table["blocks"].any()
    promote, reason = decide(table)
    assert promote and reason.startswith("promoted: no judgement worse beyond the margins")
    assert f"{POOLED} on latest +0.0000" in reason


def test_the_sentence_names_what_blocked() -> None:
    rows = pd.DataFrame(
        [
            {"holdout": "reference", "check": "AUC planning_safety", "delta": -0.04,
             "low": -0.06, "high": -0.02, "blocks": True},
            {"holdout": "reference", "check": POOLED, "delta": 0.001, "low": -0.002,
             "high": 0.004, "blocks": False},
        ]
    )  # fmt: skip
    promote, reason = decide(rows)
    assert not promote
    assert reason == (
        "champion kept: the challenger's AUC planning_safety on reference is worse "
        "-0.0400 [-0.0600, -0.0200]"
    )
    assert decide(rows.iloc[:0])[0] is False


@pytest.mark.parametrize("rounds", [0, 50])
def test_intervals_only_with_bootstrap_rounds(small_data, small_model, rounds) -> None:
    table = gate_table(small_model, small_model, {"h": small_data.inspected.head(800)}, rounds)
    assert table["low"].isna().all() == (rounds == 0)
