"""The feature vector of a candidate that selection measures diversity with: its mean SOAP vector.

The descriptor of a structure is the mean of its atoms' unit-norm SOAP vectors (curate.descriptors.soap,
species = every element among the candidates): structures that differ only by small displacements sit close,
other chemistries far apart, which is what the diversity guard and the clustering strategies need.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def structure_descriptors(candidates: pa.Table) -> np.ndarray:
    """Mean unit-norm SOAP vector of each candidate row, shape (N, n_features), dimensionless.

    Reads ``species_at_sites``, ``lattice_vectors``, ``cartesian_site_positions`` and ``dimension_types``,
    one record batch at a time (an atom's SOAP vector does not depend on the other rows).
    """
    from curate.descriptors.soap import SoapDescriptor

    species = pc.unique(pc.list_flatten(candidates.column("species_at_sites"))).to_pylist()
    descriptor = SoapDescriptor(sorted(species))
    parts = [np.zeros((0, descriptor.n_features))]
    for batch in candidates.to_batches():
        environments = descriptor.from_batch(batch)
        sums = np.zeros((batch.num_rows, environments.features.shape[1]))
        np.add.at(sums, environments.row_index, environments.features)
        counts = np.bincount(environments.row_index, minlength=batch.num_rows)
        parts.append(sums / counts[:, None])
    return np.concatenate(parts)
