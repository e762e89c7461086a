"""Stream the top-level items of a large (optionally gzipped) JSON file without loading it whole.

``iter_top_level`` yields the raw bytes of each element of a top-level array, or of each member of a
top-level object, so that memory stays bounded by one element. The boundaries are found with a vectorised
scan of structural characters; each element is then decoded by orjson (fast) or, when orjson refuses (the
NaN/Infinity literals Python's json writes), by the standard library.

Why not ijson: its C backend rejects NaN literals (which make the rest of the file unreadable) and it
spends as long building Python objects as orjson does on the same bytes.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson

from curate.errors import InputError, RecordRejected

CHUNK_BYTES = 8 << 20
GZIP_MAGIC = b"\x1f\x8b"

_QUOTE, _OPEN, _CLOSE, _COMMA, _BACKSLASH = 1, 2, 3, 4, 5
_CLASS = np.zeros(256, dtype=np.uint8)
_CLASS[ord('"')] = _QUOTE
_CLASS[[ord("{"), ord("[")]] = _OPEN
_CLASS[[ord("}"), ord("]")]] = _CLOSE
_CLASS[ord(",")] = _COMMA
_CLASS[ord("\\")] = _BACKSLASH


def open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for binary reading, decompressing gzip when the file starts with the gzip magic."""
    fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    magic = fh.read(2)
    fh.seek(0)
    if magic == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=fh, mode="rb")  # type: ignore[return-value]
    return fh


PIECE_BYTES = 1 << 16


class DeferredDamageReader:
    """Reads in pieces and, when decompression fails, first returns everything decoded before the damage.

    The InputError (naming the file) is raised on the next read, so complete elements that precede a
    truncation are still parsed and land.
    """

    def __init__(self, fh: IO[bytes], path: Path):
        self._fh = fh
        self._path = path
        self._damage: InputError | None = None

    def read(self, size: int, where: str) -> bytes:
        """Up to ``size`` bytes (all remaining when ``size`` < 0); b"" at a clean end of file."""
        if self._damage is not None:
            raise self._damage
        pieces: list[bytes] = []
        wanted = size if size >= 0 else float("inf")
        got = 0
        while got < wanted:
            try:
                piece = self._fh.read(PIECE_BYTES if size < 0 else min(PIECE_BYTES, int(wanted - got)))
            except (EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
                self._damage = InputError(
                    f"compressed stream is damaged or truncated {where} ({exc})", file=str(self._path)
                )
                if not pieces:
                    raise self._damage from exc
                break
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return b"".join(pieces)


def read_chunk(fh: IO[bytes], size: int, path: Path, where: str) -> bytes:
    """Read ``size`` bytes (all with -1), turning decompression failures into an InputError naming the file."""
    return DeferredDamageReader(fh, path).read(size, where)


def decode(raw: bytes) -> Any:
    """Decode one JSON value; NaN/Infinity literals are accepted (and caught later by the row checks)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RecordRejected(f"not valid JSON ({exc.args[0] if exc.args else exc})") from exc


def peek_kind(path: Path) -> str:
    """'[' or '{': the first non-blank character of the (decompressed) file; InputError if empty or not JSON."""
    with open_binary(path) as fh:
        head = read_chunk(fh, 4096, path, "at its start")
    stripped = head.lstrip()
    if not stripped:
        raise InputError("file is empty", file=str(path))
    first = stripped[:1].decode("latin-1")
    if first not in "[{":
        raise InputError(f"expected a JSON array or object, found {first!r} at the start", file=str(path))
    return first


def _separators(buf: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Positions of top-level separators in ``buf`` (which starts inside the top-level container).

    Returns (positions, is_end): commas at relative depth 0, and the closing bracket of the container.
    """
    a = np.frombuffer(buf, dtype=np.uint8)
    classes = _CLASS[a]
    idx = np.flatnonzero(classes)
    kinds = classes[idx]
    backslashes = idx[kinds == _BACKSLASH]
    quote_mask = kinds == _QUOTE
    if backslashes.size:
        # a quote preceded by an odd run of backslashes is escaped and does not toggle string state
        for j in np.flatnonzero(quote_mask):
            p = idx[j] - 1
            run = 0
            while p >= 0 and a[p] == 92:
                run += 1
                p -= 1
            if run % 2:
                quote_mask[j] = False
    in_string = (np.cumsum(quote_mask) - quote_mask) & 1
    structural = (in_string == 0) & ~quote_mask & (kinds != _BACKSLASH)
    idx, kinds = idx[structural], kinds[structural]
    step = np.where(kinds == _OPEN, 1, np.where(kinds == _CLOSE, -1, 0))
    depth = np.cumsum(step)
    is_sep = ((kinds == _COMMA) & (depth == 0)) | (depth == -1)
    return idx[is_sep], (depth[is_sep] == -1)


def iter_top_level(path: Path, *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """Yield ``(index, raw_bytes)`` for each element of the top-level array or member of the top-level object.

    For an object the raw bytes are ``"key": value``; decode them with :func:`decode_member`.
    Raises InputError (naming the file and the last complete element) on truncation or damage.
    """
    with open_binary(path) as fh:
        reader = DeferredDamageReader(fh, path)
        head = reader.read(chunk_bytes, "at its start")
        stripped = head.lstrip()
        if not stripped:
            raise InputError("file is empty", file=str(path))
        if stripped[:1] not in (b"[", b"{"):
            raise InputError(f"expected a JSON array or object, found {stripped[:1]!r}", file=str(path))
        carry = stripped[1:]
        index = 0
        eof = False
        while True:
            positions, is_end = _separators(carry)
            start = 0
            for pos, end in zip(positions.tolist(), is_end.tolist(), strict=True):
                raw = carry[start:pos]
                if raw.strip():
                    yield index, raw
                    index += 1
                start = pos + 1
                if end:
                    return
            carry = carry[start:]
            if eof:
                raise InputError(
                    f"file ends before its top-level JSON closes (truncated?) after {index} complete element(s)",
                    file=str(path),
                    record=str(index),
                )
            more = reader.read(chunk_bytes, f"after element {index}")
            eof = not more
            carry += more


def decode_member(raw: bytes) -> tuple[str, Any]:
    """Decode ``"key": value`` bytes from a top-level object into (key, value)."""
    obj = decode(b"{" + raw + b"}")
    if not isinstance(obj, dict) or len(obj) != 1:
        raise RecordRejected("expected one key/value member of the top-level object")
    return next(iter(obj.items()))
