"""Sampling workloads: π construction + selection on a national frame, balanced draws, estimation.

Baselines in the same run: a plain numpy systematic πps draw (no strata, no officer rule) and
samplics' ``pps_sys`` (stratified, given our π as the measure of size and our allocation) when
samplics is installed (``make bench`` installs it). The request grid at 250,000 / 2,000 (the
default request, and strata provider_type × gender × sentence_type balanced on ethnicity and
RoSH level) times π + one draw for both methods; the request property test runs its long
hypothesis profile (``CASEWORK_HYPOTHESIS_PROFILE=long``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import Row, best_of, report
from features.synthetic.generator import generate
from features.synthetic.truth import true_scores
from serving.design import Design
from serving.estimation import estimate
from serving.sampling import SampleRequest, check_method, design_for
from serving.selection import select

NATIONAL = {
    "strata": ["provider_type", "gender", "sentence_type"],
    "balance": ["ethnicity", "rosh_level"],
}
GRID = {
    "default request": {},
    "provider_type × gender × sentence_type, balance ethnicity, rosh_level": NATIONAL,
}
SYSTEMATIC_CAP = 6
"""Officers hold cases in up to 6 of the national strata: the cap systematic selection needs."""


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


def grid_rows(frame: pd.DataFrame, scores: pd.DataFrame) -> list[Row]:
    """π + one draw at 250,000 / 2,000 for each request of :data:`GRID` and both methods."""
    rng = np.random.default_rng(3)
    rows = []
    for label, fields in GRID.items():
        seconds = {}
        for method in ("systematic", "balanced"):
            cap = {"officer_cap": SYSTEMATIC_CAP} if method == "systematic" and fields else {}
            request = SampleRequest(size=2_000, method=method, **fields, **cap)

            def draw(request: SampleRequest = request) -> None:
                design = design_for(frame, scores, request)
                check_method(design, request)
                select(design, request.method, rng)

            seconds[method] = best_of(draw, 1)
        for method, other in (("systematic", "balanced"), ("balanced", "systematic")):
            rows.append(
                Row(
                    f"π + {method}, N=250,000, n=2,000, {label}",
                    seconds[method],
                    seconds[other],
                    f"π + {other}, same request",
                    "s",
                    goal="< 30 s (aim 5 s)",
                    note=f"officer cap {SYSTEMATIC_CAP}"
                    if method == "systematic" and fields
                    else "",
                )
            )
    return rows


def property_row() -> Row:
    """The request property test under its long hypothesis profile, in a fresh process."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/serving_tests/test_sampling_requests.py", "-k", "every_request"],
        env={**os.environ, "CASEWORK_HYPOTHESIS_PROFILE": "long"},
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    return Row(
        "request property test, long profile (300 requests, N 500–20,000)",
        time.perf_counter() - started,
        None,
        "passed" if result.returncode == 0 else "FAILED",
        "s",
        goal="passes",
    )


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
    rows += grid_rows(national, scores)
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
    rows.append(property_row())
    return rows


if __name__ == "__main__":
    report(run(), "sampling")
