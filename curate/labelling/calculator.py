"""Label candidates with a calculator instead of DFT: ASE's EMT, or any uMLIP by its model spec (a teacher).

Such labels are model outputs, not DFT: ``functional`` records the calculator (``EMT``,
``model:chgnet@0.3.0``) so they can never be mistaken for PBE or r2SCAN labels. Each labelled row keeps the
candidate's provenance and has ``parent_id`` = the candidate's id. Labelling is a pure function of a task's
rows (:func:`label_task`), so any :mod:`curate.execution` executor can run it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from curate.dataset.configuration import Configuration
from curate.errors import ConfigurationError
from curate.execution import Executor, InProcessExecutor
from curate.labelling.provenance import apply_sidecar, sidecar_for
from curate.models.calculator import calculator_factory, check_calculator_spec, is_ase_calculator, to_atoms

if TYPE_CHECKING:
    from curate.sources.ingest import FileReport

LABEL_ROWS_PER_TASK = 32


def _labelled(
    candidate_id: str, cfg: Configuration, *, energy: float, forces: np.ndarray, stress: np.ndarray, label: str
) -> Configuration:
    out = dataclasses.replace(
        cfg,
        energy=float(energy),
        energy_field="calculator",
        forces=np.asarray(forces, dtype=np.float64),
        stress=np.asarray(stress, dtype=np.float64),
        functional=label,
        hubbard_u=None,
        scf_converged=None,
        source="label",
        source_file=None,
        source_record=f"candidate {candidate_id} labelled by {label}",
    )
    return apply_sidecar(out, sidecar_for(candidate_id, cfg))


@dataclass(frozen=True)
class LabelTask:
    """One task's share of the rows: (candidate id, configuration) pairs and the calculator to label them with."""

    rows: tuple[tuple[str, Configuration], ...]
    spec: str
    device: str | None


def label_task(task: LabelTask) -> list[Configuration]:
    """Labelled copies of one task's rows, in order (runs in-process or on any worker).

    A model is loaded once per worker process (:func:`curate.execution.models.worker_model`) and reused by every
    later task on that worker.
    """
    if is_ase_calculator(task.spec):
        return [_ase_labelled(candidate_id, cfg, task.spec) for candidate_id, cfg in task.rows]
    from curate.execution.models import worker_model
    from curate.models.base import max_atoms_for

    model = worker_model(task.spec, device=task.device)
    predictions = model.predict([cfg for _, cfg in task.rows], max_atoms_per_batch=max_atoms_for([model]))
    return [
        _labelled(
            candidate_id,
            cfg,
            energy=prediction.energy,
            forces=prediction.forces,
            stress=prediction.stress,
            label=f"model:{model.info.spec}",
        )
        for (candidate_id, cfg), prediction in zip(task.rows, predictions, strict=True)
    ]


def _ase_labelled(candidate_id: str, cfg: Configuration, spec: str) -> Configuration:
    """One row labelled by an ASE calculator (``emt``); functional = the calculator's name in capitals."""
    from ase.units import GPa

    atoms = to_atoms(cfg)
    atoms.calc = calculator_factory(spec)()
    stress = atoms.get_stress(voigt=False) / GPa if any(cfg.pbc) else np.zeros((3, 3))
    return _labelled(
        candidate_id,
        cfg,
        energy=atoms.get_potential_energy(),
        forces=atoms.get_forces(),
        stress=stress,
        label=spec.strip().upper(),
    )


def label_with_calculator(
    rows: Sequence[tuple[str, Configuration]],
    spec: str,
    *,
    device: str | None = None,
    executor: Executor | None = None,
    rows_per_task: int = LABEL_ROWS_PER_TASK,
) -> Iterator[Configuration]:
    """Labelled copies of ``rows`` (energy eV, forces eV/A, stress GPa ASE sign), in input order.

    ``spec`` is ``emt`` (ASE's EMT, for the metals it covers) or a model spec (``chgnet@0.3.0``, ``mace:FILE``,
    ``matgl:DIR``). Rows are labelled ``rows_per_task`` at a time (one model batch each) by ``executor``
    (None: in this process); the same tasks make the same labels whatever runs them.

    Raises:
        ConfigurationError: unknown spec (checked here, before any task is sent to a worker).
    """
    check_calculator_spec(spec)
    if rows_per_task < 1:
        raise ConfigurationError(f"rows per task must be >= 1, got {rows_per_task}")
    tasks = (
        LabelTask(tuple(rows[start : start + rows_per_task]), spec, device)
        for start in range(0, len(rows), rows_per_task)
    )
    runner = executor or InProcessExecutor()
    for labelled in runner.map(label_task, tasks):
        yield from labelled


def label_dataset(
    source_dir: Path,
    out_dir: Path,
    spec: str,
    *,
    device: str | None = None,
    executor: Executor | None = None,
    rows_per_task: int = LABEL_ROWS_PER_TASK,
) -> FileReport:
    """Label every row of the dataset at ``source_dir`` with ``spec`` into the dataset at ``out_dir``.

    ``out_dir`` is created or appended to; labelled rows pass the import quality gate (rejects are quarantined)
    and the run is recorded in its history (calculator, rows per task, executor, source, counts). See
    :func:`label_with_calculator` for ``spec``, ``device``, ``executor`` and ``rows_per_task``.
    """
    from curate.dataset.store import Dataset
    from curate.labelling.provenance import read_rows
    from curate.sources.ingest import FileReport, write_items

    rows = read_rows(source_dir)
    target = Dataset.create(out_dir)
    report = FileReport(path=str(source_dir))
    with target.writer() as writer:
        labelled = label_with_calculator(rows, spec, device=device, executor=executor, rows_per_task=rows_per_task)
        write_items(labelled, writer=writer, display_name=str(source_dir), file_report=report)
        writer.flush()
        target.record_history(
            {
                "command": "label",
                "calculator": spec,
                "task_rows": rows_per_task,
                **({"execution": executor.describe()} if executor is not None else {}),
                "source": str(source_dir),
                "rows_added": report.rows_added,
                "quarantined": report.quarantined,
            }
        )
    return report
