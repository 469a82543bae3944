"""Inclusion probabilities of a risk-weighted stratified design.

The construction, in order (each step documented in the README's sampling section):

1. **Allocation**: the size is shared among the explicit strata in proportion to their caseload
   (largest remainder), at least one case per stratum so every case has a positive chance, then
   moved between strata to meet minimums on stratifying columns.
2. **Tilt**: inside a stratum, π ∝ (1 − λ) + λ·score² / mean score² of the stratum, so λ = 0 is
   today's equal chance and λ = 1 is probability proportional to the squared predicted risk.
3. **Bounds and calibration** (bounded raking): π is raked so that the expected count of every
   balancing group equals its proportional target (or its minimum, if larger; a whole number
   when the minimums of its column are hard) and every stratum sums to its allocation, while
   keeping π ≥ floor × the equal chance, π ≤ 1, each officer × stratum block ≤ 1 and each
   officer ≤ the cap. The raking stops at relative tolerances within a bounded number of rounds
   and seconds; if it has not converged by then, a linear program finds the nearest π that meets
   every rule or proves that none does.

Anything that cannot be met is an :class:`~features.errors.InputError` naming the constraint.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linprog

from features.errors import InputError

SOURCE = "sample request"
RELATIVE_TOLERANCE = 1e-9
"""Strata totals and balancing targets are met to this fraction of the target (or of 1 case)."""
MAX_ROUNDS = 500
STRATA_ROUNDS = 200
RAKING_SECONDS = 3.0
LP_SECONDS = 5.0
HEADROOM = 1.0
"""Expected cases above a hard minimum (balanced method)."""
MAX_BALANCE_LEVELS = 100
"""A balancing column with more levels than this is refused (each level is a row of the cube)."""
COARSER: dict[str, str] = {"officer_id": "office", "office": "region", "provider": "region"}
"""What a refusal offers instead of a stratifying column that makes too many strata."""


@dataclass(frozen=True)
class Groups:
    """Integer codes of the frame's cases in each grouping the design uses."""

    stratum: np.ndarray
    stratum_names: np.ndarray
    officer: np.ndarray
    officer_names: np.ndarray
    block: np.ndarray
    block_stratum: np.ndarray
    block_officer: np.ndarray
    balance: dict[str, tuple[np.ndarray, np.ndarray]]

    @property
    def n_strata(self) -> int:
        """Number of explicit strata."""
        return len(self.stratum_names)

    @property
    def n_blocks(self) -> int:
        """Number of officer × stratum blocks."""
        return len(self.block_stratum)


@dataclass(frozen=True)
class Design:
    """Inclusion probabilities and the groups and targets they were fitted to."""

    pi: np.ndarray
    equal: np.ndarray
    allocation: np.ndarray
    groups: Groups
    targets: dict[str, np.ndarray]
    officer_cap: int
    hard: dict[str, np.ndarray] = field(default_factory=dict)
    """Per balancing column with hard minimums, each level's minimum (0: none, a soft row)."""

    @property
    def size(self) -> int:
        """The sample size n."""
        return int(self.allocation.sum())

    def needs_officer_rows(self) -> bool:
        """True when some officer spans more strata than the cap (blocks alone don't cap them)."""
        spans = np.bincount(self.groups.block_officer, minlength=len(self.groups.officer_names))
        return bool((spans > self.officer_cap).any())


def codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and sorted level names of a column."""
    codes_, levels = pd.factorize(values, sort=True)
    return codes_.astype(np.int64), np.asarray(levels, dtype=str).astype(object)


def combined_codes(frame: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the combinations of ``columns`` and readable names, e.g. ``Office 3 / female``.

    Without columns there is one group, 'all'.
    """
    if not columns:
        return np.zeros(len(frame), dtype=np.int64), np.array(["all"], dtype=object)
    parts = [codes(frame[column]) for column in columns]
    key = np.ravel_multi_index([c for c, _ in parts], [len(levels) for _, levels in parts])
    code, unique = pd.factorize(key, sort=True)
    index = np.unravel_index(np.asarray(unique), [len(levels) for _, levels in parts])
    names = [
        " / ".join(str(levels[i]) for (_, levels), i in zip(parts, combo, strict=True))
        for combo in zip(*index, strict=True)
    ]
    return code.astype(np.int64), np.array(names, dtype=object)


def build_groups(frame: pd.DataFrame, strata: list[str], balance: list[str]) -> Groups:
    """Codes for strata, officers, officer × stratum blocks and balancing columns."""
    stratum, stratum_names = combined_codes(frame, strata)
    officer, officer_names = codes(frame["officer_id"])
    block_key = stratum * len(officer_names) + officer
    block, block_keys = pd.factorize(block_key, sort=True)
    block_keys = np.asarray(block_keys, dtype=np.int64)
    return Groups(
        stratum=stratum,
        stratum_names=stratum_names,
        officer=officer,
        officer_names=officer_names,
        block=block.astype(np.int64),
        block_stratum=block_keys // len(officer_names),
        block_officer=block_keys % len(officer_names),
        balance={column: codes(frame[column]) for column in balance},
    )


def proportional(
    total: int, weights: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Integers lower ≤ c ≤ upper summing to ``total``, as proportional to ``weights`` as the
    bounds allow: c ≈ clip(t · weight, lower, upper) with t found by bisection, then largest
    remainders. The caller ensures Σ lower ≤ total ≤ Σ upper."""
    lower, upper = lower.astype(float), upper.astype(float)
    low, high = 0.0, 1.0
    for _ in range(200):  # bracket t: Σ clip(t·w) is non-decreasing in t
        if np.clip(high * weights, lower, upper).sum() >= total:
            break
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2
        if np.clip(middle * weights, lower, upper).sum() < total:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * high:
            break
    share = np.clip(high * weights, lower, upper)
    counts = np.clip(np.floor(share + 1e-9), lower, upper).astype(np.int64)
    remainder = share - counts
    missing = int(total - counts.sum())
    if missing > 0:
        room = np.flatnonzero(counts < upper)
        counts[room[np.argsort(-remainder[room], kind="stable")[:missing]]] += 1
    elif missing < 0:
        room = np.flatnonzero(counts > lower)
        counts[room[np.argsort(remainder[room], kind="stable")[:-missing]]] -= 1
    return counts


def coarser_strata(frame: pd.DataFrame, strata: list[str], size: int) -> tuple[list[str], int]:
    """The stratification a refusal offers: each column kept, replaced by a coarser one
    (:data:`COARSER`: office → region) or dropped; the most columns, then the most strata, that
    fit ``size``."""
    chains = []
    for column in strata:
        chain = [column]
        while chain[-1] in COARSER and COARSER[chain[-1]] in frame.columns:
            chain.append(COARSER[chain[-1]])
        chains.append([*chain, None])
    best: tuple[tuple[int, int], list[str]] = ((0, 1), [])
    for choice in itertools.product(*chains):
        columns = list(dict.fromkeys(c for c in choice if c is not None))
        count = int(frame.groupby(columns, observed=True).ngroups) if columns else 1
        if count <= size and (len(columns), count) > best[0]:
            best = ((len(columns), count), columns)
    return best[1], best[0][1]


def _too_many_strata(frame: pd.DataFrame, strata: list[str], size: int, n_strata: int) -> None:
    columns, count = coarser_strata(frame, strata, size)
    hint = f"strata {' × '.join(columns)} ({count} strata) fit" if columns else "no strata fit"
    raise InputError(
        f"size {size} is smaller than the {n_strata} strata ({' × '.join(strata)}): every "
        "stratum needs at least one case so that every case has a positive chance; the "
        f"smallest feasible size is {n_strata}, or stratify more coarsely: {hint}",
        source=SOURCE,
        column="size",
    )


def allocate(
    frame: pd.DataFrame,
    groups: Groups,
    size: int,
    strata: list[str],
    minimums: dict[tuple[str, str], int],
    officer_cap: int,
) -> np.ndarray:
    """Cases per stratum: proportional, ≥ 1 each, minimums on stratifying columns met, at most
    one per officer × stratum block."""
    population = np.bincount(groups.stratum, minlength=groups.n_strata)
    capacity = np.minimum(population, np.bincount(groups.block_stratum, minlength=groups.n_strata))
    if size > capacity.sum():
        raise InputError(
            f"size {size} is more than the {capacity.sum()} cases the officer × stratum rule "
            "allows (at most one case per officer in each stratum)",
            source=SOURCE,
            column="size",
        )
    if size < groups.n_strata:
        _too_many_strata(frame, strata, size, groups.n_strata)
    lower = np.ones(groups.n_strata, dtype=np.int64)
    stratum_values = frame.groupby(groups.stratum, sort=True)[strata].first() if strata else None
    for (column, value), minimum in minimums.items():
        if column not in strata or minimum == 0:
            continue
        member = (stratum_values[column].astype(str) == value).to_numpy()
        room = int(capacity[member].sum())
        if minimum > room:
            raise InputError(
                f"minimum {column}={value}: {minimum} cases asked for but at most {room} can be "
                "drawn (the frame's cases, at most one per officer in each stratum)",
                source=SOURCE,
                column="minimums",
            )
        if lower[member].sum() < minimum:
            lower[member] = proportional(
                minimum, population[member].astype(float), lower[member], capacity[member]
            )
    if lower.sum() > size:
        raise InputError(
            f"the minimums on stratifying columns with one case per stratum need "
            f"{lower.sum()} cases, more than the size {size}: the smallest feasible size is "
            f"{lower.sum()}",
            source=SOURCE,
            column="minimums",
        )
    allocation = proportional(size, population.astype(float), lower, capacity)
    _check_officer_cap(groups, size, officer_cap)
    return allocation


def _check_officer_cap(groups: Groups, size: int, officer_cap: int) -> None:
    spans = np.bincount(groups.block_officer, minlength=len(groups.officer_names))
    reachable = np.minimum(spans, officer_cap).sum()
    if reachable < size:
        reach = np.minimum(spans[None, :], np.arange(1, spans.max() + 1)[:, None]).sum(axis=1)
        works = int(np.argmax(reach >= size)) + 1
        raise InputError(
            f"officer cap {officer_cap} × {len(groups.officer_names)} officers allows at most "
            f"{reachable} cases, fewer than the size {size}; an officer cap of {works} would "
            "allow it",
            source=SOURCE,
            column="officer_cap",
        )


def balance_targets(
    groups: Groups,
    equal: np.ndarray,
    minimums: dict[tuple[str, str], int],
    size: int,
    hard: frozenset[str],
) -> dict[str, np.ndarray]:
    """Expected count per balancing group: proportional (equal-chance design), raised to minimums.

    Raising a group to its minimum takes the cases from the other groups of that column in
    proportion to their targets. A hard minimum's target is at least the minimum plus
    :data:`HEADROOM` (or less, when the size or the group leaves less room), so that the cube
    has room to meet it in every draw.
    """
    targets = {}
    for column, (code, levels) in groups.balance.items():
        target = np.bincount(code, weights=equal, minlength=len(levels))
        population = np.bincount(code, minlength=len(levels))
        floor = np.zeros(len(levels))
        for (name, value), minimum in minimums.items():
            if name != column or minimum == 0:
                continue
            index = np.flatnonzero(levels == value)
            held = int(population[index[0]]) if len(index) else 0
            if minimum > held:
                raise InputError(
                    f"minimum {column}={value}: {minimum} cases asked for but the frame holds "
                    f"only {held}",
                    source=SOURCE,
                    column="minimums",
                )
            floor[index[0]] = minimum
        if floor.sum() > size:
            raise InputError(
                f"minimums on {column} add up to {floor.sum():.0f}, more than the size {size}: "
                f"the smallest feasible size is {floor.sum():.0f}",
                source=SOURCE,
                column="minimums",
            )
        if column in hard:  # room above a hard minimum, so that draws can vary and meet it
            raised = floor > 0
            room = min(HEADROOM, (size - floor.sum()) / max(raised.sum(), 1))
            floor = np.where(raised, np.minimum(floor + room, population), 0.0)
        for _ in range(len(levels)):
            raised = target < floor
            if not raised.any():
                break
            target = np.where(raised, floor, target)
            free = ~raised & (target > 0)
            target[free] *= (size - target[~free].sum()) / target[free].sum()
        targets[column] = target
    return targets


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

    At most :data:`MAX_ROUNDS` rounds and ``seconds``; converged when every total is within
    :data:`RELATIVE_TOLERANCE` of its target. Otherwise the linear program of
    :func:`closest_feasible` finishes the job or proves the request infeasible.
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
    whether it got there within :data:`RELATIVE_TOLERANCE` in a bounded number of rounds.

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


def _check_floor(groups: Groups, lower: np.ndarray, floor: float, officer_cap: int) -> None:
    """The floors of one officer's cases must fit in a block (1) and under the officer cap."""
    for code, names, cap, what in (
        (groups.block, None, 1.0, "in one stratum"),
        (groups.officer, groups.officer_names, float(officer_cap), "in all"),
    ):
        total = np.bincount(code, weights=lower)
        worst = int(np.argmax(total))
        if total[worst] > cap + 1e-9:
            officer = (
                names[worst]
                if names is not None
                else groups.officer_names[groups.block_officer[worst]]
            )
            raise InputError(
                f"floor {floor}: officer {officer}'s cases {what} would need {total[worst]:.2f} "
                f"expected cases, above the limit of {cap:g}; lower the floor",
                source=SOURCE,
                column="floor",
            )


def build_design(
    frame: pd.DataFrame,
    score: np.ndarray,
    *,
    size: int,
    strata: list[str],
    balance: list[str],
    minimums: dict[tuple[str, str], int],
    officer_cap: int,
    risk_weight: float,
    floor: float,
    hard: frozenset[str] = frozenset(),
) -> Design:
    """Inclusion probabilities for ``frame`` (scores aligned with its rows) under a request.

    ``hard`` names the balancing columns whose minimums every draw must meet (balanced method).
    """
    if size > len(frame):
        raise InputError(
            f"size {size} is larger than the frame ({len(frame)} cases)",
            source=SOURCE,
            column="size",
        )
    groups = build_groups(frame, strata, balance)
    for column, (_, levels) in groups.balance.items():
        if len(levels) > MAX_BALANCE_LEVELS:
            raise InputError(
                f"balancing column {column} has {len(levels)} values, more than the cap of "
                f"{MAX_BALANCE_LEVELS}: balance on a coarser column (e.g. region for office)",
                source=SOURCE,
                column="balance",
            )
    allocation = allocate(frame, groups, size, strata, minimums, officer_cap)
    population = np.bincount(groups.stratum, minlength=groups.n_strata)
    equal = (allocation / population)[groups.stratum]
    _check_floor(groups, floor * equal, floor, officer_cap)
    targets = balance_targets(groups, equal, minimums, size, hard)
    weight = tilt(score, groups.stratum, risk_weight)
    pi = fit_probabilities(weight, equal, floor, allocation, groups, targets, officer_cap, minimums)
    return Design(
        pi=pi,
        equal=equal,
        allocation=allocation,
        groups=groups,
        targets=targets,
        officer_cap=officer_cap,
        hard={
            column: np.array([minimums.get((column, str(v)), 0) for v in levels])
            for column, (_, levels) in groups.balance.items()
            if column in hard
        },
    )
