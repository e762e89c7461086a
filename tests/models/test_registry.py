"""Model specs: the explicit list of names, clear one-line errors for weights missing offline, atom batching."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.errors import ConfigurationError
from curate.models import CHGNET_SPECS, atom_batches, default_max_atoms_per_batch, load_model, parse_spec


def test_chgnet_specs_are_the_three_wheel_models() -> None:
    assert CHGNET_SPECS == ("chgnet@0.3.0", "chgnet@0.2.0", "chgnet@r2scan")
    assert [parse_spec(s).location for s in CHGNET_SPECS] == ["0.3.0", "0.2.0", "r2scan"]
    assert parse_spec("chgnet").text == "chgnet@0.3.0"
    assert parse_spec("mace:/x/y.model").architecture == "mace"
    assert parse_spec("matgl:models/m3gnet").location == "models/m3gnet"
    assert parse_spec("chgnet:/runs/ft/chgnet-finetuned.pth.tar").text == "chgnet:/runs/ft/chgnet-finetuned.pth.tar"


@pytest.mark.parametrize("spec", ["chgnet@0.1.0", "sevennet:7net-0", "mace", "matgl:", "chgnet:"])
def test_unknown_spec_names_the_valid_forms(spec: str) -> None:
    with pytest.raises(
        ConfigurationError, match=r"chgnet@0\.3\.0, chgnet@0\.2\.0, chgnet@r2scan.*mace:FILE.*matgl:DIR"
    ):
        parse_spec(spec)


@pytest.mark.parametrize(
    ("spec", "hint"),
    [
        ("mace:medium", r"foundation-model name.*local file.*mace:/path/to/model\.model"),
        ("chgnet:0.3.0", r"CHGNet model file 0\.3\.0 not found.*chgnet@0\.3\.0\|0\.2\.0\|r2scan"),
        ("mace:/nonexistent/model.model", r"no MACE model file.*local file"),
        ("matgl:M3GNet-MP-2021.2.8-PES", r"no matgl model directory.*does not download.*matgl:DIR"),
    ],
)
def test_missing_weights_fail_fast_offline_with_a_hint(spec: str, hint: str) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(ConfigurationError, match=hint):
        load_model(spec, device="cpu")  # refused from the spec alone: no download attempt offline


def test_cli_reports_missing_model_in_one_line(tmp_path: Path, real_dataset: Path) -> None:
    result = CliRunner().invoke(main, ["predict", str(real_dataset), "-m", "mace:medium", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("curate: error: 'medium' is a MACE foundation-model name")
    assert "Traceback" not in result.output


def test_cuda_request_without_gpu_is_a_configuration_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ConfigurationError, match="no CUDA device"):
        load_model("chgnet@0.3.0", device="cuda")


def test_atom_batches_bound_atoms_not_structures() -> None:
    sizes = [64, 2, 2, 64, 300, 1, 1]
    batches = atom_batches(sizes, 128)
    assert [list(b) for b in batches] == [[0, 1, 2], [3], [4], [5, 6]]
    assert all(sum(sizes[i] for i in b) <= 128 for b in batches if len(b) > 1)
    assert [list(b) for b in atom_batches(sizes, 1)] == [[i] for i in range(7)]
    assert atom_batches([], 10) == []


def test_default_batch_fits_a_quarter_of_memory() -> None:
    n = default_max_atoms_per_batch(bytes_per_atom=14_000_000)
    assert 16 <= n <= 2048
    assert default_max_atoms_per_batch(bytes_per_atom=10**15) == 16
