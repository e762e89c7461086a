"""Bring record batches written under an older minor version of the row schema to the current one."""

from __future__ import annotations

import pyarrow as pa

from curate.dataset.schema import row_schema
from curate.errors import InputError


def conform_batch(batch: pa.RecordBatch, *, file: str | None = None) -> pa.RecordBatch:
    """``batch`` with the current row schema's columns in order; a nullable column it lacks is added as nulls.

    Raises:
        InputError: a required column is missing or a column cannot be cast to its schema type (names file and
            column).
    """
    schema = row_schema().arrow
    if batch.schema.equals(schema, check_metadata=False):
        return pa.RecordBatch.from_arrays(batch.columns, schema=schema)
    columns = []
    for target in schema:
        index = batch.schema.get_field_index(target.name)
        if index < 0:
            if not target.nullable:
                raise InputError(
                    f"required column missing (schema {row_schema().version})", file=file, field=target.name
                )
            columns.append(pa.nulls(batch.num_rows, type=target.type))
            continue
        try:
            columns.append(batch.column(index).cast(target.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(
                f"expected {target.type}, found {batch.schema.field(index).type} ({exc})", file=file, field=target.name
            ) from exc
    return pa.RecordBatch.from_arrays(columns, schema=schema)
