"""The sampling workflow both faces run: frame and scores → design → draw → sample → summary.

``casework sample`` and the service's ``/sample`` and ``/simulate`` (hence the planner page)
call this module once each. ``draw`` reads the frame and scores when given files, asks for
scores through the function it is given when there are none, draws with
``serving.sampling.draw_sample`` (scores aligned once), makes the drawn cases the judged-sample
file (CONTRACT.md §7), seals it or not, and writes it where asked. A sealed draw picks its seed
here, in secret, and keeps it in the sealed store with the list.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from features.errors import InputError
from features.readers import read_table, write_text
from features.settings import get_settings
from features.validation import load_table
from serving.commitment import (
    SealedStore,
    commit,
    json_safe,
    new_salt,
    public_design,
    records,
    seal_sample,
)
from serving.design_groups import SOURCE
from serving.judged_file import (
    judged_table,
    parse_inspection_date,
    parse_inspection_id,
    write_judged,
)
from serving.sampling import SampleRequest, draw_sample
from serving.simulation import DrawEngine, Simulation, local_draws, simulate

Scorer = Callable[[pd.DataFrame], pd.DataFrame]
"""Scores a frame (CONTRACT.md §3): the champion's ``predict``, or a loader and then it."""
Applicability = Callable[[pd.DataFrame], pd.DataFrame | None]
"""Each case's chance that each judgement applies (the champion's ``applicability``; None when
unknown)."""
Step = Callable[[str], None]
"""Called with the name of each step as it starts (a progress bar)."""
STEPS: tuple[str, ...] = ("frame", "scores", "design", "draw", "sample")
"""The steps of ``draw``, in order."""
SIMULATION_STEPS: tuple[str, ...] = ("frame", "scores", "simulation")
"""The steps of ``simulate_request``, in order."""
SECRET_BITS = 62


@dataclass(frozen=True)
class Options:
    """How a drawn sample is handed over.

    Attributes:
        sealed: Keep the list in the sealed store and answer only its commitment and design.
        inspection_id: The inspection's id (default: ``insp-YYYYMMDD-`` and a hash of the ids).
        inspection_date: The inspection's date, YYYY-MM-DD (default: the day of the draw).
        files: Where to write the sample: the judged file (CSV, Parquet, XLSX), or when sealed
            the commitment and design (JSON).
        store: The sealed store (default: the one under the settings' data dir).
    """

    sealed: bool = False
    inspection_id: str | None = None
    inspection_date: str | None = None
    files: tuple[Path, ...] = ()
    store: SealedStore | None = None

    def check(self, seed: int | None) -> tuple[str | None, date]:
        """The inspection's id (None: the default) and date, refusing before any work a
        malformed id or date, or a seed given to a sealed draw (it picks its own secret seed)."""
        if self.sealed and seed is not None:
            raise InputError(
                "a sealed sample draws its own secret seed, released with the list: give a "
                "seed (--seed) only to an unsealed draw",
                source=SOURCE,
                column="seed",
            )
        return parse_inspection_id(self.inspection_id), parse_inspection_date(self.inspection_date)


@dataclass
class Drawn:
    """A drawn sample as the faces hand it over.

    Attributes:
        judged: The judged-sample file (CONTRACT.md §7): cases, inspection, blank judgements.
        design: The JSON-safe design summary, seed included.
        seed: The seed that rebuilds the list.
        commitment: The commitment of a sealed sample (None for an open one).
    """

    judged: pd.DataFrame
    design: dict[str, Any]
    seed: int
    commitment: str | None = None

    def answer(self) -> dict[str, Any]:
        """The API's answer: sealed, the commitment and the design without its seed; open, also
        the cases, the seed and the salt of a fresh commitment."""
        if self.commitment is not None:
            return {"commitment": self.commitment, "design": public_design(self.design)}
        rows, salt = records(self.judged), new_salt()
        return {
            "commitment": commit(rows, salt),
            "design": self.design,
            "salt": salt,
            "seed": self.seed,
            "cases": rows,
        }


def draw(
    frame: pd.DataFrame | Path,
    scores: pd.DataFrame | Path | Scorer,
    request: SampleRequest,
    seed: int | None = None,
    options: Options = Options(),
    on_step: Step | None = None,
) -> Drawn:
    """Draw a sample for an inspection and hand it over as ``options`` says.

    Args:
        frame: The caseload frame, or its file (CSV, Parquet, XLSX).
        scores: Its scores, their file, or a function that scores the frame.
        request: The sampling request.
        seed: The draw's seed; None picks a secret one (the only choice for a sealed draw).
        options: Sealed or open, the inspection, the files to write.
        on_step: Progress: called with each name of ``STEPS`` as that step starts.

    Raises:
        InputError: Bad input or a request the frame cannot meet (the field is named).
    """
    step = on_step or _quiet
    identifier, when = options.check(seed)
    chosen = secrets.randbits(SECRET_BITS) if seed is None else seed
    population, scored = _scored(frame, scores, step)
    sample = draw_sample(population, scored, request, chosen, on_step=step)
    step("sample")
    judged = judged_table(sample.cases, identifier, when)
    drawn = Drawn(judged, json_safe(sample.design), chosen)
    if options.sealed:
        store = options.store or SealedStore.from_settings(get_settings())
        drawn.commitment = seal_sample(store, records(judged), chosen, drawn.design)
    for path in options.files:
        if options.sealed:
            write_text(json.dumps(drawn.answer(), indent=2, ensure_ascii=False), path)
        else:
            write_judged(judged, path)
    return drawn


def simulate_request(
    frame: pd.DataFrame | Path,
    scores: pd.DataFrame | Path | Scorer,
    request: SampleRequest,
    draws: int,
    seed: int,
    budget_seconds: float = 10.0,
    on_step: Step | None = None,
    engine: DrawEngine = local_draws,
    applies: pd.DataFrame | Applicability | None = None,
) -> Simulation:
    """What ``request`` would give on ``frame`` before any draw (``serving.simulation``);
    ``engine`` runs its draws (this process, or Spark tasks: ``serving.spark.simulation``).

    ``applies`` is each case's chance that each judgement applies (rows as the frame's), or a
    function giving it for the frame (the champion's ``applicability``); None: unknown.
    """
    step = on_step or _quiet
    population, scored = _scored(frame, scores, step)
    step("simulation")
    return simulate(
        population,
        scored,
        request,
        draws,
        seed,
        budget_seconds=budget_seconds,
        engine=engine,
        applies=applies(population) if callable(applies) else applies,
    )


def _scored(
    frame: pd.DataFrame | Path, scores: pd.DataFrame | Path | Scorer, step: Step
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frame and its scores, read or computed as given."""
    step("frame")
    population = load_table(frame, kind="frame") if isinstance(frame, Path) else frame
    step("scores")
    if isinstance(scores, pd.DataFrame):
        return population, scores
    return population, read_table(scores) if isinstance(scores, Path) else scores(population)


def _quiet(name: str) -> None:
    """No progress to show."""
