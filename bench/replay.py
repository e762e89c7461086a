"""Benchmark (issue 15): does replay reduce the out-of-domain damage of ``full`` fine-tuning?

CHGNet 0.3.0 is fine-tuned (``full``) on a small Ge correction set (the ``--picks`` structures of the mlearn Ge
training set with the largest mean DFT force norm: hot AIMD frames, where CHGNet is softest), once without and once
with replay (``--replay-count`` structures drawn by fps from the out-of-domain default sources, forces and
stress only, weight ``--replay-weight``). Both models and the untouched one are evaluated in-domain on the
mlearn Ge test set (25 structures) and out of domain on the default parts (MatPES PBE elements and
Materials Project task steps), minus the structures replay trained on (held out, so replay is not scored on
its own training data).

Usage (from the project root)::

    .venv/bin/python bench/replay.py                      # the full-size run (100 epochs)
    .venv/bin/python bench/replay.py --epochs 10          # quicker
    .venv/bin/python bench/replay.py --json out.json      # also write the numbers as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from curate.models import load_model  # noqa: E402
from curate.sources.ingest import import_paths  # noqa: E402
from curate.training.data import TrainingSet, load_training_set  # noqa: E402
from curate.training.evaluate import Metrics, evaluate  # noqa: E402
from curate.training.out_of_domain import (  # noqa: E402
    OutOfDomainCheck,
    default_parts,
    pooled_reference,
    without_ids,
)
from curate.training.registry import fine_tuner_for  # noqa: E402
from curate.training.replay import Replay, ReplaySettings  # noqa: E402
from curate.training.settings import TrainingSettings  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def mlearn_set(name: str, out: Path) -> TrainingSet:
    """``mlearn/{name}.json`` imported with curate."""
    import_paths([SHARED / "mlearn" / f"{name}.json"], format_name="mlearn", out=out / name)
    return load_training_set(out / name)


def largest_forces(data: TrainingSet, count: int) -> list[int]:
    """Indices of the ``count`` structures with the largest mean DFT force norm (the hottest frames)."""
    norms = [float(np.linalg.norm(np.asarray(c.forces), axis=1).mean()) for c in data]
    return sorted(range(len(data)), key=lambda k: -norms[k])[:count]


def row(metrics: Metrics) -> dict[str, Any]:
    return {
        "force_mae_ev_per_ang": round(metrics.force_mae_ev_per_ang, 4),
        "energy_mae_mev_per_atom": round(1000 * metrics.energy_mae_ev_per_atom, 1),
        "stress_mae_gpa": None if metrics.stress_mae_gpa is None else round(metrics.stress_mae_gpa, 3),
        "softening_scale": round(metrics.softening_scale, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--picks", type=int, default=5)
    parser.add_argument("--replay-count", type=int, default=10)
    parser.add_argument("--replay-weight", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    settings = TrainingSettings(epochs=args.epochs, learning_rate=args.learning_rate)
    base = load_model("chgnet@0.3.0", device="cpu")
    tuner = fine_tuner_for(base)
    with tempfile.TemporaryDirectory() as tmp:
        pool, test = mlearn_set("Ge_training", Path(tmp)), mlearn_set("Ge_test", Path(tmp))
    picks = largest_forces(pool, args.picks)
    correction = pool.subset(picks, origin=f"Ge_training, the {args.picks} with the largest mean |F|")
    parts = default_parts(SHARED)
    reference = pooled_reference(parts)
    replay = Replay(reference, ReplaySettings(count=args.replay_count, weight=args.replay_weight, strategy="fps"))
    results: dict[str, Any] = {"settings": settings.as_dict(), "correction_ids": list(correction.ids)}
    started = time.perf_counter()
    plain = tuner.finetune(base, correction, None, method="full", settings=settings)
    with_replay = tuner.finetune(base, correction, None, method="full", settings=settings, replay=replay)
    results["train_seconds"] = {"full": plain.train_seconds, "full+replay": with_replay.train_seconds}
    replayed = with_replay.extra["replay"]["ids"]
    check = OutOfDomainCheck(without_ids(parts, replayed), base)
    table: dict[str, dict[str, Any]] = {"untouched": {"in-domain Ge_test": row(evaluate(base, test))}}
    for name, part in check.before.items():
        table["untouched"][name] = row(part)
    for label, result in (("full", plain), ("full+replay", with_replay)):
        table[label] = {"in-domain Ge_test": row(evaluate(result.model, test))}
        change = check.change(result.model)
        for name, metrics in change.after.items():
            table[label][name] = row(metrics)
        table[label]["verdict"] = change.verdict()
    results["table"] = table
    results["replay"] = with_replay.extra["replay"]
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(table, indent=2))
    print(f"wall {results['wall_seconds']} s", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
