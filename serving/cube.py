"""Balanced sampling by the cube method (Deville & Tillé 2004), compiled with numba.

Every unit carries a few constraint rows, with coefficient 1 (the balancing variables are
x_k = π_k · indicator, so x_k / π_k is the indicator) or −1:

* hard rows: its explicit stratum (Σ I = n_h), its officer × stratum block and, when needed,
  its officer (Σ I + slack = 1 or the cap). Slack units make the "at most" rows equalities;
* minimum rows: a category with a hard minimum m has Σ I − slack = m, slack units (coefficient
  −1) carrying the expected count above m; dropped only after every soft row (see below);
* soft rows: one per category of each balancing variable (Σ I = expected count).

**Flight phase** (the fast variant of Chauvet & Tillé 2006): a small set S of non-integer units is
kept, grown in a random order until it has more units than the rows it touches, so that the
constraint matrix restricted to S has a null vector u. π moves along +u or −u, with the
probabilities that keep E[π] unchanged (a martingale, hence exact inclusion probabilities), until
at least one unit of S reaches 0 or 1. **Landing**: when no null vector is left, the droppable
row of highest rank among those still touched is dropped (soft rows, lowest priority first,
then minimum rows), and the flight goes on. Strata, blocks and officers are never dropped: they
form two laminar families (strata ⊃ blocks; officers ⊃ blocks), so their matrix is totally
unimodular, their polytope has integer vertices and only rounding drift can leave a unit
fractional, which ``serving.selection`` repairs.

Memory and time are bounded: the window's matrix grows by doubling (it stays a few dozen units
wide), and the flight stops after a fixed number of steps (each step fixes a unit or drops a
row in exact arithmetic). Compiled with ``nogil=True`` so a service thread is never frozen.
"""

from __future__ import annotations

import numba
import numpy as np

EPSILON = 1e-9


@numba.njit(cache=True, nogil=True)
def _null_vector(matrix: np.ndarray, columns: int) -> np.ndarray:
    """A non-zero u with matrix[:, :columns] @ u = 0, or an empty array when there is none.

    Forward elimination with partial pivoting up to the first column that depends on the ones
    before it, then back substitution over those: u is zero beyond that column.
    """
    a = matrix[:, :columns].copy()
    rows = a.shape[0]
    free = -1
    for c in range(columns):
        best = c
        if c < rows:
            for i in range(c + 1, rows):
                if abs(a[i, c]) > abs(a[best, c]):
                    best = i
        if c >= rows or abs(a[best, c]) < 1e-9:
            free = c
            break
        if best != c:
            for j in range(c, columns):
                a[c, j], a[best, j] = a[best, j], a[c, j]
        pivot = a[c, c]
        for j in range(c, columns):
            a[c, j] /= pivot
        for i in range(c + 1, rows):
            f = a[i, c]
            if f != 0.0:
                for j in range(c, columns):
                    a[i, j] -= f * a[c, j]
    if free < 0:
        return np.empty(0)
    u = np.zeros(columns)
    u[free] = 1.0
    for c in range(free - 1, -1, -1):
        total = a[c, free]
        for j in range(c + 1, free):
            total += a[c, j] * u[j]
        u[c] = -total
    return u


FINISHED, STOPPED, STEP_LIMIT = 0, 1, 2
"""Flight outcomes: every unit 0 or 1; stopped with units still fractional; step bound hit."""


@numba.njit(cache=True, nogil=True)
def _grow(matrix: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """A zeroed matrix of at least ``rows`` × ``columns`` (doubling)."""
    new_rows, new_columns = matrix.shape
    while new_rows < rows:
        new_rows *= 2
    while new_columns < columns:
        new_columns *= 2
    if new_rows == matrix.shape[0] and new_columns == matrix.shape[1]:
        return matrix
    return np.zeros((new_rows, new_columns))


@numba.njit(cache=True, nogil=True)
def flight_and_landing(
    pi: np.ndarray,
    unit_rows: np.ndarray,
    coefficient: np.ndarray,
    rank: np.ndarray,
    order: np.ndarray,
    uniforms: np.ndarray,
    land: bool,
) -> tuple[np.ndarray, int]:
    """Round ``pi`` toward a 0/1 sample keeping E[I] = pi and every row.

    ``coefficient`` per unit and row slot: 1, or −1 for the slack of a minimum's row.
    ``rank`` per row: −1 never dropped, else the higher the sooner dropped. Stops when no null
    vector is left (the units still fractional are for the landing), unless ``land``: then
    droppable rows are dropped one by one. Returns π and the outcome (``FINISHED``, ``STOPPED``
    or ``STEP_LIMIT``).
    """
    pi = pi.copy()
    n_units, width = unit_rows.shape
    n_rows = rank.shape[0]
    dropped = np.zeros(n_rows, dtype=np.bool_)
    row_count = np.zeros(n_rows, dtype=np.int64)
    local = np.full(n_rows, -1, dtype=np.int64)
    window = np.empty(64, dtype=np.int64)
    matrix = np.zeros((64, 64))
    size = 0
    touched = 0
    position = 0
    draw = 0
    outcome = STOPPED
    more = False  # no null vector although the window outgrew its rows: take one more unit
    for step_count in range(4 * (n_units + n_rows) + 101):
        if step_count == 4 * (n_units + n_rows) + 100:
            outcome = STEP_LIMIT
            break
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
        while position < n_units and (size <= touched or more):
            more = False
            k = order[position]
            position += 1
            if not (EPSILON < pi[k] < 1 - EPSILON):
                pi[k] = 1.0 if pi[k] > 0.5 else 0.0
                continue
            if size == window.shape[0]:
                bigger = np.empty(2 * size, dtype=np.int64)
                bigger[:size] = window
                window = bigger
            window[size] = k
            size += 1
            for j in range(width):
                row = unit_rows[k, j]
                if row >= 0 and not dropped[row]:
                    if row_count[row] == 0:
                        touched += 1
                    row_count[row] += 1
        if size == 0:
            outcome = FINISHED
            break
        # the constraint matrix of the window, over the rows it touches
        matrix = _grow(matrix, touched + 1, size + 1)
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
                    matrix[local[row], i] = coefficient[k, j]
        u = _null_vector(matrix[:m], size)
        for i in range(size):
            k = window[i]
            for j in range(width):
                row = unit_rows[k, j]
                if row >= 0:
                    local[row] = -1
        if u.shape[0] == 0:
            if position < n_units:
                more = True
                continue
            if not land:
                break
            # landing: drop the touched droppable row of highest rank
            victim = -1
            for i in range(size):
                k = window[i]
                for j in range(width):
                    row = unit_rows[k, j]
                    if row >= 0 and not dropped[row] and rank[row] >= 0:
                        if victim < 0 or rank[row] > rank[victim]:
                            victim = row
            if victim < 0:
                break
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
    return pi, outcome
