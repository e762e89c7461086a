"""Click options for fine-tuning hyper-parameters, shared by ``finetune``, ``validate`` and ``scaling``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from curate.training.settings import ATOMREF_MODES, LOSS_NAMES, TrainingSettings

F = TypeVar("F", bound=Callable[..., Any])
PAPER_DEFAULTS = TrainingSettings()
SETTING_NAMES = tuple(PAPER_DEFAULTS.as_dict())
POSITIVE = click.FloatRange(min=0, min_open=True)
NON_NEGATIVE = click.FloatRange(min=0)


def training_options(
    *, defaults: TrainingSettings = PAPER_DEFAULTS, atomref: bool = True, heads: bool = True
) -> Callable[[F], F]:
    """Add the TrainingSettings options to a click command, with ``defaults`` shown as the defaults.

    The command receives them as keyword arguments named like the TrainingSettings fields; build the settings
    with :func:`settings_from_options`. ``atomref=False`` / ``heads=False`` leave out ``--atomref`` /
    ``--heads-trainable-blocks`` (for commands that set them per method).
    """
    d = defaults
    options = [
        click.option("--epochs", default=d.epochs, show_default=True, type=click.IntRange(min=1), help="Epochs."),
        click.option(
            "--lr",
            "--learning-rate",
            "learning_rate",
            default=d.learning_rate,
            show_default=True,
            type=POSITIVE,
            help="Initial Adam learning rate.",
        ),
        click.option(
            "--final-lr",
            "--final-learning-rate",
            "final_learning_rate",
            default=d.final_learning_rate,
            show_default=True,
            type=POSITIVE,
            help="Learning rate at the last epoch (cosine decay).",
        ),
        click.option(
            "--energy-weight",
            default=d.energy_weight,
            show_default=True,
            type=NON_NEGATIVE,
            help="Loss weight of energy per atom (eV/atom).",
        ),
        click.option(
            "--force-weight",
            default=d.force_weight,
            show_default=True,
            type=NON_NEGATIVE,
            help="Loss weight of force components (eV/A).",
        ),
        click.option(
            "--stress-weight",
            default=d.stress_weight,
            show_default=True,
            type=NON_NEGATIVE,
            help="Loss weight of stress components (GPa); 0 ignores stress.",
        ),
        click.option("--loss", default=d.loss, show_default=True, type=click.Choice(LOSS_NAMES), help="Loss per term."),
        click.option(
            "--huber-delta",
            default=d.huber_delta,
            show_default=True,
            type=POSITIVE,
            help="Huber transition, in each term's unit.",
        ),
        click.option(
            "--batch-size",
            default=d.batch_size,
            show_default=True,
            type=click.IntRange(min=1),
            help="Structures per optimiser step.",
        ),
        click.option(
            "--seed",
            default=d.seed,
            show_default=True,
            type=int,
            help="Seeds batch order and new weights (recorded in the output).",
        ),
    ]
    if heads:
        options.append(
            click.option(
                "--heads-trainable-blocks",
                default=d.heads_trainable_blocks,
                show_default=True,
                type=click.IntRange(min=1),
                help="With --method heads: how many of the last interaction blocks train.",
            )
        )
    if atomref:
        options.append(
            click.option(
                "--atomref",
                default=d.atomref,
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


def settings_from_options(options: dict[str, Any], *, defaults: TrainingSettings = PAPER_DEFAULTS) -> TrainingSettings:
    """``defaults`` with the values :func:`training_options` collected (other keyword arguments are ignored)."""
    return defaults.with_changes(**{k: options[k] for k in SETTING_NAMES if k in options})
