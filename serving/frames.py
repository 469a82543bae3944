"""The frames the service scores and samples: uploaded records, or a frame file of the data dir.

Records pydantic has checked become a typed frame; a frame to sample also passes the contract's
table checks (unique case ids). A frame file is named, never given as a path, and is read and
scored once per file version and model version (cached); its errors name the file, not where
the server keeps it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
from starlette.responses import JSONResponse

from features.errors import InputError, InputErrors
from features.schema import typed_dtypes
from features.validation import load_table, validate_table
from serving.io import FrameRecord, Prediction
from serving.refusals import Refused, input_problem, problem, too_many
from training.bundle import CaseworkModel

FRAME_DTYPES = typed_dtypes("frame")
MAX_NAME = 255
"""Longest frame file name (the usual file-system limit)."""


def columns_of(records: list[FrameRecord]) -> pd.DataFrame:
    """The records as a frame, built column by column (a third faster than one dict per
    record)."""
    return pd.DataFrame(
        {name: [getattr(r, name) for r in records] for name in FrameRecord.model_fields}
    )


def typed(records: list[FrameRecord]) -> pd.DataFrame:
    """Typed frame of records pydantic has checked row by row (a batch may repeat a case id)."""
    return columns_of(records).astype(FRAME_DTYPES)


def predictions(model: CaseworkModel, records: list[FrameRecord]) -> list[Prediction]:
    """The model's scores of ``records`` (CONTRACT.md §3), a missing score as None."""
    scored = model.predict(typed(records))
    rows = scored.astype(object).where(scored.notna(), None).to_dict("records")
    return [Prediction(**row) for row in rows]


def repeated(records: list[FrameRecord]) -> JSONResponse | None:
    """422 naming the rows (1-based) whose case id repeats an earlier one, else None."""
    twice = pd.Series([r.case_id for r in records]).duplicated()
    if not twice.any():
        return None
    rows = (np.flatnonzero(twice.to_numpy()) + 1).tolist()
    error = InputError("case_id must be unique", source="request", column="case_id", rows=rows)
    return input_problem(error)


def inside(root: Path, name: str) -> Path | None:
    """The file ``name`` directly in ``root``, or None (a path, NUL, too long, missing)."""
    if not name or len(name) > MAX_NAME or "\x00" in name or "/" in name or "\\" in name:
        return None
    try:
        path = (root / name).resolve()
        return path if path.parent == root and path.is_file() else None
    except (OSError, ValueError):
        return None


class Frames:
    """Frames to sample and their scores; the last frame file read is kept (one at a time)."""

    def __init__(self, data_dir: Path, max_rows: int):
        self.root = Path(data_dir).resolve()
        self.max_rows = max_rows
        self.cached: dict[tuple[str, float, str | None], tuple[pd.DataFrame, pd.DataFrame]] = {}

    def scored(
        self, cases: list[FrameRecord] | None, frame: str | None, model: CaseworkModel
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The frame to sample (uploaded records or a file in the data dir) and its scores.

        Raises:
            Refused: Neither or both of cases and frame (400), too many rows (413), no such
                file (422).
            InputError: The frame breaks the contract (422).
        """
        if (cases is None) == (frame is None):
            raise Refused(
                problem(
                    400,
                    "give either cases or frame",
                    [{"loc": ["body"], "msg": "exactly one of 'cases' and 'frame' is required"}],
                )
            )
        if cases is not None:
            if (refused := too_many(len(cases), self.max_rows)) is not None:
                raise Refused(refused)
            population = validate_table(columns_of(cases), "frame", "request")
            return population, model.predict(population)
        return self._file(frame, model)

    def _file(self, name: str, model: CaseworkModel) -> tuple[pd.DataFrame, pd.DataFrame]:
        """A frame file of the data dir and its scores, read and scored once per version."""
        path = inside(self.root, name)
        if path is None:
            raise Refused(
                problem(
                    422,
                    f"no frame file {name[:MAX_NAME]!r} in the data directory",
                    [{"loc": ["body", "frame"], "msg": "a file name in the configured data dir"}],
                )
            )
        key = (str(path), path.stat().st_mtime, str(model.metadata.get("version")))
        if key not in self.cached:
            try:
                population = load_table(path, kind="frame")
            except InputError as exc:
                raise dataclasses.replace(exc, source=name) from None
            except InputErrors as exc:
                raise InputErrors(
                    [dataclasses.replace(e, source=name) for e in exc.errors]
                ) from None
            self.cached = {key: (population, model.predict(population))}
        return self.cached[key]
