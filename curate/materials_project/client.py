"""The official Materials Project client (mp-api's ``MPRester``), its key, and retries with backoff.

mp-api's own session already retries 429 (honouring Retry-After), 502 and 504 three times; this module adds
an outer retry with exponential backoff for what it lets through (500, 503, a connection dropped
mid-response, 429 after its retries) so that one bad minute does not end a long pull. The API key travels
only in the client's request header: it is never logged, written, or repeated in an error message.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from curate.errors import ConfigurationError, CurateError

API_KEY_ENV = "MP_API_KEY"
API_KEY_LENGTH = 32
_STATUS = re.compile(r"status code (\d{3})")
T = TypeVar("T")


class RemoteError(CurateError):
    """The Materials Project server kept failing after every retry, or answered something unusable."""


@dataclass(frozen=True)
class RetryPolicy:
    """Outer retries: ``attempts`` tries in all, sleeping ``backoff_s * 2**k`` seconds (at most ``max_sleep_s``)."""

    attempts: int = 5
    backoff_s: float = 1.0
    max_sleep_s: float = 60.0

    def sleep_before(self, attempt: int) -> float:
        """Seconds to wait before try number ``attempt`` (1-based; the first try does not wait)."""
        return min(self.max_sleep_s, self.backoff_s * 2 ** (attempt - 2)) if attempt > 1 else 0.0


def resolve_api_key(api_key: str | None) -> str:
    """``api_key``, else ``MP_API_KEY``; ConfigurationError (key not shown) when missing or malformed."""
    key = api_key or os.environ.get(API_KEY_ENV) or ""
    if not key:
        raise ConfigurationError(f"no Materials Project API key: set {API_KEY_ENV} or pass api_key")
    if len(key) != API_KEY_LENGTH:
        raise ConfigurationError(
            f"the Materials Project API key must be {API_KEY_LENGTH} characters, the one given has {len(key)} "
            f"(get yours at https://next-gen.materialsproject.org/api)"
        )
    return key


def _redact(message: str, key: str) -> str:
    return message.replace(key, "<api key>") if key else message


def _status(exc: BaseException) -> int | None:
    match = _STATUS.search(str(exc))
    return int(match.group(1)) if match else None


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying: HTTP 429 and 5xx, dropped or refused connections, timeouts, bodies
    that are not JSON."""
    import requests

    if isinstance(exc, requests.exceptions.RequestException | ValueError):
        return True  # ValueError: a response body that is not JSON (a proxy or server hiccup)
    status = _status(exc)
    if status is not None:
        return status == 429 or status >= 500
    text = str(exc)
    return any(marker in text for marker in ("Connection", "connection", "IncompleteRead", "timed out"))


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    api_key: str,
    endpoint: str,
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """Run ``call`` (one mp-api request), retrying transient failures with exponential backoff.

    Raises ConfigurationError when the server rejects the key (HTTP 401/403) and RemoteError when the
    failure is not transient or the retries are used up; messages name ``what`` and never the key.
    """
    from mp_api.client.core import MPRestError

    last: BaseException | None = None
    for attempt in range(1, policy.attempts + 1):
        time.sleep(policy.sleep_before(attempt))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return call()
        except Exception as exc:
            import requests

            if not isinstance(exc, MPRestError | requests.exceptions.RequestException | OSError | ValueError):
                raise
            status = _status(exc)
            if status in (401, 403):
                raise ConfigurationError(
                    f"the Materials Project server at {endpoint} rejected the API key (HTTP {status}) while "
                    f"fetching {what}; check {API_KEY_ENV} or api_key"
                ) from None
            if not is_transient(exc):
                raise RemoteError(f"{what}: {_redact(str(exc), api_key).splitlines()[0]}") from None
            last = exc
            if on_retry and attempt < policy.attempts:
                reason = f"HTTP {status}" if status else type(exc).__name__
                on_retry(f"{what}: {reason}; retry {attempt}/{policy.attempts - 1}")
    reason = f"HTTP {_status(last)}" if last is not None and _status(last) else type(last).__name__
    raise RemoteError(f"{what}: still failing after {policy.attempts} tries ({reason})")


@contextmanager
def open_rester(api_key: str, endpoint: str | None, *, timeout_s: int = 60) -> Iterator[Any]:
    """An ``MPRester`` returning plain dicts (documents are validated here, one by one), progress bars muted.

    ``endpoint`` None means mp-api's default (api.materialsproject.org, or ``MP_API_ENDPOINT``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mp_api.client import MPRester
        from mp_api.client.core import MPRestError

        try:
            rester = MPRester(
                api_key=api_key,
                endpoint=endpoint,
                use_document_model=False,
                mute_progress_bars=True,
                timeout=timeout_s,
            )
        except MPRestError as exc:
            raise ConfigurationError(f"cannot use the Materials Project client: {_redact(str(exc), api_key)}") from None
        except (OSError, ValueError) as exc:
            # the heartbeat is a plain requests.get: a refused connection or a non-JSON answer lands here
            where = endpoint or "the default endpoint"
            raise RemoteError(f"cannot reach the Materials Project server at {where}: {type(exc).__name__}") from None
    try:
        yield rester
    finally:
        rester.session.close()
