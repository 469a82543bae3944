"""The annual report's tables from a year's judged samples, with intervals.

Table 2 layout: all CRCs, the four keeping-people-safe questions, per inspection year (April to
March, "2019/20", from ``inspection_date``; one column "all CRCs" without dates). Table 3 layout:
provider type × RoSH level ("NPS high", "CRC low", …), the same four questions. Both are domain
estimates on the pooled design (``serving.pooling``: each inspection's strata kept apart), so
their rows have the columns of ``serving.estimation.estimate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from features.contract import JUDGEMENTS, ROSH_LEVELS
from serving.pooling import JudgedDesign, designed
from serving.shares import groups_of, table

SAFETY: tuple[str, ...] = tuple(j for j in JUDGEMENTS if j.endswith("_safety"))
TABLE_COLUMNS: tuple[str, ...] = ("provider_type", "rosh_level")


def inspection_year(dates: pd.Series) -> pd.Series:
    """The inspectorate's year (April–March) of each date, as "2019/20"; NaN where no date."""
    parsed = pd.to_datetime(dates, errors="coerce")
    start = parsed.dt.year - (parsed.dt.month < 4)
    return start.map(lambda y: f"{int(y)}/{(int(y) + 1) % 100:02d}", na_action="ignore")


def national_tables(
    judged_samples: JudgedDesign | pd.DataFrame | Sequence[pd.DataFrame],
) -> dict[str, pd.DataFrame]:
    """{"table 2": …, "table 3": …} for the pooled judged samples."""
    design = designed(judged_samples)
    for column in TABLE_COLUMNS:
        if column not in design.sample.columns:
            return {}
    sample = design.sample
    crc = sample["provider_type"].astype(str) == "CRC"
    year = pd.Series("all CRCs", index=sample.index)
    if "inspection_date" in sample.columns:
        named = inspection_year(sample["inspection_date"])
        if named.notna().all():
            year = "all CRCs " + named
    cell = sample["provider_type"].astype(str) + " " + sample["rosh_level"].astype(str)
    cells = sorted(groups_of(cell, len(sample)), key=lambda group: _cell_order(group[0]))
    return {
        "table 2": table(design, groups_of(year.where(crc), len(sample)), SAFETY),
        "table 3": table(design, cells, SAFETY),
    }


def _cell_order(name: str) -> tuple[int, int, str]:
    """NPS before CRC, higher RoSH first (the published table's order)."""
    provider, _, level = name.partition(" ")
    providers = ("NPS", "CRC")
    levels = tuple(reversed(ROSH_LEVELS))
    return (
        providers.index(provider) if provider in providers else len(providers),
        levels.index(level) if level in levels else len(levels),
        name,
    )
