"""Run the property benchmark over structures on any executor: one task per structure, results in order.

A task carries its structure (a pymatgen dict), the model variants and the settings; a worker builds each
model's ASE calculator once (:func:`curate.execution.cache.worker_cached`) and reuses it for every later task,
so the same tasks give the same numbers in-process, in a process pool or on Dask. Results stream back in
submission order with a bounded number in flight, so memory does not grow with the number of structures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from curate.diagnostics.properties import ModelVariant, PropertySettings, ScaledCalculator, structure_properties
from curate.diagnostics.property_inputs import PropertyInput
from curate.errors import ConfigurationError
from curate.execution import Executor, InProcessExecutor

POOL_PRELOAD = ("torch", "chgnet.model.dynamics", "pymatgen.core")


@dataclass(frozen=True)
class PropertyTask:
    """One structure, the variants to compute it with (base first), the settings and where models run."""

    item: PropertyInput
    variants: tuple[ModelVariant, ...]
    settings: PropertySettings
    device: str | None
    torch_threads: int | None = None


def worker_calculator(variant: ModelVariant, *, device: str | None) -> Any:
    """The ASE calculator of ``variant`` in this process (its model loaded once per process and spec)."""
    from curate.execution.cache import worker_cached
    from curate.models.calculator import calculator_factory

    base = worker_cached(
        ("calculator", variant.spec, device), lambda: calculator_factory(variant.spec, device=device)()
    )
    return base if variant.energy_scale == 1.0 else ScaledCalculator(base, variant.energy_scale)


def property_task(task: PropertyTask) -> dict[str, Any]:
    """The record of :func:`~curate.diagnostics.properties.structure_properties` for one task (any worker)."""
    if task.torch_threads is not None:
        import torch

        torch.set_num_threads(task.torch_threads)
    calculators = {v.label: worker_calculator(v, device=task.device) for v in task.variants}
    return structure_properties(task.item, calculators, task.settings)


def check_variants(variants: Sequence[ModelVariant]) -> None:
    """Raise ConfigurationError for no variants, repeated labels, a bad scale or an unknown spec (before any work)."""
    from curate.models.calculator import check_calculator_spec

    if not variants:
        raise ConfigurationError("no model to compute properties with")
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise ConfigurationError(f"model labels must differ, got {labels}")
    for variant in variants:
        check_calculator_spec(variant.spec)
        if not variant.energy_scale > 0:
            raise ConfigurationError(f"energy scale must be > 0, got {variant.energy_scale} for {variant.label}")


def compute_properties(
    items: Sequence[PropertyInput],
    variants: Sequence[ModelVariant],
    settings: PropertySettings,
    *,
    device: str | None = None,
    executor: Executor | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """One record per structure of ``items`` (in order), each with every variant's properties.

    Args:
        items: the structures (with DFT moduli where known).
        variants: the models; the first is the base (it relaxes the structures when ``relax_with="base"``).
        settings: which properties and how.
        device: cpu, cuda or None (CUDA when present).
        executor: where tasks run (None: in this process). In a process pool each worker runs one torch thread.
        on_result: called with each record as it arrives (progress).

    Raises:
        ConfigurationError: see :func:`check_variants`.
    """
    check_variants(variants)
    runner = executor or InProcessExecutor()
    threads = 1 if runner.workers > 1 else None
    tasks = (PropertyTask(item, tuple(variants), settings, device, threads) for item in items)
    for record in runner.map(property_task, tasks):
        if on_result is not None:
            on_result(record)
        yield record
