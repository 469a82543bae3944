"""Balanced sampling by the cube method (Deville & Tillé 2004), compiled with numba.

Every unit carries a few constraint rows, all with coefficient 1 (the balancing variables are
x_k = π_k · indicator, so x_k / π_k is the indicator):

* hard rows: its explicit stratum (Σ I = n_h), its officer × stratum block and, when needed,
  its officer (Σ I + slack = 1 or the cap). Slack units make the "at most" rows equalities;
* soft rows: one per category of each balancing variable (Σ I = expected count).

**Flight phase** (the fast variant of Chauvet & Tillé 2006): a small set S of non-integer units is
kept, grown in a random order until it has more units than the rows it touches, so that the
constraint matrix restricted to S has a null vector u. π moves along +u or −u, with the
probabilities that keep E[π] unchanged (a martingale, hence exact inclusion probabilities), until
at least one unit of S reaches 0 or 1. **Landing**: when no null vector is left, the soft row of
lowest priority among those still touched is dropped, and the flight goes on. Hard rows are never
dropped: they form a network (strata, blocks and officers are nested or a bipartite flow), so
their polytope has integer vertices and the flight always ends on a sample that meets them
exactly.
"""

from __future__ import annotations

import numba
import numpy as np

EPSILON = 1e-9


@numba.njit(cache=True)
def _null_vector(matrix: np.ndarray, columns: int) -> np.ndarray:
    """A non-zero u with matrix[:, :columns] @ u = 0, or an empty array when there is none."""
    a = matrix[:, :columns].copy()
    rows = a.shape[0]
    pivots = np.full(columns, -1, dtype=np.int64)
    r = 0
    free = -1
    for c in range(columns):
        if r < rows:
            best = r
            for i in range(r + 1, rows):
                if abs(a[i, c]) > abs(a[best, c]):
                    best = i
        if r >= rows or abs(a[best, c]) < 1e-9:
            free = c
            break
        if best != r:
            for j in range(columns):
                a[r, j], a[best, j] = a[best, j], a[r, j]
        pivot = a[r, c]
        for j in range(columns):
            a[r, j] /= pivot
        for i in range(rows):
            if i != r and a[i, c] != 0.0:
                f = a[i, c]
                for j in range(columns):
                    a[i, j] -= f * a[r, j]
        pivots[c] = r
        r += 1
    if free < 0:
        return np.empty(0)
    u = np.zeros(columns)
    u[free] = 1.0
    for c in range(free):
        if pivots[c] >= 0:
            u[c] = -a[pivots[c], free]
    return u


@numba.njit(cache=True)
def flight_and_landing(
    pi: np.ndarray,
    unit_rows: np.ndarray,
    soft: np.ndarray,
    order: np.ndarray,
    uniforms: np.ndarray,
    land: bool,
) -> np.ndarray:
    """Round ``pi`` toward a 0/1 sample keeping E[I] = pi and every row.

    Stops when no null vector is left (the units still fractional are for the landing), unless
    ``land``: then soft rows are dropped one by one until every unit is 0 or 1.
    """
    pi = pi.copy()
    n_units, width = unit_rows.shape
    n_rows = soft.shape[0]
    dropped = np.zeros(n_rows, dtype=np.bool_)
    row_count = np.zeros(n_rows, dtype=np.int64)
    local = np.full(n_rows, -1, dtype=np.int64)
    capacity = n_rows + 2
    window = np.empty(capacity, dtype=np.int64)
    size = 0
    touched = 0
    position = 0
    draw = 0
    matrix = np.zeros((n_rows, capacity))
    while True:
        # keep the non-integer units of the window, then grow it past its row count
        kept = 0
        for i in range(size):
            k = window[i]
            if EPSILON < pi[k] < 1 - EPSILON:
                window[kept] = k
                kept += 1
            else:
                pi[k] = 1.0 if pi[k] > 0.5 else 0.0
                for j in range(width):
                    row = unit_rows[k, j]
                    if row >= 0 and not dropped[row]:
                        row_count[row] -= 1
                        if row_count[row] == 0:
                            touched -= 1
        size = kept
        while position < n_units and size <= touched and size < capacity:
            k = order[position]
            position += 1
            if not (EPSILON < pi[k] < 1 - EPSILON):
                pi[k] = 1.0 if pi[k] > 0.5 else 0.0
                continue
            window[size] = k
            size += 1
            for j in range(width):
                row = unit_rows[k, j]
                if row >= 0 and not dropped[row]:
                    if row_count[row] == 0:
                        touched += 1
                    row_count[row] += 1
        if size == 0:
            break
        # the constraint matrix of the window, over the rows it touches
        m = 0
        for i in range(size):
            k = window[i]
            for j in range(width):
                row = unit_rows[k, j]
                if row >= 0 and not dropped[row] and local[row] < 0:
                    local[row] = m
                    for c in range(size):
                        matrix[m, c] = 0.0
                    m += 1
        for i in range(size):
            k = window[i]
            for j in range(width):
                row = unit_rows[k, j]
                if row >= 0 and not dropped[row]:
                    matrix[local[row], i] = 1.0
        u = _null_vector(matrix[:m], size)
        for i in range(size):
            k = window[i]
            for j in range(width):
                row = unit_rows[k, j]
                if row >= 0:
                    local[row] = -1
        if u.shape[0] == 0:
            if position < n_units:
                continue
            if not land:
                break
            # landing: drop the touched soft row of lowest priority (highest index)
            victim = -1
            for i in range(size):
                k = window[i]
                for j in range(width):
                    row = unit_rows[k, j]
                    if row >= 0 and soft[row] and not dropped[row] and row > victim:
                        victim = row
            if victim < 0:
                raise RuntimeError("cube landing: no null vector left with only hard rows")
            dropped[victim] = True
            touched -= 1
            row_count[victim] = 0
            continue
        up = np.inf
        down = np.inf
        for i in range(size):
            k = window[i]
            if u[i] > 1e-12:
                up = min(up, (1 - pi[k]) / u[i])
                down = min(down, pi[k] / u[i])
            elif u[i] < -1e-12:
                up = min(up, pi[k] / -u[i])
                down = min(down, (1 - pi[k]) / -u[i])
        step = up if uniforms[draw % uniforms.shape[0]] * (up + down) < down else -down
        draw += 1
        for i in range(size):
            k = window[i]
            pi[k] += step * u[i]
    return pi
