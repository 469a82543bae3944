"""Train and evaluate the 12 judgement models with their baselines on one inspected table.

Steps: temporal holdout (officers on one side) → per judgement, the judged rows (sufficient or
insufficient: ``not_applicable``, ``not_inspected`` and empty cells are left out) → LightGBM
(grouped CV, early stopping, calibration), L2 logistic regression and prevalence on the training
rows → every metric on the test rows, design-weighted and unweighted. When any case carries
``inclusion_probability`` the models are fitted with ``design_weights``, so they target the
caseloads' loss rather than the samples'. The training cases also give each judgement's chance
of applying (``training.applicability``, design-weighted the same way), kept in the bundle's
metadata for the planner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from features.contract import (
    INCLUSION_PROBABILITY,
    INSUFFICIENT,
    JUDGEMENTS,
    NOT_INSPECTED,
    SUFFICIENT,
    has_verdict,
)
from features.errors import InputError
from features.pipeline import CaseFeatures
from training.applicability import fit_applicability
from training.baselines import PrevalenceClassifier, logistic_baseline
from training.bundle import APPLICABILITY, CaseworkModel
from training.judgement_model import JudgementClassifier
from training.metrics import evaluate, reliability_curve
from training.splits import (
    OfficerFolds,
    TemporalSplit,
    officer_folds,
    reference_holdout,
    temporal_holdout,
)

MIN_APPLICABLE = 200
CV_FOLDS = 5
NO_VERDICT = (NOT_INSPECTED, "nan", "None", "")  # cells of a case that was never examined


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
    """Each case's weight in training, metrics and gates, or None when no case carries π.

    The one rule for a store mixing designs: a case with ``inclusion_probability`` π counts
    1/π; a case without (a legacy equal-chance inspection) counts as its inspection's other
    cases on average (1 when none has π: equal chance within the inspection). Weights are then
    scaled so that each inspection (``inspection_id``) sums to its number of inspected cases,
    so no inspection dominates by the size of the caseload it was drawn from. A case with no
    verdict at all (every judgement ``not_inspected`` or empty) weighs 0.
    """
    if INCLUSION_PROBABILITY not in cases:
        return None
    pi = pd.to_numeric(cases[INCLUSION_PROBABILITY], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(pi) & (pi > 0)
    if not known.any():
        return None
    present = [j for j in JUDGEMENTS if j in cases]
    inspected = ~cases[present].astype(str).isin(NO_VERDICT).all(axis=1).to_numpy() | (not present)
    inspection = (
        pd.factorize(cases["inspection_id"].astype(str))[0]
        if "inspection_id" in cases
        else np.zeros(len(cases), dtype=int)
    )
    table = pd.DataFrame({"inspection": inspection, "raw": np.where(known, 1.0 / pi, np.nan)})
    by = table.groupby("inspection")["raw"]
    raw = table["raw"].fillna(by.transform("mean")).fillna(1.0).to_numpy() * inspected
    total = pd.Series(raw).groupby(inspection).transform("sum").to_numpy()
    count = pd.Series(inspected.astype(float)).groupby(inspection).transform("sum").to_numpy()
    return np.divide(raw * count, total, out=np.zeros(len(raw)), where=total > 0)


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


@dataclass(frozen=True)
class ModelInputs:
    """What every judgement model of a training shares: split, features, weights and CV folds.

    ``train`` and ``training.tuning`` both start from this, so a tuning trial is validated on
    exactly the rows, weights and officer folds the final models are.
    """

    split: TemporalSplit
    features: CaseFeatures
    X: pd.DataFrame
    weight: np.ndarray | None  # 1/π per case, or None without inclusion probabilities
    officers: np.ndarray  # integer officer codes: the CV groups
    folds: OfficerFolds  # officer → fold, shared by the 12 judgements

    @property
    def nominal(self) -> list[str]:
        """Categorical columns of ``X``."""
        return list(self.features.nominal_features_)

    @property
    def numeric(self) -> list[str]:
        """Every other column of ``X``."""
        return [c for c in self.X.columns if c not in self.features.nominal_features_]


@dataclass(frozen=True)
class JudgementRows:
    """One judgement's labels and its applicable training and test rows (positions)."""

    y: np.ndarray  # 1 = insufficient, for every case
    train: np.ndarray
    test: np.ndarray
    w_train: np.ndarray | None  # design weights of ``train``, normalised to mean 1
    skip_reason: str | None  # why no model can be fitted, or None


def prepare(
    cases: pd.DataFrame, seed: int = 0, exclude_officers: object = (), test_ids: object = None
) -> ModelInputs:
    """A table's split, fitted features, design weights and officer folds.

    The split is the temporal holdout, or the fixed test cases ``test_ids``.
    """
    split = (
        temporal_holdout(cases, exclude_officers=exclude_officers, seed=seed)
        if test_ids is None
        else reference_holdout(cases, cases["case_id"].isin(pd.Index(test_ids)).to_numpy())
    )
    trained_officers = len(np.unique(cases["officer_id"].to_numpy()[split.train]))
    if trained_officers < CV_FOLDS or not len(split.test):
        raise InputError(
            f"too little data to train: {len(cases):,} cases give {len(split.train):,} training "
            f"cases from {trained_officers} officers and {len(split.test):,} test cases "
            f"({split.mode} split, {split.dropped:,} training-period cases held out because "
            f"their officer is in the test); at least {CV_FOLDS} training officers and one "
            "test case are needed"
        )
    features = CaseFeatures().fit(cases)
    officers = pd.factorize(cases["officer_id"])[0]  # integer codes: fast grouping
    return ModelInputs(
        split=split,
        features=features,
        X=features.transform(cases),
        weight=design_weights(cases),
        officers=officers,
        folds=officer_folds(_stratum(cases), officers, n_splits=CV_FOLDS, seed=seed),
    )


def judgement_rows(cases: pd.DataFrame, inputs: ModelInputs, judgement: str) -> JudgementRows:
    """The judged rows of ``judgement`` on each side of the split, and whether to skip it."""
    values = cases[judgement].astype(str).to_numpy()
    applies = has_verdict(values)
    y = (values == INSUFFICIENT).astype(int)
    split, weight = inputs.split, inputs.weight
    train_rows = split.train[applies[split.train]]
    test_rows = split.test[applies[split.test]]
    skip = None
    if len(train_rows) < MIN_APPLICABLE or len(np.unique(y[train_rows])) < 2:
        skip = (
            f"{len(train_rows)} judged training cases (at least {MIN_APPLICABLE} "
            "with both outcomes needed)"
        )
    w_train = None if weight is None else weight[train_rows] / weight[train_rows].mean()
    return JudgementRows(y, train_rows, test_rows, w_train, skip)


def train(
    cases: pd.DataFrame,
    seed: int = 0,
    model_params: dict[str, object] | None = None,
    on_judgement: Callable[[str], None] | None = None,
    exclude_officers: object = (),
    test_ids: object = None,
) -> TrainingResult:
    """Fit, calibrate and evaluate one model per judgement on a validated inspected table.

    ``model_params`` (e.g. tuned by ``training.tuning``) go to every ``JudgementClassifier``.
    Officers in ``exclude_officers`` never reach training. With ``test_ids`` (the retraining
    job's reference holdout) those cases are the test set instead of the latest dates.
    """
    inputs = prepare(cases, seed, exclude_officers, test_ids)
    split, features, X, weight = inputs.split, inputs.features, inputs.X, inputs.weight
    officers, nominal = inputs.officers, inputs.nominal

    models, skipped, rows, curves, predictions = {}, {}, [], {}, []
    for judgement in JUDGEMENTS:
        rows_of = judgement_rows(cases, inputs, judgement)
        y, train_rows, test_rows = rows_of.y, rows_of.train, rows_of.test
        if rows_of.skip_reason is not None:
            skipped[judgement] = rows_of.skip_reason
        else:
            w_train = rows_of.w_train
            fitted = {
                "lightgbm": JudgementClassifier(
                    cv=inputs.folds, random_state=seed, **(model_params or {})
                ).fit(
                    X.iloc[train_rows],
                    y[train_rows],
                    groups=officers[train_rows],
                    sample_weight=w_train,
                    categorical_features=nominal,
                ),
                "logistic": logistic_baseline(nominal, inputs.numeric).fit(
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

    if not models:
        raise InputError(
            f"too little data to train: no judgement has {MIN_APPLICABLE} judged training cases "
            f"with both outcomes ({len(split.train):,} training cases after the {split.mode} "
            f"split of {len(cases):,}); e.g. {JUDGEMENTS[0]}: {skipped[JUDGEMENTS[0]]}"
        )
    metadata = {
        "trained_on": data_fingerprint(cases),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "test_cutoff": split.cutoff.date().isoformat(),
        "split": split.mode,
        "split_kept_share": round(split.kept_share, 4),
        "design_weighted": weight is not None,
        "skipped": skipped,
        APPLICABILITY: fit_applicability(
            cases.iloc[split.train], None if weight is None else weight[split.train]
        ),
    }
    metrics = pd.DataFrame(rows)
    metadata["metrics"] = metrics_summary(metrics)
    bundle = CaseworkModel(
        features, models, skipped, metadata, cases["case_id"].to_numpy()[split.train]
    )
    return TrainingResult(
        bundle,
        metrics,
        curves,
        split,
        pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(),
        skipped,
    )


def metrics_summary(metrics: pd.DataFrame) -> dict[str, dict[str, float]]:
    """LightGBM's temporal-test AUC, ECE and Brier per judgement (design-weighted when possible).

    Kept in the bundle's metadata so the service's ``GET /model`` needs no MLflow server.
    """
    if metrics.empty:
        return {}
    ours = metrics[metrics["model"] == "lightgbm"]
    if "design" in set(ours["weighting"]):
        ours = ours[ours["weighting"] == "design"]
    return {
        row["judgement"]: {k: float(row[k]) for k in ("auc", "ece", "brier") if k in row}
        for row in ours.to_dict("records")
    }


def _stratum(cases: pd.DataFrame) -> np.ndarray:
    """Tertile of each case's share of insufficient judgements: the CV stratification label."""
    values = cases[list(JUDGEMENTS)].astype(str)
    verdicts = values.isin((SUFFICIENT, INSUFFICIENT)).sum(axis=1).clip(lower=1)
    share = (values == INSUFFICIENT).sum(axis=1) / verdicts
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
