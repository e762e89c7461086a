"""Descriptor tasks: SOAP environments of one record batch, the descriptor built once per worker process."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa

from curate.descriptors.soap import DESCRIPTOR_COLUMNS, EnvironmentBatch, SoapDescriptor, SoapParams
from curate.execution.cache import worker_cached


@dataclass(frozen=True)
class SoapTask:
    """One record batch (only the columns SOAP reads) and the descriptor settings."""

    species: tuple[str, ...]
    params: SoapParams
    batch: pa.RecordBatch


def soap_environments(task: SoapTask) -> EnvironmentBatch:
    """Unit-norm SOAP vectors of every environment of ``task.batch`` (see :meth:`SoapDescriptor.from_batch`)."""
    descriptor = worker_cached(("soap", task.species, task.params), lambda: SoapDescriptor(task.species, task.params))
    return descriptor.from_batch(task.batch)


def soap_tasks(
    batches: Iterable[pa.RecordBatch], *, species: Iterable[str], params: SoapParams | None = None
) -> Iterator[SoapTask]:
    """One :class:`SoapTask` per batch, trimmed to :data:`DESCRIPTOR_COLUMNS` so that little travels to workers."""
    species_key = tuple(sorted(set(species)))
    settings = params or SoapParams()
    for batch in batches:
        yield SoapTask(species_key, settings, batch.select(DESCRIPTOR_COLUMNS))
