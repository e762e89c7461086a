"""Known answer with CHGNet 0.3.0 on real binaries: curate's linear correction of scale s (baked into the
weights by the fine-tuner, and as a calculator scale) multiplies K_VRH, G_VRH, B0 and omega^2 by s."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.diagnostics.properties import ModelVariant, PropertySettings
from curate.diagnostics.properties_run import compute_properties
from curate.diagnostics.property_inputs import load_elasticity_reference, select_materials

pytestmark = [pytest.mark.slow, pytest.mark.model]

SCALE = 1.398126  # the linear correction curate finetune fits on mlearn's Ge training set


@pytest.fixture(scope="module")
def baked_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    """CHGNet 0.3.0 with the energy scale baked into its readout, saved as curate finetune --method linear does."""
    from curate.models import load_model
    from curate.training.chgnet_finetune import CHGNetFineTuner

    tuner = CHGNetFineTuner()
    native = tuner.copy(tuner.native(load_model("chgnet@0.3.0", device="cpu")))
    return tuner.save_native(tuner.scale_energy(native, SCALE), tmp_path_factory.mktemp("linear"))


def test_linear_correction_scales_chgnet_moduli_and_phonons_by_s(shared_data: Path, baked_spec: str) -> None:
    reference = load_elasticity_reference(shared_data / "matcalc/mp-binary-pbe-elasticity-2025.1.json.gz")
    items = select_materials(reference, ["mp-1265", "mp-1560"])  # MgO, LaTe: rock salt, 2 atoms
    variants = [
        ModelVariant("chgnet", "chgnet@0.3.0"),
        ModelVariant("baked", baked_spec),
        ModelVariant("scaled", "chgnet@0.3.0", SCALE),
    ]
    settings = PropertySettings(properties=("elasticity", "eos", "phonon"), phonon_min_length_ang=6.0)
    records = list(compute_properties(items, variants, settings, device="cpu"))
    for record in records:
        base = record["variants"]["chgnet"]["values"]
        assert record["variants"]["chgnet"]["errors"] == {}, record["id"]
        # CHGNet is softer than PBE here, and within 25 % of it
        dft = record["bulk_modulus_dft_gpa"]
        assert 0.75 * dft < base["bulk_modulus_vrh_gpa"] < 1.05 * dft
        for label in ("baked", "scaled"):
            values = record["variants"][label]["values"]
            for key in ("bulk_modulus_vrh_gpa", "shear_modulus_vrh_gpa", "bulk_modulus_eos_gpa"):
                assert values[key] / base[key] == pytest.approx(SCALE, rel=1e-3), (record["id"], label, key)
            square = "phonon_mean_signed_square_thz2"
            assert values[square] / base[square] == pytest.approx(SCALE, rel=1e-3), (record["id"], label)
            assert (values["phonon_max_thz"] / base["phonon_max_thz"]) ** 2 == pytest.approx(SCALE, rel=1e-3)
