"""The feature pipeline: a validated frame → the model matrix, the same in training and serving.

One numeric column per contract column, so explanations speak of contract columns: ordered
categories become their rank (RoSH low=0 … very_high=3), two-level ones 0/1 (CRC, PSO, IOM,
female), nominal ones an integer code that LightGBM treats as categorical (linear baselines
one-hot encode them). Unknown categories and missing values become NaN, never an error, so a new
value at scoring time degrades gracefully. Protected characteristics are excluded unless asked
for: they stay in the frame for stratification and audit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features.contract import CATEGORIES
from features.errors import InputError


@dataclass(frozen=True)
class Feature:
    """A model input: the contract column it comes from and how it is encoded."""

    name: str
    kind: str  # "numeric" | "ordinal" | "binary" | "nominal"
    positive: str | None = None  # the level coded 1 for a binary feature


MODEL_FEATURES: tuple[Feature, ...] = (
    Feature("provider_type", "binary", positive="CRC"),
    Feature("officer_grade", "binary", positive="PSO"),
    Feature("officer_caseload", "numeric"),
    Feature("officer_changes", "numeric"),
    Feature("rosh_level", "ordinal"),
    Feature("reoffending_likelihood", "ordinal"),
    Feature("sentence_type", "nominal"),
    Feature("months_supervised", "numeric"),
    Feature("iom", "binary", positive="True"),
)
"""Inputs of every model by default (no identifiers, no protected characteristics)."""

PROTECTED_FEATURES: tuple[Feature, ...] = (
    Feature("gender", "binary", positive="female"),
    Feature("ethnicity", "nominal"),
    Feature("age", "numeric"),
)


class CaseFeatures(TransformerMixin, BaseEstimator):
    """Encode case records as the model matrix (a float DataFrame, one column per feature).

    Args:
        include_protected: also encode gender, ethnicity and age (for research only).
    """

    def __init__(self, include_protected: bool = False):
        self.include_protected = include_protected

    def fit(self, X: pd.DataFrame, y: object = None) -> CaseFeatures:
        """Check the frame has every input column; the encoding itself is fixed by the contract."""
        self.features_ = MODEL_FEATURES + (PROTECTED_FEATURES if self.include_protected else ())
        self._check_columns(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The model matrix for ``X``, indexed like ``X``."""
        check_is_fitted(self, "features_")
        self._check_columns(X)
        return pd.DataFrame({f.name: _encode(X[f.name], f) for f in self.features_}, index=X.index)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """Names of the model matrix columns (contract column names)."""
        check_is_fitted(self, "features_")
        return np.asarray([f.name for f in self.features_], dtype=object)

    @property
    def nominal_features_(self) -> list[str]:
        """Columns holding integer category codes (categorical for LightGBM)."""
        check_is_fitted(self, "features_")
        return [f.name for f in self.features_ if f.kind == "nominal"]

    def _check_columns(self, X: pd.DataFrame) -> None:
        missing = [f.name for f in self.features_ if f.name not in X.columns]
        if missing:
            raise InputError("missing column(s) needed by the model", column=", ".join(missing))


def _encode(column: pd.Series, feature: Feature) -> np.ndarray:
    """One contract column as float64, unknown or missing values as NaN."""
    if feature.kind == "numeric":
        return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    text = column.astype(str).to_numpy()
    if feature.kind == "binary":
        levels = CATEGORIES.get(feature.name, ("False", "True"))
        known = np.isin(text, levels)
        return np.where(known, (text == feature.positive).astype(float), np.nan)
    codes = pd.Index(CATEGORIES[feature.name]).get_indexer(text).astype(float)
    codes[codes < 0] = np.nan
    return codes
