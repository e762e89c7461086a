"""What only matgl fine-tuning does (the shared contract is tests/training/test_fine_tuner_conformance.py):
the energy scale lives in data_std and data_mean, ZBL repulsion is refused, heads refuses extra blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.errors import ConfigurationError
from curate.models import Model, load_model
from curate.training.data import TrainingSet
from curate.training.matgl_finetune import bake_energy_scale, copy_potential
from curate.training.registry import FINE_TUNERS
from curate.training.settings import TrainingSettings

from ..models.builders import ELEMENTS
from .conftest import M3GNET_ELEMENT_REFS

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_linear_scales_data_std_and_keeps_element_refs(si: TrainingSet, m3gnet: Model, tmp_path: Path) -> None:
    tuner = FINE_TUNERS["matgl"]
    structures = si.subset([11])  # a Si2 cell
    _, references = tuner.fit_inputs(m3gnet, tuner.native(m3gnet), structures)  # type: ignore[attr-defined]
    assert references[0] == pytest.approx(2 * M3GNET_ELEMENT_REFS[ELEMENTS.index("Si")], rel=1e-6)
    result = tuner.finetune(m3gnet, structures, None, method="linear", settings=TrainingSettings())
    reloaded = load_model(result.save_model(tmp_path / "linear"), device="cpu")
    assert result.energy_scale is not None and result.extra["baked_into"] == ["data_std", "data_mean"]
    assert float(reloaded.potential.data_std) == pytest.approx(2.0 * result.energy_scale, rel=1e-6)  # type: ignore[attr-defined]
    assert float(reloaded.potential.data_mean) == pytest.approx(0.1 * result.energy_scale, rel=1e-6)  # type: ignore[attr-defined]


def test_linear_refuses_zbl_repulsion(m3gnet: Model) -> None:
    """ZBL repulsion is outside data_std and data_mean: no exact bake, so a clear refusal."""
    potential = copy_potential(m3gnet.potential)  # type: ignore[attr-defined]  # after a forward pass, which plain deepcopy refuses
    potential.calc_repuls = True
    with pytest.raises(ConfigurationError, match="ZBL repulsion"):
        bake_energy_scale(potential, 1.1)


def test_heads_refuses_more_blocks_than_the_model_has(si: TrainingSet, m3gnet: Model) -> None:
    settings = TrainingSettings(epochs=1, batch_size=2, atomref="refit", heads_trainable_blocks=3)
    with pytest.raises(ConfigurationError, match="2 interaction blocks"):
        FINE_TUNERS["matgl"].finetune(m3gnet, si.subset([1, 10]), None, method="heads", settings=settings)
