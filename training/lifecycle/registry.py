"""The MLflow registry's names and look-ups: one registered model, its aliases, the store.

Only ``training.lifecycle.promotion`` changes aliases; this module names and reads them. The
default store is ``sqlite:///mlflow.db`` with artifacts under ``./mlruns``; setting
``CASEWORK_MLFLOW_URI`` points all of this at a real tracking server unchanged.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from features.errors import InputError
from features.settings import Settings
from training.bundle import CaseworkModel

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
logging.getLogger("mlflow").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*Python object as `python_model`.*")
warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")

MODEL_NAME = "casework-sufficiency"
"""The one registered model; every training registers a new version of it."""
EXPERIMENT = "casework"
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"


@dataclass(frozen=True)
class RegisteredRun:
    """Where a training went: its MLflow run, its registered version and that version's aliases.

    The aliases are set by ``training.lifecycle.promotion.name_new_version``.
    """

    run_id: str
    version: str
    aliases: tuple[str, ...] = ()


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured store and make sure the experiment exists."""
    mlflow.set_tracking_uri(settings.mlflow_uri)
    mlflow.set_registry_uri(settings.mlflow_uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        artifacts = Path(settings.mlflow_artifacts).resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts.as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return MlflowClient()


def alias_version(client: MlflowClient, alias: str = CHAMPION) -> str | None:
    """The version an alias names, or None when no version carries it (no champion yet)."""
    try:
        return str(client.get_model_version_by_alias(MODEL_NAME, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def missing_model(alias_or_version: str | None) -> InputError:
    """The user's error for a model that is not there: no champion (None), or no such
    registered alias or version (``--model``)."""
    if alias_or_version is None:
        return InputError("no champion model: run casework train first")
    return InputError(
        f"no registered model version or alias {alias_or_version!r}", column="--model"
    )


def model_uri(alias_or_version: str) -> str:
    """The registry URI of a version, by alias (``models:/casework@champion``) or number."""
    if alias_or_version.isdigit():
        return f"models:/{MODEL_NAME}/{alias_or_version}"
    return f"models:/{MODEL_NAME}@{alias_or_version}"


def load_registered(settings: Settings, alias_or_version: str) -> CaseworkModel:
    """The bundle of a registered version, by alias (``champion``) or version number."""
    connect(settings)
    model = mlflow.pyfunc.load_model(model_uri(alias_or_version))
    return model.unwrap_python_model().bundle
