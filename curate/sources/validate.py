"""Strict record-level checks every importer runs before conversion: one vocabulary, one error type.

JSON (and what ASE or pymatgen hand over) is loosely typed: ``true`` is not 1.0 eV, ``"-3.2"`` is not an
energy, a lattice given as text is not a lattice. Each checker here takes a decoded value and the field path
it came from (``calcs_reversed[0].output.ionic_steps[17].forces``) and returns it in schema form or raises
:class:`~curate.errors.RecordRejected` naming that path, so the importer quarantines that one record and goes
on. Accepted numbers: Python/NumPy ints and floats (not booleans); NaN and inf pass here and are refused by
the row checks, which say so in their own words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from ase.data import atomic_numbers

from curate.dataset.configuration import Configuration, Rejected, configurations_to_batch
from curate.errors import RecordRejected

MAX_ID_CHARS = 200


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def _found(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def strict_float(value: Any, field: str, *, unit: str = "") -> float:
    """``value`` as a float; RecordRejected (naming ``field``) for booleans, strings, lists, objects, None."""
    if not _is_number(value):
        raise RecordRejected(f"expected a number{f' in {unit}' if unit else ''}, found {_found(value)}", field=field)
    return float(value)


def optional_float(value: Any, field: str, *, unit: str = "") -> float | None:
    """:func:`strict_float`, with None (absent) passed through."""
    return None if value is None else strict_float(value, field, unit=unit)


def strict_array(value: Any, field: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """``value`` (nested lists or an array) as a float64 array of ``shape`` (None: any length there).

    Every leaf must be a number (a boolean or a numeric string is refused); ragged nesting is refused.
    """
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise RecordRejected(f"expected numbers, found an array of {value.dtype}", field=field)
        array = value.astype(np.float64, copy=False)
    else:
        _check_leaves(value, field, depth=len(shape))
        try:
            array = np.asarray(value, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise RecordRejected(f"ragged or non-numeric array ({exc})", field=field) from exc
    if array.ndim != len(shape) or any(
        want is not None and want != got for want, got in zip(shape, array.shape, strict=False)
    ):
        wanted = tuple("n" if s is None else s for s in shape)
        raise RecordRejected(f"expected shape {wanted}, found {array.shape}", field=field)
    return array


def _check_leaves(value: Any, field: str, *, depth: int) -> None:
    """Walk ``depth`` levels of lists; every leaf must be a number."""
    if depth == 0:
        if not _is_number(value) and not isinstance(value, np.ndarray):
            raise RecordRejected(f"expected a number, found {_found(value)}", field=field)
        return
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise RecordRejected(f"expected numbers, found an array of {value.dtype}", field=field)
        return
    if not isinstance(value, list | tuple):
        wanted = "numbers" if depth == 1 else "lists"
        raise RecordRejected(f"expected a list of {wanted}, found {_found(value)}", field=field)
    if depth == 1:
        for k, item in enumerate(value):
            if not _is_number(item):
                raise RecordRejected(f"expected a number, found {_found(item)}", field=f"{field}[{k}]")
        return
    for k, item in enumerate(value):
        _check_leaves(item, f"{field}[{k}]", depth=depth - 1)


def element(value: Any, field: str) -> str:
    """A chemical symbol ('Fe'); RecordRejected for anything else (numbers, 'X', 'Xx', '../x')."""
    if not isinstance(value, str) or value == "X" or value not in atomic_numbers:
        raise RecordRejected(f"expected a chemical element symbol, found {_found(value)}", field=field)
    return value


def mapping(value: Any, field: str) -> Mapping[str, Any]:
    """``value`` when it is a JSON object; RecordRejected otherwise."""
    if not isinstance(value, Mapping):
        raise RecordRejected(f"expected an object, found {_found(value)}", field=field)
    return value


def record_id(value: Any, field: str) -> str | None:
    """An identifier from a file (task_id, material_id, matpes_id) as text; None stays None.

    Strings and integers are accepted (integers are written as decimal text); booleans, floats, lists and
    objects, empty or over-long text, control characters and path separators are refused.
    """
    if value is None:
        return None
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return str(int(value))
    if not isinstance(value, str):
        raise RecordRejected(f"expected an identifier (text or integer), found {_found(value)}", field=field)
    if not value or len(value) > MAX_ID_CHARS or any(c in value for c in "/\\") or not value.isprintable():
        raise RecordRejected(
            f"expected a printable identifier of 1-{MAX_ID_CHARS} characters without '/' or '\\', found {value[:60]!r}",
            field=field,
        )
    return value


_BATCH_FAILURES = (pa.ArrowException, UnicodeError, TypeError, ValueError, OverflowError)


def batch_or_rejects(configurations: Sequence[Configuration]) -> tuple[pa.RecordBatch | None, list[Rejected]]:
    """One record batch of the configurations Arrow accepts, and a Rejected for each one it refuses.

    The whole list is converted at once (the fast path); only when Arrow refuses it (text that is not valid
    Unicode, an integer too large for its column) is each configuration tried alone, so one bad value costs
    one record, not the batch.
    """
    if not configurations:
        return None, []
    try:
        return configurations_to_batch(configurations), []
    except _BATCH_FAILURES:
        pass
    good: list[Configuration] = []
    rejected: list[Rejected] = []
    for cfg in configurations:
        try:
            configurations_to_batch([cfg])
        except _BATCH_FAILURES as exc:
            rejected.append(Rejected(cfg.source_record or "?", None, f"cannot be stored ({type(exc).__name__}: {exc})"))
        else:
            good.append(cfg)
    return (configurations_to_batch(good) if good else None), rejected
