"""Sampling workloads: π construction + selection on a national frame, balanced draws, estimation.

Baselines in the same run: a plain numpy systematic πps draw (no strata, no officer rule) and
samplics' ``pps_sys`` (stratified, given our π as the measure of size and our allocation) when
samplics is installed (``make bench`` installs it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.common import Row, best_of, report
from features.generator import generate
from features.truth import true_scores
from serving.design import Design
from serving.estimation import estimate
from serving.sampling import SampleRequest, design_for
from serving.selection import select


def plain_systematic(pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unstratified systematic πps in frame order: the textbook numpy baseline."""
    cumulative = np.cumsum(pi)
    start = rng.random()
    return np.floor(cumulative - start) > np.floor(cumulative - pi - start)


def samplics_pps_sys(design: Design) -> float | None:
    """Best of 3 seconds for samplics' stratified ``pps_sys`` on the design, or None."""
    try:
        from samplics.sampling import SampleSelection
        from samplics.utils.types import SelectMethod
    except ImportError:
        return None
    stratum = design.groups.stratum
    sizes = dict(enumerate(design.allocation.tolist()))
    units = np.arange(len(design.pi))
    selection = SampleSelection(method=SelectMethod.pps_sys, strat=True, wr=False)
    return best_of(lambda: selection.select(units, sizes, stratum=stratum, mos=design.pi), 3)


def run() -> list[Row]:
    """Time the sampler against the baselines; returns table rows."""
    rng = np.random.default_rng(1)
    national = generate(1_000, 250_000, seed=1, with_truth=True).frame
    scores = true_scores(national)
    strata = ["office", "gender"]
    request = SampleRequest(size=2_000, strata=strata, balance=["ethnicity", "rosh_level"])
    n_strata = national.groupby(strata).ngroups

    def systematic() -> None:
        select(design_for(national, scores, request), "systematic", rng)

    small = generate(1_000, 5_000, seed=7, with_truth=True)
    small_scores = true_scores(small.frame)
    small_design = design_for(small.frame, small_scores, SampleRequest(size=120))
    select(small_design, "balanced", rng)  # compile the cube once, outside every timing
    design = design_for(national, scores, request)
    ours = best_of(systematic, 3)
    selection = best_of(lambda: select(design, "systematic", rng), 5)
    peer = samplics_pps_sys(design)
    peer_name = "samplics pps_sys, stratified, π given" if peer else "samplics not installed"
    rows = [
        Row(
            f"π + systematic, N=250,000, n=2,000, {n_strata} strata",
            ours,
            best_of(lambda: plain_systematic(design.pi, rng), 5),
            "numpy systematic πps, no strata",
            "s",
            goal="< 1 s",
        ),
        Row(
            f"systematic selection given π, N=250,000, n=2,000, {n_strata} strata",
            selection,
            peer,
            peer_name,
            "s",
            goal="≥ 3× faster",
            note="like for like: both draw stratified systematic πps from the same π",
        ),
        Row(
            f"π (raked, officer caps) + systematic, N=250,000, {n_strata} strata",
            ours,
            peer,
            peer_name,
            "s",
            note="casework also builds π: floors, raking to margins, officer caps",
        ),
        Row(
            "balanced draw, N=250,000, n=2,000",
            best_of(lambda: select(design, "balanced", rng), 1),
            best_of(lambda: select(design, "systematic", rng), 3),
            "systematic draw, same design",
            "s",
            goal="< 10 s",
        ),
    ]
    rows.append(
        Row(
            "balanced draw, N=5,000, n=120",
            best_of(lambda: select(small_design, "balanced", rng), 10),
            best_of(lambda: select(small_design, "systematic", rng), 10),
            "systematic draw, same design",
            "s",
            goal="< 1 s",
        )
    )
    judged = pd.concat(
        [national.reset_index(drop=True).iloc[:2_000], small.frame_judgements.iloc[:2_000]],
        axis=1,
    )
    judged["inclusion_probability"] = design.pi[:2_000]
    judged["stratum"] = design.groups.stratum_names[design.groups.stratum[:2_000]]
    rows.append(
        Row(
            "estimate, 2,000 judged cases, by region",
            best_of(lambda: estimate(judged, by="region"), 3),
            best_of(lambda: estimate(judged), 3),
            "overall only",
            "s",
        )
    )
    return rows


if __name__ == "__main__":
    report(run(), "sampling")
