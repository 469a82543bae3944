"""Hyperparameter search for the judgement models (``casework train --tune N``).

An Optuna study (TPE sampler seeded with the run's seed) proposes N LightGBM configurations.
Each is scored by the model-selection half of ``JudgementClassifier.fit`` on the same temporal
training rows, design weights and officer folds (``StratifiedGroupKFold`` by officer) that
``training.trainer.train`` then uses for the final models, so no test row and no validation
officer's cases ever inform the choice.

Objective: the mean over the modelled judgements of the out-of-fold log loss. The trainer fits
its 12 models with one shared ``model_params`` dict, so the search optimises one configuration
for all of them; each judgement counts once (as in ``risk_score``) whatever its number of
applicable cases. Log loss rather than AUC because the scores are used as probabilities (they
set inclusion probabilities), because it is what the boosting and its early stopping minimise,
and because it is smooth where AUC moves in steps on small folds. It is computed from the raw
out-of-fold margins (before calibration): the calibrator is fitted on those same margins, so
calibrated out-of-fold probabilities would be scored in-sample. The losses are weighted by the
normalised design weights 1/π when the table has inclusion probabilities, as the fits are.

The first trial is always the untuned defaults, so the chosen configuration is never worse on
cross-validation than training without ``--tune``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from scipy.special import expit
from sklearn.metrics import log_loss

from features.contract import JUDGEMENTS
from features.errors import InputError
from training.judgement_model import JudgementClassifier
from training.trainer import ModelInputs, judgement_rows, prepare

# JudgementClassifier's names: colsample_bytree is LightGBM's feature_fraction and reg_lambda
# its lambda_l2. The ranges bracket the defaults for tables of a few thousand to a few hundred
# thousand cases; boosting rounds are not searched (early stopping chooses them per fold).
SEARCH_SPACE: dict[str, BaseDistribution] = {
    "num_leaves": IntDistribution(4, 64, log=True),
    "min_child_samples": IntDistribution(20, 500, log=True),
    "learning_rate": FloatDistribution(0.02, 0.2, log=True),
    "colsample_bytree": FloatDistribution(0.5, 1.0),
    "reg_lambda": FloatDistribution(0.01, 100.0, log=True),
}
OBJECTIVE = "mean out-of-fold log loss over judgements (officer-grouped 5-fold CV)"


@dataclass(frozen=True)
class TrialRecord:
    """One evaluated configuration: its parameters and out-of-fold figures."""

    number: int
    params: dict[str, float | int]
    log_loss: float  # the objective: mean of ``per_judgement``
    per_judgement: dict[str, float]  # out-of-fold log loss of each modelled judgement
    rounds: dict[str, float]  # mean early-stopped boosting rounds over the folds
    seconds: float


@dataclass(frozen=True)
class TuningResult:
    """All trials of a search, in order, and the best of them."""

    trials: list[TrialRecord]

    @property
    def best(self) -> TrialRecord:
        """The trial with the lowest objective (the earliest one on ties)."""
        return min(self.trials, key=lambda t: (t.log_loss, t.number))

    @property
    def best_params(self) -> dict[str, float | int]:
        """The configuration the final models are trained with."""
        return dict(self.best.params)


def default_params() -> dict[str, float | int]:
    """JudgementClassifier's own defaults for the searched parameters (the first trial)."""
    defaults = JudgementClassifier().get_params()
    return {name: defaults[name] for name in SEARCH_SPACE}


def tune(
    cases: pd.DataFrame,
    n_trials: int,
    seed: int = 0,
    on_trial: Callable[[TrialRecord], None] | None = None,
    exclude_officers: object = (),
) -> TuningResult:
    """Search ``n_trials`` configurations on a validated inspected table; see the module doc.

    ``on_trial`` is called after each trial (e.g. to log it to MLflow as it finishes).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    inputs = prepare(cases, seed, exclude_officers)
    modelled = [j for j in JUDGEMENTS if judgement_rows(cases, inputs, j).skip_reason is None]
    if not modelled:
        raise InputError("no judgement has enough applicable training cases to tune a model")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(default_params())
    trials = []
    for _ in range(n_trials):
        trial = study.ask(SEARCH_SPACE)
        record = evaluate_params(cases, inputs, modelled, trial.number, trial.params, seed)
        study.tell(trial, record.log_loss)
        trials.append(record)
        if on_trial is not None:
            on_trial(record)
    return TuningResult(trials)


def evaluate_params(
    cases: pd.DataFrame,
    inputs: ModelInputs,
    judgements: list[str],
    number: int,
    params: Mapping[str, float | int],
    seed: int,
) -> TrialRecord:
    """Out-of-fold log loss of one configuration on each judgement, and their mean."""
    start = time.perf_counter()
    losses, rounds = {}, {}
    for judgement in judgements:
        rows = judgement_rows(cases, inputs, judgement)
        y = rows.y[rows.train]
        model = JudgementClassifier(cv=inputs.folds, random_state=seed, **params)
        margins, best_rounds = model.out_of_fold(
            inputs.X.iloc[rows.train],
            y,
            groups=inputs.officers[rows.train],
            sample_weight=rows.w_train,
            categorical_features=inputs.nominal,
        )
        losses[judgement] = float(
            log_loss(y, expit(margins), sample_weight=rows.w_train, labels=[0, 1])
        )
        rounds[judgement] = float(np.mean(best_rounds))
    return TrialRecord(
        number=number,
        params=dict(params),
        log_loss=float(np.mean(list(losses.values()))),
        per_judgement=losses,
        rounds=rounds,
        seconds=time.perf_counter() - start,
    )
