"""Real structures (Si64 molecular dynamics, Si2 relaxation) and small random MACE / matgl models on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.dataset.configuration import Configuration, batch_to_configurations
from curate.dataset.store import Dataset
from curate.sources.ingest import import_paths

from .builders import build_mace_file, build_matgl_dir

SI64_MD = "vasp/pymatgen_core/outputs__vasprun.md.xml.gz"
SI_TASKS = "emmet/test_si_tasks.json.gz"


@pytest.fixture(scope="session")
def real_dataset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real PBE frames: 10 Si64 MD frames (2000 K) and the 7 ionic steps of emmet's Si tasks (Si8, Si2)."""
    out = tmp_path_factory.mktemp("real") / "si"
    import_paths([shared_data / SI64_MD], format_name="vasp", out=out)
    import_paths([shared_data / SI_TASKS], format_name="mp-tasks", out=out)
    return out


@pytest.fixture(scope="session")
def real_structures(real_dataset: Path) -> list[Configuration]:
    """Five real structures of mixed size: Si64 MD frames 1-3 (forces up to 3 eV/A), one Si8, one Si2."""
    rows = batch_to_configurations(Dataset.open(real_dataset).read())
    si64 = sorted((c for c in rows if c.nsites == 64), key=lambda c: c.ionic_step or 0)
    si8 = [c for c in rows if c.nsites == 8]
    si2 = [c for c in rows if c.nsites == 2]
    return [*si64[1:4], si8[0], si2[0]]


@pytest.fixture(scope="session")
def mace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random MACE model saved with torch.save, as mace_run_train writes it."""
    return build_mace_file(tmp_path_factory.mktemp("mace") / "tiny.model")


@pytest.fixture(scope="session")
def matgl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random M3GNet potential saved with Potential.save."""
    return build_matgl_dir(tmp_path_factory.mktemp("matgl") / "tiny-m3gnet")
