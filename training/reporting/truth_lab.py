"""The truth lab: the model against the generator's known truth (data carrying ``p_true__*``).

Three comparisons, all on the evaluation cases (those the model was not trained on), each
judgement on its applicable rows, design-weighted when the cases carry inclusion probabilities:

- **Bayes**: AUC and log loss of the model's probability and of ``p_true`` (the best any model of
  the contract columns can do) on the same rows.
- **Drivers**: for each driver of the truth (``features.synthetic.truth.DRIVERS``) a contrast of two
  groups of cases (e.g. caseload 50 or more against below 50); the *recovered* effect is the average
  SHAP difference (probability scale: mean contribution of the feature in the first group minus the
  second); the *true* effect is the same average difference of the truth's own decomposition.
  The truth is additive in the log-odds, so its contributions are formed exactly as
  ``training.reporting.explain`` forms the model's: each driver's centred log-odds term, scaled
  by (p_true - p_true(base)) / (eta - base). The interval covers both which cases were evaluated
  (a bootstrap that resamples officers) and the model's estimation error (the delete-one-fold
  jackknife of the champion's cross-validation fold boosters, kept from training), and is
  simultaneous: 95% jointly for a judgement's three strongest drivers (each at 1 - 0.05/3).
  Five fold boosters give a variance with 4 degrees of freedom, so the critical value is
  Student's t with the Welch-Satterthwaite degrees of freedom of the two variances (as for a
  delete-a-group jackknife with G groups, t with G - 1 df), not the normal's.
- **Protected characteristics**: the generator gives gender, ethnicity and age no direct effect.
  Per group against the largest group, the observed gap in the share insufficient, the model's
  predicted gap split by SHAP into the features that carry it (proxies), the true gap, the
  residual (observed minus predicted): a direct effect would show there, and the known answer is
  0; and the model's error (predicted minus true gap). Both intervals are 95% t intervals over
  the officer bootstrap and the fold boosters' jackknife of the predicted gap. Gaps pool each
  case's applicable judgements, so part of a predicted gap is the "judgement mix" (groups differ
  in which judgements apply).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import t as student_t
from sklearn.metrics import log_loss, roc_auc_score

from features.contract import INSUFFICIENT, JUDGEMENTS, has_verdict, score_column, truth_column
from features.synthetic.truth import DRIVERS, solve_truth
from training.bootstrap_metrics import officer_counts
from training.bundle import CaseworkModel
from training.judgement_model import JudgementClassifier
from training.reporting.explain import Contributions, shap_contributions
from training.reporting.fairness import age_band
from training.trainer import design_weights

N_BOOT = 200
TOP_DRIVERS = 3
LEVEL = 0.95
TAIL = (1 - LEVEL) / (2 * TOP_DRIVERS)
"""Each driver interval's upper tail: 95% jointly for a judgement's three strongest drivers
(Bonferroni)."""
PER_GROUP = (1 - LEVEL) / 2
"""The upper tail of a protected group's intervals: 95% for each comparison."""
SPREAD_CASES = 2_000
"""Evaluation cases the fold boosters are explained on (their spread, not the effect itself)."""
JUDGEMENT_MIX = "judgement mix"
"""The part of a pooled gap due to which judgements apply (each model's base probability)."""

Groups = Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]


def _split(column: str, first: Callable[[pd.Series], pd.Series]) -> Groups:
    def groups(cases: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        chosen = first(cases[column]).to_numpy(dtype=bool)
        return chosen, ~chosen

    return groups


def _levels(column: str, first: tuple[str, ...], second: tuple[str, ...]) -> Groups:
    def groups(cases: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        values = cases[column].astype(str)
        return values.isin(first).to_numpy(), values.isin(second).to_numpy()

    return groups


CONTRASTS: dict[str, tuple[str, Groups]] = {
    "provider_type": ("CRC vs NPS", _levels("provider_type", ("CRC",), ("NPS",))),
    "rosh_level": (
        "low/medium vs high/very high RoSH",
        _levels("rosh_level", ("low", "medium"), ("high", "very_high")),
    ),
    "officer_caseload": ("caseload 50+ vs below 50", _split("officer_caseload", lambda c: c >= 50)),
    "officer_grade": ("PSO vs PO", _levels("officer_grade", ("PSO",), ("PO",))),
    "officer_changes": ("changed officer vs none", _split("officer_changes", lambda c: c >= 1)),
    "iom": ("not IOM vs IOM", _split("iom", lambda i: ~i.astype(bool))),
    "reoffending_likelihood": (
        "high vs low reoffending likelihood",
        _levels("reoffending_likelihood", ("high",), ("low",)),
    ),
}
"""Each driver's contrast: a label and the two groups of cases it compares."""


@dataclass(frozen=True)
class TruthLab:
    """The three comparison tables (see the module docstring)."""

    bayes: pd.DataFrame  # judgement, n, auc_model, auc_bayes, auc_gap, log_loss_model, ...
    drivers: pd.DataFrame  # judgement, driver, contrast, true_rank, recovered, low, high, ...
    protected: pd.DataFrame  # characteristic, group, reference, n, observed, predicted, ...

    def recovered(self, top: int = TOP_DRIVERS) -> pd.Series:
        """Per judgement: whether every true top-``top`` driver's true effect lies inside the
        interval of its recovered effect."""
        best = self.drivers[self.drivers["true_rank"] <= top]
        inside = (best["low"] <= best["true"]) & (best["true"] <= best["high"])
        return inside.groupby(best["judgement"], sort=False).all()

    def no_direct_effect(self) -> int:
        """How many protected groups' direct-effect intervals hold the true value, 0."""
        p = self.protected
        return int(((p["direct_low"] <= 0) & (p["direct_high"] >= 0)).sum())


def rows_of(shap: dict[str, Contributions], rows: np.ndarray) -> dict[str, Contributions]:
    """The contributions of the cases ``rows`` (a boolean mask or positions) only."""
    return {
        judgement: replace(
            c,
            log_odds=c.log_odds[rows],
            probability=c.probability[rows],
            margin=c.margin[rows],
            p=c.p[rows],
        )
        for judgement, c in shap.items()
    }


def has_truth(cases: pd.DataFrame) -> bool:
    """Whether the cases carry the generator's true probabilities (``--with-truth``)."""
    return all(truth_column(j) in cases for j in JUDGEMENTS)


def truth_lab(
    cases: pd.DataFrame,
    scores: pd.DataFrame,
    shap: dict[str, Contributions],
    features: list[str],
    n_boot: int = N_BOOT,
    seed: int = 0,
    model: CaseworkModel | None = None,
) -> TruthLab:
    """The truth lab on evaluation ``cases`` (with ``p_true__*``), their model ``scores`` and
    TreeSHAP ``shap`` (rows aligned with ``cases``, columns in the order of ``features``).

    With the champion ``model`` the driver and protected-group intervals also cover its
    estimation error, from the spread of its cross-validation fold boosters (``fold_shap``,
    ``fold_predictions``)."""
    cases = cases.reset_index(drop=True)
    weight = design_weights(cases)
    weight = np.ones(len(cases)) if weight is None else weight
    officers, uniques = pd.factorize(cases["officer_id"])
    resample = officer_counts(len(uniques), n_boot, seed)
    truth = _true_contributions(cases)
    applicable = {j: has_verdict(cases[j].to_numpy()) for j in JUDGEMENTS if j in shap}
    spread = np.sort(np.random.default_rng(seed).permutation(len(cases))[:SPREAD_CASES])
    values = None if model is None else model.matrix(cases).to_numpy(dtype=float)
    return TruthLab(
        _bayes(cases, scores, applicable, weight),
        _drivers(
            cases,
            shap,
            truth,
            features,
            applicable,
            weight,
            officers,
            resample,
            None if values is None else fold_shap(model, values[spread]),
            spread,
        ),
        _protected(
            cases,
            scores,
            shap,
            features,
            applicable,
            weight,
            officers,
            resample,
            None if values is None else fold_predictions(model, values),
        ),
    )


def _bayes(
    cases: pd.DataFrame,
    scores: pd.DataFrame,
    applicable: dict[str, np.ndarray],
    weight: np.ndarray,
) -> pd.DataFrame:
    rows = []
    for judgement, keep in applicable.items():
        y = (cases.loc[keep, judgement].astype(str) == INSUFFICIENT).to_numpy(dtype=int)
        if len(np.unique(y)) < 2:
            continue
        w = weight[keep]
        model = scores[score_column(judgement)].to_numpy(dtype=float)[keep]
        bayes = cases[truth_column(judgement)].to_numpy(dtype=float)[keep]
        auc_model = roc_auc_score(y, model, sample_weight=w)
        auc_bayes = roc_auc_score(y, bayes, sample_weight=w)
        loss_model = log_loss(y, model, sample_weight=w, labels=[0, 1])
        loss_bayes = log_loss(y, bayes, sample_weight=w, labels=[0, 1])
        rows.append(
            {
                "judgement": judgement,
                "n": int(keep.sum()),
                "auc_model": auc_model,
                "auc_bayes": auc_bayes,
                "auc_gap": auc_bayes - auc_model,
                "log_loss_model": loss_model,
                "log_loss_bayes": loss_bayes,
                "log_loss_gap": loss_model - loss_bayes,
            }
        )
    return pd.DataFrame(rows)


def _true_contributions(cases: pd.DataFrame) -> dict[str, np.ndarray]:
    """The truth's probability-scale contribution of each driver, (n, 12) per driver."""
    model = solve_truth()
    terms = model.terms(cases)
    centred = {name: term - term.mean(axis=0) for name, term in terms.items()}
    base = model.intercept + sum(term.mean(axis=0) for term in terms.values())
    eta = model.linear_predictor(cases)
    step = eta - base
    p, p_base = model.p_true(cases), model.marginal(base)
    near = np.abs(step) < 1e-9
    slope = (model.marginal(base + 1e-4) - model.marginal(base - 1e-4)) / 2e-4
    scale = np.where(near, slope, (p - p_base) / np.where(near, 1.0, step))
    return {name: term * scale for name, term in centred.items()}


def _group_means(
    values: np.ndarray,
    groups: tuple[np.ndarray, np.ndarray],
    weight: np.ndarray,
    officers: np.ndarray,
    n_officers: int,
) -> np.ndarray:
    """Per officer: [Σ w·v, Σ w] in each of the two groups, (officers, k, 4) for (n, k) values.

    ``weight`` may be (n,) or (n, 1); for sums over several cells per row it is the cell count
    times the design weight."""
    w = weight.reshape(len(values), -1)
    parts = []
    for group in groups:
        wg = w * group[:, None]
        parts.append(_by_officer(wg * values, officers, n_officers))
        parts.append(_by_officer(np.broadcast_to(wg, values.shape), officers, n_officers))
    return np.stack(parts, axis=-1)


def _by_officer(values: np.ndarray, officers: np.ndarray, n_officers: int) -> np.ndarray:
    """Column sums of ``values`` (n, k) per officer: (officers, k)."""
    sums = np.zeros((n_officers, values.shape[1]))
    np.add.at(sums, officers, values)
    return sums


def _gap(totals: np.ndarray) -> np.ndarray:
    """First group's mean minus the second's, from [Σ w·v, Σ w, Σ w·v, Σ w] on the last axis."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return totals[..., 0] / totals[..., 1] - totals[..., 2] / totals[..., 3]


def _replicates(totals: np.ndarray, resample: np.ndarray) -> np.ndarray:
    """The gap in each officer-bootstrap replicate, (replicates, k), from ``totals``."""
    return _gap(np.einsum("bo,okc->bkc", resample, totals))


def _refits(classifier: JudgementClassifier) -> list[JudgementClassifier]:
    """The judgement model with each of its cross-validation fold boosters (refits without one
    fold of officers, kept from training) in place of its final booster, same calibrator."""
    refits = []
    for booster in getattr(classifier, "fold_boosters_", ()):
        refit = copy.copy(classifier)
        refit.booster_ = booster
        refits.append(refit)
    return refits


def fold_shap(model: CaseworkModel, values: np.ndarray) -> dict[str, list[Contributions]]:
    """TreeSHAP of each judgement's fold boosters on the model matrix ``values``: their spread
    is the model's estimation error."""
    return {
        judgement: [shap_contributions(refit, values) for refit in _refits(classifier)]
        for judgement, classifier in model.models.items()
    }


def fold_predictions(model: CaseworkModel, values: np.ndarray) -> dict[str, np.ndarray]:
    """Each judgement's P(insufficient) from each fold booster on the model matrix ``values``,
    (boosters, cases)."""
    return {
        judgement: np.array(
            [refit.predict_proba(values)[:, 1] for refit in _refits(classifier)]
        ).reshape(-1, len(values))
        for judgement, classifier in model.models.items()
    }


def _estimation_variance(
    refits: list[np.ndarray], groups: tuple[np.ndarray, np.ndarray], weight: np.ndarray
) -> float:
    """Delete-one-fold jackknife variance of a contrast, (K-1)/K Σ (gap_k - mean)², from the K
    fold boosters' contributions ``refits`` (n,) each; 0 without fold boosters."""
    if len(refits) < 2:
        return 0.0
    first, second = groups
    values = np.column_stack(refits)
    with np.errstate(invalid="ignore", divide="ignore"):
        gaps = (weight[first] @ values[first]) / weight[first].sum() - (
            weight[second] @ values[second]
        ) / weight[second].sum()
    k = len(refits)
    return float((k - 1) / k * ((gaps - gaps.mean()) ** 2).sum())


def satterthwaite(variances: tuple[float, ...], dfs: tuple[int, ...]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of independent variance estimates, each
    with its own degrees of freedom; infinite when the sum is 0."""
    total = sum(variances)
    spread = sum(v**2 / d for v, d in zip(variances, dfs, strict=True))
    return float(total**2 / spread) if spread > 0 else float("inf")


def _t_half(
    evaluation: float, estimation: float, n_officers: int, n_folds: int, tail: float
) -> tuple[float, float, float]:
    """SE, degrees of freedom and half-width (upper ``tail``) of a value whose variance is an
    officer-bootstrap part plus a delete-one-fold jackknife part from ``n_folds`` boosters."""
    df = satterthwaite((evaluation, estimation), (n_officers - 1, max(n_folds - 1, 1)))
    se = float(np.sqrt(evaluation + estimation))
    return se, df, float(student_t.ppf(1 - tail, df)) * se


def _drivers(
    cases: pd.DataFrame,
    shap: dict[str, Contributions],
    truth: dict[str, np.ndarray],
    features: list[str],
    applicable: dict[str, np.ndarray],
    weight: np.ndarray,
    officers: np.ndarray,
    resample: np.ndarray,
    folds: dict[str, list[Contributions]] | None,
    spread: np.ndarray,
) -> pd.DataFrame:
    """One row per judgement and driver; the interval is the recovered effect ± t·SE with SE²
    the officer-bootstrap variance over the evaluation cases plus the fold boosters' jackknife
    variance (on the evaluation cases ``spread``), t for 95% jointly over three drivers with
    the two variances' Welch-Satterthwaite degrees of freedom."""
    ranks = solve_truth().driver_variance(cases).rank(axis=1, ascending=False, method="first")
    columns = [features.index(d) for d in DRIVERS]
    contrasts = [CONTRASTS[d][1](cases) for d in DRIVERS]
    n_officers = resample.shape[1]
    rows = []
    for judgement, keep in applicable.items():
        j = JUDGEMENTS.index(judgement)
        model = shap[judgement].probability[:, columns]
        true = np.column_stack([truth[d][:, j] for d in DRIVERS])
        refits = [] if folds is None else [f.probability[:, columns] for f in folds[judgement]]
        for k, driver in enumerate(DRIVERS):
            pair = tuple(g & keep for g in contrasts[k])
            totals = _group_means(model[:, [k]], pair, weight, officers, n_officers)
            point = _gap(totals.sum(axis=0))[0]
            evaluation = np.nanvar(_replicates(totals, resample)[:, 0], ddof=1)
            estimation = _estimation_variance(
                [r[:, k] for r in refits], tuple(g[spread] for g in pair), weight[spread]
            )
            _, df, half = _t_half(evaluation, estimation, n_officers, len(refits), TAIL)
            true_totals = _group_means(true[:, [k]], pair, weight, officers, n_officers)
            rows.append(
                {
                    "judgement": judgement,
                    "driver": driver,
                    "contrast": CONTRASTS[driver][0],
                    "true_rank": int(ranks.loc[judgement, driver]),
                    "recovered": 100 * point,
                    "low": 100 * (point - half),
                    "high": 100 * (point + half),
                    "se_evaluation": 100 * np.sqrt(evaluation),
                    "se_estimation": 100 * np.sqrt(estimation),
                    "df": df,
                    "true": 100 * _gap(true_totals.sum(axis=0))[0],
                }
            )
    return pd.DataFrame(rows)


def _protected(
    cases: pd.DataFrame,
    scores: pd.DataFrame,
    shap: dict[str, Contributions],
    features: list[str],
    applicable: dict[str, np.ndarray],
    weight: np.ndarray,
    officers: np.ndarray,
    resample: np.ndarray,
    folds: dict[str, np.ndarray] | None,
) -> pd.DataFrame:
    """Gaps in points, pooled over every applicable judgement of each case. The direct effect
    (observed - predicted) and the model's error (predicted - true) get 95% t intervals over the
    officer bootstrap and the fold boosters' jackknife of the predicted gap (``folds``)."""
    n_officers = resample.shape[1]
    labels = {
        "gender": cases["gender"].astype(str).to_numpy(),
        "ethnicity": cases["ethnicity"].astype(str).to_numpy(),
        "age band": age_band(cases["age"]),
    }
    # per case: sums over applicable judgements of observed, predicted, true and contributions,
    # and of each fold booster's prediction
    n_folds = 0 if not folds else min(len(f) for f in folds.values())
    cells = np.zeros(len(cases))
    values = np.zeros((len(cases), 4 + len(features)))
    refits = np.zeros((len(cases), n_folds))
    for judgement, keep in applicable.items():
        y = (cases[judgement].astype(str).to_numpy() == INSUFFICIENT).astype(float)
        parts = np.column_stack(
            [
                y,
                scores[score_column(judgement)].to_numpy(dtype=float),
                cases[truth_column(judgement)].to_numpy(dtype=float),
                shap[judgement].probability,
                np.full(len(cases), shap[judgement].base_probability),
            ]
        )
        values += keep[:, None] * parts
        if n_folds:
            refits += keep[:, None] * folds[judgement][:n_folds].T
        cells += keep
    # numerators are sums over a case's applicable judgements, so values are per-case means
    # weighted by the case's number of judgements; columns: observed, predicted, true, direct
    # (observed - predicted), model error (predicted - true), then the contributions
    observed, predicted, true = values[:, 0], values[:, 1], values[:, 2]
    values = (
        np.column_stack([values[:, :3], observed - predicted, predicted - true, values[:, 3:]])
        / np.maximum(cells, 1)[:, None]
    )
    refits /= np.maximum(cells, 1)[:, None]
    rows = []
    for name, label in labels.items():
        sizes = pd.Series(weight * cells).groupby(label).sum()
        reference = str(sizes.idxmax())
        for group in sorted(set(label) - {reference}):
            pair = (label == group, label == reference)
            totals = _group_means(values, pair, weight * cells, officers, n_officers)
            gaps = 100 * _gap(totals.sum(axis=0))
            evaluation = np.nanvar(_replicates(totals[:, 3:5], resample), axis=0, ddof=1)
            estimation = _estimation_variance(list(refits.T), pair, weight * cells)
            proxies = pd.Series(gaps[5:], index=[*features, JUDGEMENT_MIX]).sort_values(
                key=np.abs, ascending=False
            )
            row = {
                "characteristic": name,
                "group": group,
                "reference": reference,
                "n": int(pair[0].sum()),
                "observed": gaps[0],
                "predicted": gaps[1],
                "true": gaps[2],
            }
            for k, column in enumerate(("direct", "model_error")):
                se, _, half = _t_half(evaluation[k], estimation, n_officers, n_folds, PER_GROUP)
                row |= {
                    column: gaps[3 + k],
                    f"{column}_se": 100 * se,
                    f"{column}_low": gaps[3 + k] - 100 * half,
                    f"{column}_high": gaps[3 + k] + 100 * half,
                }
            rows.append({**row, "proxies": proxies})
    return pd.DataFrame(rows)
