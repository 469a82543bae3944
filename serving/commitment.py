"""Sealed samples: publish a SHA-256 commitment now, release the case list later, prove no change.

The commitment is SHA-256 over a random salt, a line break and the canonical form of the sample:
the JSON list ``[[case_id, stratum, π], ...]`` sorted by case id, compact, UTF-8 with non-ASCII
characters as themselves (``ensure_ascii=False``, as JavaScript's ``JSON.stringify`` writes), π
written as 12 significant digits in exponent form with a bare exponent (``1.00000000000e-5``,
``5.00000000000e-1``): Python's ``.11e`` and JavaScript's ``toExponential(11)`` both round the
exact binary value, so the planner page rebuilds the same bytes (``serving/page/app.js``). The
salt stops anyone recovering the sample by hashing guesses; it is released with the list.
Commitments made before this form (ASCII-escaped JSON, π as ``.12g``) still verify.

Only sealed samples are stored: one JSON file per commitment in a directory only the service's
user can enter (0700; files 0600), purged beyond ``sealed_keep`` files or ``sealed_days`` days.
The record holds the seed, which rebuilds the list, so nothing outside this store ever sees it
before the release.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.readers import write_text
from features.settings import Settings

BOUND_COLUMNS: tuple[str, ...] = ("case_id", "stratum", "inclusion_probability")
"""What the commitment binds: who is in the sample, in which stratum, with which chance."""
FORMAT = 2
"""The canonical form new commitments use (1: the ASCII-escaped ``.12g`` form before it)."""
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
logger = logging.getLogger("casework.sealed")


def pi_text(value: float) -> str:
    """π as the commitment writes it: 12 significant digits, exponent form, bare exponent."""
    mantissa, exponent = f"{float(value):.11e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def canonical(cases: pd.DataFrame | list[dict[str, Any]], form: int = FORMAT) -> bytes:
    """Canonical bytes of a case list: bound columns only, sorted by case id, fixed formatting."""
    rows = cases.to_dict("records") if isinstance(cases, pd.DataFrame) else cases
    number = pi_text if form == FORMAT else (lambda value: f"{float(value):.12g}")
    bound = sorted(
        (
            [str(row["case_id"]), str(row["stratum"]), number(row["inclusion_probability"])]
            for row in rows
        ),
        key=lambda row: row[0],
    )
    text = json.dumps(bound, separators=(",", ":"), ensure_ascii=form != FORMAT)
    return text.encode("utf-8")


def commit(cases: pd.DataFrame | list[dict[str, Any]], salt: str, form: int = FORMAT) -> str:
    """The commitment of ``cases`` under ``salt`` (hex SHA-256)."""
    return hashlib.sha256(salt.encode("ascii") + b"\n" + canonical(cases, form)).hexdigest()


def verify(cases: pd.DataFrame | list[dict[str, Any]], salt: str, commitment: str) -> bool:
    """Whether ``cases`` is exactly the committed sample (in the current or the first form)."""
    forms = (FORMAT, 1)
    return any(secrets.compare_digest(commit(cases, salt, form), commitment) for form in forms)


def new_salt() -> str:
    """A fresh random salt (256 bits, hex)."""
    return secrets.token_hex(32)


def is_commitment(text: str) -> bool:
    """Whether ``text`` has the shape of a commitment (64 lower-case hex digits)."""
    return bool(_DIGEST.match(text))


@dataclass(frozen=True)
class Sealed:
    """One stored sealed sample, as ``casework sealed list`` shows it."""

    commitment: str
    sealed_at: float
    cases: int
    released_at: float | None


class SealedStore:
    """Sealed samples on disk, one private JSON file per commitment, with a retention limit."""

    def __init__(self, directory: Path, keep: int = 1_000, days: float = 90.0):
        self.directory = Path(directory)
        self.keep, self.days = keep, days

    @classmethod
    def from_settings(cls, settings: Settings) -> SealedStore:
        """The store under ``<data dir>/sealed`` with the configured retention."""
        return cls(Path(settings.data_dir) / "sealed", settings.sealed_keep, settings.sealed_days)

    def seal(self, record: dict[str, Any]) -> None:
        """Keep ``record`` (commitment, salt, seed, design, cases) until it is released."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory.chmod(0o700)
        self._write({**record, "sealed_at": time.time(), "released_at": None})
        self.purge()

    def get(self, commitment: str) -> dict[str, Any] | None:
        """The sealed record for ``commitment``, or None when there is none."""
        if not is_commitment(commitment):
            return None
        path = self._path(commitment)
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def release(self, commitment: str) -> dict[str, Any] | None:
        """The record for ``commitment``, marked released (logged by its commitment only)."""
        record = self.get(commitment)
        if record is None:
            return None
        record.setdefault("sealed_at", self._path(commitment).stat().st_mtime)  # older records
        if record.get("released_at") is None:
            record["released_at"] = time.time()
            self._write(record)
        logger.info("released sealed sample %s", commitment)
        return record

    def entries(self) -> list[Sealed]:
        """Every stored sample, oldest first."""
        listed = []
        for path in self._files():
            record = json.loads(path.read_text(encoding="utf-8"))
            listed.append(
                Sealed(
                    record["commitment"],
                    record.get("sealed_at") or path.stat().st_mtime,
                    len(record.get("cases") or []),
                    record.get("released_at"),
                )
            )
        return sorted(listed, key=lambda sealed: sealed.sealed_at)

    def purge(self, everything: bool = False) -> int:
        """Delete samples older than ``days`` and the oldest beyond ``keep`` (or all of them)."""
        files = sorted(self._files(), key=lambda path: path.stat().st_mtime, reverse=True)
        oldest = time.time() - self.days * 86_400
        doomed = [
            path
            for rank, path in enumerate(files)
            if everything or rank >= self.keep or path.stat().st_mtime < oldest
        ]
        for path in doomed:
            path.unlink(missing_ok=True)
        return len(doomed)

    def _write(self, record: dict[str, Any]) -> None:
        """Write a record privately; its time stamp stays the sealing time (retention's clock)."""
        path = self._path(record["commitment"])
        write_text(json.dumps(record, default=str, ensure_ascii=False), path)
        path.chmod(0o600)
        os.utime(path, (record["sealed_at"], record["sealed_at"]))

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.glob("*.json") if is_commitment(p.stem)]

    def _path(self, commitment: str) -> Path:
        return self.directory / f"{commitment}.json"


def seal_sample(
    store: SealedStore, cases: list[dict[str, Any]], seed: int, design: dict[str, Any]
) -> str:
    """Commit to ``cases`` under a fresh salt, store the record, and return the commitment."""
    salt = new_salt()
    commitment = commit(cases, salt)
    store.seal(
        {"commitment": commitment, "salt": salt, "seed": seed, "design": design, "cases": cases}
    )
    return commitment


def public_design(design: dict[str, Any]) -> dict[str, Any]:
    """The design summary without the seed: what a sealed answer may show."""
    return {key: value for key, value in design.items() if key != "seed"}


def json_safe(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as JSON-safe rows, full float precision (what the store keeps and answers)."""
    return json_safe(table.to_dict("records"))
