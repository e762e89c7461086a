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

import msgspec
import numpy as np
import orjson

from curate.errors import InputError, RecordRejected
from curate.sources.base import RawChunk

CHUNK_BYTES = 8 << 20
GZIP_MAGIC = b"\x1f\x8b"

_BRACKET = np.zeros(256, dtype=bool)
_BRACKET[[ord("{"), ord("["), ord("}"), ord("]")]] = True
_QUOTE = ord('"')
_BACKSLASH = ord("\\")
_OPENERS = (ord("{"), ord("["))


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

    def _read1(self, size: int) -> bytes:
        # one raw read per call: gzip checks its CRC at the start of the read after the last data, so the last
        # decoded bytes are returned before the error (a buffered read of many raw reads would drop them)
        read1 = getattr(self._fh, "read1", None)
        return read1(size) if read1 is not None else self._fh.read(size)

    def read(self, size: int, where: str) -> bytes:
        """Up to ``size`` bytes (all remaining when ``size`` < 0); b"" at a clean end of file."""
        if self._damage is not None:
            raise self._damage
        pieces: list[bytes] = []
        wanted = size if size >= 0 else float("inf")
        got = 0
        while got < wanted:
            try:
                piece = self._read1(PIECE_BYTES if size < 0 else min(PIECE_BYTES, int(wanted - got)))
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

    def expect_end(self, rest: bytes, where: str) -> None:
        """Read to the end of the file (so gzip checks its CRC and length); only whitespace may follow ``rest``.

        Raises InputError naming the file when the stream is damaged or when content follows the top-level
        JSON value (a byte flip can close it early: the records after it would be missing silently).
        """
        tail = rest
        while True:
            if tail.strip():
                raise InputError(
                    f"unexpected content after the top-level JSON value closes {where} (damaged file?)",
                    file=str(self._path),
                )
            tail = self.read(PIECE_BYTES, where)
            if not tail:
                return


def read_chunk(fh: IO[bytes], size: int, path: Path, where: str) -> bytes:
    """Read ``size`` bytes (all with -1), turning decompression failures into an InputError naming the file.

    With -1 the stream is read to its end, so damage anywhere (a bad gzip CRC included) raises.
    """
    reader = DeferredDamageReader(fh, path)
    data = reader.read(size, where)
    if size < 0:
        reader.expect_end(b"", where)
    return data


def decode(raw: bytes) -> Any:
    """Decode one JSON value; NaN/Infinity literals are accepted (and caught later by the row checks)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            # text that is not UTF-8 decodes to lone surrogates, which every field check then refuses, so only
            # the record holding it is lost (not a whole MPtrj material or file)
            return json.loads(raw.decode("utf-8", "surrogateescape"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
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


def _unescaped_quotes(a: np.ndarray) -> np.ndarray:
    """Positions of the double quotes in ``a`` that delimit strings (not preceded by an odd run of backslashes)."""
    quotes = np.flatnonzero(a == _QUOTE)
    suspects = quotes[(quotes > 0) & (a[np.maximum(quotes - 1, 0)] == _BACKSLASH)]
    if suspects.size == 0:
        return quotes
    escaped = []
    for q in suspects.tolist():
        run, p = 0, q - 1
        while p >= 0 and a[p] == _BACKSLASH:
            run, p = run + 1, p - 1
        if run % 2:
            escaped.append(q)
    return np.setdiff1d(quotes, np.asarray(escaped, dtype=quotes.dtype), assume_unique=True)


def _separators(buf: bytes) -> tuple[list[int], bool]:
    """Top-level separators in ``buf``, which starts inside the top-level container at depth 0.

    Returns the positions of the commas at depth 0 outside strings, and whether the container's closing
    bracket was found (then it is the last position). Only brackets and quotes are located vectorised;
    commas are looked for only in the stretches that lie at depth 0, which are few.
    """
    a = np.frombuffer(buf, dtype=np.uint8)
    quotes = _unescaped_quotes(a)
    brackets = np.flatnonzero(_BRACKET[a])
    outside = (np.searchsorted(quotes, brackets) & 1) == 0
    brackets = brackets[outside]
    kinds = a[brackets]
    step = np.where((kinds == _OPENERS[0]) | (kinds == _OPENERS[1]), 1, -1)
    depth_after = np.cumsum(step)
    closing = np.flatnonzero(depth_after == -1)
    limit = int(brackets[closing[0]]) if closing.size else len(buf)
    # stretches at depth 0: from the start (or a bracket that returns to depth 0) to the next bracket
    starts = [0, *(brackets[depth_after == 0] + 1).tolist()]
    following = np.searchsorted(brackets, np.asarray(starts), side="left")
    separators: list[int] = []
    for begin, nxt in zip(starts, following.tolist(), strict=True):
        end = min(int(brackets[nxt]) if nxt < len(brackets) else len(buf), limit)
        pos = buf.find(b",", begin, end)
        while pos != -1:
            if int(np.searchsorted(quotes, pos)) % 2 == 0:
                separators.append(pos)
            pos = buf.find(b",", pos + 1, end)
    separators.sort()
    if closing.size:
        separators.append(limit)
    return separators, bool(closing.size)


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
            positions, closed = _separators(carry)
            start = 0
            for k, pos in enumerate(positions):
                raw = carry[start:pos]
                if raw.strip():
                    yield index, raw
                    index += 1
                start = pos + 1
                if closed and k == len(positions) - 1:
                    reader.expect_end(carry[pos + 1 :], f"after element {index}")
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


_RAW_OBJECT = msgspec.json.Decoder(dict[str, msgspec.Raw])
# the end of a top-level member closes every container it opened, so longer runs of closers before
# ", " are tried first: in MPtrj a material ends "}}, " where a frame inside it ends "}, "
_MEMBER_END_CANDIDATES = (b'}}}, "', b'}}, "', b']}, "', b'}, "', b'], "', b'}},"', b'},"')
MAX_CUT_ATTEMPTS = 4


def _verified_cut(buf: bytes) -> int | None:
    """Position of a comma that ends a run of complete members at the start of ``buf``, or None.

    Candidates are the last places in the second half of ``buf`` that look like the end of an object member;
    one is accepted when ``{`` + prefix + ``}`` decodes as a JSON object. That check is exact (a cut inside a
    string or a nested value leaves the braces unbalanced), and msgspec skims without building values.
    """
    attempts = 0
    lower = len(buf) // 2
    for pattern in _MEMBER_END_CANDIDATES:
        pos = buf.rfind(pattern, lower)
        if pos < 0:
            continue
        comma = buf.index(b",", pos)
        try:
            _RAW_OBJECT.decode(b"{" + buf[:comma] + b"}")
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            attempts += 1
            if attempts >= MAX_CUT_ATTEMPTS:
                return None
            continue
        return comma
    return None


def iter_object_chunks(path: Path, *, target_bytes: int) -> Iterator[RawChunk]:
    """Cut a file whose top level is a JSON object into chunks of complete members (about ``target_bytes``).

    Cutting costs one fast validating skim per chunk (see :func:`_verified_cut`); when no candidate cut
    verifies (NaN literals, unusual layouts) the exact structural scan takes over for that stretch. On damage
    or truncation every complete member before it is yielded, then InputError is raised.
    """
    with open_binary(path) as fh:
        reader = DeferredDamageReader(fh, path)
        head = reader.read(target_bytes, "in its first block").lstrip()
        if not head:
            raise InputError("file is empty", file=str(path))
        if head[:1] != b"{":
            raise InputError(f"expected a JSON object, found {head[:1]!r}", file=str(path))
        carry = head[1:]
        sequence = 0
        eof = False
        want = target_bytes  # grows (doubling) while one member is longer than what has been read
        while True:
            damage: InputError | None = None
            while not eof and len(carry) < want:
                try:
                    more = reader.read(target_bytes, f"after chunk {sequence}")
                except InputError as exc:
                    damage = exc
                    break
                eof = not more
                carry += more
            cut = None if (eof or damage) else _verified_cut(carry)
            if cut is not None:
                yield RawChunk(sequence=sequence, members=carry[:cut])
                sequence += 1
                carry = carry[cut + 1 :]
                want = target_bytes
                continue
            positions, closed = _separators(carry)
            last = positions[-1] if positions else -1
            if closed:
                if carry[:last].strip():
                    yield RawChunk(sequence=sequence, members=carry[:last])
                if damage is not None:
                    raise damage
                reader.expect_end(carry[last + 1 :], f"after chunk {sequence}")
                return
            if last >= 0:
                yield RawChunk(sequence=sequence, members=carry[:last])
                sequence += 1
                carry = carry[last + 1 :]
                want = target_bytes
            else:
                want = 2 * len(carry)
            if damage is not None:
                raise damage
            if eof:
                raise InputError(
                    f"file ends before its top-level JSON object closes (truncated?) after chunk {sequence}",
                    file=str(path),
                )


def split_members(chunk: RawChunk) -> Iterator[tuple[str, bytes]]:
    """(key, raw value) of every member of ``chunk``; values that are not strict JSON still come out whole."""
    try:
        parsed = _RAW_OBJECT.decode(b"{" + chunk.members + b"}")
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        parsed = None
    if parsed is not None:
        for key, raw in parsed.items():
            yield key, bytes(raw)
        return
    positions, _ = _separators(chunk.members + b"}")
    start = 0
    for pos in positions:
        member = chunk.members[start:pos].lstrip()
        start = pos + 1
        try:
            key_end = _string_end(member, 0)
            colon = member.index(b":", key_end)
            key = decode(member[:key_end])
        except (ValueError, IndexError, RecordRejected):
            # not a "key": value member; its value fails to decode and is rejected under this name
            yield member[:40].decode("utf-8", "backslashreplace"), member
            continue
        yield str(key), member[colon + 1 :]


def _string_end(buf: bytes, start: int) -> int:
    """Index just past the JSON string that begins with the quote at ``buf[start]``."""
    pos = start + 1
    while True:
        pos = buf.index(b'"', pos)
        run, back = 0, pos - 1
        while buf[back] == _BACKSLASH:
            run, back = run + 1, back - 1
        if run % 2 == 0:
            return pos + 1
        pos += 1


def decode_member(raw: bytes) -> tuple[str, Any]:
    """Decode ``"key": value`` bytes from a top-level object into (key, value)."""
    obj = decode(b"{" + raw + b"}")
    if not isinstance(obj, dict) or len(obj) != 1:
        raise RecordRejected("expected one key/value member of the top-level object")
    return next(iter(obj.items()))
