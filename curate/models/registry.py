"""Model specs: parsing, the explicit list of valid names, and loading the matching adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from curate.errors import ConfigurationError
from curate.models.base import Model, select_device

Architecture = Literal["chgnet", "mace", "matgl"]
ARCHITECTURES: tuple[str, ...] = get_args(Architecture)
CHGNET_SPECS = ("chgnet@0.3.0", "chgnet@0.2.0", "chgnet@r2scan")
SPEC_HELP = (
    "Model spec: " + ", ".join(CHGNET_SPECS) + " (shipped with chgnet), chgnet:FILE (a CHGNet saved by "
    "curate finetune or chgnet's Trainer), mace:FILE (a MACE model saved with torch.save), matgl:DIR (a matgl "
    "potential saved with Potential.save)."
)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: architecture and location (a shipped CHGNet version, a file or a directory)."""

    architecture: Architecture
    location: str
    is_file: bool = True

    @property
    def text(self) -> str:
        """The spec as a user types it: ``chgnet@VERSION`` for shipped weights, ``ARCH:PATH`` for files."""
        sep = ":" if self.is_file else "@"
        return f"{self.architecture}{sep}{self.location}"


def parse_spec(text: str) -> ModelSpec:
    """Parse ``chgnet@VERSION``, ``chgnet:FILE``, ``mace:FILE`` or ``matgl:DIR``.

    Raises ConfigurationError naming the valid forms.
    """
    text = text.strip()
    if text == "chgnet":
        text = "chgnet@0.3.0"
    if text.startswith("chgnet@"):
        if text not in CHGNET_SPECS:
            raise ConfigurationError(f"unknown model {text!r}; {SPEC_HELP}")
        return ModelSpec("chgnet", text.split("@", 1)[1], is_file=False)
    architecture, sep, location = text.partition(":")
    if sep and architecture in ARCHITECTURES and location:
        return ModelSpec(architecture, location)  # type: ignore[arg-type]
    raise ConfigurationError(f"unknown model {text!r}; {SPEC_HELP}")


def load_model(spec: str | ModelSpec, *, device: str | None = None) -> Model:
    """Load the model a spec names on ``device`` (cpu, cuda, or None for CUDA when available).

    Raises:
        ConfigurationError: unknown spec, or weights missing locally (the message says how to provide a file).
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    resolved = select_device(device)
    if parsed.architecture == "chgnet":
        from curate.models.chgnet import CHGNetModel

        if parsed.is_file:
            return CHGNetModel.from_file(parsed.location, device=resolved, spec=parsed.text)
        return CHGNetModel.pretrained(parsed.location, device=resolved)
    if parsed.architecture == "mace":
        from curate.models.mace import MACEModel

        return MACEModel(parsed.location, device=resolved, spec=parsed.text)
    from curate.models.matgl import MatGLModel

    return MatGLModel(parsed.location, device=resolved, spec=parsed.text)
