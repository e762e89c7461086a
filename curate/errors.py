"""Exception types, split by when they happen: bad input, bad configuration, failed computation."""

from __future__ import annotations


class CurateError(Exception):
    """Base of every error curate raises on purpose; the CLI prints these as one line."""


class InputError(CurateError):
    """A file or record the user gave cannot be read as promised."""

    def __init__(self, reason: str, *, file: str | None = None, record: str | None = None, field: str | None = None):
        self.reason = reason
        self.file = file
        self.record = record
        self.field = field
        super().__init__(self.describe())

    def describe(self) -> str:
        """One line naming file, record and field when known, then the reason."""
        where = []
        if self.file is not None:
            where.append(f"{self.file}")
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{': '.join(where)}: {self.reason}" if where else self.reason


class RecordRejected(InputError):
    """One record is unusable; the rest of the file may still be good. Goes to the quarantine."""


class ConfigurationError(CurateError):
    """Options or settings that cannot work together (unknown format, missing path, ...)."""


class DatasetError(CurateError):
    """A dataset directory is missing, locked, or not a curate dataset."""
