"""Design studies: several candidate sampling designs on one frame, compared side by side.

A study file (YAML) names the frame, optionally its scores, and the candidate designs, each a
``SampleRequest`` with a ``name``::

    frame: frame.parquet          # relative to the study file
    scores: scores.parquet        # optional: default, score with the champion
    designs:
      - name: today
        size: 120
        risk_weight: 0
      - name: risk-weighted
        size: 120
        strata: [region, gender]

Each design is simulated with ``serving.simulation.simulate`` (analytic yield, half-widths and
rating accuracy; margins from R real draws, run by any draw engine), one row per design.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from features.errors import InputError
from serving.sampling import SampleRequest
from serving.simulation import DrawEngine, Simulation, local_draws, simulate

MAX_DESIGNS = 50
TOP_KEYS = {"frame", "scores", "designs"}
COLUMNS = {
    "design": "design",
    "method": "method",
    "size": "size",
    "risk_weight": "λ",
    "expected_insufficient": "expected insufficient",
    "yield_ratio": "yield vs equal chance",
    "design_effect": "design effect",
    "mean_half_width": "mean CI half-width",
    "max_half_width": "widest CI half-width",
    "mean_p_right": "mean P(right rating)",
    "min_p_right": "lowest P(right rating)",
    "margins_within_2": "margins within ±2",
    "worst_margin_mean": "mean worst margin",
    "draws": "draws",
    "seconds": "seconds",
}
"""The study table's columns and their headings."""


@dataclass(frozen=True)
class Study:
    """A parsed study file: where the frame and scores are, and the named designs."""

    frame: Path | None
    scores: Path | None
    designs: dict[str, SampleRequest]


def read_study(path: Path) -> Study:
    """Parse and check a study file; a bad one is exit 2 naming the design and field."""
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the study file: {exc.strerror}", source=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        rows = (mark.line + 1,) if mark is not None else ()
        raise InputError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            source=str(path),
            rows=rows,
            row_label="line",
        ) from None
    if not isinstance(loaded, dict):
        raise InputError("expected a mapping with a 'designs' list", source=str(path))
    unknown = sorted(set(map(str, loaded)) - TOP_KEYS)
    if unknown:
        raise InputError(
            f"unknown field (expected {', '.join(sorted(TOP_KEYS))})",
            source=str(path),
            column=unknown[0],
        )
    entries = loaded.get("designs")
    if not isinstance(entries, list) or not entries:
        raise InputError("'designs' must be a non-empty list", source=str(path), column="designs")
    if len(entries) > MAX_DESIGNS:
        raise InputError(f"at most {MAX_DESIGNS} designs", source=str(path), column="designs")
    designs = {}
    for number, entry in enumerate(entries, start=1):
        name, request = _design(entry, number, path)
        if name in designs:
            raise InputError(f"design {name!r} is named twice", source=str(path), column="name")
        designs[name] = request
    return Study(_beside(path, loaded.get("frame")), _beside(path, loaded.get("scores")), designs)


def _design(entry: object, number: int, path: Path) -> tuple[str, SampleRequest]:
    """One named design of the file as a request; errors name the design and the field."""
    if not isinstance(entry, dict):
        raise InputError(
            "each design must be a mapping of request fields", source=str(path), column="designs"
        )
    fields = dict(entry)
    name = str(fields.pop("name", f"design {number}"))
    try:
        return name, SampleRequest(**{str(k): v for k, v in fields.items()})
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "?"
        rule = "unknown field" if problem["type"] == "extra_forbidden" else problem["msg"]
        raise InputError(
            f"design {name!r}: {rule}", source=str(path), column=f"{name}.{field}"
        ) from None


def _beside(study: Path, value: object) -> Path | None:
    """A path from the study file, relative to the file's folder."""
    if value is None:
        return None
    return Path(study).parent / str(value)


def run_study(
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    designs: dict[str, SampleRequest],
    draws: int,
    seed: int,
    engine: DrawEngine = local_draws,
    budget_seconds: float = 600.0,
    on_design: Callable[[str], None] = lambda _: None,
    applies: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per design (``COLUMNS``): every design drawn from the same seeds.

    Args:
        draws: Real draws per design (R), for the balancing margins.
        budget_seconds: Time budget of each design's simulation.
        on_design: Called with each design's name as its simulation starts.
        applies: Each frame case's chance that each judgement applies (the champion's
            ``applicability``), or None: unknown, every judgement taken to apply.
    """
    rows = []
    for name, request in designs.items():
        on_design(name)
        result = simulate(
            frame, scores, request, draws, seed, budget_seconds, engine=engine, applies=applies
        )
        rows.append(_row(name, result))
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _row(name: str, result: Simulation) -> dict[str, object]:
    widths = np.array(list(result.half_widths.values()), dtype=float)
    p_right = [float(r["p_right"]) for r in result.rating_accuracy]
    return {
        "design": name,
        "method": result.method,
        "size": result.size,
        "risk_weight": result.risk_weight,
        "expected_insufficient": result.expected_insufficient,
        "yield_ratio": result.yield_ratio,
        "design_effect": result.design_effect,
        "mean_half_width": float(np.nanmean(widths)),
        "max_half_width": float(np.nanmax(widths)),
        "mean_p_right": float(np.mean(p_right)) if p_right else None,
        "min_p_right": min(p_right) if p_right else None,
        "margins_within_2": result.margins_within_2,
        "worst_margin_mean": result.worst_margin_mean,
        "draws": result.draws,
        "seconds": result.seconds,
    }


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """The study table as text for people: headings, shares as percentages, blanks for n/a."""
    shown = pd.DataFrame(index=table.index)
    for column, heading in COLUMNS.items():
        shown[heading] = [_cell(column, value) for value in table[column]]
    return shown


def _cell(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if column in ("mean_half_width", "max_half_width"):
        return f"±{value:.3f}"
    if column in ("mean_p_right", "min_p_right", "margins_within_2"):
        return f"{value:.1%}"
    if column in ("yield_ratio", "design_effect", "risk_weight", "worst_margin_mean"):
        return f"{value:.2f}"
    if column in ("expected_insufficient", "seconds"):
        return f"{value:.1f}"
    return str(value)


def study_html(table: pd.DataFrame, title: str, notes: list[str]) -> str:
    """A self-contained HTML page of the study table (no scripts, no requests)."""
    shown = formatted(table).to_html(index=False, border=0)  # escaped by pandas
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f3f3f3; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{shown}
<ul>{items}</ul>
</body></html>
"""
