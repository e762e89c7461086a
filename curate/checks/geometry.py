"""Cell sanity and the short-distance search, in bounded time whatever the input.

A nearly flat cell (a lattice row of (0, 0, 1e-5) A has a non-zero volume) or a site 1e15 A outside its cell
would make any neighbour search enumerate an unbounded number of periodic images. So the cell is judged first
(:func:`cell_problem`: volume per atom, the height of the cell along each periodic direction, fractional
coordinates of the sites) and the distance search (:func:`closest_pair_below`) then runs on at most
``(2 ceil(r_max / h_min) + 1)^3`` images of each site, with ``r_max`` bounded by
:data:`MAX_MIN_DISTANCE_FACTOR`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from matscipy.neighbours import neighbour_list
from scipy.spatial import cKDTree

# densest real solids hold ~5 A^3 per atom (diamond 5.7, solid H under pressure ~2): below 1 the cell is damage
MIN_VOLUME_PER_ATOM_ANG3 = 1.0
# a periodic repeat shorter than the shortest bond (H2: 0.74 A) cannot be a real cell
MIN_CELL_HEIGHT_ANG = 0.5
# sites are kept within one cell of their own (fractional coordinates in [-1, 2]); wrapped data sits in [0, 1)
FRACTIONAL_BOUNDS = (-1.0, 2.0)
# 1 x the sum of covalent radii is a typical bond length: a larger factor would refuse ordinary structures
MAX_MIN_DISTANCE_FACTOR = 1.0
# matscipy bins the cell by the cutoff; with many bins (vacuum, a huge cell) it slows to seconds, a k-d tree does not
MATSCIPY_MAX_BINS = 1000.0


def cell_heights(lattice: np.ndarray) -> np.ndarray:
    """Distance between opposite faces of the cell along each lattice vector (A): h_k = 1 / |b_k|.

    b_k are the columns of inv(lattice) (the reciprocal vectors without the 2 pi), so a_i . b_k = delta_ik.
    """
    try:
        inverse = np.linalg.inv(lattice)
    except np.linalg.LinAlgError:
        return np.zeros(3)
    return 1.0 / np.sqrt((inverse * inverse).sum(axis=0))


def cell_problem(lattice: np.ndarray, positions: np.ndarray, pbc: tuple[int, int, int]) -> tuple[str, str] | None:
    """(field, reason) when a periodic cell is degenerate or a site lies far outside it, else None.

    Args:
        lattice: (3, 3) cell vectors as rows, A (finite, non-zero volume: the row checks ran first).
        positions: (n, 3) Cartesian positions, A (finite).
        pbc: periodicity per lattice vector; a non-periodic structure has nothing to check here.
    """
    if not any(pbc):
        return None
    volume_per_atom = abs(float(np.linalg.det(lattice))) / max(len(positions), 1)
    if volume_per_atom < MIN_VOLUME_PER_ATOM_ANG3:
        return "lattice_vectors", (
            f"degenerate cell: {volume_per_atom:.3g} A^3 per atom "
            f"(< {MIN_VOLUME_PER_ATOM_ANG3:g}; real solids hold more than 2)"
        )
    heights = cell_heights(lattice)
    periodic = np.asarray(pbc, dtype=bool)
    if (heights[periodic] < MIN_CELL_HEIGHT_ANG).any():
        return "lattice_vectors", (
            f"degenerate cell: periodic height {heights[periodic].min():.3g} A along lattice vector "
            f"{int(np.argmin(np.where(periodic, heights, np.inf)))} (< {MIN_CELL_HEIGHT_ANG:g} A)"
        )
    fractional = np.linalg.solve(lattice.T, positions.T).T
    low, high = FRACTIONAL_BOUNDS
    outside = np.flatnonzero(((fractional < low) | (fractional > high)).any(axis=1))
    if outside.size:
        site = int(outside[0])
        return "cartesian_site_positions", (
            f"site {site} lies far outside the cell (fractional coordinates {np.round(fractional[site], 3).tolist()}, "
            f"allowed [{low:g}, {high:g}]); {outside.size} site(s) in all"
        )
    return None


def closest_pair_below(
    positions: np.ndarray, lattice: np.ndarray, pbc: tuple[int, int, int], radii: np.ndarray
) -> tuple[int, int, float] | None:
    """The closest pair (i, j, d) with d < radii[i] + radii[j] (periodic images included), or None.

    Requires a cell that passed :func:`cell_problem`. Work is bounded: each site has at most
    ``prod(2 ceil(2 max(radii) / h_k) + 1)`` images over the periodic directions k.
    """
    n = len(positions)
    if n == 0:
        return None
    cutoff = 2.0 * float(radii.max())
    if cutoff <= 0:
        return None
    periodic = np.asarray(pbc, dtype=bool)
    if periodic.any():
        heights = cell_heights(lattice)
        bins = math.prod(max(1.0, h // cutoff) for h in heights.tolist())
        if bins <= max(MATSCIPY_MAX_BINS, 10.0 * n):
            return _closest_by_bins(positions, lattice, periodic, radii)
    return _closest_by_tree(positions, lattice, periodic, radii, cutoff)


def _closest_by_bins(
    positions: np.ndarray, lattice: np.ndarray, periodic: np.ndarray, radii: np.ndarray
) -> tuple[int, int, float] | None:
    """matscipy's binned neighbour list: the fastest search when the cell holds few bins of the cutoff size."""
    i, j, d = neighbour_list("ijd", positions=positions, cell=lattice, pbc=periodic, cutoff=radii)
    if len(d) == 0:
        return None
    k = int(np.argmin(d))
    return int(i[k]), int(j[k]), float(d[k])


def _closest_by_tree(
    positions: np.ndarray, lattice: np.ndarray, periodic: np.ndarray, radii: np.ndarray, cutoff: float
) -> tuple[int, int, float] | None:
    """A k-d tree over the sites' periodic images: cost independent of the vacuum in the cell."""
    n = len(positions)
    points = positions
    shifts = np.zeros((1, 3))
    if periodic.any():
        fractional = np.linalg.solve(lattice.T, positions.T).T
        fractional[:, periodic] -= np.floor(fractional[:, periodic])
        points = fractional @ lattice
        heights = cell_heights(lattice)
        reps = [math.ceil(cutoff / heights[k]) if periodic[k] else 0 for k in range(3)]
        shifts = np.asarray(list(itertools.product(*(range(-r, r + 1) for r in reps))), dtype=np.float64) @ lattice
    images = (points[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    owner = np.tile(np.arange(n), len(shifts))
    pairs = cKDTree(points).sparse_distance_matrix(cKDTree(images), cutoff, output_type="ndarray")
    i, k, d = pairs["i"], pairs["j"], pairs["v"]
    j = owner[k]
    zero_shift = int(np.flatnonzero(~shifts.any(axis=1))[0])
    keep = ~((k // n == zero_shift) & (i == j)) & (d < radii[i] + radii[j])
    if not keep.any():
        return None
    best = int(np.argmin(np.where(keep, d, np.inf)))
    return int(i[best]), int(j[best]), float(d[best])
