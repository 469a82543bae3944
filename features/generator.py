"""Calibrated synthetic inspected cases and caseload frame with known ground truth.

There is no public case-level data, so this is how casework is demonstrated and tested. Officers
(see ``features.population``) hold posts over 2016–2020; inspections of ~115 cases visit one
region at a time and draw the cases of officers in post in proportion to their caseload; the
frame is what the next inspection may select: the cases of the officers in post at the end that
were sentenced or released 6-9 months earlier (about a third of each caseload). Judgements follow
``features.truth``: the structural model whose parameters are calibrated to published figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from features.calibration import CalibrationConfig, load_config
from features.contract import (
    CATEGORIES,
    FRAME_COLUMNS,
    INSPECTED_COLUMNS,
    INSUFFICIENT,
    JUDGEMENT_VALUES,
    JUDGEMENTS,
    NOT_APPLICABLE,
    SUFFICIENT,
    truth_column,
)
from features.population import (
    DAYS_PER_YEAR,
    draw_case_covariates,
    draw_officers,
    draw_posts,
    window_months,
)
from features.truth import TruthModel, solve_truth


@dataclass(frozen=True)
class SyntheticData:
    """Generated tables; ``frame_judgements`` is what inspectors would find in each frame case."""

    inspected: pd.DataFrame
    frame: pd.DataFrame
    frame_judgements: pd.DataFrame | None = None


def generate(n_cases: int, n_frame: int, seed: int, with_truth: bool = False) -> SyntheticData:
    """Inspected cases and a caseload frame from the same offices and officers, for a seed.

    With ``with_truth`` both tables carry ``p_true__<judgement>`` and the realised judgements of
    the frame cases are returned too (for simulation studies of sampling and estimation).
    """
    if n_cases < 1 or n_frame < 1:
        raise ValueError("n_cases and n_frame must be positive")
    config = load_config()
    truth = solve_truth()
    rng = np.random.default_rng(seed)
    pop = config.population
    horizon = (pop.last_inspection - pop.first_inspection).days / DAYS_PER_YEAR
    eligible_per_post = pop.mean_caseload * pop.eligible_share
    posts = draw_posts(max(20, round(n_frame / eligible_per_post)), config, rng)
    officers = draw_officers(posts, horizon, config, rng)

    inspected = _inspected(n_cases, officers, horizon, config, truth, rng)
    in_post = officers[(officers["start"] <= horizon) & (officers["end"] > horizon)]
    frame_officers = _by_caseload(in_post, n_frame, rng)
    frame = draw_case_covariates(frame_officers, window_months(n_frame, config, rng), config, rng)
    frame.insert(0, "case_id", [f"F{k:07d}" for k in range(1, n_frame + 1)])
    found = _judge(frame, frame_officers["officer_effect"].to_numpy(), truth, rng)
    frame = _typed(frame, FRAME_COLUMNS)

    if not with_truth:
        return SyntheticData(inspected, frame)
    for table in (inspected, frame):
        p_true = truth.p_true(table)
        for j, judgement in enumerate(JUDGEMENTS):
            table[truth_column(judgement)] = p_true[:, j]
    judgements = pd.DataFrame(found, index=frame.index).astype(
        pd.CategoricalDtype(JUDGEMENT_VALUES)
    )
    return SyntheticData(inspected, frame, judgements)


def _inspected(
    n_cases: int,
    officers: pd.DataFrame,
    horizon: float,
    config: CalibrationConfig,
    truth: TruthModel,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Inspections spread evenly over the period, each a region's officers in post that day."""
    pop = config.population
    n_inspections = int(np.ceil(n_cases / pop.cases_per_inspection))
    when = np.sort(rng.uniform(0.0, horizon, n_inspections))
    weights = np.asarray(pop.region_weights) / np.sum(pop.region_weights)
    region = np.asarray(pop.regions, dtype=object)[
        rng.choice(len(weights), n_inspections, p=weights)
    ]
    sizes = np.full(n_inspections, n_cases // n_inspections)
    sizes[: n_cases % n_inspections] += 1
    chosen, inspection, dates = [], [], []
    starts, ends = officers["start"].to_numpy(), officers["end"].to_numpy()
    regions = officers["region"].to_numpy()
    for k in range(n_inspections):
        in_post = (starts <= when[k]) & (ends > when[k])
        eligible = np.flatnonzero(in_post & (regions == region[k]))
        if len(eligible) == 0:  # a small population may leave a region empty: visit all
            eligible = np.flatnonzero(in_post)
        chosen.append(_by_caseload(officers.iloc[eligible], sizes[k], rng).index.to_numpy())
        inspection.append(np.full(sizes[k], f"INS{k + 1:04d}"))
        day = pop.first_inspection + timedelta(days=int(when[k] * DAYS_PER_YEAR))
        dates.append(np.full(sizes[k], np.datetime64(day, "ns")))
    case_officers = officers.loc[np.concatenate(chosen)]
    cases = draw_case_covariates(case_officers, window_months(n_cases, config, rng), config, rng)
    cases.insert(0, "case_id", [f"I{k:07d}" for k in range(1, n_cases + 1)])
    cases.insert(1, "inspection_id", np.concatenate(inspection))
    cases.insert(2, "inspection_date", np.concatenate(dates))
    found = _judge(cases, case_officers["officer_effect"].to_numpy(), truth, rng)
    for judgement, values in found.items():
        cases[judgement] = values
    return _typed(cases, INSPECTED_COLUMNS)


def _by_caseload(officers: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` case holders drawn from ``officers`` with chance proportional to caseload."""
    weights = officers["officer_caseload"].to_numpy(dtype=float)
    return officers.iloc[rng.choice(len(officers), size=n, p=weights / weights.sum())]


def _judge(
    cases: pd.DataFrame, officer_effect: np.ndarray, truth: TruthModel, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Draw the 12 judgements of each case from the structural model with its latent effects."""
    n = len(cases)
    case_effect = rng.normal(0.0, truth.config.truth.sigma_case, n)
    eta = truth.linear_predictor(cases) + (case_effect + officer_effect)[:, None]
    insufficient = rng.random(eta.shape) < 1.0 / (1.0 + np.exp(-eta))
    applies = rng.random(eta.shape) < truth.p_applies(cases)
    values = np.where(applies, np.where(insufficient, INSUFFICIENT, SUFFICIENT), NOT_APPLICABLE)
    return {judgement: values[:, j] for j, judgement in enumerate(JUDGEMENTS)}


def _typed(cases: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """The contract's column order and types (as ``features.validation`` returns them)."""
    out = cases.loc[:, list(columns)].reset_index(drop=True)
    for column, levels in CATEGORIES.items():
        out[column] = pd.Categorical(out[column], categories=levels)
    for judgement in set(JUDGEMENTS) & set(columns):
        out[judgement] = pd.Categorical(out[judgement], categories=JUDGEMENT_VALUES)
    for column in ("case_id", "inspection_id", "provider", "region", "office", "officer_id"):
        if column in out:
            out[column] = out[column].astype(str)
    out["iom"] = out["iom"].astype(bool)
    return out
