"""Validate a table against the data contract and return the typed frame later stages rely on.

Text is parsed here (pandera's coercion messages are too vague for users), the contract's rules
are then checked by ``features.schema`` (pandera, lazily, so every broken rule is reported at
once), and pandera's failure cases become ``InputError``s naming the file, column, rule, the first
offending rows as a person finds them in the file, and the offending values as written there.

Accepted spellings: surrounding blanks are ignored in every contract column; integers are
written with digits and an optional sign (``42``, ``+3``); ``iom`` is ``true``/``false``/``1``/
``0`` in any letter case; ``inspection_date`` is ``YYYY-MM-DD``; ``inclusion_probability`` is any
decimal number (``0.25``, ``2.5e-1``), as are the other decimal design columns of a judged
sample; judgement values are compared ignoring letter case, with blanks or hyphens inside read as
``_`` (``Insufficient``, `` not applicable `` and ``Not-Inspected`` are accepted). Parquet columns
may also be stored typed (integers, bools, timestamps, categoricals). Blank lines in a CSV file
and blank rows of a workbook are skipped.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas.api import types

from features.contract import (
    INTEGER_RANGES,
    JUDGEMENT_VALUES,
    JUDGEMENTS,
    NOT_INSPECTED,
)
from features.errors import InputError, InputErrors
from features.readers import ROW_LABEL, read_table
from features.schema import (
    BOOLEAN_COLUMN,
    COUNT_COLUMNS,
    DATE_COLUMN,
    DECIMAL_RANGES,
    KINDS,
    STRING,
    Kind,
    all_columns,
    contract_schema,
    typed_dtypes,
)

BOOLEAN_SPELLINGS: dict[str, bool] = {"true": True, "false": False, "1": True, "0": False}
"""Accepted spellings of ``iom`` (compared in lower case)."""

EXAMPLES = 3
"""Offending values quoted per error."""
_SCANNED = 1_000
"""Offending cells searched for distinct examples."""

_RULE_NAMES = {"not_nullable": "empty value", "field_uniqueness": "duplicate case_id"}
"""Plain words for pandera's built-in checks (only case_id must be unique)."""
EMPTY_JUDGEMENT = f"empty judgement; fill in {', '.join(JUDGEMENT_VALUES)}"
PARTLY_INSPECTED = (
    f"{NOT_INSPECTED} must fill every judgement of its case (a case is examined or not)"
)
_WITHOUT_EXAMPLES = ("empty value", EMPTY_JUDGEMENT, PARTLY_INSPECTED)
"""Rules whose offending values say nothing more than the rule."""

Parsed = tuple[pd.Series, pd.Series | None]
"""A parsed column and the mask of non-empty values that could not be parsed (or None)."""


@dataclass(frozen=True)
class _Failure:
    """One broken rule in one column, at 0-based positions of the table."""

    column: str
    rule: str
    positions: np.ndarray
    examples: Sequence[object] = ()


def load_table(path: Path | str, kind: Kind | None = None) -> pd.DataFrame:
    """Read and validate a contract table; ``kind`` None detects it from the judgement columns."""
    raw = read_table(path)
    return validate_table(raw, kind or detect_kind(raw.columns), str(path))


def load_judged(path: Path | str) -> pd.DataFrame:
    """A judged sample (CONTRACT.md §7) from a .csv, .parquet or .xlsx file, typed and checked."""
    return load_table(path, kind="judged")


def detect_kind(names: Sequence[object]) -> Kind:
    """The kind of a table from its column names: inspected if any judgement column is there."""
    return "inspected" if set(JUDGEMENTS) & set(names) else "frame"


def validate_table(raw: pd.DataFrame, kind: Kind, source: str) -> pd.DataFrame:
    """The typed frame of ``raw`` (``features.schema.typed_dtypes``); InputErrors if it is bad."""
    if kind not in KINDS:
        raise InputErrors([InputError(f"unknown kind {kind!r}; use {' or '.join(KINDS)}")])
    label = raw.attrs.get(ROW_LABEL, "row")
    numbers = raw.index.to_numpy() if ROW_LABEL in raw.attrs else np.arange(1, len(raw) + 1)
    frame = raw.reset_index(drop=True)
    frame.attrs = {}
    _refuse_shape(frame, source)
    present = [c for c in all_columns(kind) if c in frame.columns]
    parsed: dict[str, pd.Series] = {}
    unparsable: dict[str, np.ndarray] = {}
    failures: list[_Failure] = []
    for column in present:
        parse, rule = _parser(column)
        parsed[column], bad = parse(frame[column])
        if bad is not None and bad.any():
            unparsable[column] = np.flatnonzero(bad.to_numpy())
            failures.append(_Failure(column, rule, unparsable[column]))
    checked = pd.DataFrame(parsed, index=frame.index)
    extras = [str(name) for name in frame.columns if name not in parsed]
    failures += _rule_failures(contract_schema(kind), checked, unparsable, extras)
    failures += _partly_inspected(checked)
    if failures:
        raise InputErrors(_errors(failures, frame, numbers, label, source, kind))
    typed = _typed(checked, typed_dtypes(kind))
    return pd.concat([typed, frame.drop(columns=present)], axis=1)


def _refuse_shape(frame: pd.DataFrame, source: str) -> None:
    """Raise for a table without rows or with a column name used twice."""
    if len(frame) == 0:
        raise InputErrors([InputError("no rows", source=source)])
    duplicated = frame.columns[frame.columns.duplicated()].unique().tolist()
    if duplicated:
        raise InputErrors(
            [InputError("duplicate column names", source, str(duplicated[0]), (), duplicated)]
        )


def _parser(column: str) -> tuple[Callable[[pd.Series], Parsed], str]:
    """How to parse one contract column as stored, and the rule an unparsable value breaks."""
    if column in INTEGER_RANGES or column in COUNT_COLUMNS:
        return _integers, "not an integer"
    if column in JUDGEMENTS:
        return _judgements, ""
    if column == BOOLEAN_COLUMN:
        spellings = ", ".join(BOOLEAN_SPELLINGS)
        return _booleans, f"not a boolean; accepted: {spellings} (any case)"
    if column == DATE_COLUMN:
        return _dates, "not an ISO date YYYY-MM-DD"
    if column in DECIMAL_RANGES:
        return _decimals, "not a number"
    return _strings, ""


def _strings(values: pd.Series) -> Parsed:
    """Text columns and categories stay text until their checks pass (unknown values kept)."""
    return _text(values), None


def spelled_judgement(text: str) -> str:
    """A judgement in the contract's spelling, so files and the API read judgements alike.

    Lower case, inner blanks or hyphens as ``_`` ("Not inspected" → ``not_inspected``).
    """
    return re.sub(r"[\s-]+", "_", text.strip().lower())


def _judgements(values: pd.Series) -> Parsed:
    """Judgement values in the contract's spelling (``spelled_judgement``)."""
    return _each_distinct(_text(values), lambda t: t.map(spelled_judgement)), None


def _partly_inspected(checked: pd.DataFrame) -> list[_Failure]:
    """Rows where some judgements are ``not_inspected`` and others are judged."""
    present = [j for j in JUDGEMENTS if j in checked.columns]
    if not present:
        return []
    values = checked[present]
    absent = values.eq(NOT_INSPECTED).to_numpy()
    judged = (values.notna() & values.ne(NOT_INSPECTED)).to_numpy()
    mixed = absent.any(axis=1) & judged.any(axis=1)
    if not mixed.any():
        return []
    first = present[int(np.argmax(judged[mixed].any(axis=0)))]
    return [_Failure(first, PARTLY_INSPECTED, np.flatnonzero(mixed))]


def _text(values: pd.Series) -> pd.Series:
    """Values as strings without surrounding blanks; missing or blank values become NA."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        labels = _text(pd.Series(values.cat.categories))
        return _expand(labels, values.cat.codes.to_numpy(), values.index)
    text = values.astype(STRING).str.strip()
    return text.mask(text == "")


def _each_distinct(text: pd.Series, parse: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``parse`` applied once per distinct value: contract columns repeat few values."""
    codes, uniques = pd.factorize(text)
    return _expand(parse(pd.Series(uniques, dtype=STRING)), codes, text.index)


def _expand(distinct: pd.Series, codes: np.ndarray, index: pd.Index) -> pd.Series:
    """``distinct[codes]`` on ``index``, NA where a code is -1."""
    return distinct.reindex(codes).set_axis(index)


def _integers(values: pd.Series) -> Parsed:
    """Whole numbers as float64 (so that NA and huge values survive until the range check)."""
    if types.is_integer_dtype(values.dtype):
        return values.astype("float64"), None
    if types.is_float_dtype(values.dtype):
        bad = values.notna() & (values % 1 != 0)
        return values.astype("float64").mask(bad), bad
    text = _text(values)
    numbers = _each_distinct(text, _parse_integers)
    return numbers, text.notna() & numbers.isna()


def _parse_integers(text: pd.Series) -> pd.Series:
    """Digits with an optional sign as float64; anything else NA."""
    digits = text.str.fullmatch(r"[+-]?[0-9]+", na=False)
    return pd.to_numeric(text.where(digits), errors="coerce").astype("float64")


def _booleans(values: pd.Series) -> Parsed:
    """True/false from bools or from the accepted spellings."""
    if types.is_bool_dtype(values.dtype):
        return values.astype("boolean"), None
    text = _text(values)
    flags = _each_distinct(text, lambda t: t.str.lower().map(BOOLEAN_SPELLINGS).astype("boolean"))
    return flags, text.notna() & flags.isna()


def _dates(values: pd.Series) -> Parsed:
    """Midnight timestamps from stored timestamps (time zone dropped) or strict YYYY-MM-DD."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    if types.is_datetime64_dtype(values.dtype):
        return values.dt.normalize(), None
    text = _text(values)
    dates = _each_distinct(text, _parse_dates)
    return dates, text.notna() & dates.isna()


def _parse_dates(text: pd.Series) -> pd.Series:
    """Strict YYYY-MM-DD dates as timestamps; anything else NaT."""
    iso = text.str.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", na=False)
    return pd.to_datetime(text.where(iso), format="%Y-%m-%d", errors="coerce")


def _decimals(values: pd.Series) -> Parsed:
    """Floats from stored numbers or decimal text (``nan`` is not a number; ``inf`` is)."""
    if types.is_numeric_dtype(values.dtype) and not types.is_bool_dtype(values.dtype):
        return values.astype("float64"), None
    text = _text(values)
    numbers = _each_distinct(text, lambda t: pd.to_numeric(t, errors="coerce").astype("float64"))
    return numbers, text.notna() & numbers.isna()


def _typed(checked: pd.DataFrame, dtypes: dict[str, object]) -> pd.DataFrame:
    """The checked columns in their typed-frame dtypes (categories built once per value)."""
    typed = {}
    for column, values in checked.items():
        dtype = dtypes[column]
        if isinstance(dtype, pd.CategoricalDtype):
            codes, uniques = pd.factorize(values)
            level = dtype.categories.get_indexer(uniques)
            typed[column] = pd.Categorical.from_codes(level[codes], dtype=dtype)
        else:
            typed[column] = values.astype(dtype)
    return pd.DataFrame(typed, index=checked.index)


def _rule_failures(
    schema: pa.DataFrameSchema,
    checked: pd.DataFrame,
    unparsable: dict[str, np.ndarray],
    extras: list[str],
) -> list[_Failure]:
    """Pandera's failure cases as one failure per column and rule.

    Values that could not be parsed are NA in ``checked``; they are not reported again as empty.
    A missing column's failure quotes the ``extras`` (non-contract columns) with similar names.
    """
    try:
        schema.validate(checked, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return []
    failures = []
    for missing in cases.loc[cases["check"] == "column_in_dataframe", "failure_case"]:
        failures.append(
            _Failure(missing, "missing column", np.array([], int), _near(missing, extras))
        )
    cases = cases[cases["check"] != "column_in_dataframe"]
    for (column, check), group in cases.groupby(["column", "check"], sort=False):
        positions = np.unique(group["index"].dropna().astype(int).to_numpy())
        if check == "not_nullable":
            positions = np.setdiff1d(positions, unparsable.get(column, []))
        rule = EMPTY_JUDGEMENT if check == "not_nullable" and column in JUDGEMENTS else None
        if positions.size or group["index"].isna().all():
            failures.append(_Failure(column, rule or _RULE_NAMES.get(check, check), positions))
    return failures


def _near(missing: str, extras: list[str]) -> list[str]:
    """Extra column names that look like ``missing`` (ignoring case): likely misspellings."""
    by_lower = {name.lower(): name for name in extras}
    return [by_lower[n] for n in difflib.get_close_matches(missing.lower(), by_lower, EXAMPLES)]


def _errors(
    failures: list[_Failure],
    frame: pd.DataFrame,
    numbers: np.ndarray,
    label: str,
    source: str,
    kind: Kind,
) -> list[InputError]:
    """InputErrors in contract column order, quoting offending values as written in the file."""
    order = {column: i for i, column in enumerate(all_columns(kind))}
    failures = sorted(
        failures,
        key=lambda f: (order.get(f.column, -1), f.positions[0] if f.positions.size else -1),
    )
    errors = []
    for failure in failures:
        examples = failure.examples
        if failure.positions.size and failure.rule not in _WITHOUT_EXAMPLES:
            found = frame[failure.column].iloc[failure.positions[:_SCANNED]].astype(STRING)
            examples = found.drop_duplicates().head(EXAMPLES).tolist()
        errors.append(
            InputError(
                failure.rule,
                source=source,
                column=failure.column,
                rows=numbers[failure.positions].tolist(),
                examples=examples,
                row_label=label,
            )
        )
    return errors
