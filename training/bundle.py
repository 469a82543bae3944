"""The model bundle: feature pipeline + 12 calibrated judgement models + the risk-score rule.

A bundle is a folder (``model.joblib`` and ``metadata.json``) that scores a caseload frame with no
MLflow server: the service loads it from ``models/champion``; MLflow stores the same folder as the
artifact of the registered pyfunc model. Folders are written atomically (temp folder + rename).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from features.contract import JUDGEMENTS, RISK_SCORE, score_column
from features.pipeline import CaseFeatures
from training.applicability import applicability
from training.judgement_model import JudgementClassifier

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
APPLICABILITY = "applicability"
"""Metadata key of the table of each judgement's chance of applying (``training.applicability``);
bundles trained before it was learned have none."""
RISK_SCORE_RULE = (
    "risk_score is the mean of the 12 p_insufficient__<judgement> probabilities: the expected "
    "share of the 12 key judgements that would be insufficient if each applied."
)


@dataclass
class CaseworkModel:
    """Everything needed to turn frame records into CONTRACT §3 scores."""

    features: CaseFeatures
    models: dict[str, JudgementClassifier]
    skipped: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, object] = field(default_factory=dict)
    trained_case_ids: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model matrix of ``frame`` (the pipeline saved with the models)."""
        return self.features.transform(frame)

    def predict(
        self, frame: pd.DataFrame, on_judgement: Callable[[str], None] | None = None
    ) -> pd.DataFrame:
        """One row per case: case_id, p_insufficient__<judgement> ×12, risk_score.

        A judgement that was skipped in training (too few applicable cases) scores NaN and is
        left out of the risk score. ``on_judgement`` is called with each judgement as its
        scoring starts (for a progress bar).
        """
        X = self.matrix(frame)
        scores = pd.DataFrame({"case_id": frame["case_id"].to_numpy()}, index=frame.index)
        for judgement in JUDGEMENTS:
            if on_judgement is not None:
                on_judgement(judgement)
            model = self.models.get(judgement)
            scores[score_column(judgement)] = (
                model.predict_proba(X)[:, 1] if model is not None else np.nan
            )
        probabilities = scores[[score_column(j) for j in JUDGEMENTS]].to_numpy()
        scores[RISK_SCORE] = np.nanmean(probabilities, axis=1) if self.models else np.nan
        return scores.reset_index(drop=True)

    @property
    def applicability_rule(self) -> Callable[[pd.DataFrame], pd.DataFrame] | None:
        """``applicability`` as a small picklable function of the frame (what a job process
        needs, without the models); None for a bundle trained before it was learned."""
        table = self.metadata.get(APPLICABILITY)
        return None if table is None else partial(applicability, table)

    def applicability(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        """Each case's chance that each judgement applies (N × 12, ``frame``'s index), learned
        from the training cases; None for a bundle trained before it was learned."""
        rule = self.applicability_rule
        return None if rule is None else rule(frame)

    def save(self, directory: Path, extras: dict[str, str] | None = None) -> Path:
        """Write the bundle (and ``extras``: file name → text) to ``directory`` atomically."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            joblib.dump(self, staging / MODEL_FILE)
            (staging / METADATA_FILE).write_text(
                json.dumps(self.metadata, indent=2, default=str), encoding="utf-8"
            )
            for name, text in (extras or {}).items():
                (staging / name).write_text(text, encoding="utf-8")
            replace_directory(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: Path) -> CaseworkModel:
        """Load a bundle written by ``save``."""
        model = joblib.load(Path(directory) / MODEL_FILE)
        if not isinstance(model, cls):
            raise TypeError(f"{directory} does not hold a casework model bundle")
        return model


def replace_directory(source: Path, target: Path) -> None:
    """Move ``source`` to ``target`` so that readers see the old or the new folder, never half.

    The old folder is first renamed aside and removed only after the new one is in place.
    """
    source, target = Path(source), Path(target)
    aside = target.with_name(f".{target.name}.old")
    shutil.rmtree(aside, ignore_errors=True)
    if target.exists():
        os.replace(target, aside)
    os.replace(source, target)
    shutil.rmtree(aside, ignore_errors=True)
