"""Secrets never printed: every value curate knows is a secret is replaced in what it prints.

A secret is the value of a secret environment variable (:data:`SECRET_ENVIRONMENT`), a value the command line
registered (an ``--api-key`` given as an option, the Hub token it resolved), the Hugging Face token saved by
``hf auth login`` and pymatgen's ``PMG_MAPI_KEY`` setting once those libraries are loaded. Clients may echo a
request's headers in an error body (a misconfigured proxy does); :func:`redact` is applied to error messages,
tracebacks (:func:`format_exception`), warnings and log records (:func:`install`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
import warnings
from typing import Any

SECRET_ENVIRONMENT = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "MP_API_KEY", "PMG_MAPI_KEY")
MIN_SECRET_CHARS = 6  # shorter values would redact ordinary words; no real token or key is this short
REDACTED = "[redacted]"

_registered: set[str] = set()
_MARK = "_curate_redacts"


def register_secret(value: str | None) -> None:
    """Treat ``value`` as a secret from now on (a key given on the command line, a resolved token)."""
    if value and len(value) >= MIN_SECRET_CHARS:
        _registered.add(value)


def _library_secrets() -> list[str]:
    found = []
    if "huggingface_hub" in sys.modules:  # the saved login, only once the client is in use
        with contextlib.suppress(Exception):  # a broken token file must not stop an error from printing
            found.append(sys.modules["huggingface_hub"].get_token() or "")
    if "pymatgen.core" in sys.modules:
        found.append(str(sys.modules["pymatgen.core"].SETTINGS.get("PMG_MAPI_KEY") or ""))
    return found


def known_secrets() -> list[str]:
    """Every secret value known now, longest first (so one that contains another is replaced whole)."""
    values = {os.environ.get(name, "") for name in SECRET_ENVIRONMENT} | _registered | set(_library_secrets())
    return sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``[redacted]``."""
    for secret in known_secrets():
        text = text.replace(secret, REDACTED)
    return text


def format_exception(exc: BaseException) -> str:
    """The full traceback of ``exc`` (its chain included), secrets redacted."""
    return redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record's message, arguments and exception text (and never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = format_exception(record.exc_info[1]).rstrip("\n")
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install() -> None:
    """Redact every log record (through :class:`RedactingFilter`, at record creation, whatever the handler) and
    every warning shown. Called by the command line before a command runs; idempotent (what is in place already
    redacting is left as it is)."""
    make_record = logging.getLogRecordFactory()
    if not getattr(make_record, _MARK, False):
        redacting = RedactingFilter()

        def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            redacting.filter(record)
            return record

        setattr(redacted_record, _MARK, True)
        logging.setLogRecordFactory(redacted_record)
    show = warnings.showwarning
    if not getattr(show, _MARK, False):

        def show_redacted(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            show(redact(str(message)), category, *args, **kwargs)

        setattr(show_redacted, _MARK, True)
        warnings.showwarning = show_redacted
