"""The rating-aware planner against real draws: stated P(right rating) beside the share of draws
whose Hájek shares give the frame's true rating."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.contract import INSUFFICIENT, JUDGEMENTS, SUFFICIENT, score_column
from features.synthetic.truth import solve_truth
from serving.planning import RatingOdds
from serving.ratings import band
from serving.sampling import SampleRequest, aligned_scores, design_for
from serving.simulation import draw_many

ODDS_SEED = 3
TRUE_APPLIES = "true"
"""A variant's applicability: the frame's realised one (which cases each judgement applies to)."""
PREDICTED = "predicted"
"""A variant as ``casework sample --simulate`` plans: the scores themselves (not centred) and the
truth's chances of applying, the frame's realised shares unknown (drawn around the predicted
ones)."""


def centred_truth(
    frame: pd.DataFrame, judged: pd.DataFrame, scores: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """``scores`` shifted so that each judgement's mean P(sufficient) over the cases it applies
    to equals the frame's realised share there, the 0/1 sufficient and applies matrices
    (cases × JUDGEMENTS) and the realised shares: a planner given these is tested on its
    variance model, not on the model's scores."""
    judged = judged.reset_index(drop=True)
    value = np.column_stack([judged[j].astype(str).to_numpy() for j in JUDGEMENTS])
    sufficient = (value == SUFFICIENT).astype(float)
    applies = np.isin(value, [SUFFICIENT, INSUFFICIENT]).astype(float)
    realised = sufficient.sum(axis=0) / applies.sum(axis=0)
    centred = aligned_scores(frame, scores).copy()
    for j, judgement in enumerate(JUDGEMENTS):
        p = centred[score_column(judgement)].to_numpy()
        among = (applies[:, j] * (1 - p)).sum() / applies[:, j].sum()
        centred[score_column(judgement)] = (p + among - realised[j]).clip(1e-3, 1 - 1e-3)
        kept = (applies[:, j] * (1 - centred[score_column(judgement)])).sum() / applies[:, j].sum()
        assert abs(kept - realised[j]) < 1e-3, f"centring {judgement} clipped too much"
    return centred, sufficient, applies, realised


def planner_against_draws(
    frame: pd.DataFrame,
    judged: pd.DataFrame,
    scores: pd.DataFrame,
    draws: dict[str, int],
    seed: int,
    variants: dict[str, pd.DataFrame | str | None] | None = None,
) -> pd.DataFrame:
    """Per method and standard: each planner variant's P(right) (a column per variant name),
    the share of ``draws[method]`` real draws rated right (``realised``) and its binomial SE.

    Args:
        variants: name → the applicability given to the planner of the centred scores with
            the frame's shares known: a frame (N × judgements), ``TRUE_APPLIES`` for the
            frame's realised one, or None (every judgement applies); or ``PREDICTED``.
            Default ``{"stated": TRUE_APPLIES}``.
    """
    frame = frame.reset_index(drop=True)
    centred, sufficient, applies, realised = centred_truth(frame, judged, scores)
    truly = pd.DataFrame(applies, columns=list(JUDGEMENTS))
    chances = pd.DataFrame(solve_truth().p_applies(frame), columns=list(JUDGEMENTS))
    officers = pd.factorize(frame["officer_id"])[0]
    odds = {
        name: RatingOdds(
            aligned_scores(frame, scores), ODDS_SEED, applies=chances, officer=officers
        )
        if given is PREDICTED
        else RatingOdds(centred, ODDS_SEED, applies=truly if given is TRUE_APPLIES else given)
        for name, given in (variants or {"stated": TRUE_APPLIES}).items()
    }
    first = next(iter(odds.values()))
    rows = []
    for method, count in draws.items():
        design = design_for(frame, scores, SampleRequest(size=120, method=method))
        stated = {name: o.p_right(design, method) for name, o in odds.items()}
        chosen = draw_many(design, method, count, seed, workers=2)
        weight = applies / design.pi[:, None]
        shares = np.array([(weight * sufficient)[c].sum(0) / weight[c].sum(0) for c in chosen])
        for index, (kind, standard, _, _, columns) in enumerate(first.standards):
            right = band(shares[:, columns].min(axis=1)) == band(realised[columns].min())
            rows.append(
                {
                    "method": method,
                    "standard": f"{standard} ({kind})",
                    **{name: float(values[index]) for name, values in stated.items()},
                    "realised": float(right.mean()),
                    "se": float(np.sqrt(right.mean() * (1 - right.mean()) / len(right))),
                }
            )
    return pd.DataFrame(rows)
