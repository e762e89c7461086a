"""The quality gate: checks on single configurations (run by every importer) and on whole datasets.

Severity ``error`` means the row cannot be trusted (an importer quarantines it; ``curate check --strict``
fails); ``warning`` flags something a person should look at (all-zero forces are real for high-symmetry
structures, unlabelled rows are allowed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from ase.data import atomic_numbers, covalent_radii

from curate.checks.geometry import MAX_MIN_DISTANCE_FACTOR, cell_problem, closest_pair_below
from curate.dataset.configuration import Configuration, Rejected, check_configuration
from curate.errors import ConfigurationError, RecordRejected

Severity = Literal["error", "warning"]

MIN_DISTANCE_FACTOR = 0.5
MAX_STRESS_GPA = 500.0
MAX_ABS_ENERGY_PER_ATOM_EV = 100.0
MAX_FORCE_EV_PER_ANG = 100.0


@dataclass(frozen=True)
class Finding:
    """One problem found in one row: which field, what is wrong, how bad."""

    check: str
    field: str
    severity: Severity
    reason: str


def min_distance_violation(cfg: Configuration, *, factor: float = MIN_DISTANCE_FACTOR) -> str | None:
    """Describe the closest pair if any two atoms are closer than ``factor`` x (r_cov,i + r_cov,j), else None.

    Uses covalent radii from ASE and periodic images along periodic directions. The cell must have passed
    :func:`curate.checks.geometry.cell_problem` (the gate checks it first), which bounds the work.

    Raises:
        ConfigurationError: ``factor`` outside [0, MAX_MIN_DISTANCE_FACTOR].
    """
    if not 0.0 <= factor <= MAX_MIN_DISTANCE_FACTOR:
        raise ConfigurationError(
            f"min_distance_factor must lie in [0, {MAX_MIN_DISTANCE_FACTOR:g}] (x the sum of covalent radii), "
            f"got {factor!r}"
        )
    radii = factor * covalent_radii[[atomic_numbers[s] for s in cfg.species]]
    closest = closest_pair_below(cfg.positions, cfg.lattice, cfg.pbc, radii)
    if closest is None:
        return None
    a, b, distance = closest
    limit = radii[a] + radii[b]
    return (
        f"atoms {a} ({cfg.species[a]}) and {b} ({cfg.species[b]}) are {distance:.3f} A apart, below the physical "
        f"minimum {limit:.3f} A ({factor} x sum of covalent radii)"
    )


def configuration_findings(cfg: Configuration, *, min_distance_factor: float = MIN_DISTANCE_FACTOR) -> list[Finding]:
    """Every finding for one configuration, errors first."""
    try:
        check_configuration(cfg)
    except RecordRejected as exc:
        return [Finding("shape-and-finite", exc.field or "", "error", exc.reason)]
    degenerate = cell_problem(cfg.lattice, cfg.positions, cfg.pbc)
    if degenerate is not None:
        return [Finding("cell-shape", degenerate[0], "error", degenerate[1])]
    findings: list[Finding] = []
    too_close = min_distance_violation(cfg, factor=min_distance_factor)
    if too_close:
        findings.append(Finding("min-distance", "cartesian_site_positions", "error", too_close))
    if cfg.stress is not None:
        peak = float(np.abs(cfg.stress).max())
        if peak > MAX_STRESS_GPA:
            findings.append(
                Finding(
                    "stress-magnitude",
                    "stress",
                    "error",
                    f"|stress| reaches {peak:.1f} GPa (> {MAX_STRESS_GPA:g} GPa): "
                    "a kBar value stored as GPa, or eV/A^3 "
                    "mistaken for another unit?",
                )
            )
    if cfg.energy is not None and abs(cfg.energy / cfg.nsites) > MAX_ABS_ENERGY_PER_ATOM_EV:
        findings.append(
            Finding(
                "energy-magnitude",
                "energy",
                "error",
                f"|energy per atom| is {abs(cfg.energy / cfg.nsites):.1f} eV (> {MAX_ABS_ENERGY_PER_ATOM_EV:g}): "
                "not eV, or a per-cell/per-atom mix-up?",
            )
        )
    if cfg.forces is not None:
        peak_force = float(np.linalg.norm(cfg.forces, axis=1).max())
        if peak_force > MAX_FORCE_EV_PER_ANG:
            findings.append(
                Finding(
                    "force-magnitude",
                    "forces",
                    "error",
                    f"largest force is {peak_force:.1f} eV/A (> {MAX_FORCE_EV_PER_ANG:g}): wrong unit (Hartree/bohr?)",
                )
            )
        elif cfg.nsites > 1 and not np.any(cfg.forces):
            findings.append(
                Finding(
                    "all-zero-forces",
                    "forces",
                    "warning",
                    "every force component is exactly 0 (real for high-symmetry sites, a missing label otherwise)",
                )
            )
    if cfg.scf_converged is False:
        findings.append(
            Finding(
                "scf-unconverged",
                "scf_converged",
                "warning",
                "the electronic self-consistency stopped at NELM: energy and forces of this step are not converged",
            )
        )
    missing = [name for name in ("energy", "forces", "stress") if getattr(cfg, name) is None]
    if missing:
        findings.append(Finding("missing-labels", ",".join(missing), "warning", f"no {', '.join(missing)} label"))
    return findings


def first_error(findings: list[Finding]) -> Finding | None:
    """The first error-severity finding, if any."""
    return next((f for f in findings if f.severity == "error"), None)


def duplicate_ids(ids: Iterator[str]) -> dict[str, int]:
    """Ids that occur more than once, with their counts."""
    seen: dict[str, int] = {}
    for row_id in ids:
        seen[row_id] = seen.get(row_id, 0) + 1
    return {k: v for k, v in seen.items() if v > 1}


def gate(
    items: Iterable[Configuration | Rejected],
    *,
    min_distance_factor: float = MIN_DISTANCE_FACTOR,
    fallback_record: str = "?",
    on_error: Callable[[Finding], None] | None = None,
) -> Iterator[Configuration | Rejected]:
    """The quality gate over a stream: configurations with no error finding pass, the others become Rejected.

    Rejected items already in the stream pass through unchanged. ``on_error`` is called with the first error
    finding of each configuration turned away (to count rejections by check); ``fallback_record`` names a
    configuration without ``source_record`` in its Rejected.
    """
    for item in items:
        if isinstance(item, Rejected):
            yield item
            continue
        error = first_error(configuration_findings(item, min_distance_factor=min_distance_factor))
        if error is None:
            yield item
            continue
        if on_error is not None:
            on_error(error)
        yield Rejected(item.source_record or fallback_record, error.field, error.reason)
