"""Replication table: its arithmetic against pandas, and the published drivers on generator data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.contract import INSUFFICIENT, JUDGEMENTS, NOT_APPLICABLE
from training.reporting.explain import Contributions
from training.reporting.replication import FINDINGS, replication_table

FEATURES = ["officer_caseload", "officer_grade", "provider_type", "rosh_level", "officer_changes"]
FEATURES += ["iom"]


def _fake_shap(n: int, seed: int = 0) -> dict[str, Contributions]:
    """Random probability-scale contributions, one column per name in FEATURES."""
    rng = np.random.default_rng(seed)
    shap = {}
    for judgement in JUDGEMENTS:
        values = rng.normal(0, 0.05, (n, len(FEATURES)))
        shap[judgement] = Contributions(values, 0.0, values, 0.5, np.zeros(n), np.zeros(n))
    return shap


def _long(cases: pd.DataFrame, shap: dict[str, Contributions], feature: str) -> pd.DataFrame:
    """One row per applicable (case, judgement) cell with its outcome and the feature's SHAP."""
    parts = []
    for judgement in JUDGEMENTS:
        values = cases[judgement].astype(str)
        part = cases.assign(
            judgement=judgement,
            y=(values == INSUFFICIENT).astype(float),
            shap=shap[judgement].probability[:, FEATURES.index(feature)],
        )
        parts.append(part[values != NOT_APPLICABLE])
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def table(small_data):
    cases = small_data.inspected
    shap = _fake_shap(len(cases))
    return cases, shap, replication_table(cases, shap, FEATURES, n_boot=100, seed=0)


def test_continuity_figures_match_pandas(table) -> None:
    cases, shap, result = table
    cells = _long(cases, shap, "officer_changes")
    changed = cells["officer_changes"] >= 1
    row = result.set_index("finding").loc["change of officer vs continuity"]
    observed = cells.loc[changed, "y"].mean() - cells.loc[~changed, "y"].mean()
    model = cells.loc[changed, "shap"].mean() - cells.loc[~changed, "shap"].mean()
    assert row["observed"] == pytest.approx(100 * observed)
    assert row["model"] == pytest.approx(100 * model)
    assert row["observed_low"] < row["observed"] < row["observed_high"]


def test_grade_is_compared_within_provider_weighted_by_cells(table) -> None:
    cases, shap, result = table
    cells = _long(cases, shap, "officer_grade")
    rates = cells.groupby(["provider_type", "officer_grade"], observed=True)["y"].mean()
    sizes = cells.groupby("provider_type", observed=True).size()
    gap = rates.xs("PSO", level="officer_grade") - rates.xs("PO", level="officer_grade")
    expected = (gap * sizes).sum() / sizes.sum()
    row = result.set_index("finding").loc["PSO vs PO within a provider"]
    assert row["observed"] == pytest.approx(100 * expected)


def test_caseload_counts_judgements_one_by_one(table) -> None:
    cases, shap, result = table
    row = result.set_index("finding").loc["caseload 50 or more"]
    cells = _long(cases, shap, "officer_caseload")
    heavy = cells["officer_caseload"] >= 50
    model = cells[heavy].groupby("judgement")["shap"].mean()
    model -= cells[~heavy].groupby("judgement")["shap"].mean()
    assert row["judgements_worse_model"] == (model > 0).sum()
    assert 0 <= row["judgements_worse_observed"] <= 12
    counts = min(row["judgements_worse_observed"], row["judgements_worse_model"])
    assert (row["replicates"] == "yes") == (counts >= 9)


def test_the_officer_bootstrap_is_wider_than_a_naive_interval(table) -> None:
    cases, shap, result = table
    cells = _long(cases, shap, "officer_caseload")
    heavy = cells["officer_caseload"] >= 50
    naive = 1.96 * np.sqrt(sum(cells.loc[m, "y"].var() / m.sum() for m in (heavy, ~heavy)))
    row = result.set_index("finding").loc["caseload 50 or more"]
    assert (row["observed_high"] - row["observed_low"]) / 2 > 100 * naive


def test_a_driver_with_no_association_does_not_replicate(small_data) -> None:
    cases = small_data.inspected.copy()
    rng = np.random.default_rng(11)
    cases["officer_changes"] = rng.permutation(cases["officer_changes"].to_numpy())
    shap = _fake_shap(len(cases), seed=4)
    result = replication_table(cases, shap, FEATURES, n_boot=100, seed=0)
    row = result.set_index("finding").loc["change of officer vs continuity"]
    assert row["observed_low"] < 0 < row["observed_high"]
    assert row["replicates"] != "yes"


@pytest.mark.slow
def test_every_published_driver_replicates_on_generator_data(held_out_shap) -> None:
    held_out, features, shap = held_out_shap
    result = replication_table(held_out, shap, features).set_index("finding")
    assert list(result.index) == [f.name for f in FINDINGS]
    assert (result["replicates"] == "yes").all(), result[["observed_low", "model", "replicates"]]
    caseload = result.loc["caseload 50 or more"]
    assert caseload["judgements_worse_observed"] >= 9 and caseload["judgements_worse_model"] >= 9
