"""Leakage-safe splits: officers kept on one side of the test split whenever that costs little.

The reported test set is a temporal holdout: the inspections of the latest ~20% of dates. Two
modes (recorded in the bundle's metadata, the MLflow run and the model card):

- ``temporal``: officers seen in the test period (and those of the reference holdout) are removed
  from training, so no officer sits on both sides. Used when that removes at most
  ``MAX_DROPPED_SHARE`` (30%) of the training-period rows: the usual case when officers turn over.
- ``officer-grouped``: when officers stay for years, the rule above would discard most or all of
  the training data. Instead test-period officers are held out in a seeded random order, as many
  as keep that loss within 30% (grouped by officer, like ``GroupShuffleSplit`` with a row
  budget): the test set is their test-period cases, training is the training-period cases of
  every other officer (the other test-period cases are used by neither). Test officers are still
  unseen in training; the reference holdout's officers may then reach training.

The retraining job uses a third mode, ``reference``: its challenger is tested on the fixed
reference holdout (the first training's test cases) and trains on every other stored case whose
officer is not in it, so it learns from all the data the champion did and the new batch.

Model selection uses grouped cross-validation by officer on the training part only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator, StratifiedGroupKFold

TEST_SHARE = 0.2
MAX_DROPPED_SHARE = 0.3
TEMPORAL, OFFICER_GROUPED, REFERENCE = "temporal", "officer-grouped", "reference"


@dataclass(frozen=True)
class TemporalSplit:
    """Positions of training and test rows; officers in ``test`` never appear in ``train``."""

    train: np.ndarray
    test: np.ndarray
    cutoff: pd.Timestamp
    dropped: int  # training-period rows left out because their officer is held out
    mode: str = TEMPORAL

    @property
    def kept_share(self) -> float:
        """Share of the training-period rows that training keeps."""
        return len(self.train) / max(1, len(self.train) + self.dropped)


def temporal_holdout(
    cases: pd.DataFrame,
    test_share: float = TEST_SHARE,
    exclude_officers: object = (),
    seed: int = 0,
) -> TemporalSplit:
    """Hold out the latest ``test_share`` of inspection dates; keep officers on one side.

    Officers in ``exclude_officers`` (e.g. those of a reference holdout) are kept out of training
    too in ``temporal`` mode; see the module docstring for when ``officer-grouped`` is used.
    """
    dates = pd.to_datetime(cases["inspection_date"]).to_numpy().astype("int64")
    cutoff = np.quantile(dates, 1 - test_share)
    in_test = dates > cutoff
    if in_test.all() or not in_test.any():
        in_test = np.arange(len(cases)) >= round(len(cases) * (1 - test_share))
    officers = pd.factorize(cases["officer_id"])[0]
    excluded = cases["officer_id"].isin(pd.Index(exclude_officers)).to_numpy()
    blocked = np.isin(officers, np.unique(officers[in_test])) | excluded
    earlier = ~in_test
    if (earlier & blocked).sum() <= MAX_DROPPED_SHARE * earlier.sum():
        return TemporalSplit(
            train=np.flatnonzero(earlier & ~blocked),
            test=np.flatnonzero(in_test),
            cutoff=pd.Timestamp(int(cutoff)),
            dropped=int((earlier & blocked).sum()),
        )
    # Test-period officers in a seeded random order; hold out the longest run of them whose
    # training-period cases stay within the budget.
    candidates = np.random.default_rng(seed).permutation(np.unique(officers[in_test]))
    cost = np.cumsum(np.bincount(officers[earlier], minlength=officers.max() + 1)[candidates])
    chosen = candidates[: max(1, np.searchsorted(cost, MAX_DROPPED_SHARE * earlier.sum(), "right"))]
    held_out = np.isin(officers, chosen)
    return TemporalSplit(
        train=np.flatnonzero(earlier & ~held_out),
        test=np.flatnonzero(in_test & held_out),
        cutoff=pd.Timestamp(int(cutoff)),
        dropped=int((earlier & held_out).sum()),
        mode=OFFICER_GROUPED,
    )


def reference_holdout(cases: pd.DataFrame, test: np.ndarray) -> TemporalSplit:
    """A fixed test set: the retraining job's reference holdout (boolean mask ``test``).

    Every other case whose officer is not in it trains (mode ``reference``).
    """
    officers = cases["officer_id"].to_numpy()
    blocked = np.isin(officers, np.unique(officers[test])) & ~test
    dates = pd.to_datetime(cases["inspection_date"])
    return TemporalSplit(
        train=np.flatnonzero(~test & ~blocked),
        test=np.flatnonzero(test),
        cutoff=dates[test].min() if test.any() else dates.max(),
        dropped=int(blocked.sum()),
        mode=REFERENCE,
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
