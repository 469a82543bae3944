"""Rating-aware planning: how likely a sample of a given size is to rate each standard right.

For planning, the frame's shares are **model-predicted**: Q_j, the mean over the frame's cases of
q_j = 1 − p_insufficient__j. A standard's predicted rating is the band of its lowest key
question's Q (``serving.ratings``: standards, bands and thresholds).

The 12 estimated shares are jointly normal on the logit scale around logit(Q) with the design's
analytic covariance (delta method), the same expression as the half-widths of
``serving.simulation`` on its diagonal:

    Σ_jk = Σ_i (1 − π_i)/π_i · [ρ_jk·s_ij·s_ik + (q_ij − Q_j)(q_ik − Q_k)] / N²,  s = √(q(1 − q)).

The second term is the spread of the scores between cases; ρ_jk (ρ_jj = 1) is the correlation of one
case's two outcomes beyond what its scores predict, which the model cannot know. It is assumed to be
``RESIDUAL_CORRELATION`` for every pair: measured 0.10–0.20 (mean 0.15) between the realised
judgements' residuals on the generator's window frame, where a case's latent effect and its
officer's are shared by its 12 judgements. The planner uses the design's fixed-size form: the spread
term is taken after the regression on what every sample reproduces (strata, and the balancing
categories of balanced samples; ``auxiliaries``), as the estimator's variance is. No sample takes
two cases of one officer × stratum block, so the products of two such cases' z are taken off
(``one_case_blocks``): with the outcomes themselves in place of the scores this gives the variance
and between-judgement correlation of 1,000 real systematic draws (3,000-case frame, seed 101; ratio
1.00, 0.157 against 0.156; the former block factor 1 − π − 0.10(Π_b − π), which left out the blocks
with Σπ = 1, gave 1.05 and 0.23: the planner was a little cautious and the lowest of several key
questions too tied to the others).
Given each case's chance that a judgement applies (``applies``), the shares are among applicable
cases (``share_covariance``); without it every judgement is assumed to apply, so judgements that
often do not (safety for low RoSH, reviews) get optimistic figures. The champion learns it from
its training cases (``training.applicability``) and the simulation passes it here.

The truth a sample is judged against is not Q but the share of the judgements inspectors would
actually make in this frame, which spreads around Q (``population_covariance``: each case's outcome
is a Bernoulli draw, correlated within the case as above and, by ``OFFICER_CORRELATION``, between
cases of one officer). Taking Q as the truth says a standard whose predicted share sits on a
threshold is rated right half the time, whereas its actual share lies off the threshold and a sample
lands on that side more often than not; and for a frame whose actual share lies a standard error of
its own from Q, the two can differ by 0.1 (measured with ``tests/studies/planning.py``, README). So
each draw first draws the frame's logit shares around logit(Q), then the sample's around them, and
P(right rating) is the share of ``DRAWS`` fixed-seed draws whose lowest key question lands in the
band of the drawn frame's lowest: a statement calibrated over the frames the scores could describe.
Without the frame's officers (``RatingOdds(officer=None)``: the planning study, told the frame's
realised shares) only the sample is drawn.

The smallest size reaching ``TARGET`` comes from an interpolation search over sizes with the design
rebuilt at each probed size (the same normal draws at every size, so P(right) moves smoothly): the
size found reaches the target and a size less than ``SIZE_TOLERANCE`` below it does not (P(right)
need not be monotone in the size: the officer rule caps how far chances can grow). Sizes the request
cannot take (too few for its strata) count as not reaching it; a standard not reaching the target at
the largest size searched (the largest the request can take, at most ``MAX_GROWTH`` × the requested
size) gets ``None``, and that size is returned as the limit. At most ``MAX_PROBES`` designs are
built, within a time budget; a search cut short keeps the smallest size found to reach the target
and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from pydantic import ValidationError
from scipy.special import expit, logit, ndtri

from features.contract import JUDGEMENTS, score_column
from features.errors import InputError
from serving.design import Design
from serving.ratings import BANDS, STANDARDS, band, psd_root
from serving.sampling import MAX_SIZE, SampleRequest, aligned_design
from serving.variance import CERTAIN, group_pairs

TARGET = 0.9
PROBIT_TARGET = float(ndtri(TARGET))
DRAWS = 4_000
RESIDUAL_CORRELATION = 0.15
OFFICER_CORRELATION = 0.03
"""Correlation of two cases' outcomes beyond their scores (any two judgements) when they share an
officer: 0.027–0.029 between the realised judgements' residuals on the 3,000-case window frame
(seed 61). With ~16 cases per officer, a frame's realised shares spread 1.6 times as much as
independent cases' would (40 frames of 3,000 cases, seeds 600–639); measured against
``population_covariance``, their variance is 0.91 of its."""
SIZE_TOLERANCE = 0.02
"""Sizes for 90% are found to within this fraction (P(right) itself has a Monte Carlo SE of
about 0.005, so a finer size would be false precision)."""
MAX_PROBES = 40
MAX_GROWTH = 4
"""Sizes are searched up to this multiple of the requested size: a planner's range, and it keeps
away from designs at the officer rule's edge, which take seconds to build."""
EDGE = 1e-3
"""Shares and probabilities are kept within [EDGE, 1 − EDGE] so that their logits and probits
are finite."""


def sufficient_matrix(scores: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The judgements with finite scores for every case and their N × k chances of sufficient."""
    names, columns = [], []
    for judgement in JUDGEMENTS:
        q = 1.0 - scores[score_column(judgement)].to_numpy(dtype=float)
        if np.isfinite(q).all():
            names.append(judgement)
            columns.append(q)
    return names, np.column_stack(columns) if columns else np.empty((len(scores), 0))


def share_covariance(
    pi: np.ndarray,
    q: np.ndarray,
    correlation: float = RESIDUAL_CORRELATION,
    applies: np.ndarray | None = None,
    balanced_on: np.ndarray | None = None,
    blocks: np.ndarray | None = None,
) -> np.ndarray:
    """Analytic k × k covariance of the estimated shares under inclusion chances ``pi``.

    Args:
        applies: N × k chances that each judgement applies to each case (default 1), drawn
            independently given the case: the shares are then among applicable cases,
            Q_j = Σ α q / Σ α, and z_ij = a_ij (y_ij − Q_j) / Σ α_j, so the module's sums carry
            α_ij (α_ij α_ik off the diagonal) and Σα_j Σα_k replaces N².
        balanced_on: N × p variables every sample reproduces (``auxiliaries``: strata, and
            the balancing categories of balanced samples): the spread of the expected
            ž = E[z]/π is then its residual from them, weighted by π(1 − π) (the
            Deville–Tillé approximation the estimator uses), not ž itself (Poisson sampling).
        blocks: each case's block among those no sample takes two cases of (``one_case_blocks``;
            −1: none). Two cases of one block are never drawn together (joint chance 0, not
            π_i π_i'), so each such pair takes E[z_i z_i'] off: the product of their (fitted)
            expected z and, as they share an officer, ``OFFICER_CORRELATION`` × α s α s.
    """
    alpha, spread, sd, total = _outcomes(q, applies)
    # a certain case (π = 1, up to rounding) adds nothing: never a negative factor
    factor = np.clip(1.0 - pi, 0.0, None)[:, None]
    c = pi[:, None] * factor
    expected = alpha * spread / pi[:, None]
    if balanced_on is not None:
        root = np.sqrt(c)
        fit = np.linalg.lstsq(root * balanced_on, root * expected, rcond=None)[0]
        expected = expected - balanced_on @ fit
    covariance = (c * expected).T @ expected
    covariance += _case_noise(factor / pi[:, None], alpha, spread, sd, correlation)
    if blocks is not None:
        covariance -= group_pairs(pi[:, None] * expected, blocks)
        covariance -= OFFICER_CORRELATION * group_pairs(alpha * sd, blocks)
    return covariance / np.outer(total, total)


def population_covariance(
    q: np.ndarray,
    officer: np.ndarray,
    applies: np.ndarray | None = None,
    correlation: float = RESIDUAL_CORRELATION,
    officer_correlation: float = OFFICER_CORRELATION,
) -> np.ndarray:
    """k × k covariance of the frame's realised shares around its expected ones (Q_j).

    The realised share is that of the judgements inspectors would actually make, each case's
    y_ij ~ Bernoulli(q_ij) where it applies: the census version of ``share_covariance`` (every
    π = 1, no sampling term), Σ_i Var(z_i) with the same within-case ``correlation``, plus
    ``officer_correlation`` × s_ij s_i'k for two cases i ≠ i' of one officer (``officer``: each
    case's officer code), any judgements j, k.
    """
    alpha, spread, sd, total = _outcomes(q, applies)
    noise = _case_noise(np.ones_like(q), alpha, spread, sd, correlation)
    shared = group_pairs(alpha * sd, officer)
    return (noise + officer_correlation * shared) / np.outer(total, total)


def _outcomes(
    q: np.ndarray, applies: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """α (chances of applying), q − Q, √(q(1 − q)) and Σα per judgement."""
    alpha = np.ones_like(q) if applies is None else np.broadcast_to(applies, q.shape)
    total = alpha.sum(axis=0)
    spread = q - (alpha * q).sum(axis=0) / total
    return alpha, spread, np.sqrt(q * (1.0 - q)), total


def _case_noise(
    weight: np.ndarray, alpha: np.ndarray, spread: np.ndarray, sd: np.ndarray, correlation: float
) -> np.ndarray:
    """Σ_i weight_i · Cov(z_ij, z_ik) beyond the expected z: the Bernoulli outcome and
    whether it applies on the diagonal, ``correlation`` × α s α s off it."""
    noise = correlation * (weight * alpha * sd).T @ (alpha * sd)
    noise[np.diag_indices_from(noise)] = (
        weight * (alpha * (spread**2 + sd**2) - alpha**2 * spread**2)
    ).sum(axis=0)
    return noise


def one_case_blocks(design: Design) -> np.ndarray:
    """Each case's officer × stratum block: no sample takes two cases of one (the officer rule;
    a block with Σπ = 1 yields exactly one), −1 for none should a block's Σπ exceed 1."""
    block = design.groups.block
    return np.where(design.block_pi[block] <= 1.0 + CERTAIN, block, -1)


def auxiliaries(design: Design, method: str) -> np.ndarray:
    """Indicators of what every sample of ``design`` reproduces: its strata, and for balanced
    samples the categories of its balancing columns."""
    groups = design.groups
    parts = [np.eye(groups.n_strata)[groups.stratum]]
    if method == "balanced":
        parts += [np.eye(len(names))[codes] for codes, names in groups.balance.values()]
    return np.hstack(parts)


class RatingOdds:
    """P(the sample rates each standard right) for any inclusion chances, on one frame.

    Args:
        officer: each frame case's officer code. Given (planning), the truth is the share of
            the judgements inspectors would actually make, which spreads around the predicted
            one (``population_covariance``) and is drawn here, once for every size probed.
            None: the mean scores are the frame's realised shares (the planning study) and
            only the sample varies.
    """

    def __init__(
        self,
        scores: pd.DataFrame,
        seed: int,
        draws: int = DRAWS,
        applies: pd.DataFrame | None = None,
        officer: np.ndarray | None = None,
    ) -> None:
        names, self.q = sufficient_matrix(scores)
        self.applies = None if applies is None else applies[names].to_numpy(dtype=float)
        alpha = np.ones_like(self.q) if self.applies is None else self.applies
        shares = np.clip((alpha * self.q).sum(axis=0) / alpha.sum(axis=0), EDGE, 1.0 - EDGE)
        self.logit = logit(shares)
        self.slope = 1.0 / (shares * (1.0 - shares))
        self.standards = []
        for kind, standard, questions in STANDARDS:
            columns = [names.index(q) for q in questions if q in names]
            if columns:
                lowest = columns[int(np.argmin(shares[columns]))]
                self.standards.append((kind, standard, names[lowest], shares[lowest], columns))
        self.truth = np.array([int(band(row[3])) for row in self.standards])
        rng = np.random.default_rng(seed)
        self.normal = rng.standard_normal((draws, len(names)))
        self.slopes = np.outer(self.slope, self.slope)
        self.frame_logits = np.broadcast_to(self.logit, (draws, len(names)))
        if officer is not None:
            spread = population_covariance(self.q, officer, self.applies) * self.slopes
            population = rng.standard_normal((draws, len(names)))
            self.frame_logits = self.logit + population @ psd_root(spread).T
        self.frame_bands = np.column_stack(
            [band(expit(self.frame_logits[:, row[4]].min(axis=1))) for row in self.standards]
        )

    def p_right(self, design: Design, method: str) -> np.ndarray:
        """Share of draws giving each standard its true rating with samples of ``design``."""
        cov = share_covariance(
            design.pi,
            self.q,
            applies=self.applies,
            balanced_on=auxiliaries(design, method),
            blocks=one_case_blocks(design),
        )
        drawn = self.frame_logits + self.normal @ psd_root(cov * self.slopes).T
        rated = np.column_stack(
            [band(expit(drawn[:, row[4]].min(axis=1))) for row in self.standards]
        )
        return (rated == self.frame_bands).mean(axis=0)


class _Probe:
    """P(right) per standard at any size (``None`` where the request cannot take it), cached."""

    def __init__(self, evaluate: Callable[[int], np.ndarray | None], deadline: float) -> None:
        self.evaluate, self.deadline = evaluate, deadline
        self.cache: dict[int, np.ndarray | None] = {}
        self.cut_short = False
        self.slowest = 0.0
        """Longest probe so far: no probe starts unless one as long would end in time."""

    def __call__(self, size: int) -> np.ndarray | None:
        if size not in self.cache:
            started = time.perf_counter()
            if len(self.cache) >= MAX_PROBES or started + self.slowest > self.deadline:
                self.cut_short = True
                raise TimeoutError
            self.cache[size] = self.evaluate(size)
            self.slowest = max(self.slowest, time.perf_counter() - started)
        return self.cache[size]


def _largest_feasible(probe: _Probe, known: int, upper: int) -> int:
    """Largest size the request can take, by bisection between a feasible size and ``upper``."""
    if probe(upper) is not None:
        return upper
    low, high = known, upper
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if probe(middle) is not None else (low, middle)
    return low


def _smallest_reaching(probe: _Probe, index: int, low: int, high: int) -> int:
    """A size in (low, high] reaching the target, within ``SIZE_TOLERANCE`` of the smallest:
    ``high`` reaches it, the ``low`` it ends with does not.

    Interpolation search: the probit of P(right) is close to linear in √size (the SE shrinks
    as 1/√size), with a bisection step whenever the same end moved twice running, so it never
    takes more than about twice the bisection's steps.
    """
    low, high = _bracket(probe, index, low, high)
    moved = ""
    while high - low > max(1.0, SIZE_TOLERANCE * high):
        f_low, f_high = (ndtri(np.clip(_at(probe, s, index), EDGE, 1 - EDGE)) for s in (low, high))
        middle = (low + high) // 2
        if moved[-2:] not in ("ll", "hh") and f_high > f_low:
            root = np.sqrt(low) + (PROBIT_TARGET - f_low) / (f_high - f_low) * (
                np.sqrt(high) - np.sqrt(low)
            )
            step = max(1, int(SIZE_TOLERANCE * high / 2))  # a guess at either end wastes a probe
            middle = int(np.clip(np.ceil(root**2), low + step, high - step))
        if _at(probe, middle, index) >= TARGET:
            high, moved = middle, moved + "h"
        else:
            low, moved = middle, moved + "l"
    return high


def _at(probe: _Probe, size: int, index: int) -> float:
    """P(right) of one standard at ``size`` (0 where the request cannot take the size)."""
    odds = probe(size) if size > 0 else None
    return 0.0 if odds is None else float(odds[index])


def _bracket(probe: _Probe, index: int, low: int, high: int) -> tuple[int, int]:
    """Narrow (low, high] with the sizes already probed for the other standards."""
    for size, odds in sorted(probe.cache.items()):
        if low < size < high:
            if odds is not None and odds[index] >= TARGET:
                return low, size
            low = size
    return low, high


def rating_accuracy(
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    request: SampleRequest,
    design: Design,
    seed: int,
    budget_seconds: float = 1.0,
    applies: pd.DataFrame | None = None,
) -> tuple[list[dict[str, object]], int | None, list[str]]:
    """Per standard: predicted share, its rating, P(right) under ``design`` and the size that
    reaches 90%.

    ``scores`` (and ``applies``, each case's chance that each judgement applies; default 1) are
    aligned with ``frame``'s rows and ``design`` is the request's. Returns the rows, the largest
    size searched (``None`` if no search went up) and notes.
    """
    odds = RatingOdds(scores, seed, applies=applies, officer=design.groups.officer)
    if not odds.standards:
        return [], None, ["no judgement has scores for every case: ratings cannot be planned"]
    fields = request.model_dump()

    def evaluate(size: int) -> np.ndarray | None:
        try:
            sized = SampleRequest.model_validate({**fields, "size": size})
            return odds.p_right(aligned_design(frame, scores, sized), request.method)
        except (InputError, ValidationError):
            return None

    probe = _Probe(evaluate, time.perf_counter() + budget_seconds)
    here = odds.p_right(design, request.method)
    probe.cache[request.size] = here
    # at most one case per officer × stratum block (design.allocate's capacity, summed)
    upper = min(len(frame), MAX_SIZE, design.groups.n_blocks, MAX_GROWTH * request.size)
    limit = None
    rows = []
    for index, (kind, standard, lowest, share, _) in enumerate(odds.standards):
        size = None
        try:
            if here[index] >= TARGET:
                size = _smallest_reaching(probe, index, 0, request.size)
            else:
                limit = limit or _largest_feasible(probe, request.size, upper)
                if _at(probe, limit, index) >= TARGET:
                    size = _smallest_reaching(probe, index, request.size, limit)
        except TimeoutError:
            size = _best_known(probe, index)
        rows.append(
            {
                "kind": kind,
                "standard": standard,
                "lowest": lowest,
                "predicted_share": float(share),
                "rating": BANDS[odds.truth[index]],
                "p_right": float(here[index]),
                "size_for_90": size,
            }
        )
    notes = [
        f"ratings: P(right) from {DRAWS:,} draws of the frame's actual shares around its "
        f"predicted ones and of the sample's around those (residual correlation "
        f"{RESIDUAL_CORRELATION} between a case's judgements, {OFFICER_CORRELATION} between "
        f"an officer's cases); sizes for 90% within {SIZE_TOLERANCE:.0%}, "
        f"{len(probe.cache)} sizes probed"
    ]
    if probe.cut_short:
        notes.append(
            "ratings: size search cut short by its budget: sizes for 90% are sizes known to "
            "reach it, not necessarily the smallest"
        )
    return rows, limit, notes


def _best_known(probe: _Probe, index: int) -> int | None:
    """Smallest probed size reaching the target (a search cut short)."""
    reaching = [s for s, odds in probe.cache.items() if odds is not None and odds[index] >= TARGET]
    return min(reaching, default=None)
