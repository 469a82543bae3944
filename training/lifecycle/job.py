"""The training job: validated table → models → model card → MLflow run and registry → export.

The CLI (`casework train`) and the retraining job call this; it holds the order of the steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.settings import Settings
from training.bundle import MODEL_FILE, CaseworkModel
from training.lifecycle.promotion import link, name_new_version, publish
from training.lifecycle.registry import CHAMPION, RegisteredRun, load_registered
from training.lifecycle.store import TrainingStore
from training.lifecycle.tracking import log_training, log_trial, log_tuning, training_run
from training.reporting.model_card import model_card, render_model_card
from training.trainer import TrainingResult, train
from training.tuning import OBJECTIVE, TrialRecord, TuningResult, tune


@dataclass(frozen=True)
class TrainingOutcome:
    """A finished training: what it measured, where MLflow has it, where the bundle went."""

    result: TrainingResult
    registered: RegisteredRun
    exported: Path | None
    tuning: TuningResult | None = None  # the search, when trained with ``tune_trials``


def run_training(
    cases: pd.DataFrame,
    source: str,
    settings: Settings,
    on_judgement: Callable[[str], None] | None = None,
    tune_trials: int | None = None,
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> TrainingOutcome:
    """Train, log, register; export the bundle to ``models/champion`` when it is the champion.

    With ``tune_trials`` the parent MLflow run opens first, ``training.tuning`` searches that
    many configurations (each trial a nested run, as it finishes), the best parameters go on
    the parent and the 12 final models are trained with them.

    The first training also seeds the retraining store: its cases, with its temporal test rows
    set aside as the fixed reference holdout that no later model trains on.
    """
    params = {"seed": settings.seed, "source": source, "rows": len(cases)}
    tuning, run_id = None, None
    if tune_trials is None:
        result = train(cases, seed=settings.seed, on_judgement=on_judgement)
    else:
        if tune_trials < 1:  # checked before the parent run opens, so no failed run is left
            raise ValueError(f"tune_trials must be at least 1, got {tune_trials}")
        with training_run(cases, settings) as run_id:
            tuning = tune(
                cases, tune_trials, seed=settings.seed, on_trial=_chain(log_trial, on_trial)
            )
            log_tuning(tuning, OBJECTIVE)
            result = train(
                cases,
                seed=settings.seed,
                model_params=tuning.best_params,
                on_judgement=on_judgement,
            )
    card = model_card(result)
    logged = log_training(result, cases, source, settings, params, card, run_id=run_id)
    registered = name_new_version(settings, logged)
    result.model.metadata.update(version=registered.version, aliases=list(registered.aliases))
    store = TrainingStore.for_settings(settings)
    if not store.exists():  # the first training starts the store; its test rows are the reference
        test = np.zeros(len(cases), dtype=bool)
        test[result.split.test] = True
        store.seed(cases[~test], cases[test], source)
    exported = None
    if CHAMPION in registered.aliases:
        card = render_model_card(model_card(result, registered.version, registered.aliases))
        exported = publish(result.model, registered.version, settings, card)
    return TrainingOutcome(result, registered, exported, tuning)


def _chain(
    first: Callable[[TrialRecord], None], then: Callable[[TrialRecord], None] | None
) -> Callable[[TrialRecord], None]:
    """One trial callback that calls ``first`` and then ``then`` (when given)."""

    def both(trial: TrialRecord) -> None:
        first(trial)
        if then is not None:
            then(trial)

    return both


def load_model(settings: Settings, alias_or_version: str | None = None) -> CaseworkModel:
    """The exported champion bundle, or a registered version by alias or number."""
    if alias_or_version is not None:
        return load_registered(settings, alias_or_version)
    directory = link(settings)
    if not (directory / MODEL_FILE).exists():
        raise FileNotFoundError(directory)
    return CaseworkModel.load(directory)
