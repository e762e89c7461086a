"""Click options for fine-tuning hyper-parameters, shared by ``finetune``, ``validate`` and ``scaling``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from curate.training.settings import ATOMREF_MODES, LOSS_NAMES, TrainingSettings

F = TypeVar("F", bound=Callable[..., Any])
DEFAULTS = TrainingSettings()
SETTING_NAMES = (
    "epochs",
    "learning_rate",
    "final_learning_rate",
    "energy_weight",
    "force_weight",
    "stress_weight",
    "loss",
    "batch_size",
    "seed",
    "atomref",
    "heads_trainable_blocks",
)


def training_options(*, atomref: bool = True) -> Callable[[F], F]:
    """Add the TrainingSettings options (defaults: the softening paper's) to a click command.

    The command receives them as keyword arguments named like the TrainingSettings fields; build the
    settings with :func:`settings_from_options`. ``atomref=False`` leaves out ``--atomref`` (commands that
    set it per method).
    """
    options = [
        click.option("--epochs", default=DEFAULTS.epochs, show_default=True, type=click.IntRange(min=1)),
        click.option(
            "--lr",
            "learning_rate",
            default=DEFAULTS.learning_rate,
            show_default=True,
            type=float,
            help="Initial Adam learning rate.",
        ),
        click.option(
            "--final-lr",
            "final_learning_rate",
            default=DEFAULTS.final_learning_rate,
            show_default=True,
            type=float,
            help="Learning rate at the last epoch (cosine decay).",
        ),
        click.option(
            "--energy-weight",
            default=DEFAULTS.energy_weight,
            show_default=True,
            type=float,
            help="Loss weight of energy per atom (eV/atom).",
        ),
        click.option(
            "--force-weight",
            default=DEFAULTS.force_weight,
            show_default=True,
            type=float,
            help="Loss weight of force components (eV/A).",
        ),
        click.option(
            "--stress-weight",
            default=DEFAULTS.stress_weight,
            show_default=True,
            type=float,
            help="Loss weight of stress components (GPa); 0 ignores stress.",
        ),
        click.option("--loss", default=DEFAULTS.loss, show_default=True, type=click.Choice(LOSS_NAMES)),
        click.option(
            "--batch-size",
            default=DEFAULTS.batch_size,
            show_default=True,
            type=click.IntRange(min=1),
            help="Structures per optimiser step.",
        ),
        click.option(
            "--seed",
            default=DEFAULTS.seed,
            show_default=True,
            type=int,
            help="Seeds batch order and new weights (recorded in the output).",
        ),
        click.option(
            "--heads-trainable-blocks",
            default=DEFAULTS.heads_trainable_blocks,
            show_default=True,
            type=click.IntRange(min=1),
            help="With --method heads: how many of the last interaction blocks train.",
        ),
    ]
    if atomref:
        options.append(
            click.option(
                "--atomref",
                default=DEFAULTS.atomref,
                show_default=True,
                type=click.Choice(ATOMREF_MODES),
                help="Elemental reference energies: frozen (pretrained), trainable, or refit (least squares on "
                "the training set, then frozen; for a new functional such as r2SCAN).",
            )
        )

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def settings_from_options(options: dict[str, Any]) -> TrainingSettings:
    """TrainingSettings from the keyword arguments :func:`training_options` added (others are ignored)."""
    return TrainingSettings(**{k: options[k] for k in SETTING_NAMES if k in options})
