"""One judgement's model: LightGBM with officer-grouped CV, early stopping and calibration.

Grouped cross-validation (each officer's cases in one validation fold) picks the number of
boosting rounds by early stopping on the validation fold and yields out-of-fold margins; the
calibrator (isotonic or sigmoid, whichever predicts held-out officers better) is fitted on those
margins; the final booster is refitted on every training row with the chosen number of rounds.
The fold boosters are kept, trimmed to their best round: refits without one fold of officers,
their spread is the model's estimation error (the truth lab's intervals).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import BaseCrossValidator, GroupKFold, StratifiedGroupKFold
from sklearn.utils.validation import check_is_fitted

CALIBRATORS = ("isotonic", "sigmoid")


class JudgementClassifier(ClassifierMixin, BaseEstimator):
    """Calibrated P(insufficient | judgement applies) from the model matrix.

    Args:
        cv: CV splitter over officer ``groups`` for early stopping and out-of-fold calibration
            (e.g. ``training.splits.OfficerFolds``); an int k means StratifiedGroupKFold(k).
        learning_rate, num_leaves, min_child_samples, reg_lambda, colsample_bytree: LightGBM.
        max_rounds: upper bound on boosting rounds; early_stopping: patience in rounds.
        calibration: "auto" (chosen on held-out officers), "isotonic" or "sigmoid".
        random_state: seed of the folds and of LightGBM's bagging.
        n_jobs: LightGBM threads.
    """

    def __init__(
        self,
        cv: int | BaseCrossValidator = 5,
        learning_rate: float = 0.05,
        num_leaves: int = 8,
        min_child_samples: int = 200,
        reg_lambda: float = 5.0,
        colsample_bytree: float = 0.9,
        max_rounds: int = 2000,
        early_stopping: int = 50,
        calibration: str = "auto",
        random_state: int = 0,
        n_jobs: int = 2,
    ):
        self.cv = cv
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.colsample_bytree = colsample_bytree
        self.max_rounds = max_rounds
        self.early_stopping = early_stopping
        self.calibration = calibration
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _lgb_params(self) -> dict[str, object]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "reg_lambda": self.reg_lambda,
            "colsample_bytree": self.colsample_bytree,
            "subsample": 0.8,
            "subsample_freq": 1,
            "max_bin": 63,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        groups: np.ndarray,
        sample_weight: np.ndarray | None = None,
        categorical_features: list[str] | tuple[str, ...] = (),
    ) -> JudgementClassifier:
        """Fit on the model matrix ``X``, labels ``y`` (1 = insufficient), officer ``groups``."""
        if self.calibration not in ("auto", *CALIBRATORS):
            raise ValueError(f"calibration must be 'auto' or one of {CALIBRATORS}")
        y = np.asarray(y, dtype=int)
        w = _weights(y, sample_weight)
        margins, rounds = self.out_of_fold(X, y, groups, w, categorical_features)
        self.n_rounds_ = max(1, round(float(np.mean(rounds))))
        self.booster_ = lgb.train(self._lgb_params(), self._dataset(X, y, w), self.n_rounds_)
        self.calibration_ = (
            self.calibration
            if self.calibration != "auto"
            else choose_calibrator(margins, y, w, groups, self.random_state)
        )
        self.calibrator_ = fit_calibrator(self.calibration_, margins, y, w)
        self.oof_margin_ = margins
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def out_of_fold(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        groups: np.ndarray,
        sample_weight: np.ndarray | None = None,
        categorical_features: list[str] | tuple[str, ...] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Grouped CV with early stopping: out-of-fold raw margins and each fold's best rounds.

        This is the model-selection half of ``fit`` (no final booster, no calibrator), so
        hyperparameter tuning scores a configuration exactly as ``fit`` would validate it.
        """
        y = np.asarray(y, dtype=int)
        w = _weights(y, sample_weight)
        self.categorical_features_ = list(categorical_features)
        params = self._lgb_params()
        margins = np.zeros(len(y))
        rounds, boosters = [], []
        for train, valid in self._splitter().split(X, y, groups):
            booster = lgb.train(
                params,
                self._dataset(X.iloc[train], y[train], w[train]),
                self.max_rounds,
                valid_sets=[self._dataset(X.iloc[valid], y[valid], w[valid])],
                callbacks=[lgb.early_stopping(self.early_stopping, verbose=False)],
            )
            rounds.append(booster.best_iteration)
            margins[valid] = booster.predict(
                X.iloc[valid], num_iteration=booster.best_iteration, raw_score=True
            )
            boosters.append(lgb.Booster(model_str=booster.model_to_string(booster.best_iteration)))
        self.fold_boosters_ = boosters  # refits without one fold: the estimation spread
        return margins, np.asarray(rounds, dtype=int)

    def _splitter(self) -> BaseCrossValidator:
        if isinstance(self.cv, int):
            return StratifiedGroupKFold(self.cv, shuffle=True, random_state=self.random_state)
        return self.cv

    def _dataset(self, X: pd.DataFrame, y: np.ndarray, w: np.ndarray) -> lgb.Dataset:
        return lgb.Dataset(
            X, y, weight=w, categorical_feature=self.categorical_features_, free_raw_data=True
        )

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Raw booster margin (log-odds before calibration); SHAP explains this."""
        check_is_fitted(self, "booster_")
        return self.booster_.predict(X, raw_score=True)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, columns (sufficient, insufficient)."""
        p = calibrate(self.calibrator_, self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where insufficient work is more likely than not."""
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


def _weights(y: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
    return np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)


def fit_calibrator(kind: str, margin: np.ndarray, y: np.ndarray, w: np.ndarray) -> object:
    """Map booster margins to probabilities: isotonic regression or Platt's sigmoid."""
    if kind == "isotonic":
        return IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(
            margin, y, sample_weight=w
        )
    return LogisticRegression(C=1e6).fit(margin.reshape(-1, 1), y, sample_weight=w)


def calibrate(calibrator: object, margin: np.ndarray) -> np.ndarray:
    """Probabilities from margins with a fitted calibrator."""
    if isinstance(calibrator, IsotonicRegression):
        return calibrator.predict(margin)
    return calibrator.predict_proba(np.asarray(margin).reshape(-1, 1))[:, 1]


def choose_calibrator(
    margin: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray, seed: int
) -> str:
    """The calibrator with the lower weighted Brier score on held-out officers (2-fold)."""
    scores = dict.fromkeys(CALIBRATORS, 0.0)
    for fit_rows, held_out in GroupKFold(n_splits=2, shuffle=True, random_state=seed).split(
        margin, y, groups
    ):
        for kind in CALIBRATORS:
            model = fit_calibrator(kind, margin[fit_rows], y[fit_rows], w[fit_rows])
            p = calibrate(model, margin[held_out])
            scores[kind] += brier_score_loss(y[held_out], p, sample_weight=w[held_out])
    return min(scores, key=scores.get)
