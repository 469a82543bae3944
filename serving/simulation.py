"""Design simulation: what a planner gets for a risk weight before committing to a draw.

Expected figures are **analytic** (no draws): expected yield 12·Σπ·risk versus λ = 0 (the same
design with equal chances in strata), the Kish design effect, and each judgement's expected 95%
CI half-width from the model's probabilities, 1.96·√(Σ (1 − π)/π · [q(1 − q) + (q − Q)²]) / N
(q = 1 − p_insufficient, Q its mean; ignores the gain from balancing, so it is slightly
conservative). Given each case's chance that each judgement applies (``applies``: the champion's
``CaseworkModel.applicability``, learned from its training cases), half-widths and rating
accuracy are those of shares among applicable cases (``serving.planning.share_covariance``);
without it every judgement is assumed to apply, optimistic for the safety and review questions,
and the result says so. The share of draws that keep every balancing margin
within ±2 comes from actual draws with the chosen method, as many as fit the time budget.
Each standard's chance of the right rating and the size reaching 90%: ``serving.planning``.

Draw k of a simulation with seed s uses the k-th child of ``SeedSequence(s)`` and nothing else
(``one_draw``), so it is the same draw wherever it runs: in this process (``local_draws``) or
as a Spark task (``serving.spark.simulation``).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from features.contract import RISK_SCORE
from serving.design import Design
from serving.planning import rating_accuracy, share_covariance, sufficient_matrix
from serving.sampling import (
    SampleRequest,
    aligned_design,
    aligned_scores,
    check_method,
    check_seed,
)
from serving.selection import select, worst_margin
from serving.shares import Z95
from serving.summary import expected_yield, kish_deff

FRONTIER = (0.0, 0.25, 0.5, 0.75, 1.0)
RATING_SECONDS = 1.0
"""At most this long searching for the sizes that rate each standard right 90% of the time."""
APPLICABILITY_UNKNOWN = (
    "applicability unknown: predicted accuracy assumes every question applies (optimistic for "
    "the safety and review questions); a champion trained with this version learns it"
)


@dataclass
class Simulation:
    """Analytic expectations for a request, a frontier over λ, and margins from real draws."""

    risk_weight: float
    expected_insufficient: float
    equal_chance_insufficient: float
    yield_ratio: float
    design_effect: float
    half_widths: dict[str, float]
    equal_chance_half_widths: dict[str, float]
    frontier: list[dict[str, float]]
    draws: int
    margins_within_2: float | None
    worst_margin_mean: float | None
    seconds: float
    method: str
    size: int
    rating_accuracy: list[dict[str, object]] = field(default_factory=list)
    rating_size_limit: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (for the API and the planner page)."""
        return asdict(self)


def half_widths(
    pi: np.ndarray, scores: pd.DataFrame, applies: pd.DataFrame | None = None
) -> dict[str, float]:
    """Expected 95% CI half-width of each judgement's published share (analytic, see module);
    ``applies`` (rows as ``scores``') makes it the share among applicable cases."""
    names, q = sufficient_matrix(scores)
    alpha = None if applies is None else applies[names].to_numpy(dtype=float)
    widths = Z95 * np.sqrt(np.diag(share_covariance(pi, q, applies=alpha)))
    return {name: float(width) for name, width in zip(names, widths, strict=True)}


@dataclass(frozen=True)
class Draw:
    """One simulated draw: its number, the frame rows it selected and its worst margin."""

    number: int
    selected: np.ndarray
    worst_margin: float


DrawEngine = Callable[[Design, str, int, int, float], list[Draw]]
"""Runs draws 0 … R − 1 of ``(design, method, R, seed, budget_seconds)`` and returns the first
ones done within the budget, in order (``local_draws``, ``serving.spark.simulation``)."""


def draw_seeds(seed: int, draws: int) -> list[np.random.SeedSequence]:
    """One child seed per draw, so draw k is the same in any process and any order."""
    return np.random.SeedSequence(seed).spawn(draws)


def one_draw(design: Design, method: str, number: int, seed: np.random.SeedSequence) -> Draw:
    """Draw number ``number`` from its own seed: the whole per-draw work, free of side effects."""
    chosen = select(design, method, np.random.default_rng(seed))
    return Draw(number, np.flatnonzero(chosen), worst_margin(design, chosen))


def local_draws(
    design: Design, method: str, draws: int, seed: int, budget_seconds: float
) -> list[Draw]:
    """The draws in this process, one after another, until done or out of time."""
    deadline = time.perf_counter() + budget_seconds
    done = []
    for number, child in enumerate(draw_seeds(seed, draws)):
        if time.perf_counter() > deadline:
            break
        done.append(one_draw(design, method, number, child))
    return done


def _draws(design: Design, method: str, seed: np.random.SeedSequence, count: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([select(design, method, rng) for _ in range(count)])


def draw_many(design: Design, method: str, draws: int, seed: int, workers: int = 1) -> np.ndarray:
    """``draws`` independent samples (a draws × N boolean array), over ``workers`` processes.

    Each worker gets its own child seed of ``seed``, so the result is reproducible.
    """
    children = np.random.SeedSequence(seed).spawn(workers)
    counts = [draws // workers + (i < draws % workers) for i in range(workers)]
    if workers == 1:
        return _draws(design, method, children[0], counts[0])
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        parts = pool.map(_draws, [design] * workers, [method] * workers, children, counts)
        return np.vstack(list(parts))


def simulate(
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    request: SampleRequest,
    draws: int,
    seed: int,
    budget_seconds: float = 10.0,
    engine: DrawEngine = local_draws,
    applies: pd.DataFrame | None = None,
) -> Simulation:
    """Expected yield, precision and design effect for ``request``; a frontier over λ.

    Args:
        draws: How many real draws measure the balancing margins (R; fewer if time runs out).
        seed: Draw k uses the k-th child of this seed, so any engine gives the same draws.
        budget_seconds: Wall-clock budget for the whole simulation, draws included.
        engine: Where the draws run: this process (default) or Spark tasks.
        applies: Each case's chance that each judgement applies, one row per ``frame`` row in
            its order (``CaseworkModel.applicability``); None: unknown, every judgement applies.
    """
    started = time.perf_counter()
    check_seed(seed)
    frame = frame.reset_index(drop=True)
    if applies is not None:
        if len(applies) != len(frame):
            raise ValueError(f"applies has {len(applies)} rows for a {len(frame)}-case frame")
        applies = applies.reset_index(drop=True)
    aligned = aligned_scores(frame, scores)
    risk = aligned[RISK_SCORE].to_numpy(dtype=float)
    design = aligned_design(frame, aligned, request)
    check_method(design, request)
    equal = aligned_design(frame, aligned, request.model_copy(update={"risk_weight": 0.0}))
    built = {0.0: equal, request.risk_weight: design}
    base = expected_yield(equal.pi, risk)
    frontier, widths_at = [], {}
    weights = sorted(set(FRONTIER) | {request.risk_weight})
    for weight in weights:
        if time.perf_counter() - started > budget_seconds:
            break
        point = built.get(weight) or aligned_design(
            frame, aligned, request.model_copy(update={"risk_weight": weight})
        )
        widths = widths_at[weight] = half_widths(point.pi, aligned, applies)
        frontier.append(
            {
                "risk_weight": weight,
                "yield_ratio": expected_yield(point.pi, risk) / base,
                "design_effect": kish_deff(point.pi),
                "mean_half_width": float(np.mean(list(widths.values()))),
            }
        )
    ratings, size_limit, rating_notes = rating_accuracy(
        frame,
        aligned,
        request,
        design,
        seed,
        min(RATING_SECONDS, budget_seconds / 4),
        applies=applies,
    )
    remaining = budget_seconds - (time.perf_counter() - started)
    worst = [draw.worst_margin for draw in engine(design, request.method, draws, seed, remaining)]
    notes = [
        "expected figures are analytic (no draws); margins come from real draws",
        *rating_notes,
        APPLICABILITY_UNKNOWN
        if applies is None
        else "applicability: each case's chance that each question applies, as learned by the "
        "model from its training cases; half-widths and P(right) are for shares among "
        "applicable cases",
    ]
    if len(frontier) < len(weights):
        notes.append(f"time budget of {budget_seconds:.0f} s reached: frontier cut short")
    if len(worst) < draws:
        notes.append(f"time budget of {budget_seconds:.0f} s reached after {len(worst)} draws")
    found = expected_yield(design.pi, risk)
    return Simulation(
        risk_weight=request.risk_weight,
        expected_insufficient=found,
        equal_chance_insufficient=base,
        yield_ratio=found / base,
        design_effect=kish_deff(design.pi),
        half_widths=widths_at.get(request.risk_weight) or half_widths(design.pi, aligned, applies),
        equal_chance_half_widths=widths_at.get(0.0) or half_widths(equal.pi, aligned, applies),
        frontier=frontier,
        draws=len(worst),
        margins_within_2=float(np.mean(np.array(worst) <= 2)) if worst else None,
        worst_margin_mean=float(np.mean(worst)) if worst else None,
        seconds=time.perf_counter() - started,
        method=request.method,
        size=request.size,
        rating_accuracy=ratings,
        rating_size_limit=size_limit,
        notes=notes,
    )
