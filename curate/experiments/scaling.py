"""GGA -> r2SCAN transfer-learning scaling law: validation error against training-set size, per method.

The experiment (science.md section 2): split the target (r2SCAN) set by material, seeded, 8:1:1; draw nested
training subsets of each size N as prefixes of one seeded permutation of the training split (N = 100 lies
inside N = 300); for every (method, N) fine-tune the pretrained model (any architecture with a registered
:class:`~curate.training.fine_tuner.FineTuner`: CHGNet, MACE, matgl) and measure energy, force and stress MAE
on the validation and test splits; fit log10(MAE) = intercept + slope * log10(N) per method
(:mod:`curate.experiments.power_law`).

Methods (all train every weight; they differ in the starting weights and the elemental reference energies,
CHGNet's AtomRef, MACE's E0s, matgl's element_refs):

- ``scratch``: the pretrained model's architecture with freshly initialised weights
  (:meth:`FineTuner.fresh_copy <curate.training.fine_tuner.FineTuner.fresh_copy>`), reference energies
  refitted on the training subset and frozen (what CHGNet's own from-scratch training does);
- ``tl-trainable-ref``: the pretrained (GGA) weights, reference energies trained with the rest;
- ``tl-frozen-ref``: the pretrained weights, the GGA reference energies frozen;
- ``tl-refit-ref``: the pretrained weights, reference energies refitted on the training subset, frozen.

Every finished point is appended to ``results.parquet`` at once (:mod:`curate.experiments.scaling_results`),
so a killed run resumes with only the missing points. A point's key is (method, n_train, seed, settings hash,
target content hash); the settings hash covers the training settings except the seed, the split and the
pretrained weights, so runs with other seeds, sizes or methods extend one table while a changed setting is
refused.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from curate.errors import ConfigurationError
from curate.experiments.scaling_results import RESULTS_FILE, SCHEME, metric_columns, open_results, write_results
from curate.models.base import Device, Model, ModelInfo
from curate.training.data import TrainingSet, split_by_group
from curate.training.evaluate import evaluate
from curate.training.fine_tuner import FineTuner
from curate.training.registry import fine_tuner_for
from curate.training.result import EpochRecord
from curate.training.settings import AtomRefMode, TrainingSettings

ScalingMethod = Literal["scratch", "tl-trainable-ref", "tl-frozen-ref", "tl-refit-ref"]
SCALING_METHODS: tuple[str, ...] = get_args(ScalingMethod)
METHOD_ATOMREF: dict[str, AtomRefMode] = {
    "scratch": "refit",
    "tl-trainable-ref": "trainable",
    "tl-frozen-ref": "frozen",
    "tl-refit-ref": "refit",
}
METHOD_HELP = {
    "scratch": "random weights, pretrained architecture; reference energies (AtomRef) refitted on the training "
    "subset, frozen",
    "tl-trainable-ref": "pretrained weights, all trained; reference energies (AtomRef) trained too",
    "tl-frozen-ref": "pretrained weights, all trained; the pretrained (GGA) reference energies frozen",
    "tl-refit-ref": "pretrained weights, all trained; reference energies least-squares refit on the training "
    "subset, frozen",
}
# r2SCAN recipe of the released chgnet@r2scan (science.md section 2), magmom term aside: curate trains no magmoms
R2SCAN_SETTINGS = TrainingSettings(
    epochs=50,
    learning_rate=1e-3,
    final_learning_rate=1e-5,
    energy_weight=3.0,
    force_weight=1.0,
    stress_weight=0.1,
    loss="huber",
)
PointKey = tuple[str, int, int]  # method, n_train, seed (the hashes are fixed for one run)


@dataclass(frozen=True)
class ScalingPlan:
    """What to run: methods x sizes at one seed, on one split, with one set of training settings.

    Attributes:
        methods: scaling methods (see :data:`SCALING_METHODS`), in run order.
        sizes: training-set sizes N (structures), ascending, distinct.
        settings: training settings; ``atomref`` is replaced per method (:data:`METHOD_ATOMREF`), ``seed``
            seeds training and the fresh weights of ``scratch``.
        split_fractions: train : validation : test shares, normalised to sum 1.
        split_seed: seeds the split by material and the permutation the nested subsets are prefixes of.
    """

    methods: tuple[str, ...]
    sizes: tuple[int, ...]
    settings: TrainingSettings
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    split_seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in SCALING_METHODS]
        if unknown or not self.methods:
            raise ConfigurationError(
                f"unknown scaling method(s) {unknown or '(none given)'}; expected some of {', '.join(SCALING_METHODS)}"
            )
        if not self.sizes or min(self.sizes) < 1 or list(self.sizes) != sorted(set(self.sizes)):
            raise ConfigurationError(f"sizes must be distinct positive integers in ascending order, got {self.sizes}")
        if len(self.split_fractions) != 3 or min(self.split_fractions) < 0 or self.split_fractions[:2].count(0):
            raise ConfigurationError(
                "split must be train:validation:test with positive train and validation shares, "
                f"got {self.split_fractions}"
            )
        total = float(sum(self.split_fractions))
        object.__setattr__(self, "split_fractions", tuple(f / total for f in self.split_fractions))

    def settings_for(self, method: str) -> TrainingSettings:
        """The training settings of one method (its AtomRef mode)."""
        return self.settings.with_changes(atomref=METHOD_ATOMREF[method])

    def points(self) -> list[PointKey]:
        """Every (method, N, seed) of the plan, smallest N first so a cut-short run covers every method."""
        return [(m, n, self.settings.seed) for n in self.sizes for m in self.methods]

    def hashed_settings(self, base: ModelInfo) -> dict[str, Any]:
        """What a stored point depends on besides method, N, seed and target: hashed into ``settings_hash``."""
        settings = self.settings.as_dict()
        for per_point in ("seed", "atomref"):
            settings.pop(per_point)
        return {
            "scheme": SCHEME,
            "training": settings,
            "split_fractions": [round(f, 12) for f in self.split_fractions],
            "split_seed": self.split_seed,
            "pretrained": {"spec": base.spec, "file_sha256": base.file_sha256},
        }

    def settings_hash(self, base: ModelInfo) -> str:
        """sha256 (hex, 16 chars) of :meth:`hashed_settings` as canonical JSON."""
        text = json.dumps(self.hashed_settings(base), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ScalingSplit:
    """The target split by material, and the order the nested training subsets are taken in.

    Attributes:
        train: the training split, in the seeded permutation order (subset N = its first N structures).
        val: the validation split (dataset order).
        test: the test split (dataset order; may be empty with a zero test share).
        materials: distinct materials per part (train, val, test).
    """

    train: TrainingSet
    val: TrainingSet
    test: TrainingSet
    materials: tuple[int, int, int]

    def subset(self, n_train: int) -> TrainingSet:
        """The first ``n_train`` structures of the permuted training split (nested in every larger subset)."""
        if n_train > len(self.train):
            raise ConfigurationError(f"N = {n_train} exceeds the {len(self.train)} structures of the training split")
        return self.train.subset(range(n_train), origin=f"{self.train.origin} first {n_train}")

    def describe(self) -> dict[str, Any]:
        """Structures, atoms and materials per part, for the report."""
        return {
            name: {"structures": len(part), "atoms": part.num_atoms, "materials": materials}
            for name, part, materials in zip(
                ("train", "val", "test"), (self.train, self.val, self.test), self.materials, strict=True
            )
        }


def split_target(target: TrainingSet, plan: ScalingPlan) -> ScalingSplit:
    """Split ``target`` by material (:func:`split_by_group`, seed ``plan.split_seed``) and order the training part.

    The training part is permuted with ``numpy.random.default_rng([split_seed, 1])``; training subsets are
    prefixes of that permutation.

    Raises:
        ConfigurationError: the largest planned N exceeds the training split (refused, not clipped: a point
            labelled N must have trained on N structures), or the validation split is empty.
    """
    from curate.training.data import material_names

    parts = split_by_group(target, plan.split_fractions, seed=plan.split_seed)
    train_idx, val_idx, test_idx = parts
    order = np.random.default_rng([plan.split_seed, 1]).permutation(len(train_idx))
    train = target.subset([train_idx[i] for i in order], origin=f"{target.origin} train split")
    val = target.subset(val_idx, origin=f"{target.origin} validation split")
    test = target.subset(test_idx, origin=f"{target.origin} test split")
    if len(val) == 0:
        raise ConfigurationError(f"{target.origin}: the validation split is empty; the scaling law is measured on it")
    if max(plan.sizes) > len(train):
        shares = ":".join(f"{f:g}" for f in plan.split_fractions)
        raise ConfigurationError(
            f"sizes ask for N = {max(plan.sizes)} but the training split ({shares} of {len(target)} structures, "
            f"split seed {plan.split_seed}) holds {len(train)}; use sizes <= {len(train)} or a larger target"
        )
    names = material_names(target)
    materials = tuple(len({names[i] for i in p}) for p in parts)
    return ScalingSplit(train, val, test, materials)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ScalingRun:
    """What :func:`run_scaling` did.

    Attributes:
        rows: the plan's points (resumed and new), in plan order.
        table_rows: every row of this configuration in the table (other seeds or sizes of earlier runs too).
        computed: points trained in this call.
        split: the split used.
        settings_hash: the configuration's hash (key column of the table).
    """

    rows: list[dict[str, Any]]
    table_rows: list[dict[str, Any]]
    computed: int
    split: ScalingSplit
    settings_hash: str


def load_pretrained(spec: str, *, device: Device) -> Model:
    """The model a spec names, refused unless a fine-tuner is registered for its architecture.

    Raises:
        ConfigurationError: unknown spec, or no fine-tuner for the architecture.
    """
    from curate.models import load_model

    model = load_model(spec, device=device)
    fine_tuner_for(model)
    return model


def run_scaling(
    target: TrainingSet,
    *,
    pretrained: Model,
    plan: ScalingPlan,
    out: Path,
    base: ModelInfo | None = None,
    device: Device | None = None,
    overwrite: bool = False,
    fine_tuner: FineTuner | None = None,
    max_atoms_per_batch: int | None = None,
    on_point: Callable[[dict[str, Any]], None] | None = None,
    on_epoch: Callable[[str, int, EpochRecord], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> ScalingRun:
    """Train and evaluate every point of ``plan`` not yet in ``out/results.parquet``.

    Each point starts from ``pretrained`` (``tl-*``) or from ``fine_tuner.fresh_copy(pretrained, seed=)``
    (``scratch``), is trained by ``fine_tuner.finetune(start, train_subset, val, method="full", ...)`` and
    evaluated with :func:`evaluate` on the validation and test splits. The row is written to the table
    (atomic replace) before ``on_point(row)`` is called, so an exception raised there (or a kill) loses no
    finished point.

    Args:
        target: the labelled target set (r2SCAN); its ``content_hash`` is part of every point's key.
        pretrained: the pretrained model (not modified: every point trains a copy).
        plan: methods, sizes, settings and split.
        out: folder of ``results.parquet`` (created).
        base: provenance of ``pretrained`` for the settings hash (default: ``pretrained.info``).
        device: where training runs (default: ``pretrained.device``).
        overwrite: discard the table's points of another configuration instead of refusing (points of this
            configuration are kept and skipped as usual).
        fine_tuner: trains and draws fresh weights (default: the one registered for ``pretrained``'s
            architecture, :func:`curate.training.registry.fine_tuner_for`).
        max_atoms_per_batch: atoms per forward pass in evaluation (default: what memory allows).
        on_point: called with each new row after it is saved.
        on_epoch: called with (method, N, epoch record) during training.
        log: receives one-line progress messages.

    Returns:
        The plan's rows (new and resumed), every row of this configuration in the table, and the split.

    Raises:
        ConfigurationError: N larger than the training split, no fine-tuner for the architecture, or the table
            holds another configuration (without ``overwrite``).
    """
    tuner = fine_tuner or fine_tuner_for(pretrained)
    base = base or pretrained.info
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS_FILE
    say = log or (lambda _message: None)
    split = split_target(target, plan)
    key = (plan.settings_hash(base), target.content_hash)
    hashed = plan.hashed_settings(base)
    rows = open_results(path, key=key, hashed_settings=hashed, overwrite=overwrite, log=say)
    done = {(r["method"], r["n_train"], r["seed"]): r for r in rows}
    todo = [p for p in plan.points() if p not in done]
    say(f"{len(plan.points()) - len(todo)} of {len(plan.points())} point(s) already in {path}; {len(todo)} to run")
    for k, point in enumerate(todo, start=1):
        method, n_train, _ = point
        epochs = plan.settings.passes(n_train)
        say(f"[{k}/{len(todo)}] {method} N={n_train} seed={point[2]}: training ({epochs} epochs) ...")
        row = _run_point(
            point,
            split,
            plan=plan,
            pretrained=pretrained,
            tuner=tuner,
            key=key,
            device=device or pretrained.device,
            max_atoms_per_batch=max_atoms_per_batch,
            on_epoch=_point_epochs(on_epoch, method, n_train),
        )
        rows.append(row)
        done[point] = row
        write_results(rows, path, hashed_settings=hashed)
        say(f"[{k}/{len(todo)}] {_point_line(row)}")
        if on_point is not None:
            on_point(row)
    return ScalingRun([done[p] for p in plan.points()], rows, computed=len(todo), split=split, settings_hash=key[0])


def _point_line(row: dict[str, Any]) -> str:
    """One finished point for the log: validation energy (meV/atom) and force (meV/A) MAE, seconds."""
    return (
        f"{row['method']} N={row['n_train']}: val energy MAE {1000 * row['val_energy_mae_ev_per_atom']:.1f} "
        f"meV/atom, force MAE {1000 * row['val_force_mae_ev_per_ang']:.1f} meV/A ({row['seconds']:.1f} s)"
    )


def _point_epochs(
    on_epoch: Callable[[str, int, EpochRecord], None] | None, method: str, n_train: int
) -> Callable[[EpochRecord], None] | None:
    """``on_epoch`` with the point's method and N bound."""
    if on_epoch is None:
        return None
    report = on_epoch
    return lambda record: report(method, n_train, record)


def _run_point(
    point: PointKey,
    split: ScalingSplit,
    *,
    plan: ScalingPlan,
    pretrained: Model,
    tuner: FineTuner,
    key: tuple[str, str],
    device: Device,
    max_atoms_per_batch: int | None,
    on_epoch: Callable[[EpochRecord], None] | None,
) -> dict[str, Any]:
    """Train one point from its starting model, evaluate it on the validation and test splits; its table row."""
    method, n_train, seed = point
    started = time.perf_counter()
    train, settings = split.subset(n_train), plan.settings_for(method)
    start = tuner.fresh_copy(pretrained, seed=settings.seed) if method == "scratch" else pretrained
    result = tuner.finetune(start, train, split.val, method="full", settings=settings, device=device, on_epoch=on_epoch)
    val = evaluate(result.model, split.val, max_atoms_per_batch=max_atoms_per_batch)
    test = evaluate(result.model, split.test, max_atoms_per_batch=max_atoms_per_batch) if len(split.test) else None
    row = {
        "method": method,
        "n_train": n_train,
        "seed": seed,
        "settings_hash": key[0],
        "target_hash": key[1],
        "atomref": settings.atomref,
        "train_atoms": train.num_atoms,
        **metric_columns("val", val),
        **metric_columns("test", test),
        "epochs": len(result.history),
        "best_epoch": result.best_epoch,
        "trainable_parameters": result.trainable_parameters,
        "train_seconds": float(result.train_seconds),
        "seconds": time.perf_counter() - started,
        "finished_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "extra_json": json.dumps(result.extra, sort_keys=True, default=str),
    }
    del result, start
    gc.collect()
    return row
