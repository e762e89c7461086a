"""The command line's shared vocabulary: every option more than one command takes, declared once.

Each decorator fixes an option's spelling, type and unit; the command gives only the help text that says
what the option means for it. ``docs/cli.md`` tabulates them. Lists are typed, never split by hand
(:class:`CommaList`); old spellings that still work are listed in a command's ``renamed`` mapping
(:class:`CurateCommand`) and print a one-line note.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from curate.execution.base import EXECUTOR_KINDS
from curate.models.registry import SPEC_HELP

F = TypeVar("F", bound=Callable[..., Any])


class CurateCommand(click.Command):
    """A click command that still accepts the old spellings in ``renamed`` (old flag -> new flag).

    An old spelling is rewritten before parsing and prints ``curate: note: --old is now --new`` to stderr; it
    appears in no help text.
    """

    def __init__(self, *args: Any, renamed: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renamed = dict(renamed or {})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, renamed_args(args, self.renamed))


def renamed_args(args: Sequence[str], renamed: Mapping[str, str]) -> list[str]:
    """``args`` with each old flag of ``renamed`` (also as ``--old=VALUE``) spelled the new way; stops at ``--``."""
    result = list(args)
    for index, arg in enumerate(result):
        if arg == "--":
            break
        flag, equals, value = arg.partition("=")
        if flag in renamed:
            click.echo(f"curate: note: {flag} is now {renamed[flag]}; the old spelling will go", err=True)
            result[index] = renamed[flag] + equals + value
    return result


_METAVAR_WORDS = {
    "integer": "N",
    "integer range": "N",
    "float": "X",
    "float range": "X",
    "choice": "NAME",
    "functional": "NAME",
}


class CommaList(click.ParamType):
    """Comma-separated values of one type (``--sizes 100,300,1000``); the command receives a tuple.

    ``item`` converts each value; an item type may return a tuple to stand for several values (an alias such
    as ``both``). ``unique`` drops repeats (first kept), ``sort`` sorts, ``length`` requires exactly that many
    values, ``sep`` is the separator, ``metavar`` what --help shows. A list or tuple (a default) is converted item
    by item.
    """

    name = "list"

    def __init__(
        self,
        item: click.ParamType | type = click.STRING,
        *,
        sep: str = ",",
        unique: bool = False,
        sort: bool = False,
        length: int | None = None,
        metavar: str | None = None,
    ) -> None:
        self.item = click.types.convert_type(item)
        self.sep, self.unique, self.sort, self.length, self.metavar = sep, unique, sort, length, metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        if self.metavar is not None:
            return self.metavar
        word = _METAVAR_WORDS.get(self.item.name, self.item.name.upper())
        if self.length is not None:
            return self.sep.join([word] * self.length)
        return f"{word}{self.sep}{word}{self.sep}..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[Any, ...]:
        if isinstance(value, tuple | list):
            parts = list(value)
        else:
            parts = [part.strip() for part in str(value).split(self.sep) if part.strip()]
        values: list[Any] = []
        for part in parts:
            converted = self.item.convert(part, param, ctx)
            values.extend(converted if isinstance(converted, tuple) else [converted])
        if self.unique:
            values = list(dict.fromkeys(values))
        if self.sort:
            values.sort()
        if not values:
            self.fail(f"expected at least one value, got {value!r}", param, ctx)
        if self.length is not None and len(values) != self.length:
            self.fail(f"expected {self.length} values separated by {self.sep!r}, got {value!r}", param, ctx)
        return tuple(values)


class FiniteFloatRange(click.FloatRange):
    """A click.FloatRange that also refuses ``nan`` and ``inf``: nan compares False with every bound, so a plain
    range lets it through (and ``--shard-mb nan`` would fail later with a traceback)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


POSITIVE = FiniteFloatRange(min=0, min_open=True)
"""A float > 0 (a length, a time step, a rate)."""
NON_NEGATIVE = FiniteFloatRange(min=0)
"""A float >= 0 (a weight, a threshold, a temperature in K)."""
STRAIN = FiniteFloatRange(0, 1, min_open=True, max_open=True)
"""A strain magnitude e in (0, 1), applied as +e and -e (-1 would collapse the cell)."""


class Shares(CommaList):
    """TRAIN:VAL:TEST shares: three finite numbers >= 0, not all 0 (they are normalised to sum 1)."""

    def __init__(self) -> None:
        super().__init__(NON_NEGATIVE, sep=":", length=3, metavar="TRAIN:VAL:TEST")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[Any, ...]:
        shares = super().convert(value, param, ctx)
        if sum(shares) <= 0:
            self.fail(f"the shares must not all be 0, got {value!r}", param, ctx)
        return shares


def _joined(_ctx: click.Context, _param: click.Parameter, value: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return tuple(item for values in value for item in values)


def list_option(*decls: str, help: str, item: click.ParamType | type = click.STRING) -> Callable[[F], F]:
    """A repeatable :class:`CommaList` option (``--chemsys As-O-S,Si --chemsys Lu``); receives one flat tuple."""
    return click.option(*decls, multiple=True, type=CommaList(item), callback=_joined, help=help)


class FunctionalName(click.ParamType):
    """A functional as the ``functional`` column names it (PBE, PBE+U, r2SCAN, ...), in any case.

    ``choices`` limits the names (None: every name curate's importers write); ``aliases`` maps old values to
    a name or a tuple of names and prints a note. The command receives the canonical spelling.
    """

    name = "functional"

    def __init__(
        self, choices: Sequence[str] | None = None, *, aliases: Mapping[str, str | tuple[str, ...]] | None = None
    ) -> None:
        self.choices, self.aliases = choices, dict(aliases or {})

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "|".join(self.choices) if self.choices else "NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str | tuple[str, ...]:
        text = str(value).strip()
        if text.lower() in self.aliases:
            new = self.aliases[text.lower()]
            spelled = ",".join(new) if isinstance(new, tuple) else new
            click.echo(f"curate: note: --functional {text} is now --functional {spelled}", err=True)
            return new
        if self.choices is None:
            from curate.sources.vasp_inputs import functional_names

            known: Sequence[str] = functional_names()
        else:
            known = self.choices
        canonical = {name.lower(): name for name in known}
        if text.lower() not in canonical:
            self.fail(f"unknown functional {text!r}; expected one of {', '.join(known)} (any case)", param, ctx)
        return canonical[text.lower()]


def _given_default(default: object) -> dict[str, Any]:
    """``{"default": default}``, or nothing when ``default`` is None.

    Since click 8.3 an explicit ``default=None`` counts as a default, so a ``required`` option given it is never
    reported missing: the command would run with None.
    """
    return {} if default is None else {"default": default}


def out_option(help: str, *, required: bool = True, default: Path | None = None, **path: bool) -> Callable[[F], F]:
    """``-o/--out PATH``: where the command writes; the command receives ``out`` (a Path).

    ``path`` goes to click.Path (``dir_okay=False`` for a file, ``file_okay=False`` for a folder).
    """
    return click.option(
        "-o",
        "--out",
        "out",
        required=required and default is None,
        show_default=default is not None,
        type=click.Path(path_type=Path, **path),
        help=help,
        **_given_default(default),
    )


def model_option(
    *, multiple: bool = False, required: bool = True, default: str | None = None, help: str = SPEC_HELP
) -> Callable[[F], F]:
    """``-m/--model SPEC``; repeatable with ``multiple`` (the command receives ``models``), else ``model``."""
    return click.option(
        "-m",
        "--model",
        "models" if multiple else "model",
        required=required,
        multiple=multiple,
        show_default=default is not None and not multiple,
        metavar="SPEC",
        help=help,
        **_given_default(default),
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


def functional_option(help: str, *, choices: Sequence[str] | None = None, **kwargs: Any) -> Callable[[F], F]:
    """``--functional NAME`` in the ``functional`` column's names (:class:`FunctionalName`); receives ``functional``.

    ``kwargs`` go to click.option; pass ``type=CommaList(FunctionalName(...))`` for a list.
    """
    kwargs.setdefault("type", FunctionalName(choices))
    return click.option("--functional", "functional", help=help, **kwargs)


def attach_option(folder: str) -> Callable[[F], F]:
    """``--attach``: also write the report into ``folder``/reports/ (the dataset card of curate publish shows it)."""
    return click.option(
        "--attach",
        is_flag=True,
        help=f"Also write the report and plots into {folder}/reports/ (the dataset card of `curate publish` "
        "shows them).",
    )


def seed_option(help: str, *, default: int | None = 0) -> Callable[[F], F]:
    """``--seed N`` (an integer >= 0; ``help`` says what it seeds); the command receives ``seed``."""
    return click.option(
        "--seed", default=default, show_default=default is not None, type=click.IntRange(min=0), help=help
    )


def overwrite_option(help: str) -> Callable[[F], F]:
    """``--overwrite``: replace earlier results in --out instead of refusing; the command receives ``overwrite``."""
    return click.option("--overwrite", is_flag=True, help=help)


def min_distance_option(*, default: float | None, gate: str = "Reject") -> Callable[[F], F]:
    """``--min-distance-factor X`` of the quality gate (x covalent radii sum); receives ``min_distance_factor``."""
    from curate.checks.geometry import MAX_MIN_DISTANCE_FACTOR
    from curate.checks.quality import MIN_DISTANCE_FACTOR

    shown = "" if default is not None else f"  [default: the recipe's, else {MIN_DISTANCE_FACTOR}]"
    return click.option(
        "--min-distance-factor",
        default=default,
        show_default=default is not None,
        type=click.FloatRange(min=0, max=MAX_MIN_DISTANCE_FACTOR),
        help=f"{gate} structures with two atoms closer than this x the sum of their covalent radii.{shown}",
    )


def strict_option(help: str) -> Callable[[F], F]:
    """``--strict``: exit with status 1 when the quality gate found errors; the command receives ``strict``."""
    return click.option("--strict", is_flag=True, help=help)


def plot_option(help: str) -> Callable[[F], F]:
    """``--plot PNG``: where a figure goes; the command receives ``plot_path`` (None when not given)."""
    return click.option("--plot", "plot_path", default=None, type=click.Path(path_type=Path, dir_okay=False), help=help)


def dry_run_option(help: str) -> Callable[[F], F]:
    """``--dry-run``: say what would happen, write nothing remote; the command receives ``dry_run``."""
    return click.option("--dry-run", is_flag=True, help=help)


def limit_option(help: str) -> Callable[[F], F]:
    """``--limit N``: use at most N inputs (``help`` says which); the command receives ``limit`` (None: all)."""
    return click.option("--limit", type=click.IntRange(min=1), default=None, help=help)


def batch_rows_option(*, default: int) -> Callable[[F], F]:
    """``--batch-rows N``: dataset rows read per streamed batch; the command receives ``batch_rows``."""
    return click.option(
        "--batch-rows",
        default=default,
        show_default=True,
        type=click.IntRange(min=1),
        help="Rows read per streamed batch (memory, not results).",
    )


SHARES = Shares()
"""TRAIN:VAL:TEST shares (``8:1:1``), split by material."""


def option_group(
    options: Sequence[Callable[[F], F]], collect: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[[F], F]:
    """Add ``options`` (in this order in ``--help``) to a click command that receives what ``collect`` makes.

    ``collect`` gets the command's keyword arguments, pops the group's values and returns the keyword arguments
    the command is called with (e.g. one settings object in place of several flags).
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def collected(*args: Any, **kwargs: Any) -> Any:
            return command(*args, **collect(kwargs))

        decorated = cast(F, collected)
        for option in reversed(options):
            decorated = option(decorated)
        return decorated

    return decorate


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
