"""Landing phase by linear programming (Deville & Tillé 2004, §6.1).

When the flight phase stops, a few units are still fractional. Every 0/1 assignment of them that
meets the hard rows exactly is listed; a linear program finds the probability distribution over
those samples whose inclusion probabilities are the current π (so the design stays exact) and
that minimises the expected cost: the squared deviations of the soft rows from their targets,
plus a large penalty for any deviation beyond 2 cases.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.optimize import linprog

MAX_UNITS = 40
MAX_SAMPLES = 20_000
MAX_NODES = 5_000_000
"""Enumeration stops (and the cube landing takes over) beyond this many candidate samples or
search nodes."""
WIDE = 2.0
PENALTY = 1000.0


@numba.njit(cache=True, nogil=True)
def _feasible(
    pi: np.ndarray, member: np.ndarray, hard: np.ndarray, at_least: np.ndarray, limit: int
) -> np.ndarray:
    """Bit masks of the 0/1 vectors x with member[r] @ x == member[r] @ pi on every hard row and
    member[r] @ x ≥ at_least[r] on every row.

    Depth-first over the units, pruning a branch as soon as a hard row is overfull or a row can
    no longer be filled (all coefficients are 0 or 1). More than ``limit`` masks: none returned.
    """
    units = pi.shape[0]
    rows = member.shape[0]
    goal = np.zeros(rows, dtype=np.int64)
    remaining = np.zeros(rows, dtype=np.int64)
    for r in range(rows):
        total = 0.0
        for k in range(units):
            total += member[r, k] * pi[k]
            if member[r, k] > 0:
                remaining[r] += 1
        goal[r] = int(np.round(total))
    count = np.zeros(rows, dtype=np.int64)
    choice = np.full(units, -1, dtype=np.int64)
    out = []
    depth = 0
    for _ in range(MAX_NODES):
        if depth < 0:
            break
        if depth == units:
            mask = 0
            for k in range(units):
                if choice[k] == 1:
                    mask |= 1 << k
            out.append(mask)
            if len(out) > limit:
                return np.empty(0, dtype=np.int64)
            depth -= 1
            continue
        # undo this unit's previous choice, then try the next one (0, then 1)
        previous = choice[depth]
        if previous >= 0:
            for r in range(rows):
                if member[r, depth] > 0:
                    count[r] -= previous
                    remaining[r] += 1
        nxt = previous + 1
        placed = False
        while nxt <= 1 and not placed:
            ok = True
            for r in range(rows):
                if member[r, depth] > 0:
                    reach = count[r] + nxt + remaining[r] - 1
                    if hard[r] and (count[r] + nxt > goal[r] or reach < goal[r]):
                        ok = False
                        break
                    if reach < at_least[r]:
                        ok = False
                        break
            if ok:
                placed = True
            else:
                nxt += 1
        if not placed:
            choice[depth] = -1
            depth -= 1
            continue
        choice[depth] = nxt
        for r in range(rows):
            if member[r, depth] > 0:
                count[r] += nxt
                remaining[r] -= 1
        depth += 1
    if depth >= 0:  # the search was cut short
        return np.empty(0, dtype=np.int64)
    found = np.empty(len(out), dtype=np.int64)
    for i in range(len(out)):
        found[i] = out[i]
    return found


def land(
    pi: np.ndarray,
    member: np.ndarray,
    hard: np.ndarray,
    rng: np.random.Generator,
    at_least: np.ndarray | None = None,
) -> np.ndarray | None:
    """A 0/1 vector for the fractional units ``pi`` (rows ``member``; ``hard`` rows exact, every
    row r with at least ``at_least[r]`` units), or None when there are too many units or
    candidate samples, or none meets the rules."""
    units = len(pi)
    if units > MAX_UNITS:
        return None
    if at_least is None:
        at_least = np.full(len(member), -1.0)
    masks = _feasible(pi, member.astype(np.float64), hard, at_least.astype(float), MAX_SAMPLES)
    if len(masks) == 0:
        return None
    samples = ((masks[:, None] >> np.arange(units)) & 1).astype(float)
    deviation = (samples - pi) @ member[~hard].T
    cost = (deviation**2).sum(axis=1) + PENALTY * (np.abs(deviation) > WIDE + 1e-9).sum(axis=1)
    equalities = np.vstack([samples.T, np.ones(len(samples))])
    solution = linprog(
        cost,
        A_eq=equalities,
        b_eq=np.concatenate([pi, [1.0]]),
        bounds=(0, None),
        method="highs",
    )
    if solution.status != 0:
        return None
    weights = np.clip(solution.x, 0, None)
    return samples[rng.choice(len(samples), p=weights / weights.sum())]
