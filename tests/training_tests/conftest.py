"""Fixtures shared by the training tests: one model trained on 50,000 generated cases."""

from __future__ import annotations

import pandas as pd
import pytest

from features.synthetic.generator import generate
from training.reporting.explain import Contributions, explain_matrix
from training.trainer import TrainingResult, train


@pytest.fixture(scope="session")
def trained_50k() -> tuple[pd.DataFrame, TrainingResult]:
    """Generated inspected cases with truth (50,000, seed 1) and the models trained on them."""
    cases = generate(50_000, 250_000, seed=1, with_truth=True).inspected
    return cases, train(cases, seed=0)


@pytest.fixture(scope="session")
def held_out_shap(trained_50k) -> tuple[pd.DataFrame, list[str], dict[str, Contributions]]:
    """The 50k model's temporal test cases, its feature names and TreeSHAP on those cases."""
    cases, result = trained_50k
    held_out = cases.iloc[result.split.test].reset_index(drop=True)
    X = result.model.matrix(held_out)
    return held_out, list(X.columns), explain_matrix(result.model, X)
