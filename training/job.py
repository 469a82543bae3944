"""The training job: validated table → models → model card → MLflow run and registry → export.

The CLI (`casework train`) and the retraining job call this; it holds the order of the steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.settings import Settings
from training.bundle import CaseworkModel
from training.model_card import model_card, render_model_card
from training.tracking import CHAMPION, RegisteredRun, load_registered, log_training
from training.trainer import TrainingResult, train

CHAMPION_DIR = "champion"


@dataclass(frozen=True)
class TrainingOutcome:
    """A finished training: what it measured, where MLflow has it, where the bundle went."""

    result: TrainingResult
    registered: RegisteredRun
    exported: Path | None


def run_training(
    cases: pd.DataFrame,
    source: str,
    settings: Settings,
    on_judgement: Callable[[str], None] | None = None,
) -> TrainingOutcome:
    """Train, log, register; export the bundle to ``models/champion`` when it is the champion."""
    result = train(cases, seed=settings.seed, on_judgement=on_judgement)
    params = {"seed": settings.seed, "source": source, "rows": len(cases)}
    registered = log_training(result, cases, source, settings, params, model_card(result))
    result.model.metadata.update(version=registered.version, aliases=list(registered.aliases))
    exported = None
    if CHAMPION in registered.aliases:
        card = model_card(result, registered.version, registered.aliases)
        exported = export_champion(result.model, settings, render_model_card(card))
    return TrainingOutcome(result, registered, exported)


def export_champion(
    bundle: CaseworkModel, settings: Settings, extras: dict[str, str] | None = None
) -> Path:
    """Write the champion bundle (with its model card) to ``models/champion`` atomically."""
    return bundle.save(Path(settings.models_dir) / CHAMPION_DIR, extras)


def load_model(settings: Settings, alias_or_version: str | None = None) -> CaseworkModel:
    """The exported champion bundle, or a registered version by alias or number."""
    if alias_or_version is not None:
        return load_registered(settings, alias_or_version)
    directory = Path(settings.models_dir) / CHAMPION_DIR
    if not (directory / "model.joblib").exists():
        raise FileNotFoundError(directory)
    return CaseworkModel.load(directory)
