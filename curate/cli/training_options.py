"""Click options for fine-tuning hyper-parameters, shared by ``finetune``, ``correction-gain`` and ``scaling``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from curate.cli.options import NON_NEGATIVE, POSITIVE, option_group
from curate.training.settings import ATOMREF_MODES, LOSS_NAMES, TrainingSettings

F = TypeVar("F", bound=Callable[..., Any])
PAPER_DEFAULTS = TrainingSettings()

# (flags, TrainingSettings field, type, help): one option per field, in --help order
SETTING_OPTIONS: tuple[tuple[tuple[str, ...], str, click.ParamType, str], ...] = (
    (("--epochs",), "epochs", click.IntRange(min=1), "Epochs."),
    (("--lr", "--learning-rate"), "learning_rate", POSITIVE, "Initial Adam learning rate."),
    (
        ("--final-lr", "--final-learning-rate"),
        "final_learning_rate",
        POSITIVE,
        "Learning rate at the last epoch (cosine decay).",
    ),
    (("--energy-weight",), "energy_weight", NON_NEGATIVE, "Loss weight of energy per atom (eV/atom)."),
    (("--force-weight",), "force_weight", NON_NEGATIVE, "Loss weight of force components (eV/A)."),
    (("--stress-weight",), "stress_weight", NON_NEGATIVE, "Loss weight of stress components (GPa); 0 ignores stress."),
    (("--loss",), "loss", click.Choice(LOSS_NAMES), "Loss per term."),
    (("--huber-delta",), "huber_delta", POSITIVE, "Huber transition, in each term's unit."),
    (("--batch-size",), "batch_size", click.IntRange(min=1), "Structures per optimiser step."),
    (
        ("--max-steps",),
        "max_steps",
        click.IntRange(min=1),
        "Optimiser steps per run whatever the training-set size (replaces --epochs; the schedule spans them). "
        "Learning curves: every budget then trains equally long.",
    ),
    (("--seed",), "seed", click.IntRange(min=0), "Seeds batch order and new weights (recorded in the output)."),
    (
        ("--heads-trainable-blocks",),
        "heads_trainable_blocks",
        click.IntRange(min=1),
        "With --method heads: how many of the last interaction blocks train.",
    ),
    (
        ("--atomref",),
        "atomref",
        click.Choice(ATOMREF_MODES),
        "Elemental reference energies: frozen (pretrained), trainable, or refit (least squares on the training "
        "set, then frozen; for a new functional such as r2SCAN).",
    ),
)


def training_options(
    *, defaults: TrainingSettings = PAPER_DEFAULTS, atomref: bool = True, heads: bool = True
) -> Callable[[F], F]:
    """Add an option per TrainingSettings field to a click command, with ``defaults`` shown as the defaults.

    The command receives one keyword argument instead, ``settings``: ``defaults`` with the values given.
    ``atomref=False`` / ``heads=False`` leave out ``--atomref`` / ``--heads-trainable-blocks`` (for commands
    that set them per method); those fields keep their ``defaults`` value.
    """
    left_out = {name for name, kept in (("atomref", atomref), ("heads_trainable_blocks", heads)) if not kept}
    rows = [row for row in SETTING_OPTIONS if row[1] not in left_out]

    def collect(kwargs: dict[str, Any]) -> dict[str, Any]:
        values = {name: kwargs.pop(name) for _, name, _, _ in rows}
        return {**kwargs, "settings": defaults.with_changes(**values)}

    options = [
        click.option(*flags, name, default=getattr(defaults, name), show_default=True, type=kind, help=text)
        for flags, name, kind, text in rows
    ]
    return option_group(options, collect)
