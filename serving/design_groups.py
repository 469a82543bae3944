"""The groupings a sampling design works on: strata, officers, officer × stratum blocks and
balancing columns, as integer codes of the frame's cases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SOURCE = "sample request"
"""The source a refused sampling request names."""


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
