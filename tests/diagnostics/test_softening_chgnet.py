"""CHGNet softening on real DFT frames, checked against CHGNet called directly; the known answer with CHGNet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.models import load_model

from ..models.conftest import SI64_MD, real_dataset, real_structures  # noqa: F401 - fixtures
from .test_softening import SCALE, labelled_dataset

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def si64_softening(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """`curate import vasp` of the Si64 MD vasprun (10 frames, PBE, 2000 K), then `curate softening`."""
    work = tmp_path_factory.mktemp("si64")
    runner = CliRunner()
    imported = runner.invoke(main, ["import", "vasp", str(shared_data / SI64_MD), "--out", str(work / "si64")])
    assert imported.exit_code == 0, imported.output
    args = ["softening", str(work / "si64"), "--model", "chgnet@0.3.0", "--out", str(work / "report")]
    result = runner.invoke(main, [*args, "--attach"])
    assert result.exit_code == 0, result.output
    return work, json.loads((work / "report" / "softening.json").read_text())


@pytest.fixture(scope="module")
def independent(shared_data: Path) -> dict[str, np.ndarray]:
    """CHGNet 0.3.0 called directly on pymatgen's reading of the same vasprun (no curate code)."""
    from chgnet.model import CHGNet
    from pymatgen.io.vasp import Vasprun

    run = Vasprun(str(shared_data / SI64_MD), parse_potcar_file=False, parse_dos=False, parse_eigen=False)
    steps = run.ionic_steps
    model = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
    predicted = model.predict_structure([s["structure"] for s in steps], task="efs", batch_size=4)
    n = len(steps[0]["structure"])
    return {
        "dft_forces": np.concatenate([np.asarray(s["forces"]).reshape(-1) for s in steps]),
        "chgnet_forces": np.concatenate([p["f"].reshape(-1) for p in predicted]),
        "dft_energy_per_atom": np.array([s["e_fr_energy"] / n for s in steps]),
        "chgnet_energy_per_atom": np.array([float(p["e"]) for p in predicted]),  # CHGNet's e is eV/atom
        "dft_stress_gpa": np.array([-0.1 * np.asarray(s["stress"]) for s in steps]).reshape(-1),  # VASP kBar -> ASE GPa
        "chgnet_stress_gpa": np.array([p["s"] for p in predicted]).reshape(-1),
    }


def test_si64_slope_matches_chgnet_called_directly(si64_softening, independent) -> None:
    _, report = si64_softening
    x, y = independent["dft_forces"], independent["chgnet_forces"]
    slope = float(np.linalg.lstsq(x[:, None], y, rcond=None)[0][0])
    overall = report["overall"]
    assert overall["force_components"] == x.size == 10 * 64 * 3
    assert overall["softening_scale"] == pytest.approx(slope, abs=2e-5)
    assert overall["force_mae_ev_per_ang"] == pytest.approx(np.abs(y - x).mean(), abs=2e-5)
    assert overall["force_cmae_ev_per_ang"] == pytest.approx(np.abs(y / slope - x).mean(), abs=2e-5)
    e_err = independent["chgnet_energy_per_atom"] - independent["dft_energy_per_atom"]
    assert overall["energy_per_atom_mae_ev"] == pytest.approx(np.abs(e_err).mean(), abs=1e-5)
    s_err = independent["chgnet_stress_gpa"] - independent["dft_stress_gpa"]
    assert overall["stress_mae_gpa"] == pytest.approx(np.abs(s_err).mean(), abs=1e-4)
    # CHGNet 0.3.0 is softened on hot Si: the slope is well below 1 (0.62 measured)
    assert 0.5 < overall["softening_scale"] < 0.75
    assert report["share_groups_slope_below_1"] == 1.0


def test_si64_report_files(si64_softening) -> None:
    work, report = si64_softening
    assert report["model"]["name"] == "chgnet@0.3.0" and report["model"]["functional"] == "PBE"
    assert len(report["model"]["file_sha256"]) == 64
    md = (work / "report" / "softening.md").read_text()
    assert f"**{report['overall']['softening_scale']:.4f}**" in md
    assert (work / "report" / "softening_parity.png").stat().st_size > 20_000
    assert json.loads((work / "si64" / "reports" / "softening.json").read_text())["overall"] == report["overall"]


def test_known_answer_with_chgnet(tmp_path: Path, real_structures) -> None:  # noqa: F811
    """Labels = CHGNet 0.3.0's own predictions / 0.8 give a softening scale of 0.800000 and cMAE 0."""
    structures = real_structures[:3]  # three Si64 MD frames
    predictions = load_model("chgnet@0.3.0", device="cpu").predict(structures, max_atoms_per_batch=64)
    dataset = labelled_dataset(tmp_path / "ka", structures, predictions, ["md", "md", "md"])
    out = tmp_path / "report"
    args = ["softening", str(dataset), "-m", "chgnet@0.3.0", "--out", str(out), "--max-atoms-per-batch", "64"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    overall = json.loads((out / "softening.json").read_text())["overall"]
    assert overall["softening_scale"] == pytest.approx(SCALE, abs=1e-6)
    y = np.concatenate([p.forces.reshape(-1) for p in predictions])
    assert overall["force_mae_ev_per_ang"] == pytest.approx(0.25 * np.abs(y).mean(), rel=1e-6)
    assert overall["force_cmae_ev_per_ang"] == pytest.approx(0.0, abs=1e-6)
