"""``casework study``: compare candidate sampling designs in one table (terminal, CSV, HTML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casework.app import command, console
from casework.bundles import scoring_bundle
from casework.engines import ConfOption, Engine, EngineOption, MasterOption, draw_engine
from casework.tables import frame_table
from features.errors import InputError
from features.readers import read_table, write_table, write_text
from features.settings import get_settings
from features.validation import load_table
from serving.simulation import APPLICABILITY_UNKNOWN
from serving.study import formatted, read_study, run_study, study_html


@command("study")
def study_command(
    designs: Annotated[
        Path, typer.Option("--designs", help="Study file (YAML): frame, scores and designs.")
    ],
    draws: Annotated[
        int, typer.Option("--draws", min=1, max=100_000, help="Real draws per design (R).")
    ] = 200,
    engine: EngineOption = Engine.local,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for study.csv and study.html (default: no files)."),
    ] = None,
    frame_file: Annotated[
        Path | None, typer.Option("--frame", help="Caseload frame (default: the study file's).")
    ] = None,
    scores: Annotated[
        Path | None,
        typer.Option(
            "--scores",
            help="Scores file (default: the study file's, else the champion's).",
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Registered alias or version.")] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the draws (default: CASEWORK_SEED).")
    ] = None,
    budget: Annotated[
        float, typer.Option("--budget", min=1.0, help="Time budget per design, seconds.")
    ] = 600.0,
    master: MasterOption = None,
    conf: ConfOption = None,
) -> None:
    """Simulate each candidate design (yield, CI half-widths, rating accuracy, margins)."""
    settings = get_settings()
    study = read_study(designs)
    frame_path = frame_file or study.frame
    if frame_path is None:
        raise InputError(
            "no frame: give --frame or 'frame:' in the study file", source=str(designs)
        )
    frame = load_table(frame_path, kind="frame")
    scores_path = scores or study.scores
    bundle = scoring_bundle(settings, scores_path, model)
    scored = read_table(scores_path) if scores_path is not None else bundle().predict(frame)
    applies = None if bundle() is None else bundle().applicability(frame)
    seed = settings.seed if seed is None else seed
    with draw_engine(engine, master, conf) as runner, console.status("simulating") as status:
        table = run_study(
            frame,
            scored,
            study.designs,
            draws,
            seed,
            engine=runner,
            budget_seconds=budget,
            on_design=lambda name: status.update(f"simulating design {name!r}"),
            applies=applies,
        )
    title = f"Design study: {len(table)} designs, {draws} draws each ({engine.value}, seed {seed})"
    by_design = formatted(table).set_index("design").T  # one column per design: fits a terminal
    console.print(frame_table(by_design, title, index="measure"))
    notes = [
        f"frame {frame_path} ({len(frame):,} cases); every design drawn from the same seeds",
        "expected insufficient, yield, design effect and CI half-widths are analytic; "
        "P(right rating) takes the model's predicted shares as the truth; margins (share of "
        "draws with every balancing group within ±2 of its target) come from real draws",
    ]
    if applies is None:
        notes.append(APPLICABILITY_UNKNOWN)
    for note in notes[1:]:
        console.print(f"note: {note}")
    if out is not None:
        write_table(table, out / "study.csv")
        write_text(study_html(table, title, notes), out / "study.html")
        console.print(f"wrote {out / 'study.csv'} and {out / 'study.html'}")
