"""``casework generate-judgements``: fill a drawn sample's judgements from the generator's truth.

For demonstrations and tests on synthetic data only: it stands in for the inspectors, so the
cycle plan → draw → inspect → estimate → retrain can be closed without real inspections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from casework.app import command, console
from features.contract import JUDGEMENTS
from features.errors import InputError
from features.readers import read_table
from features.settings import get_settings
from features.synthetic.generator import judge_synthetic
from features.validation import validate_table
from serving.judged_file import write_judged


@command("generate-judgements")
def generate_judgements_command(
    sample: Annotated[Path, typer.Option("--sample", help="A sample file from casework sample.")],
    out: Annotated[Path, typer.Option("--out", help="Judged file to write (.csv/.parquet/.xlsx).")],
    seed: Annotated[int | None, typer.Option(help="Random seed (default: CASEWORK_SEED).")] = None,
    not_inspected: Annotated[
        float,
        typer.Option(
            "--not-inspected", min=0.0, max=0.99, help="Share of cases that cannot be examined."
        ),
    ] = 0.0,
) -> None:
    """Synthetic inspectors: each judgement drawn from the generator's true probabilities.

    Every other column of the sample is written back unchanged, so OUT goes to `casework
    estimate --sample OUT` and `casework retrain --new OUT` like a real judged file.
    """
    seed = get_settings().seed if seed is None else seed
    raw = read_table(sample)
    typed = validate_table(raw, "frame", str(sample))  # the file is read once
    if len(raw) != len(typed):
        raise InputError("the sample has rows that are not cases", source=str(sample))
    judged = judge_synthetic(typed, seed, not_inspected)
    for judgement in JUDGEMENTS:
        raw[judgement] = judged[judgement].to_numpy()
    write_judged(raw, out)
    console.print(f"wrote {out} ({len(raw):,} cases judged from the generator's truth)")
