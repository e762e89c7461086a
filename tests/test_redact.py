"""Secrets are redacted from messages, tracebacks, log records and warnings."""

from __future__ import annotations

import logging
import warnings

import pytest

from curate import redact

TOKEN = "hf_curateTEST0token0must0never0leak"


def test_environment_and_registered_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    redact.register_secret("given-on-the-command-line-0123")
    text = f"headers {{'authorization': 'Bearer {TOKEN}', 'x-api-key': 'given-on-the-command-line-0123'}}"
    assert redact.redact(text) == "headers {'authorization': 'Bearer [redacted]', 'x-api-key': '[redacted]'}"
    redact.register_secret("abc")  # too short to be a secret: ordinary words stay
    assert redact.redact("abc def") == "abc def"


def test_tracebacks_log_records_and_warnings_are_redacted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MP_API_KEY", "mpKEY0curate0must0never0leak0032")
    try:
        try:
            raise ValueError("server said: x-api-key=mpKEY0curate0must0never0leak0032")
        except ValueError as inner:
            raise RuntimeError("request failed") from inner
    except RuntimeError as exc:
        text = redact.format_exception(exc)
    assert "x-api-key=[redacted]" in text and "mpKEY0" not in text and "The above exception" in text
    redact.install()
    logging.getLogger("some.client").warning("echo %s", "mpKEY0curate0must0never0leak0032")
    assert caplog.records[-1].getMessage() == "echo [redacted]"
    shown: list[str] = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *args, **kwargs: shown.append(str(message)))
    redact.install()  # wraps whatever shows warnings now
    warnings.showwarning(UserWarning("key mpKEY0curate0must0never0leak0032"), UserWarning, "client.py", 7)
    assert shown == ["key [redacted]"]
