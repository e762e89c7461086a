"""The scaling experiment's results table: one row per (method, N, seed) point, in ``results.parquet``.

Every finished point is appended at once (atomic replace), so a killed run resumes with only the missing
points. A point's key is (method, n_train, seed, settings hash, target content hash); the settings the hash
covers are stored in the table's metadata, so a table of another configuration is refused with what changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.dataset.io import atomic_output
from curate.errors import ConfigurationError, DatasetError
from curate.training.evaluate import Metrics

RESULTS_FILE = "results.parquet"
# bump when the meaning of a stored point changes (subset rule, metrics), so old tables are refused
SCHEME = "scaling-v1"
METRIC_NAMES = (
    "energy_mae_ev_per_atom",
    "force_mae_ev_per_ang",
    "stress_mae_gpa",
    "softening_scale",
    "force_cmae_ev_per_ang",
)
RESULTS_SCHEMA = pa.schema(
    [
        pa.field("method", pa.string(), nullable=False),
        pa.field("n_train", pa.int64(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("settings_hash", pa.string(), nullable=False),
        pa.field("target_hash", pa.string(), nullable=False),
        pa.field("atomref", pa.string(), nullable=False),
        pa.field("train_atoms", pa.int64(), nullable=False),
        *[pa.field(f"{part}_{name}", pa.float64()) for part in ("val", "test") for name in METRIC_NAMES],
        pa.field("epochs", pa.int64(), nullable=False),
        pa.field("best_epoch", pa.int64()),
        pa.field("trainable_parameters", pa.int64(), nullable=False),
        pa.field("train_seconds", pa.float64(), nullable=False),
        pa.field("seconds", pa.float64(), nullable=False),
        pa.field("finished_at", pa.string(), nullable=False),
        pa.field("extra_json", pa.string(), nullable=False),
    ]
)


def read_results(path: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of a results table and the hashed settings stored with it ({} when absent)."""
    if not path.is_file():
        return [], {}
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DatasetError(f"{path}: not a readable results table ({exc})") from exc
    meta = table.schema.metadata or {}
    stored = json.loads(meta.get(b"curate.scaling.settings", b"{}"))
    return table.to_pylist(), stored


def write_results(rows: Sequence[dict[str, Any]], path: Path, *, hashed_settings: dict[str, Any]) -> None:
    """Write ``rows`` (schema :data:`RESULTS_SCHEMA`) to ``path`` by atomic replace, settings in the metadata."""
    schema = RESULTS_SCHEMA.with_metadata({"curate.scaling.settings": json.dumps(hashed_settings, sort_keys=True)})
    table = pa.Table.from_pylist(list(rows), schema=schema)
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def open_results(
    path: Path,
    *,
    key: tuple[str, str],
    hashed_settings: dict[str, Any],
    overwrite: bool,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """The rows of the table at ``path`` (none when absent) for the configuration ``key``.

    Args:
        path: the results table.
        key: (settings hash, target content hash) of the configuration being run.
        hashed_settings: what the settings hash covers (to name what changed when refusing).
        overwrite: drop the rows of another configuration instead of refusing.
        log: receives a line when rows are dropped.

    Raises:
        ConfigurationError: the table holds rows of another configuration and ``overwrite`` is False.
    """
    rows, stored = read_results(path)
    if overwrite:
        kept = [r for r in rows if (r["settings_hash"], r["target_hash"]) == key]
        if len(kept) < len(rows):
            log(f"overwrite: discarding {len(rows) - len(kept)} point(s) of another configuration in {path}")
        rows = kept
    _refuse_mixing(rows, stored, hashed_settings, key=key, path=path)
    return rows


def _refuse_mixing(
    rows: list[dict[str, Any]], stored: dict[str, Any], current: dict[str, Any], *, key: tuple[str, str], path: Path
) -> None:
    target_hash = key[1]
    other = {(r["settings_hash"], r["target_hash"]) for r in rows} - {key}
    if not other:
        return
    if any(t != target_hash for _, t in other):
        stored_hash = sorted({t for _, t in other})[0]
        why = f"the target's content hash differs (table: {stored_hash[:16]}, now: {target_hash[:16]})"
    else:
        changed = sorted(k for k in set(stored) | set(current) if stored.get(k) != current.get(k))
        if "training" in changed:
            changed.remove("training")
            old, new = stored.get("training", {}), current["training"]
            changed += [f"training.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        why = f"settings changed ({', '.join(changed) or 'hash'})"
    raise ConfigurationError(
        f"{path} holds {len(rows)} point(s) from another configuration: {why}; write to another folder or "
        "overwrite to discard them"
    )


def metric_columns(prefix: str, metrics: Metrics | None) -> dict[str, float | None]:
    """``{prefix}_{metric}`` columns of one evaluation (all None without one)."""
    return {f"{prefix}_{name}": None if metrics is None else getattr(metrics, name) for name in METRIC_NAMES}
