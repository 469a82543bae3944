"""User-facing input errors: they name the file, rows, column and rule that failed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class InputError(Exception):
    """Bad input from a user: the CLI exits 2 and prints ``str(error)``, never a traceback.

    ``rows`` are as a person finds them in the file: line numbers for CSV (the header is line
    1), 1-based row numbers for Parquet.
    """

    rule: str
    source: str | None = None
    column: str | None = None
    rows: Sequence[int] = field(default_factory=tuple)
    examples: Sequence[object] = field(default_factory=tuple)
    row_label: str = "row"

    def __str__(self) -> str:
        where = [self.source] if self.source else []
        if self.column:
            where.append(f"column '{self.column}'")
        if self.rows:
            shown = ", ".join(str(r) for r in list(self.rows)[:5])
            more = f" (and {len(self.rows) - 5} more)" if len(self.rows) > 5 else ""
            where.append(f"{self.row_label}{'s' if len(self.rows) > 1 else ''} {shown}{more}")
        text = ": ".join([", ".join(where), self.rule] if where else [self.rule])
        if self.examples:
            text += " (found: " + ", ".join(repr(e) for e in list(self.examples)[:5]) + ")"
        return text


class InputErrors(Exception):
    """Several input errors found in one pass, reported together."""

    def __init__(self, errors: Sequence[InputError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = list(errors)
