"""Promotion gates: champion and challenger on the same holdout cases, paired, with intervals.

The retraining job gates on the fixed reference holdout (the first training's test cases, which
neither model trained on, nor on their officers); ``gate_table`` takes any named holdouts. Both
models score the same cases. For every judgement the paired differences challenger − champion
in AUC and log loss, for each protected characteristic the difference in disparity ratio
(riskiest 20% by ``risk_score``), and the pooled log loss over every judged cell get intervals
from a paired bootstrap that resamples officers (a case's officer effect is shared by his or her
cases), ``BOOTSTRAP_ROUNDS`` replicates with a fixed seed.

Decision (one rule, ``decide``): the challenger is promoted unless

- on some holdout the pooled log loss is worse: its 95% interval lies wholly above 0; or
- some judgement or characteristic is worse beyond its non-inferiority margin: its interval lies
  wholly on the worse side of 0 *and* the point estimate is worse than the margin (AUC 0.01, log
  loss 0.005 nats, disparity ratio 0.05). These intervals are simultaneous 95% intervals for
  the checks of a holdout (Bonferroni: z for α/(2 × checks)), so 27 checks do not give 27
  chances to block a good challenger by luck; or
- the new cases disagree with the champion (``label_agreement``): shuffled or wrong labels.

Intervals are the difference ± z × its bootstrap standard error.
Log losses clip probabilities to [0.01, 0.99]. There is no absolute limit (such as an ECE
ceiling) that the champion itself could fail on a small holdout: the challenger only has to be no
worse than the champion, on evidence. Cases are weighted with
``training.trainer.design_weights``, the rule training and metrics use.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.stats import norm

from features.contract import INSUFFICIENT, JUDGEMENTS, RISK_SCORE, has_verdict, score_column
from training.bootstrap_metrics import officer_counts, weighted_auc
from training.bundle import CaseworkModel
from training.trainer import design_weights

AUC_MARGIN = 0.01
LOG_LOSS_MARGIN = 0.005
DISPARITY_MARGIN = 0.05
BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 20_240_601
TOP_SHARE = 0.2
MIN_GROUP = 50
AGE_BANDS = (18, 25, 35, 50, 101)
AGREEMENT_MARGIN = 0.05
ALPHA = 0.05
POOLED = "pooled log loss"
MARGINS = {  # check → (non-inferiority margin, whether higher is better)
    "AUC": (AUC_MARGIN, True),
    "log loss": (LOG_LOSS_MARGIN, False),
    "disparity": (DISPARITY_MARGIN, True),
    POOLED: (0.0, False),
    "label agreement": (AGREEMENT_MARGIN, True),
}
CLIP = 0.01  # gate log losses use probabilities within [CLIP, 1 - CLIP]
_EPS = 1e-9


def gate_table(
    champion: CaseworkModel,
    challenger: CaseworkModel,
    holdouts: dict[str, pd.DataFrame],
    rounds: int = BOOTSTRAP_ROUNDS,
    champion_scores: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per holdout × check: both models, their paired difference and whether it blocks.

    Each row holds both models' figures, the difference, its interval (NaN with ``rounds=0``),
    the margin and whether it blocks promotion.

    Args:
        champion_scores: the champion's scores of some holdouts, by name (from
            ``CaseworkModel.predict`` on the same rows), so the caller scores a holdout once.
    """
    rows = []
    for name, cases in holdouts.items():
        if cases.empty:
            continue
        cases = cases.reset_index(drop=True)
        w, officers, counts = _resampling(cases, rounds)
        known = (champion_scores or {}).get(name)
        scored = [
            champion.predict(cases) if known is None else known.reset_index(drop=True),
            challenger.predict(cases),
        ]
        family, pooled = [], np.zeros((3, 1 + rounds))  # log-loss sums of both, weight sums
        for judgement in JUDGEMENTS:
            labelled = _labelled(cases, judgement)
            if labelled is None:
                continue
            rows_of, y = labelled
            W = counts[:, officers[rows_of]] * w[rows_of]
            p = [s[score_column(judgement)].to_numpy()[rows_of] for s in scored]
            loss = [_log_loss(y, q) for q in p]
            pooled += [W @ loss[0], W @ loss[1], W.sum(axis=1)]
            family.append((f"AUC {judgement}", len(y), [weighted_auc(y, q, W) for q in p]))
            family.append(
                (f"log loss {judgement}", len(y), [(W @ x) / W.sum(axis=1) for x in loss])
            )
        W = counts[:, officers] * w
        for group, labels in _groups(cases).items():
            ratios = [_disparity(s[RISK_SCORE].to_numpy(), labels, W) for s in scored]
            family.append((f"disparity {group}", len(cases), ratios))
        z = norm.ppf(1 - ALPHA / (2 * max(1, len(family))))
        rows += [_row(name, check, n, figures, z) for check, n, figures in family]
        if pooled[2, 0] > 0:
            rows.append(
                _row(name, POOLED, len(cases), list(pooled[:2] / pooled[2]), norm.ppf(0.975))
            )
    return pd.DataFrame(rows)


def label_agreement(
    champion: CaseworkModel,
    trusted: pd.DataFrame,
    batch: pd.DataFrame,
    rounds: int = BOOTSTRAP_ROUNDS,
    trusted_scores: pd.DataFrame | None = None,
) -> dict[str, object]:
    """The champion's mean AUC over the judgements on the new cases against trusted cases.

    Shuffled or wrong labels (or a real change in practice) make the new cases disagree with
    what the champion learned: their AUC falls toward 0.5. Blocks when the new cases' AUC is
    lower by more than ``AGREEMENT_MARGIN`` on evidence (independent officer bootstraps); the
    batch is then held for review (``casework retrain --accept`` admits it).

    Args:
        trusted_scores: the champion's scores of ``trusted`` when the caller already has them.
    """
    figures = []
    for cases, known in ((trusted, trusted_scores), (batch, None)):
        cases = cases.reset_index(drop=True)
        w, officers, counts = _resampling(cases, rounds)
        scores = champion.predict(cases) if known is None else known.reset_index(drop=True)
        aucs = []
        for judgement in JUDGEMENTS:
            labelled = _labelled(cases, judgement)
            if labelled is not None:
                rows_of, y = labelled
                W = counts[:, officers[rows_of]] * w[rows_of]
                p = scores[score_column(judgement)].to_numpy()[rows_of]
                aucs.append(weighted_auc(y, p, W))
        figures.append(np.nanmean(aucs, axis=0) if aucs else np.full(1 + rounds, np.nan))
    row = _row("new cases", "label agreement (champion AUC)", len(batch), figures, norm.ppf(0.975))
    return row


def decide(table: pd.DataFrame) -> tuple[bool, str]:
    """Whether to promote, and one sentence saying what blocked promotion or why it passed."""
    if table.empty:
        return False, "champion kept: no holdout case to compare the two models on"
    blocking = table[table["blocks"]]
    if len(blocking):
        shown = "; ".join(_describe(row) for row in blocking.head(3).itertuples(index=False))
        more = f" (and {len(blocking) - 3} more)" if len(blocking) > 3 else ""
        return False, f"champion kept: {shown}{more}"
    pooled = "; ".join(
        _describe(row) for row in table[table["check"] == POOLED].itertuples(index=False)
    )
    return True, (
        f"promoted: no judgement worse beyond the margins (AUC {AUC_MARGIN}, log loss "
        f"{LOG_LOSS_MARGIN}, disparity ratio {DISPARITY_MARGIN}) and pooled log loss not "
        f"worse: {pooled}"
    )


def _groups(cases: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        "gender": cases["gender"].astype(str).to_numpy(),
        "ethnicity": cases["ethnicity"].astype(str).to_numpy(),
        "age band": pd.cut(cases["age"], AGE_BANDS, right=False).astype(str).to_numpy(),
    }


def _resampling(cases: pd.DataFrame, rounds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Case weights, officer codes and officer multiplicities per replicate of a holdout."""
    weight = design_weights(cases)
    w = np.ones(len(cases)) if weight is None else weight
    officers = pd.factorize(cases["officer_id"])[0]
    resampled = officer_counts(officers.max() + 1, rounds, BOOTSTRAP_SEED)
    return w, officers, np.vstack([np.ones(officers.max() + 1), resampled])


def _labelled(cases: pd.DataFrame, judgement: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Positions of the judged cases and their labels, or None without both outcomes."""
    values = cases[judgement].astype(str).to_numpy()
    rows_of = np.flatnonzero(has_verdict(values))
    y = (values[rows_of] == INSUFFICIENT).astype(float)
    return (rows_of, y) if len(np.unique(y)) == 2 else None


def _log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-case log loss with p clipped to [CLIP, 1 - CLIP].

    So a handful of cases at the calibrator's extremes (1e-4) cannot decide the gate alone.
    """
    p = np.clip(p, CLIP, 1 - CLIP)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _disparity(risk: np.ndarray, labels: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Disparity ratio of the riskiest ``TOP_SHARE`` for each row of weights ``W``."""
    order = np.argsort(-risk, kind="stable")
    Wo = W[:, order]
    cumulative = np.cumsum(Wo, axis=1)
    top = np.empty_like(Wo, dtype=bool)
    top[:, order] = (cumulative - Wo) < TOP_SHARE * cumulative[:, -1:]
    rates = [
        (W * top)[:, labels == g].sum(axis=1) / np.maximum(W[:, labels == g].sum(axis=1), _EPS)
        for g in np.unique(labels)
        if (labels == g).sum() >= MIN_GROUP
    ]
    if len(rates) < 2:
        return np.ones(len(W))
    rates = np.column_stack(rates)
    high = rates.max(axis=1)
    return np.divide(rates.min(axis=1), high, out=np.ones(len(W)), where=high > 0)


def _row(holdout: str, check: str, n: int, figures: list[np.ndarray], z: float) -> dict:
    """A gate row from both figures per replicate (index 0 = the sample itself).

    The difference, its interval delta ± z × bootstrap SE, and whether it blocks promotion.
    """
    kind = next(k for k in MARGINS if check.startswith(k))
    margin, higher_is_better = MARGINS[kind]
    old, new = figures
    delta = new - old
    se = float(np.nanstd(delta[1:], ddof=1)) if len(delta) > 2 else np.nan
    low, high = delta[0] - z * se, delta[0] + z * se
    worse = -delta[0] if higher_is_better else delta[0]
    evidence = high < 0 if higher_is_better else low > 0
    return {
        "holdout": holdout,
        "check": check,
        "n": int(n),
        "champion": float(old[0]),
        "challenger": float(new[0]),
        "delta": float(delta[0]),
        "low": float(low),
        "high": float(high),
        "margin": margin,
        "blocks": bool(evidence and worse > margin),
    }


def _describe(row: object) -> str:
    figures = f"{row.delta:+.4f} [{row.low:+.4f}, {row.high:+.4f}]"
    if row.check.startswith("label agreement"):
        return (
            f"the new cases' labels disagree with the champion (its AUC on them minus on the "
            f"reference {figures}): wrong or shuffled labels, or practice changed"
        )
    if not row.blocks:
        return f"{row.check} on {row.holdout} {figures}"
    return f"the challenger's {row.check} on {row.holdout} is worse {figures}"
