"""Train and evaluate the 12 judgement models with their baselines on one inspected table.

Steps: temporal holdout (officers on one side) → per judgement, the applicable rows → LightGBM
(grouped CV, early stopping, calibration), L2 logistic regression and prevalence on the training
rows → every metric on the test rows, design-weighted (1/π) and unweighted. When the table has
``inclusion_probability`` the models are fitted with normalised weights 1/π, so they target the
caseload's loss rather than the sample's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from features.contract import INCLUSION_PROBABILITY, INSUFFICIENT, JUDGEMENTS, NOT_APPLICABLE
from features.pipeline import CaseFeatures
from training.baselines import PrevalenceClassifier, logistic_baseline
from training.bundle import CaseworkModel
from training.judgement_model import JudgementClassifier
from training.metrics import evaluate, reliability_curve
from training.splits import TemporalSplit, officer_folds, temporal_holdout

MIN_APPLICABLE = 200
MODELS = ("lightgbm", "logistic", "prevalence")


@dataclass
class TrainingResult:
    """The bundle and what the run measured about it."""

    model: CaseworkModel
    metrics: pd.DataFrame  # judgement, model, weighting, and one column per metric
    reliability: dict[str, pd.DataFrame]  # test-set reliability curve of each judgement
    split: TemporalSplit
    test_predictions: pd.DataFrame  # case_id, judgement, y, p, weight for every test row
    skipped: dict[str, str] = field(default_factory=dict)


def design_weights(cases: pd.DataFrame) -> np.ndarray | None:
    """1/π for each case when the table carries inclusion probabilities, else None."""
    if INCLUSION_PROBABILITY not in cases:
        return None
    return 1.0 / cases[INCLUSION_PROBABILITY].to_numpy(dtype=float)


def data_fingerprint(cases: pd.DataFrame) -> dict[str, object]:
    """Content hash, size and inspection date range of a training table."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(cases, index=False).to_numpy().tobytes())
    dates = pd.to_datetime(cases["inspection_date"])
    return {
        "sha256": digest.hexdigest(),
        "rows": len(cases),
        "date_min": dates.min().date().isoformat(),
        "date_max": dates.max().date().isoformat(),
    }


def train(
    cases: pd.DataFrame,
    seed: int = 0,
    model_params: dict[str, object] | None = None,
    on_judgement: Callable[[str], None] | None = None,
    exclude_officers: object = (),
) -> TrainingResult:
    """Fit, calibrate and evaluate one model per judgement on a validated inspected table.

    Officers in ``exclude_officers`` (those of a reference holdout) never reach training.
    """
    split = temporal_holdout(cases, exclude_officers=exclude_officers)
    features = CaseFeatures().fit(cases)
    X = features.transform(cases)
    weight = design_weights(cases)
    officers = pd.factorize(cases["officer_id"])[0]  # integer codes: fast grouping
    folds = officer_folds(_stratum(cases), officers, n_splits=5, seed=seed)
    nominal = features.nominal_features_
    numeric = [c for c in X.columns if c not in nominal]

    models, skipped, rows, curves, predictions = {}, {}, [], {}, []
    for judgement in JUDGEMENTS:
        values = cases[judgement].astype(str).to_numpy()
        applies = values != NOT_APPLICABLE
        y = (values == INSUFFICIENT).astype(int)
        train_rows = split.train[applies[split.train]]
        test_rows = split.test[applies[split.test]]
        if len(train_rows) < MIN_APPLICABLE or len(np.unique(y[train_rows])) < 2:
            skipped[judgement] = (
                f"{len(train_rows)} applicable training cases (at least {MIN_APPLICABLE} "
                "with both outcomes needed)"
            )
        else:
            w_train = None if weight is None else weight[train_rows] / weight[train_rows].mean()
            fitted = {
                "lightgbm": JudgementClassifier(
                    cv=folds, random_state=seed, **(model_params or {})
                ).fit(
                    X.iloc[train_rows],
                    y[train_rows],
                    groups=officers[train_rows],
                    sample_weight=w_train,
                    categorical_features=nominal,
                ),
                "logistic": logistic_baseline(nominal, numeric).fit(
                    X.iloc[train_rows], y[train_rows], model__sample_weight=w_train
                ),
                "prevalence": PrevalenceClassifier().fit(
                    X.iloc[train_rows], y[train_rows], sample_weight=w_train
                ),
            }
            models[judgement] = fitted["lightgbm"]
            if len(test_rows) and len(np.unique(y[test_rows])) == 2:
                w_test = None if weight is None else weight[test_rows]
                for name, model in fitted.items():
                    p = model.predict_proba(X.iloc[test_rows])[:, 1]
                    rows += _metric_rows(judgement, name, y[test_rows], p, w_test)
                    if name == "lightgbm":
                        curves[judgement] = reliability_curve(y[test_rows], p, w_test)
                        predictions.append(
                            pd.DataFrame(
                                {
                                    "case_id": cases["case_id"].to_numpy()[test_rows],
                                    "judgement": judgement,
                                    "y": y[test_rows],
                                    "p": p,
                                    "weight": 1.0 if w_test is None else w_test,
                                }
                            )
                        )
        if on_judgement is not None:
            on_judgement(judgement)

    metadata = {
        "trained_on": data_fingerprint(cases),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "test_cutoff": split.cutoff.date().isoformat(),
        "design_weighted": weight is not None,
        "skipped": skipped,
    }
    bundle = CaseworkModel(
        features, models, skipped, metadata, cases["case_id"].to_numpy()[split.train]
    )
    metrics = pd.DataFrame(rows)
    return TrainingResult(
        bundle,
        metrics,
        curves,
        split,
        pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(),
        skipped,
    )


def _stratum(cases: pd.DataFrame) -> np.ndarray:
    """Tertile of each case's share of insufficient judgements: the CV stratification label."""
    values = cases[list(JUDGEMENTS)].astype(str)
    judged = (values != NOT_APPLICABLE).sum(axis=1).clip(lower=1)
    share = (values == INSUFFICIENT).sum(axis=1) / judged
    return np.digitize(share, np.quantile(share, [1 / 3, 2 / 3]))


def _metric_rows(
    judgement: str, model: str, y: np.ndarray, p: np.ndarray, weight: np.ndarray | None
) -> list[dict[str, object]]:
    rows = [{"judgement": judgement, "model": model, "weighting": "unweighted", **evaluate(y, p)}]
    if weight is not None:
        rows.append(
            {
                "judgement": judgement,
                "model": model,
                "weighting": "design",
                **evaluate(y, p, weight),
            }
        )
    return rows
