"""The model bundle a command works with: the champion, a registered alias or version, or the
bundle behind a scores file; a missing one is the user's to fix (exit 2)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from mlflow.exceptions import MlflowException

from features.settings import Settings
from training.bundle import CaseworkModel
from training.lifecycle.job import load_model
from training.lifecycle.registry import missing_model


def champion(settings: Settings, alias_or_version: str | None = None) -> CaseworkModel:
    """The exported champion bundle, or a registered alias or version; a missing one is the
    user's to fix (exit 2)."""
    try:
        return load_model(settings, alias_or_version)
    except FileNotFoundError:
        raise missing_model(None) from None
    except MlflowException:
        raise missing_model(alias_or_version) from None


def scoring_bundle(
    settings: Settings, scores: Path | None, alias_or_version: str | None = None
) -> Callable[[], CaseworkModel | None]:
    """The bundle behind a frame's scores, loaded once when first asked: the champion (or
    ``--model``); with a scores file and no ``--model``, the exported champion if there is one
    (its applicability), else None."""

    @functools.cache
    def bundle() -> CaseworkModel | None:
        if scores is not None and alias_or_version is None:
            try:
                return load_model(settings)
            except FileNotFoundError:
                return None
        return champion(settings, alias_or_version)

    return bundle
