"""``--where COLUMN=VALUE`` row filters: parsed once against the row schema, applied batch by batch.

A row is kept when, for every filtered column, its value equals one of that column's values: repeating a
column means *any of* (``--where functional=PBE --where functional=PBE+U``), different columns mean *all of*.
Values are parsed as their column's type: strings as given, integers, booleans (true/false, t/f, yes/no,
1/0, any case) and floats (an exact float64 match: give the stored value at full precision). Null never
matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.dataset.schema import row_schema
from curate.errors import ConfigurationError

Where = Mapping[str, str | Sequence[str]]
_TRUE_WORDS = frozenset({"true", "t", "yes", "1"})
_FALSE_WORDS = frozenset({"false", "f", "no", "0"})


def parse_where(terms: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """``["functional=PBE", "functional=PBE+U", "split=train"]`` -> ``{"functional": ("PBE", "PBE+U"), ...}``.

    Raises ConfigurationError for a term without ``=``.
    """
    where: dict[str, tuple[str, ...]] = {}
    for term in terms:
        column, sep, value = term.partition("=")
        if not sep or not column.strip():
            raise ConfigurationError(f"a where term is COLUMN=VALUE (e.g. functional=PBE), got {term!r}")
        where[column.strip()] = (*where.get(column.strip(), ()), value)
    return where


def normalise_where(where: Where | None) -> dict[str, tuple[str, ...]]:
    """``{"functional": "PBE"}`` or ``{"functional": ["PBE", "PBE+U"]}`` -> column -> tuple of values."""
    return {column: (values,) if isinstance(values, str) else tuple(values) for column, values in (where or {}).items()}


def _where_scalar(column: str, kind: pa.DataType, value: str) -> pa.Scalar:
    """``value`` as a scalar of the column's type; ConfigurationError naming column, type and value."""
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pa.scalar(value, type=kind)
    text = value.strip()
    if pa.types.is_boolean(kind):
        if text.lower() in _TRUE_WORDS | _FALSE_WORDS:
            return pa.scalar(text.lower() in _TRUE_WORDS, type=kind)
        raise ConfigurationError(f"where {column}: expected true or false, got {value!r}")
    if pa.types.is_integer(kind):
        try:
            return pa.scalar(int(text), type=kind)
        except (ValueError, OverflowError, pa.ArrowInvalid) as exc:
            raise ConfigurationError(f"where {column}: expected an integer ({kind}), got {value!r}") from exc
    if pa.types.is_floating(kind):
        try:
            number = float(text)
        except ValueError as exc:
            raise ConfigurationError(f"where {column}: expected a number, got {value!r}") from exc
        if not np.isfinite(number):
            raise ConfigurationError(f"where {column}: expected a finite number, got {value!r}")
        return pa.scalar(number, type=kind)
    raise ConfigurationError(
        f"where {column}: {column} is a {kind} column; only string, integer, boolean and float columns can be filtered"
    )


class RowFilter:
    """A parsed ``--where``: construct it to validate (ConfigurationError), then :meth:`mask` batches."""

    def __init__(self, where: Where | None):
        schema = row_schema().arrow
        self.where = normalise_where(where)
        self._scalars: dict[str, list[pa.Scalar]] = {}
        for column, values in self.where.items():
            index = schema.get_field_index(column)
            if index < 0:
                raise ConfigurationError(f"where: no column {column!r}; known: {', '.join(schema.names)}")
            self._scalars[column] = [_where_scalar(column, schema.field(index).type, v) for v in values]

    @property
    def columns(self) -> list[str]:
        """The filtered columns (a batch given to :meth:`mask` needs them)."""
        return list(self._scalars)

    def __bool__(self) -> bool:
        return bool(self._scalars)

    def mask(self, batch: pa.RecordBatch) -> pa.Array:
        """Boolean mask of the rows of ``batch`` to keep."""
        mask = pa.array(np.ones(batch.num_rows, dtype=bool))
        for column, scalars in self._scalars.items():
            any_of = pa.array(np.zeros(batch.num_rows, dtype=bool))
            for scalar in scalars:
                any_of = pc.or_(any_of, pc.fill_null(pc.equal(batch.column(column), scalar), False))
            mask = pc.and_(mask, any_of)
        return mask

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The rows of ``batch`` to keep."""
        return batch.filter(self.mask(batch)) if self._scalars else batch
