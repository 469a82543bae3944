"""Sealed samples: publish a SHA-256 commitment now, release the case list later, prove no change.

The commitment is SHA-256 over a random salt and the canonical JSON of the sample (case ids,
strata and inclusion probabilities, in case-id order). The salt stops anyone from recovering the
sample by hashing guesses; it is released with the list, so anyone can recompute the digest.
Sealed samples are kept as JSON files under ``<data dir>/sealed/``, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any

import pandas as pd

from features.readers import write_text

BOUND_COLUMNS: tuple[str, ...] = ("case_id", "stratum", "inclusion_probability")
"""What the commitment binds: who is in the sample, in which stratum, with which chance."""
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def canonical(cases: pd.DataFrame | list[dict[str, Any]]) -> bytes:
    """Canonical bytes of a case list: bound columns only, sorted by case id, fixed formatting."""
    rows = cases.to_dict("records") if isinstance(cases, pd.DataFrame) else cases
    bound = sorted(
        (
            [
                str(row["case_id"]),
                str(row["stratum"]),
                f"{float(row['inclusion_probability']):.12g}",
            ]
            for row in rows
        ),
        key=lambda row: row[0],
    )
    return json.dumps(bound, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def commit(cases: pd.DataFrame | list[dict[str, Any]], salt: str) -> str:
    """The commitment of ``cases`` under ``salt`` (hex SHA-256)."""
    return hashlib.sha256(salt.encode("ascii") + b"\n" + canonical(cases)).hexdigest()


def verify(cases: pd.DataFrame | list[dict[str, Any]], salt: str, commitment: str) -> bool:
    """Whether ``cases`` is exactly the committed sample."""
    return secrets.compare_digest(commit(cases, salt), commitment)


def new_salt() -> str:
    """A fresh random salt (256 bits, hex)."""
    return secrets.token_hex(32)


class SealedStore:
    """Sealed samples on disk, one JSON file per commitment."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def seal(self, record: dict[str, Any]) -> None:
        """Keep ``record`` (commitment, salt, seed, design, cases) until it is released."""
        write_text(json.dumps(record, default=str), self._path(record["commitment"]))

    def get(self, commitment: str) -> dict[str, Any] | None:
        """The sealed record for ``commitment``, or None when there is none."""
        if not _DIGEST.match(commitment):
            return None
        path = self._path(commitment)
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def _path(self, commitment: str) -> Path:
        return self.directory / f"{commitment}.json"
