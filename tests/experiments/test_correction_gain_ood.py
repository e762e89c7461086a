"""``curate correction-gain`` reports the correction's out-of-domain change next to its in-domain gain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main

from .test_correction_gain import si64_split  # noqa: F401 - fixture


@pytest.mark.model
@pytest.mark.slow  # ~2 min on 2 cores
def test_correction_gain_reports_the_out_of_domain_verdict(
    si64_split: dict[str, Path],  # noqa: F811
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CURATE_REFERENCE_DATA", str(shared_data))
    args = [f"--{role}={si64_split[role]}" for role in ("pool", "correction", "benchmark")]
    out = tmp_path / "gain"
    command = [
        "correction-gain", *args, "-m", "chgnet@0.3.0", "--method", "linear", "--repeats", "2",
        "--device", "cpu", "--out", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "validation.json").read_text())
    ood = report["correction"]["out_of_domain"]
    assert list(ood["before"]) == ["matpes-pbe", "mp-tasks"]
    assert ood["before"]["mp-tasks"]["force_mae_ev_per_ang"] == pytest.approx(0.0468, abs=5e-4)
    # the in-domain gain is real, and the same scale (~1.5) stiffens every other chemistry
    assert report["correction"]["metrics"]["force_mae_ev_per_ang"] < report["before"]["force_mae_ev_per_ang"]
    assert ood["verdict"].startswith("worse outside its target")
    markdown = (out / "validation.md").read_text()
    assert "| out-of-domain part |" in markdown and f"**{ood['verdict']}**" in markdown
    # seed 0 draws the correction frame first (its model and out-of-domain record reused), then frame 3
    assert report["random"][0]["same_as"] == "correction" and report["random"][0]["out_of_domain"] == ood
    assert report["random"][1]["out_of_domain"] is None
