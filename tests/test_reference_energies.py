"""AtomRef (least-squares elemental reference energies): known answers on real compositions and energies."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from curate.diagnostics.reference_energies import counts_of, fit_atomref
from curate.errors import ConfigurationError


def mp_elemental_refs(shared_data: Path) -> dict[str, float]:
    """Materials Project PBE elemental reference energies (eV/atom) from matbench-discovery's entries."""
    with gzip.open(shared_data / "matbench_discovery" / "2023-02-07-mp-elemental-reference-entries.json.gz") as fh:
        entries = json.load(fh)
    return {element: e["energy"] / sum(e["composition"].values()) for element, e in entries.items()}


def real_compositions(shared_data: Path) -> list[dict[str, int]]:
    """Element counts of real structures: every MP task document in shared/data/emmet and the 89 MatPES cells."""
    compositions = []
    for name in ("tasks_Li_Fe_V.json.gz", "test_As2SO6_tasks.json.gz", "magnetism_task_docs.json.gz"):
        with gzip.open(shared_data / "emmet" / name) as fh:
            for doc in json.load(fh):
                sites = doc["calcs_reversed"][0]["output"]["ionic_steps"][-1]["structure"]["sites"]
                compositions.append(counts_of(s["species"][0]["element"] for s in sites))
    with gzip.open(shared_data / "matcalc" / "MatPES-PBE-Element-Refs.json.gz") as fh:
        for doc in json.load(fh).values():
            compositions.append(counts_of(s["species"][0]["element"] for s in doc["structure"]["sites"]))
    return compositions


def test_recovers_planted_energies_on_real_compositions(shared_data: Path):
    planted = mp_elemental_refs(shared_data)
    compositions = [c for c in real_compositions(shared_data) if set(c) <= set(planted)]
    rng = np.random.default_rng(7)
    energies = [sum(n * planted[e] for e, n in c.items()) + rng.normal(0, 1e-3) * sum(c.values()) for c in compositions]
    ref = fit_atomref(compositions, energies)
    assert ref.num_rows == len(compositions) > 150 and ref.rank == len(ref.energies_ev_per_atom) == 89
    errors = np.array([ref.energies_ev_per_atom[e] - planted[e] for e in ref.energies_ev_per_atom])
    assert np.max(np.abs(errors)) < 3e-3  # noise is 1e-3 eV/atom
    assert 5e-4 < ref.rmse_ev_per_atom < 1.5e-3
    assert ref.predict_per_atom({"Fe": 2, "O": 3}) == pytest.approx(0.4 * planted["Fe"] + 0.6 * planted["O"], abs=3e-3)


def test_elemental_entries_are_their_own_references(shared_data: Path):
    refs = mp_elemental_refs(shared_data)
    with gzip.open(shared_data / "matbench_discovery" / "2023-02-07-mp-elemental-reference-entries.json.gz") as fh:
        entries = json.load(fh)
    ref = fit_atomref([e["composition"] for e in entries.values()], [e["energy"] for e in entries.values()])
    assert ref.rank == 89 and ref.rmse_ev_per_atom < 1e-9
    assert all(ref.energies_ev_per_atom[e] == pytest.approx(v, abs=1e-9) for e, v in refs.items())
    assert ref.energies_ev_per_atom["Fe"] == pytest.approx(-8.47002, abs=1e-5)  # MP's PBE bcc Fe (uncorrected)
    assert ref.energies_ev_per_atom["O"] == pytest.approx(-4.94669, abs=1e-5)  # MP's PBE O2 (uncorrected)


def test_rejects_empty_and_mismatched_input():
    with pytest.raises(ConfigurationError, match="no structures"):
        fit_atomref([], [])
    with pytest.raises(ConfigurationError, match="2 compositions but 1 energies"):
        fit_atomref([{"Si": 2}, {"Si": 8}], [-10.8])
