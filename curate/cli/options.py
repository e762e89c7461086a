"""Command-line options shared by every command that runs per-structure work in parallel."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import click

from curate.execution.base import EXECUTOR_KINDS

F = TypeVar("F", bound=Callable[..., Any])


def execution_options(*, workers_help: str) -> Callable[[F], F]:
    """Add ``--executor local|dask``, ``--scheduler ADDRESS`` and ``--workers N`` to a click command.

    The command receives ``executor`` (str or None), ``scheduler`` (str or None) and ``workers`` (int or None);
    pass them to :func:`curate.execution.open_executor`. Combinations it refuses are refused first, in flags.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            check_execution_flags(kwargs["executor"], kwargs["scheduler"], kwargs["workers"])
            return function(*args, **kwargs)

        command = cast(F, checked)
        command = click.option("--workers", default=None, type=click.IntRange(min=1), help=workers_help)(command)
        command = click.option(
            "--scheduler",
            default=None,
            metavar="ADDRESS",
            help="Run on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:8786, e.g. from "
            "dask-jobqueue's SLURMCluster); implies --executor dask.",
        )(command)
        return click.option(
            "--executor",
            default=None,
            type=click.Choice(EXECUTOR_KINDS),
            help="local: this machine (in-process for small inputs, a process pool for large ones); dask: a Dask "
            "cluster (a LocalCluster of --workers processes, or --scheduler)  [default: local, or dask with "
            "--scheduler]",
        )(command)

    return decorate


def check_execution_flags(executor: str | None, scheduler: str | None, workers: int | None) -> None:
    """ConfigurationError, in flags, for the combinations :func:`curate.execution.open_executor` refuses."""
    from curate.errors import ConfigurationError

    if scheduler and executor not in (None, "dask"):
        raise ConfigurationError("--scheduler needs --executor dask")
    if scheduler and workers is not None:
        raise ConfigurationError("--workers sizes a local cluster; a --scheduler cluster has its own workers")


def task_rows_option(*, default: int, what: str) -> Callable[[F], F]:
    """Add ``--task-rows N`` (rows per task sent to a worker); the command receives ``task_rows``.

    The rows a command writes may depend on N (seed streams, model batches) but never on the executor.
    """
    return click.option(
        "--task-rows",
        default=default,
        show_default=True,
        type=click.IntRange(min=1),
        help=f"Rows per task sent to a worker ({what}).",
    )


DEVICES = ("auto", "cpu", "cuda")

device_option = click.option(
    "--device", type=click.Choice(DEVICES), default="auto", show_default=True, help="auto = CUDA when present."
)
"""``--device auto|cpu|cuda``; the command receives ``device`` (pass it to load_model / select_device)."""

max_atoms_option = click.option(
    "--max-atoms-per-batch",
    type=click.IntRange(min=1),
    default=None,
    help="Atoms per forward pass (default: what fits in a quarter of available memory, at 2 MB per atom "
    "for CHGNet and 14 MB for other models, at most 1024).",
)
"""``--max-atoms-per-batch N``; the command receives ``max_atoms_per_batch`` (None = sized from memory)."""
