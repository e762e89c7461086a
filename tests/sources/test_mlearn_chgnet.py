"""mlearn Ge test set against CHGNet 0.3.0: the stored stress (sign, unit, Voigt order) and the softening scale."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.dataset.configuration import batch_to_configurations
from curate.dataset.store import Dataset

pytestmark = [pytest.mark.model, pytest.mark.slow]

GE_TEST = "mlearn/Ge_test.json"
# off-diagonal (i, j) of the 3x3 stress for each shear mode of mlearn's 'Elastic' cells (cell vector tilted)
SHEAR_SLOT = {"mode 3": (0, 1), "mode 4": (0, 2), "mode 5": (1, 2)}


@pytest.fixture(scope="module")
def ge_test(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`curate import mlearn` of Ge_test.json (25 PBE structures: AIMD, vacancies, a slab, 6 strained cells)."""
    out = tmp_path_factory.mktemp("mlearn") / "ge-test"
    result = CliRunner().invoke(main, ["import", "mlearn", str(shared_data / GE_TEST), "--out", str(out), "--strict"])
    assert result.exit_code == 0, result.output
    return out


def test_strained_cells_stress_matches_chgnet_in_sign_unit_and_order(ge_test: Path) -> None:
    """The six 'Elastic' cells (modes 0-5 at strain -0.06: three normal, three shear) against CHGNet's stress.

    CHGNet returns GPa with the ASE sign. Every component above 1 GPa must agree in sign and within a factor
    of 3 (measured ratios 0.45 to 1.26; CHGNet 0.3.0 is softest in shear, 0.45x); the shear of each tilted cell
    must sit in the same off-diagonal slot in both, with CHGNet's other off-diagonals near zero.
    """
    from chgnet.model import CHGNet
    from pymatgen.core import Lattice, Structure

    rows = [c for c in batch_to_configurations(Dataset.open(ge_test).read()) if " Elastic: " in c.source_record]
    rows.sort(key=lambda c: c.source_record)
    assert len(rows) == 6
    structures = [Structure(Lattice(c.lattice), c.species, c.positions, coords_are_cartesian=True) for c in rows]
    model = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)
    predicted = np.array([p["s"] for p in model.predict_structure(structures, task="efs", batch_size=2)])
    stored = np.array([c.stress for c in rows])
    large = np.abs(stored) > 1.0
    assert large.sum() == 6 * 3 + 3 * 2  # every diagonal, and each shear cell's pair of symmetric components
    assert np.all(np.sign(predicted[large]) == np.sign(stored[large]))
    ratio = predicted[large] / stored[large]
    assert np.all((ratio > 0.33) & (ratio < 3.0)), f"same unit expected, ratios {ratio}"
    for cfg, chgnet in zip(rows, predicted, strict=True):
        slot = next((s for mode, s in SHEAR_SLOT.items() if f"{mode}," in cfg.source_record), None)
        off_diagonal = [(i, j) for i in range(3) for j in range(i + 1, 3)]
        for i, j in off_diagonal:
            if (i, j) == slot:
                # compressive shear strain -0.06: ASE-sign shear stress of about -9.4 GPa (PBE), -4.2 (CHGNet)
                assert cfg.stress[i, j] < -5.0 and chgnet[i, j] < -2.0, (cfg.source_record, i, j)
            else:
                assert abs(cfg.stress[i, j]) < 1e-3 and abs(chgnet[i, j]) < 0.05, (cfg.source_record, i, j)


def test_chgnet_softening_scale_on_ge_test(ge_test: Path, tmp_path: Path) -> None:
    """`curate softening` on the imported Ge test set: CHGNet 0.3.0 under-predicts PBE forces (0.609 measured)."""
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["softening", str(ge_test), "--model", "chgnet@0.3.0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    overall = json.loads((out / "softening.json").read_text())["overall"]
    assert overall["force_components"] == 1568 * 3
    assert overall["softening_scale"] == pytest.approx(0.6093, abs=0.005)
    assert overall["force_mae_ev_per_ang"] == pytest.approx(0.2055, abs=0.002)
    assert overall["force_cmae_ev_per_ang"] < overall["force_mae_ev_per_ang"]
