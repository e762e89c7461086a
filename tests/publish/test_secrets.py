"""No secret is printed: failing publish, pull hf and pull mp against endpoints that echo the request headers
(HTTP 400, 401, 500), run as a user would with ``--traceback``: the token and the key appear in no output and no
file written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..echo_server import echo_server
from .conftest import TOKEN, hub_env, run_curate

MP_KEY = "mpKEY0curate0must0never0leak0032"  # 32 characters, as resolve_api_key requires


def _commands(dataset: Path, work: Path, url: str) -> dict[str, list[str]]:
    mp_options = ["--api-key", MP_KEY, "--retries", "1", "--dry-run"]
    return {
        "publish": ["publish", str(dataset), "--repo", "org/leak", "--commit-mb", "1"],
        "pull hf": ["pull", "hf", "org/leak", "--out", str(work / "pulled-hf")],
        # --dry-run: the search requests alone (a real pull opens the trajectory table before any request)
        "pull mp": ["pull", "mp", "--chemsys", "Si", "--out", str(work / "pulled-mp"), "--endpoint", url, *mp_options],
    }


@pytest.mark.slow
@pytest.mark.parametrize("status", [400, 401, 500])
def test_no_secret_in_any_output_of_failing_commands(mixed_dataset: Path, tmp_path: Path, status: int) -> None:
    hits: list[str] = []
    with echo_server(status) as server:
        env = hub_env(server.url.rstrip("/"), tmp_path / "hf-home")
        env.update(MP_API_KEY=MP_KEY, HF_HUB_ETAG_TIMEOUT="5", HF_HUB_DOWNLOAD_TIMEOUT="5")
        for name, args in _commands(mixed_dataset, tmp_path, server.url).items():
            heard = len(server.received)
            result = run_curate(["--traceback", *args], env=env)
            assert result.returncode != 0, (name, result.stderr[-2000:])
            assert "Traceback (most recent call last)" in result.stderr, (name, result.stderr[-2000:])
            sent = server.received[heard:]
            secret = MP_KEY if name == "pull mp" else TOKEN
            # the endpoint got the secret and echoed it: the test is only worth something if it did
            assert any(secret in str(headers) for headers in sent), (name, sent)
            for stream, text in (("stdout", result.stdout), ("stderr", result.stderr)):
                hits += [f"{name} {stream} {s[:6]}" for s in (TOKEN, MP_KEY) if s in text]
            if name != "pull mp":
                assert "[redacted]" in result.stderr, (name, result.stderr[-2000:])  # the echo was printed
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()]
    written += [p for p in mixed_dataset.rglob("*") if p.is_file()]
    hits += [str(p) for p in written if TOKEN.encode() in p.read_bytes() or MP_KEY.encode() in p.read_bytes()]
    assert hits == []
