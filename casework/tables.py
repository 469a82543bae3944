"""DataFrames as rich tables for the commands' terminal output."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from rich.table import Table


def frame_table(
    frame: pd.DataFrame,
    title: str,
    index: str | None = None,
    cell: Callable[[object], str] = str,
    whole: tuple[str, ...] = (),
) -> Table:
    """A table of ``frame``'s rows, each cell written by ``cell``; narrow cells fold, never cut.

    Args:
        index: heading of a first column holding the frame's index (left out when None).
        whole: columns never wrapped (ids a user copies into another command).
    """
    table = Table(title=title)
    if index is not None:
        table.add_column(index)
    for column in frame.columns:
        table.add_column(
            str(column),
            justify="right" if index is not None else "left",
            no_wrap=column in whole,
            overflow="fold",
        )
    for key, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        table.add_row(*([str(key)] if index is not None else []), *(cell(v) for v in row))
    return table
