"""A vasprun.xml with a value pymatgen cannot read: set aside the ``<calculation>`` blocks holding one, keep the rest.

pymatgen parses the whole file or nothing, so one text token where a number belongs (``<v> T 0.0 0.0 </v>``)
would cost every ionic step of the run. When pymatgen fails on a file that is well-formed XML, the numeric
values of each ``<calculation>`` block are checked here; the blocks that hold an unreadable one are cut out
of a copy, which pymatgen then reads, and each cut block becomes a rejected step naming its field.
"""

from __future__ import annotations

import re

from curate.errors import RecordRejected

_CALCULATION = re.compile(rb"<calculation>.*?</calculation>", re.S)
_NUMERIC = re.compile(rb"<(v|i|r)\b([^>]*)>([^<]*)</\1>")
_NAME = re.compile(rb'name="([^"]*)"')


def unreadable_calculations(xml: bytes) -> dict[int, RecordRejected]:
    """Index of each ``<calculation>`` block holding a value that is not a number, with the field and value."""
    bad: dict[int, RecordRejected] = {}
    for index, block in enumerate(_CALCULATION.finditer(xml)):
        text = block.group(0)
        for value in _NUMERIC.finditer(text):
            attributes = value.group(2)
            if b'type="string"' in attributes or b'type="logical"' in attributes:
                continue
            token = next((t for t in value.group(3).split() if not _is_number(t)), None)
            if token is None:
                continue
            bad[index] = RecordRejected(
                f"expected a number, found {token.decode('latin-1')!r}",
                field=_field_name(text, value.start(), attributes),
            )
            break
    return bad


def without_calculations(xml: bytes, indices: set[int]) -> bytes:
    """``xml`` with the ``<calculation>`` blocks at ``indices`` removed."""
    pieces, start = [], 0
    for index, block in enumerate(_CALCULATION.finditer(xml)):
        if index in indices:
            pieces.append(xml[start : block.start()])
            start = block.end()
    pieces.append(xml[start:])
    return b"".join(pieces)


def _is_number(token: bytes) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _field_name(block: bytes, at: int, attributes: bytes) -> str:
    """The ``name`` of the value itself, else of the ``<varray>`` around it (forces, positions, basis, stress)."""
    own = _NAME.search(attributes)
    if own:
        return own.group(1).decode("latin-1")
    opening = block.rfind(b"<varray", 0, at)
    found = _NAME.search(block, opening) if opening >= 0 else None
    return found.group(1).decode("latin-1") if found else "calculation"
