"""Leakage-safe splits: no officer (and so no inspection's officer) on both sides of a split.

The reported test set is a temporal holdout: the inspections of the latest ~20% of dates. Officers
seen in the test period are removed from training, so a model never meets a test case's officer
(its latent effect) while training. Model selection uses grouped cross-validation by officer on
the training part only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator, StratifiedGroupKFold

TEST_SHARE = 0.2


@dataclass(frozen=True)
class TemporalSplit:
    """Positions of training and test rows; officers in ``test`` never appear in ``train``."""

    train: np.ndarray
    test: np.ndarray
    cutoff: pd.Timestamp
    dropped: int  # training-period rows left out because their officer is in the test period


def temporal_holdout(
    cases: pd.DataFrame, test_share: float = TEST_SHARE, exclude_officers: object = ()
) -> TemporalSplit:
    """Hold out the latest ``test_share`` of inspection dates; keep officers on one side.

    Officers in ``exclude_officers`` (e.g. those of a reference holdout) are kept out of
    training too.
    """
    dates = pd.to_datetime(cases["inspection_date"]).to_numpy()
    cutoff = np.quantile(dates.astype("int64"), 1 - test_share)
    in_test = dates.astype("int64") > cutoff
    if in_test.all() or not in_test.any():
        in_test = np.arange(len(cases)) >= round(len(cases) * (1 - test_share))
    officers = pd.factorize(cases["officer_id"])[0]
    excluded = cases["officer_id"].isin(pd.Index(exclude_officers)).to_numpy()
    seen_in_test = np.isin(officers, np.unique(officers[in_test])) | excluded
    train = np.flatnonzero(~in_test & ~seen_in_test)
    return TemporalSplit(
        train=train,
        test=np.flatnonzero(in_test),
        cutoff=pd.Timestamp(int(cutoff)),
        dropped=int((~in_test & seen_in_test).sum()),
    )


def officer_folds(
    strata: np.ndarray, officers: np.ndarray, n_splits: int, seed: int
) -> OfficerFolds:
    """Assign officers to CV folds once, stratified on ``strata`` (StratifiedGroupKFold).

    The 12 judgement models share this assignment, so an officer is a validation officer in the
    same fold for every judgement.
    """
    codes, uniques = pd.factorize(officers)
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    fold_of_officer = np.empty(len(uniques), dtype=int)
    for k, (_, valid) in enumerate(folds.split(np.zeros(len(codes)), strata, groups=codes)):
        fold_of_officer[codes[valid]] = k
    return OfficerFolds(pd.Series(fold_of_officer, index=uniques))


class OfficerFolds(BaseCrossValidator):
    """A fixed officer → fold assignment, as a scikit-learn CV splitter (groups = officers)."""

    def __init__(self, fold_of_officer: pd.Series):
        self.fold_of_officer = fold_of_officer

    def get_n_splits(self, X: object = None, y: object = None, groups: object = None) -> int:
        """Number of folds."""
        return int(self.fold_of_officer.max()) + 1

    def _iter_test_masks(self, X: object = None, y: object = None, groups: object = None):
        fold = self.fold_of_officer.reindex(np.asarray(groups)).to_numpy()
        if np.isnan(fold).any():
            raise ValueError("an officer has no fold assignment")
        for k in range(self.get_n_splits()):
            yield fold == k
