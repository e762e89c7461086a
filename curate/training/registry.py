"""The fine-tuners, one per architecture, keyed by the architecture a model adapter reports.

``FINE_TUNERS[model.info.architecture]`` fine-tunes ``model``; :data:`FINE_TUNER_NAMES` are the valid keys
(choices a command line may offer). A caller with another fine-tuner (a test's planted-answer trainer, a new
architecture) registers it with :func:`register` or passes it explicitly where an API takes ``fine_tuner``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from curate.errors import ConfigurationError
from curate.models.base import Model
from curate.training.chgnet_finetune import CHGNetFineTuner
from curate.training.fine_tuner import FineTuner
from curate.training.mace_finetune import MACEFineTuner
from curate.training.matgl_finetune import MatGLFineTuner

FINE_TUNERS: dict[str, FineTuner] = {
    tuner.architecture: tuner for tuner in (CHGNetFineTuner(), MACEFineTuner(), MatGLFineTuner())
}
FINE_TUNER_NAMES: tuple[str, ...] = tuple(FINE_TUNERS)


def fine_tuner_for(model: Model) -> FineTuner:
    """The registered fine-tuner of ``model``'s architecture (``model.info.architecture``).

    Raises:
        ConfigurationError: no fine-tuner is registered for the architecture, or it does not support the model.
    """
    architecture = model.info.architecture
    tuner = FINE_TUNERS.get(architecture)
    if tuner is None:
        raise ConfigurationError(
            f"fine-tuning is not available for architecture {architecture!r} ({model.info.spec}); "
            f"fine-tuners exist for {', '.join(FINE_TUNERS)}"
        )
    if not tuner.supports(model):
        raise ConfigurationError(f"the {architecture} fine-tuner cannot train {model.info.spec}")
    return tuner


@contextmanager
def register(tuner: FineTuner) -> Iterator[FineTuner]:
    """Make ``tuner`` the fine-tuner of ``tuner.architecture`` inside the block; the previous one comes back after."""
    previous = FINE_TUNERS.get(tuner.architecture)
    FINE_TUNERS[tuner.architecture] = tuner
    try:
        yield tuner
    finally:
        if previous is None:
            del FINE_TUNERS[tuner.architecture]
        else:
            FINE_TUNERS[tuner.architecture] = previous
