"""Bounded raking of the tilted weights, and the linear program that finishes or refuses it.

Inside a stratum π ∝ (1 − λ) + λ·score² / mean score² of the stratum; π is then raked so that
every stratum sums to its allocation and every balancing group to its target, while keeping
π ≥ floor × the equal chance, π ≤ 1, each officer × stratum block ≤ 1 and each officer ≤ the
cap. The raking stops at relative tolerances within a bounded number of rounds and seconds; if
it has not converged by then, a linear program (HiGHS) finds the nearest π that meets every
rule or proves that none does.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from features.errors import InputError
from serving.design_groups import SOURCE, Groups

RELATIVE_TOLERANCE = 1e-9
"""Strata totals and balancing targets are met to this fraction of the target (or of 1 case)."""
MAX_ROUNDS = 500
STRATA_ROUNDS = 200
RAKING_SECONDS = 3.0
LP_SECONDS = 5.0


def tilt(score: np.ndarray, stratum: np.ndarray, risk_weight: float) -> np.ndarray:
    """Relative selection weight: (1 − λ) + λ · (score / the stratum's mean score)².

    Squared because the yield-optimal tilt under a design-effect budget is convex in the risk
    (π ∝ 1/√(c − risk) from the Lagrangian), and the square gets most of that gain.
    """
    relative = score**2
    total = np.bincount(stratum, weights=relative)
    count = np.bincount(stratum)
    mean = np.divide(total, count, out=np.ones_like(total), where=total > 0)
    return (1 - risk_weight) + risk_weight * relative / mean[stratum]


def _scale_groups(pi: np.ndarray, code: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Scale each group so its total equals ``target``."""
    total = np.bincount(code, weights=pi, minlength=len(target))
    factor = np.divide(target, total, out=np.ones(len(target)), where=total > 0)
    return pi * factor[code]


def _shrink(pi: np.ndarray, lower: np.ndarray, code: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Pull each group whose total exceeds ``cap`` toward the lower bounds until it equals cap."""
    total = np.bincount(code, weights=pi, minlength=len(cap))
    over = total > cap
    if not over.any():
        return pi
    base = np.bincount(code, weights=lower, minlength=len(cap))
    room = total - base
    factor = np.ones(len(cap))
    np.divide(np.maximum(cap - base, 0.0), room, out=factor, where=over & (room > 0))
    return lower + (pi - lower) * factor[code]


def fit_probabilities(
    weight: np.ndarray,
    equal: np.ndarray,
    floor: float,
    allocation: np.ndarray,
    groups: Groups,
    targets: dict[str, np.ndarray],
    officer_cap: int,
    minimums: dict[tuple[str, str], int],
    seconds: float = RAKING_SECONDS,
) -> np.ndarray:
    """Bounded raking of the tilted weights to strata totals and balancing targets.

    At most ``MAX_ROUNDS`` rounds and ``seconds``; converged when every total is within
    ``RELATIVE_TOLERANCE`` of its target. Otherwise the linear program of
    ``closest_feasible`` finishes the job or proves the request infeasible.
    """
    started = time.perf_counter()
    lower = floor * equal
    target = allocation.astype(float)
    pi = _scale_groups(weight, groups.stratum, target)
    for _ in range(MAX_ROUNDS):
        for column, (code, _) in groups.balance.items():
            pi = _scale_groups(pi, code, targets[column])
        pi, fitted = _bounded_strata(pi, lower, target, groups, officer_cap)
        if fitted and _balance_gap(pi, groups, targets) <= RELATIVE_TOLERANCE:
            return pi
        if time.perf_counter() - started > seconds:
            break
    return closest_feasible(pi, lower, allocation, groups, targets, officer_cap, minimums)


def _balance_gap(pi: np.ndarray, groups: Groups, targets: dict[str, np.ndarray]) -> float:
    """Largest relative gap between a balancing group's expected count and its target."""
    gaps = [
        (
            np.abs(np.bincount(code, weights=pi, minlength=len(targets[c])) - targets[c])
            / np.maximum(targets[c], 1.0)
        ).max()
        for c, (code, _) in groups.balance.items()
    ]
    return max(gaps, default=0.0)


def _bounded_strata(
    pi: np.ndarray, lower: np.ndarray, target: np.ndarray, groups: Groups, officer_cap: int
) -> tuple[np.ndarray, bool]:
    """Make every stratum sum to its allocation while every bound holds (water-filling), and
    whether it got there within ``RELATIVE_TOLERANCE`` in a bounded number of rounds.

    Bounds: lower ≤ π ≤ 1, each officer × stratum block ≤ 1, each officer ≤ the cap.
    """
    block_cap = np.ones(groups.n_blocks)
    officer_cap_ = np.full(len(groups.officer_names), float(officer_cap))
    tolerance = RELATIVE_TOLERANCE * np.maximum(target, 1.0)
    for _ in range(STRATA_ROUNDS):
        pi = np.clip(pi, lower, 1.0)
        pi = _shrink(pi, lower, groups.block, block_cap)
        pi = _shrink(pi, lower, groups.officer, officer_cap_)
        total = np.bincount(groups.stratum, weights=pi, minlength=len(target))
        if (np.abs(total - target) <= tolerance).all():
            return _polish(pi, lower, total, target, groups), True
        # too much: pull toward the lower bounds; too little: grow the cases with room left
        pi = _shrink(pi, lower, groups.stratum, target)
        block_full = np.bincount(groups.block, weights=pi, minlength=groups.n_blocks) >= 1 - 1e-12
        officer_full = (
            np.bincount(groups.officer, weights=pi, minlength=len(officer_cap_))
            >= officer_cap - 1e-12
        )
        free = (pi < 1 - 1e-12) & ~block_full[groups.block] & ~officer_full[groups.officer]
        held = np.bincount(groups.stratum, weights=np.where(free, 0.0, pi), minlength=len(target))
        loose = np.bincount(groups.stratum, weights=np.where(free, pi, 0.0), minlength=len(target))
        grow = (total < target) & (loose > 0)
        factor = np.where(grow, (target - held) / np.where(loose > 0, loose, 1.0), 1.0)
        pi = np.where(free, pi * factor[groups.stratum], pi)
    return pi, False


def _polish(
    pi: np.ndarray, lower: np.ndarray, total: np.ndarray, target: np.ndarray, groups: Groups
) -> np.ndarray:
    """The cases strictly inside their bounds absorb the last rounding error of each stratum."""
    inside = (pi < 1.0) & (pi > lower)
    loose = np.bincount(groups.stratum, weights=np.where(inside, pi, 0.0), minlength=len(target))
    factor = np.divide(total - target, loose, out=np.zeros(len(target)), where=loose > 0)
    return np.where(inside, pi * (1.0 - factor[groups.stratum]), pi)


def _indicator(code: np.ndarray, count: int) -> sparse.csr_matrix:
    """Rows = groups, columns = cases, 1 where the case is in the group."""
    n = len(code)
    return sparse.csr_matrix((np.ones(n), (code, np.arange(n))), shape=(count, n))


def closest_feasible(
    start: np.ndarray,
    lower: np.ndarray,
    allocation: np.ndarray,
    groups: Groups,
    targets: dict[str, np.ndarray],
    officer_cap: int,
    minimums: dict[tuple[str, str], int],
) -> np.ndarray:
    """The π nearest to ``start`` (least total absolute change) that meets every rule, by a
    linear program (HiGHS); when there is none, the refusal names the group that cannot be met.
    """
    n = len(start)
    balance = [_indicator(code, len(levels)) for code, levels in groups.balance.values()] or [
        sparse.csr_matrix((0, n))
    ]
    equalities = sparse.vstack([_indicator(groups.stratum, groups.n_strata), *balance])
    goals = np.concatenate([allocation.astype(float), *targets.values()])
    limits = sparse.vstack(
        [
            _indicator(groups.block, groups.n_blocks),
            _indicator(groups.officer, len(groups.officer_names)),
        ]
    )
    caps = np.concatenate(
        [np.ones(groups.n_blocks), np.full(len(groups.officer_names), float(officer_cap))]
    )
    eye = sparse.identity(n, format="csr")
    zeros = sparse.csr_matrix(limits.shape)
    solution = linprog(
        np.concatenate([np.zeros(n), np.ones(n)]),
        A_ub=sparse.vstack(
            [
                sparse.hstack([limits, zeros]),
                sparse.hstack([eye, -eye]),
                sparse.hstack([-eye, -eye]),
            ]
        ),
        b_ub=np.concatenate([caps, start, -start]),
        A_eq=sparse.hstack([equalities, sparse.csr_matrix((equalities.shape[0], n))]),
        b_eq=goals,
        bounds=[(lo, 1.0) for lo in lower] + [(0, None)] * n,
        method="highs",
        options={"time_limit": LP_SECONDS, "primal_feasibility_tolerance": 1e-9},
    )
    if solution.status == 0:
        pi = np.clip(solution.x[:n], lower, 1.0)
        total = np.bincount(groups.stratum, weights=pi, minlength=groups.n_strata)
        return _polish(pi, lower, total, allocation.astype(float), groups)
    if solution.status == 2:
        _report_unmet(lower, groups, minimums, equalities, goals, limits, caps)
    raise InputError(
        f"the inclusion probabilities could not be fitted within {LP_SECONDS:.0f} s; use fewer "
        "balancing columns or minimums",
        source=SOURCE,
        column="balance",
    )


def _report_unmet(
    lower: np.ndarray,
    groups: Groups,
    minimums: dict[tuple[str, str], int],
    equalities: sparse.csr_matrix,
    goals: np.ndarray,
    limits: sparse.csr_matrix,
    caps: np.ndarray,
) -> None:
    """Refuse an infeasible request, naming the balancing group that is furthest from reach."""
    n, strata = len(lower), groups.n_strata
    balance_rows = equalities.shape[0] - strata
    slack = sparse.vstack(
        [
            sparse.csr_matrix((strata, 2 * balance_rows)),
            sparse.hstack([sparse.identity(balance_rows), -sparse.identity(balance_rows)]),
        ]
    )
    elastic = linprog(
        np.concatenate([np.zeros(n), np.ones(2 * balance_rows)]),
        A_ub=sparse.hstack([limits, sparse.csr_matrix((limits.shape[0], 2 * balance_rows))]),
        b_ub=caps,
        A_eq=sparse.hstack([equalities, slack]),
        b_eq=goals,
        bounds=[(lo, 1.0) for lo in lower] + [(0, None)] * (2 * balance_rows),
        method="highs",
        options={"time_limit": LP_SECONDS},
    )
    if elastic.status != 0:
        raise InputError(
            "the strata cannot be filled within the floor, one case per officer in each stratum "
            "and the officer cap: lower the floor or raise the officer cap",
            source=SOURCE,
            column="floor",
        )
    gap = elastic.x[n : n + balance_rows] - elastic.x[n + balance_rows :]
    names = [(column, level) for column, (_, levels) in groups.balance.items() for level in levels]
    worst = int(np.argmax(np.abs(gap)))
    column, level = names[worst]
    want = goals[strata + worst]
    raise InputError(
        f"balancing group {column}={level}: its expected count {want:.2f} cannot be met within "
        f"the strata, floor and officer limits (at best {want - gap[worst]:.2f})",
        source=SOURCE,
        column="minimums" if (column, str(level)) in minimums else "balance",
    )
