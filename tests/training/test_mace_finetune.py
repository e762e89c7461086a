"""What only MACE fine-tuning does (the shared contract is tests/training/test_fine_tuner_conformance.py):
a plain MACE is promoted to ScaleShiftMACE to carry the energy scale; heads refuses more blocks than it has."""

from __future__ import annotations

import numpy as np
import pytest

from curate.errors import ConfigurationError
from curate.models import Model
from curate.models.base import ModelInfo
from curate.models.mace import MACEModel
from curate.training.data import TrainingSet
from curate.training.mace_finetune import bake_energy_scale
from curate.training.registry import FINE_TUNERS
from curate.training.settings import TrainingSettings

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_plain_mace_becomes_scale_shift_with_same_numbers_times_s(si: TrainingSet, mace: Model) -> None:
    """A MACE without scale_shift is promoted to ScaleShiftMACE(scale=s, shift=0): forces x s exactly."""
    from mace import modules

    frame = [si.configurations[1]]
    plain = _plain_copy(FINE_TUNERS["mace"].native(mace))  # type: ignore[attr-defined]
    info = ModelInfo("mace:plain", "mace:plain", "mace", "0", "unknown", "mace", "", "")
    before = MACEModel.from_module(plain, info=info, device="cpu").predict(frame, max_atoms_per_batch=64)[0]
    baked = bake_energy_scale(plain, 0.8)
    assert type(baked) is modules.ScaleShiftMACE
    after = MACEModel.from_module(baked, info=info, device="cpu").predict(frame, max_atoms_per_batch=64)[0]
    e0 = 64 * float(baked.atomic_energies_fn.atomic_energies[list(baked.atomic_numbers).index(14)])
    assert after.energy == pytest.approx(e0 + 0.8 * (before.energy - e0), rel=1e-12)
    np.testing.assert_allclose(after.forces, 0.8 * before.forces, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(after.stress, 0.8 * before.stress, rtol=1e-10, atol=1e-12)


def test_heads_refuses_more_blocks_than_the_model_has(si: TrainingSet, mace: Model) -> None:
    settings = TrainingSettings(epochs=1, batch_size=2, atomref="refit", heads_trainable_blocks=3)
    with pytest.raises(ConfigurationError, match="2 interaction blocks"):
        FINE_TUNERS["mace"].finetune(mace, si.subset([1, 10]), None, method="heads", settings=settings)


def _plain_copy(model: object) -> object:
    """A plain MACE (E = sum E0 + readouts) computing what ``model`` (a ScaleShiftMACE, scale 1, shift 0) does."""
    import copy

    from mace import modules

    plain = copy.deepcopy(model)
    assert float(plain.scale_shift.scale) == 1.0 and float(plain.scale_shift.shift) == 0.0
    plain.__class__ = modules.MACE
    del plain.scale_shift
    return plain
