"""Baselines trained and reported in the same run: prevalence and an L2 logistic regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted


class PrevalenceClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the (weighted) training prevalence for every case."""

    def fit(
        self, X: pd.DataFrame, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> PrevalenceClassifier:
        """Learn the share insufficient."""
        self.prevalence_ = float(np.average(y, weights=sample_weight))
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """The same probability for every row."""
        check_is_fitted(self, "prevalence_")
        p = np.full(len(X), self.prevalence_)
        return np.column_stack([1.0 - p, p])


def logistic_baseline(nominal: list[str], numeric: list[str], C: float = 1.0) -> Pipeline:
    """L2 logistic regression on the same features: nominal one-hot, the rest standardised."""
    encode = ColumnTransformer(
        [
            (
                "nominal",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                nominal,
            ),
            ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
        ]
    )
    return Pipeline([("encode", encode), ("model", LogisticRegression(C=C, max_iter=2000))])
