"""The ``curate.json`` sidecar that travels with a calculation folder, so its result finds its candidate again.

``curate label --vasp-inputs`` writes one beside each INCAR; the VASP importer reads it back and gives every
step of that calculation ``parent_id`` = the candidate's id and the candidate's generator provenance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.dataset.configuration import Configuration
from curate.errors import InputError

SIDECAR_NAME = "curate.json"
_COPIED = ("material_id", "generator", "generator_params", "seed", "pair_id", "split")


def read_rows(dataset_dir: Path) -> list[tuple[str, Configuration]]:
    """(id, configuration) of every row of the dataset at ``dataset_dir``, in order: the candidates to label.

    The ids travel with each calculation (the sidecar's ``candidate_id``) and become the labelled rows' parent_id.
    """
    from curate.dataset.configuration import batch_to_configurations
    from curate.dataset.store import Dataset

    rows: list[tuple[str, Configuration]] = []
    for batch in Dataset.open(dataset_dir).iter_batches():
        rows += list(zip(batch.column("id").to_pylist(), batch_to_configurations(batch), strict=True))
    return rows


def sidecar_for(candidate_id: str, cfg: Configuration, **extra: Any) -> dict[str, Any]:
    """The sidecar content for a candidate row: its id, its provenance columns and ``extra`` settings."""
    return {"candidate_id": candidate_id, **{k: getattr(cfg, k) for k in _COPIED}, **extra}


def write_sidecar(folder: Path, content: dict[str, Any]) -> None:
    """Write ``folder/curate.json``."""
    (folder / SIDECAR_NAME).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def read_sidecar(folder: Path) -> dict[str, Any] | None:
    """The sidecar in ``folder``, or None; InputError naming the file when it is not a JSON object."""
    path = folder / SIDECAR_NAME
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc})", file=str(path)) from exc
    if not isinstance(content, dict) or "candidate_id" not in content:
        raise InputError("expected an object with 'candidate_id'", file=str(path))
    return content


def apply_sidecar(cfg: Configuration, content: dict[str, Any]) -> Configuration:
    """Link a labelled configuration to its candidate: parent_id = candidate id, provenance copied. Mutates cfg."""
    cfg.parent_id = str(content["candidate_id"])
    for key in _COPIED:
        if content.get(key) is not None:
            setattr(cfg, key, content[key])
    return cfg
