"""Calibrated synthetic inspected cases and caseload frame with known ground truth.

There is no public case-level data, so this is how casework is demonstrated and tested. Officers
(see ``features.synthetic.population``) hold posts over 2016–2020; inspections of ~115 cases visit
one region at a time and draw the cases of officers in post in proportion to their caseload; the
frame is what the next inspection may select: the cases of the officers in post at the end that were
sentenced or released 6-9 months earlier (about a third of each caseload). Judgements follow
``features.synthetic.truth``: the structural model whose parameters are calibrated to published
figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from features.contract import (
    CATEGORIES,
    FRAME_COLUMNS,
    INSPECTED_COLUMNS,
    INSUFFICIENT,
    JUDGEMENT_VALUES,
    JUDGEMENTS,
    NOT_APPLICABLE,
    NOT_INSPECTED,
    SUFFICIENT,
    truth_column,
)
from features.synthetic.calibration import CalibrationConfig, load_config
from features.synthetic.population import (
    DAYS_PER_YEAR,
    draw_case_covariates,
    draw_officers,
    draw_posts,
    window_months,
)
from features.synthetic.truth import TruthModel, solve_truth

GENERATE_STEPS = 4
"""How many times ``generate`` calls ``on_step`` with ``with_truth`` (3 without)."""


@dataclass(frozen=True)
class SyntheticData:
    """Generated tables; ``frame_judgements`` is what inspectors would find in each frame case."""

    inspected: pd.DataFrame
    frame: pd.DataFrame
    frame_judgements: pd.DataFrame | None = None


def generate(
    n_cases: int,
    n_frame: int,
    seed: int,
    with_truth: bool = False,
    whole_caseloads: bool = False,
    years: float | None = None,
    turnover: float | None = None,
    on_step: Callable[[str], None] = lambda _: None,
) -> SyntheticData:
    """Inspected cases and a caseload frame from the same offices and officers, for a seed.

    With ``with_truth`` both tables carry ``p_true__<judgement>`` and the realised judgements of
    the frame cases are returned too (for simulation studies of sampling and estimation). With
    ``whole_caseloads`` the frame spans whole caseloads (~47 cases per officer) instead of the
    inspection window's third (many officer × stratum blocks with Σπ = 1 in a sample).
    ``years`` and ``turnover`` set the period and officer turnover (see ``population``).
    ``on_step`` is called with the name of each of the ``GENERATE_STEPS`` steps as it starts.
    """
    if n_cases < 1 or n_frame < 1:
        raise ValueError("n_cases and n_frame must be positive")
    on_step("officers and the true model")
    world = population(n_frame, seed, whole_caseloads, years, turnover)
    on_step("inspected cases")
    inspected = world.inspected(n_cases)
    on_step("frame")
    frame, found = world.frame(n_frame)
    if not with_truth:
        return SyntheticData(inspected, frame)
    on_step("true probabilities")
    for table in (inspected, frame):
        world.add_truth(table)
    judgements = pd.DataFrame(found, index=frame.index).astype(
        pd.CategoricalDtype(JUDGEMENT_VALUES)
    )
    return SyntheticData(inspected, frame, judgements)


@dataclass(frozen=True)
class SyntheticPopulation:
    """Offices and officers over ``horizon`` years: inspections and frames are drawn from it.

    Draws come from one generator in call order, so the same calls give the same tables. Years
    count from the calibration's first inspection date.
    """

    officers: pd.DataFrame
    horizon: float
    config: CalibrationConfig
    truth: TruthModel
    rng: np.random.Generator

    def inspected(
        self, n_cases: int, start: float = 0.0, end: float | None = None, prefix: str = "I"
    ) -> pd.DataFrame:
        """Equal-chance inspections between years ``start`` and ``end`` (default: the end)."""
        end = self.horizon if end is None else end
        return _inspected(
            n_cases, self.officers, (start, end), self.config, self.truth, self.rng, prefix
        )

    def frame(
        self, n_frame: int, at: float | None = None, prefix: str = "F"
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """What an inspection at year ``at`` (default: the end) may select, and its judgements.

        The judgements are what inspectors would find in each case (latent effects included).
        """
        at = self.horizon if at is None else at
        starts, ends = self.officers["start"], self.officers["end"]
        in_post = self.officers[(starts <= at) & (ends > at)]
        frame_officers = _by_caseload(in_post, n_frame, self.rng)
        months = window_months(n_frame, self.config, self.rng)
        frame = draw_case_covariates(frame_officers, months, self.config, self.rng)
        frame.insert(0, "case_id", [f"{prefix}{k:07d}" for k in range(1, n_frame + 1)])
        found = _judge(frame, frame_officers["officer_effect"].to_numpy(), self.truth, self.rng)
        return _typed(frame, FRAME_COLUMNS), found

    def add_truth(self, table: pd.DataFrame) -> None:
        """Add ``p_true__<judgement>`` to ``table`` in place."""
        p_true = self.truth.p_true(table)
        for j, judgement in enumerate(JUDGEMENTS):
            table[truth_column(judgement)] = p_true[:, j]


def population(
    n_frame: int,
    seed: int,
    whole_caseloads: bool = False,
    years: float | None = None,
    turnover: float | None = None,
) -> SyntheticPopulation:
    """Posts sized for a frame of ``n_frame`` cases, and their officers over the period.

    ``years`` sets the period (default: the calibration's 2016-01 to 2020-03). ``turnover`` is
    the yearly share of officers leaving their post (default: the calibrated tenure of 1.2
    years, a turnover of about 0.8); 0.15 keeps most officers for years, as in a stable service.
    """
    config = load_config()
    pop = config.population
    if turnover is not None:
        if not 0 < turnover <= 1:
            raise ValueError("turnover must be in (0, 1]")
        pop = pop.model_copy(update={"tenure_years": 1.0 / turnover})
        config = config.model_copy(update={"population": pop})
    rng = np.random.default_rng(seed)
    horizon = (
        (pop.last_inspection - pop.first_inspection).days / DAYS_PER_YEAR
        if years is None
        else float(years)
    )
    if horizon <= 0:
        raise ValueError("years must be positive")
    eligible_per_post = pop.mean_caseload * (1.0 if whole_caseloads else pop.eligible_share)
    posts = draw_posts(max(20, round(n_frame / eligible_per_post)), config, rng)
    officers = draw_officers(posts, horizon, config, rng)
    return SyntheticPopulation(officers, horizon, config, solve_truth(), rng)


def judge_synthetic(cases: pd.DataFrame, seed: int, not_inspected: float = 0.0) -> pd.DataFrame:
    """``cases`` (e.g. a drawn sample) with the 12 judgements filled from the generator's truth.

    Each judgement applies with the truth's probability and is insufficient with probability
    ``p_true`` (latent effects integrated out); a share ``not_inspected`` of the cases, chosen
    at random, could not be examined (all 12 cells ``not_inspected``). Every other column is
    kept as it is, so the result is the judged file an inspection would send back.
    """
    if not 0 <= not_inspected < 1:
        raise ValueError("not_inspected must be in [0, 1)")
    truth = solve_truth()
    rng = np.random.default_rng(seed)
    shape = (len(cases), len(JUDGEMENTS))
    insufficient = rng.random(shape) < truth.p_true(cases)
    applies = rng.random(shape) < truth.p_applies(cases)
    values = np.where(applies, np.where(insufficient, INSUFFICIENT, SUFFICIENT), NOT_APPLICABLE)
    values[rng.random(len(cases)) < not_inspected] = NOT_INSPECTED
    judged = cases.copy()
    for j, judgement in enumerate(JUDGEMENTS):
        judged[judgement] = values[:, j]
    return judged


def _inspected(
    n_cases: int,
    officers: pd.DataFrame,
    period: tuple[float, float],
    config: CalibrationConfig,
    truth: TruthModel,
    rng: np.random.Generator,
    prefix: str = "I",
) -> pd.DataFrame:
    """Inspections spread evenly over the period, each a region's officers in post that day."""
    pop = config.population
    n_inspections = int(np.ceil(n_cases / pop.cases_per_inspection))
    when = np.sort(rng.uniform(*period, n_inspections))
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
        inspection.append(np.full(sizes[k], f"INS{'' if prefix == 'I' else prefix}{k + 1:04d}"))
        day = pop.first_inspection + timedelta(days=int(when[k] * DAYS_PER_YEAR))
        dates.append(np.full(sizes[k], np.datetime64(day, "ns")))
    case_officers = officers.loc[np.concatenate(chosen)]
    cases = draw_case_covariates(case_officers, window_months(n_cases, config, rng), config, rng)
    cases.insert(0, "case_id", [f"{prefix}{k:07d}" for k in range(1, n_cases + 1)])
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
