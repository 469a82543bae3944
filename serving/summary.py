"""The design summary a planner reads before and after a draw (JSON-ready)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.contract import JUDGEMENTS
from serving.design import Design
from serving.selection import Landing

if TYPE_CHECKING:  # sampling imports this module
    from serving.sampling import SampleRequest


def kish_deff(pi: np.ndarray) -> float:
    """Expected Kish design effect of the weights 1/π: n · Σ_U 1/π / N² (1 for equal chances)."""
    return float(pi.sum() * (1.0 / pi).sum() / len(pi) ** 2)


def expected_yield(pi: np.ndarray, risk: np.ndarray) -> float:
    """Expected insufficient judgements in the sample if all 12 applied: 12 · Σ π · risk."""
    return float(len(JUDGEMENTS) * (pi * risk).sum())


def strata_table(design: Design, chosen: np.ndarray | None) -> list[dict[str, object]]:
    """Per stratum: population, its share, allocation and (after a draw) the cases drawn."""
    groups = design.groups
    population = np.bincount(groups.stratum, minlength=groups.n_strata)
    drawn = (
        np.bincount(groups.stratum[chosen], minlength=groups.n_strata)
        if chosen is not None
        else None
    )
    return [
        {
            "stratum": str(name),
            "population": int(population[h]),
            "population_share": float(population[h] / population.sum()),
            "allocated": int(design.allocation[h]),
            **({"drawn": int(drawn[h])} if drawn is not None else {}),
        }
        for h, name in enumerate(groups.stratum_names)
    ]


def margins_table(design: Design, chosen: np.ndarray | None) -> list[dict[str, object]]:
    """Per balancing group: population share, expected (target) count and drawn count."""
    rows = []
    for column, (code, levels) in design.groups.balance.items():
        population = np.bincount(code, minlength=len(levels))
        drawn = np.bincount(code[chosen], minlength=len(levels)) if chosen is not None else None
        for index, level in enumerate(levels):
            rows.append(
                {
                    "column": column,
                    "value": str(level),
                    "population_share": float(population[index] / population.sum()),
                    "target": float(design.targets[column][index]),
                    **({"drawn": int(drawn[index])} if drawn is not None else {}),
                }
            )
    return rows


COMPOSITION: tuple[str, ...] = ("gender", "ethnicity", "sentence_type", "office", "rosh_level")
"""Columns whose sample-versus-population shares the planner page charts."""


def composition(frame: pd.DataFrame, chosen: np.ndarray) -> dict[str, list[dict[str, object]]]:
    """Per column and value: the population's share and the share in the sample ``chosen``."""
    table = {}
    for column in (c for c in COMPOSITION if c in frame.columns):
        values = frame[column].astype(str)
        population = values.value_counts(normalize=True, sort=False)
        drawn = values[chosen].value_counts(normalize=True, sort=False)
        table[column] = [
            {
                "value": value,
                "population_share": float(share),
                "sample_share": float(drawn.get(value, 0.0)),
            }
            for value, share in population.sort_index().items()
        ]
    return table


def design_summary(
    frame: pd.DataFrame,
    risk: np.ndarray,
    design: Design,
    request: SampleRequest,
    chosen: np.ndarray | None,
    seed: int | None,
    landing: Landing | None = None,
) -> dict[str, object]:
    """Size, strata and margins, expected yield versus equal chances, design effect, and how
    the draw landed (its worst margin and any minimum it could not guarantee)."""
    deff = kish_deff(design.pi)
    found = expected_yield(design.pi, risk)
    equal = expected_yield(design.equal, risk)
    summary: dict[str, object] = {
        "request": request.model_dump(),
        "seed": seed,
        "frame_cases": len(frame),
        "size": design.size,
        "expected_insufficient": found,
        "equal_chance_insufficient": equal,
        "yield_ratio": found / equal if equal > 0 else None,
        "design_effect": deff,
        "effective_sample_size": design.size / deff,
        "min_inclusion_probability": float(design.pi.min()),
        "max_inclusion_probability": float(design.pi.max()),
        "strata": strata_table(design, chosen),
        "margins": margins_table(design, chosen),
    }
    if chosen is not None:
        weights = 1.0 / design.pi[chosen]
        summary["realised_design_effect"] = float(
            len(weights) * (weights**2).sum() / weights.sum() ** 2
        )
        summary["officers"] = int(len(np.unique(design.groups.officer[chosen])))
        summary["composition"] = composition(frame, chosen)
    if landing is not None:
        summary["landing"] = landing.to_dict()
    return summary
