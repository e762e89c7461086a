"""``curate publish`` and ``curate pull hf`` through the real huggingface_hub client, in a separate process, against
the local Hub of :mod:`tests.publish.fake_hub` (HF_ENDPOINT=http://127.0.0.1:PORT). Nothing in the client is
patched: what the server receives is what the real Hub would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.dataset.store import Dataset

from .conftest import TOKEN, hub_env, run_curate
from .fake_hub import FakeHub


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    server = FakeHub(token=TOKEN).start()
    yield server
    server.stop()


def _folder_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _assert_no_token(*places: Path, texts: list[str]) -> None:
    needle = TOKEN.encode()
    for place in places:
        for path in place.rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), path
    for text in texts:
        assert TOKEN not in text


def test_upload_equals_dry_run_then_pull_round_trips(
    hub: FakeHub, mixed_dataset: Path, release: Path, tmp_path: Path
) -> None:
    env = hub_env(hub.endpoint, tmp_path / "hf-home")
    args = ["publish", str(mixed_dataset), "--repo", "org/mixed", "--private", "--commit-mb", "0.06"]
    published = run_curate(args, env=env)
    assert published.returncode == 0, published.stderr
    assert published.stdout.strip() == f"{hub.endpoint}/datasets/org/mixed"
    received = hub.files("org/mixed")
    expected = _folder_files(release)  # the dry run made in another process: same bytes
    assert sorted(received) == sorted(expected) and len(expected) == 10
    assert [p for p in expected if received[p] != expected[p]] == []
    repo = hub.state.repos["org/mixed"]
    assert repo.private
    # data shards first, in commits of <= 0.06 MB, and the card with figures last
    assert [c["summary"] for c in repo.commits][-1].startswith("curate publish: commit")
    assert ("file", "README.md") in repo.commits[-1]["operations"]
    assert all(not path.startswith("README") for c in repo.commits[:-1] for _, path in c["operations"])
    routes = {(method, path.split("/")[1] + "/" + path.split("/")[2]) for method, path in hub.state.requests}
    assert routes == {
        ("POST", "api/repos"),
        ("POST", "api/validate-yaml"),
        ("GET", "api/datasets"),
        ("POST", "api/datasets"),
    }
    assert f"10 files uploaded, 0 already on the Hub, 0 stale files deleted in {len(repo.commits)} commits" in (
        published.stderr
    )

    pulled_dir = tmp_path / "pulled"
    pulled = run_curate(["pull", "hf", "org/mixed", "--out", str(pulled_dir)], env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "292 rows added, 0 already present from 6 files" in pulled.stderr
    before = {r["id"]: r for r in Dataset.open(mixed_dataset).read().to_pylist()}
    after = {r["id"]: r for r in Dataset.open(pulled_dir).read().to_pylist()}
    assert set(after) == set(before)
    assert all(
        {k: v for k, v in after[i].items() if k != "split"} == {k: v for k, v in before[i].items() if k != "split"}
        for i in before
    )
    assert Dataset.open(pulled_dir).manifest["hf_release"]["revision"] == repo.sha

    _assert_no_token(
        release,
        mixed_dataset,
        pulled_dir,
        tmp_path / "hf-home",
        texts=[published.stdout, published.stderr, pulled.stderr],
    )
    for data in received.values():
        assert TOKEN.encode() not in data


def test_interrupted_upload_resumes_and_stale_files_go(hub: FakeHub, mixed_dataset: Path, tmp_path: Path) -> None:
    env = hub_env(hub.endpoint, tmp_path / "hf-home")
    hub.state.fail_commits = {2}
    args = ["publish", str(mixed_dataset), "--repo", "org/resume", "--commit-mb", "0.06", "--shard-mb", "0.2"]
    failed = run_curate(args, env=env)
    assert failed.returncode == 2
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("curate: error: Hugging Face Hub refused 'commit 2/") and last.endswith("(HTTP 500)")
    assert "Traceback" not in failed.stderr
    first_commit = hub.state.repos["org/resume"].commits[0]["operations"]
    assert first_commit and all(path.startswith("data/") for _, path in first_commit)

    folder = tmp_path / "release"
    resumed = run_curate([*args, "--out", str(folder)], env=env)
    assert resumed.returncode == 0, resumed.stderr
    local = _folder_files(folder)
    assert f"{len(local) - len(first_commit)} files uploaded, {len(first_commit)} already on the Hub" in resumed.stderr
    assert hub.files("org/resume") == local

    # a new layout (bigger shards): files the release no longer has are deleted in the last commit
    bigger = tmp_path / "bigger"
    republished = run_curate([*args[:-2], "--out", str(bigger)], env=env)
    assert republished.returncode == 0, republished.stderr
    remote = hub.files("org/resume")
    assert remote == _folder_files(bigger)
    stale = set(local) - set(remote)
    assert stale and all(path.startswith("data/") for path in stale)
    assert f"{len(stale)} stale files deleted" in republished.stderr
    _assert_no_token(folder, bigger, texts=[failed.stderr, resumed.stderr, republished.stderr, resumed.stdout])


def test_refusals_are_one_line_errors(hub: FakeHub, mixed_dataset: Path, tmp_path: Path) -> None:
    wrong = "hf_wrongTOKEN0000000000000000000"
    env = hub_env(hub.endpoint, tmp_path / "hf-home", token=wrong)
    result = run_curate(["publish", str(mixed_dataset), "--repo", "org/x"], env=env)
    assert result.returncode == 2
    assert (
        result.stderr.strip().splitlines()[-1]
        == "curate: error: Hugging Face Hub refused 'create repo' for org/x (HTTP 401)"
    )
    assert wrong not in result.stderr + result.stdout and "Traceback" not in result.stderr
    del env["HF_TOKEN"]
    result = run_curate(["publish", str(mixed_dataset), "--repo", "org/x"], env=env)
    assert result.returncode == 2
    assert "curate: error: no Hugging Face token: set HF_TOKEN or run `hf auth login`" in result.stderr
    offline = hub_env(hub.endpoint, tmp_path / "hf-home") | {"HF_HUB_OFFLINE": "1"}
    result = run_curate(["publish", str(mixed_dataset), "--repo", "org/x"], env=offline)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"curate: error: cannot reach the Hugging Face Hub at {hub.endpoint} during 'create repo' for org/x: "
        "OfflineModeIsEnabled (HF_HUB_OFFLINE is set)"
    )
    result = run_curate(["pull", "hf", "org/x", "--out", str(tmp_path / "nope")], env=offline)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "curate: error: cannot download Hub dataset org/x: the Hub is not reachable and no copy is cached" in (
        result.stderr
    )
    # only the wrong-token run reached the server: create refused (401), then the client's repo-exists check (401)
    assert hub.state.repos == {}
    assert hub.state.requests == [("POST", "/api/repos/create"), ("GET", "/api/datasets/org/x")]
