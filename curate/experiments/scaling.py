"""GGA -> r2SCAN transfer-learning scaling law: validation error against training-set size, per method.

The experiment (science.md section 2): split the target (r2SCAN) set by material, seeded, 8:1:1; draw nested
training subsets of each size N as prefixes of one seeded permutation of the training split (N = 100 lies
inside N = 300); for every (method, N) train a CHGNet and measure energy, force and stress MAE on the
validation and test splits; fit log10(MAE) = intercept + slope * log10(N) per method.

Methods (all train every weight; they differ in the starting weights and the elemental reference energies):

- ``scratch``: the pretrained model's architecture with random weights, AtomRef refitted on the training
  subset and frozen (what CHGNet's own from-scratch training does);
- ``tl-trainable-ref``: the pretrained (GGA) weights, AtomRef trained with the rest;
- ``tl-frozen-ref``: the pretrained weights, the GGA AtomRef frozen;
- ``tl-refit-ref``: the pretrained weights, AtomRef refitted on the training subset by least squares, frozen.

Every finished point is appended to ``results.parquet`` at once (atomic replace), so a killed run resumes
with only the missing points. A point's key is (method, n_train, seed, settings hash, target content hash);
the settings hash covers the training settings except the seed, the split and the pretrained weights, so
runs with other seeds, sizes or methods extend one table while a changed setting is refused.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.dataset.io import atomic_output
from curate.errors import ConfigurationError, DatasetError
from curate.models.base import Device, ModelInfo
from curate.training.data import TrainingSet, split_by_group
from curate.training.evaluate import Metrics, evaluate
from curate.training.result import EpochRecord, FinetuneResult
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
    "scratch": "random weights, pretrained architecture; AtomRef refitted on the training subset, frozen",
    "tl-trainable-ref": "pretrained weights, all trained; AtomRef trained too",
    "tl-frozen-ref": "pretrained weights, all trained; the pretrained (GGA) AtomRef frozen",
    "tl-refit-ref": "pretrained weights, all trained; AtomRef least-squares refit on the training subset, frozen",
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
PointKey = tuple[str, int, int]  # method, n_train, seed (the hashes are fixed for one run)
FinetuneFn = Callable[..., FinetuneResult]  # finetune_chgnet's signature
FreshModelFn = Callable[..., Any]  # fresh_chgnet_like(model, *, seed) -> a model with random weights


@dataclass(frozen=True)
class ScalingPlan:
    """What to run: methods x sizes at one seed, on one split, with one set of training settings.

    Attributes:
        methods: scaling methods (see :data:`SCALING_METHODS`), in run order.
        sizes: training-set sizes N (structures), ascending, distinct.
        settings: training settings; ``atomref`` is replaced per method (:data:`METHOD_ATOMREF`), ``seed``
            seeds training and the random weights of ``scratch``.
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
    from curate.training.data import material_key

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
            f"--sizes asks for N = {max(plan.sizes)} but the training split ({shares} of {len(target)} structures, "
            f"split seed {plan.split_seed}) holds {len(train)}; use sizes <= {len(train)} or a larger target"
        )
    materials = tuple(len({material_key(target.configurations[i]) for i in p}) for p in parts)
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


def load_pretrained_chgnet(spec: str, *, device: Device) -> tuple[Any, ModelInfo]:
    """The raw ``chgnet.model.CHGNet`` a spec names and its provenance.

    Raises:
        ConfigurationError: the spec is not a CHGNet model (the scaling experiment builds ``scratch`` from the
            pretrained CHGNet architecture and refits CHGNet's AtomRef).
    """
    from curate.models import load_model, parse_spec

    if parse_spec(spec).architecture != "chgnet":
        raise ConfigurationError(f"--pretrained {spec!r}: the scaling experiment needs a CHGNet model (chgnet@0.3.0)")
    loaded = load_model(spec, device=device)
    return loaded.model, loaded.info  # type: ignore[attr-defined]


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
        f"{path} holds {len(rows)} point(s) from another configuration: {why}; use another --out or --overwrite "
        "to discard them"
    )


def _metric_columns(prefix: str, metrics: Metrics | None) -> dict[str, float | None]:
    return {f"{prefix}_{name}": None if metrics is None else getattr(metrics, name) for name in METRIC_NAMES}


def run_scaling(
    target: TrainingSet,
    *,
    pretrained: Any,
    base: ModelInfo,
    plan: ScalingPlan,
    out: Path,
    device: Device = "cpu",
    overwrite: bool = False,
    trainer: FinetuneFn | None = None,
    fresh_model: FreshModelFn | None = None,
    max_atoms_per_batch: int | None = None,
    on_point: Callable[[dict[str, Any]], None] | None = None,
    on_epoch: Callable[[str, int, EpochRecord], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> ScalingRun:
    """Train and evaluate every point of ``plan`` not yet in ``out/results.parquet``.

    Each point starts from ``pretrained`` (``tl-*``) or from ``fresh_model(pretrained, seed=)``
    (``scratch``), is trained by ``trainer(model, base, train_subset, val, method="full", settings=,
    device=, on_epoch=)`` and evaluated with :func:`evaluate` on the validation and test splits. The row is
    written to the table (atomic replace) before ``on_point(row)`` is called, so an exception raised there
    (or a kill) loses no finished point.

    Args:
        target: the labelled target set (r2SCAN); its ``content_hash`` is part of every point's key.
        pretrained: the pretrained ``chgnet.model.CHGNet``; passed to ``trainer``, which must not modify it.
        base: provenance of ``pretrained``.
        plan: methods, sizes, settings and split.
        out: folder of ``results.parquet`` (created).
        device: where training runs.
        overwrite: discard the table's points of another configuration instead of refusing (points of this
            configuration are kept and skipped as usual).
        trainer: :func:`curate.training.chgnet_finetune.finetune_chgnet` unless given (tests inject stubs).
        fresh_model: :func:`curate.training.chgnet_finetune.fresh_chgnet_like` unless given.
        max_atoms_per_batch: atoms per forward pass in evaluation (default: what memory allows).
        on_point: called with each new row after it is saved.
        on_epoch: called with (method, N, epoch record) during training.
        log: receives one-line progress messages.

    Returns:
        The plan's rows (new and resumed), every row of this configuration in the table, and the split.

    Raises:
        ConfigurationError: N larger than the training split, or the table holds another configuration
            (without ``overwrite``).
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS_FILE
    say = log or (lambda _message: None)
    split = split_target(target, plan)
    settings_hash, target_hash = plan.settings_hash(base), target.content_hash
    hashed = plan.hashed_settings(base)
    rows, stored = read_results(path)
    if overwrite:
        kept = [r for r in rows if (r["settings_hash"], r["target_hash"]) == (settings_hash, target_hash)]
        if len(kept) < len(rows):
            say(f"--overwrite: discarding {len(rows) - len(kept)} point(s) of another configuration in {path}")
        rows = kept
    _refuse_mixing(rows, stored, hashed, key=(settings_hash, target_hash), path=path)
    done = {(r["method"], r["n_train"], r["seed"]): r for r in rows}
    todo = [p for p in plan.points() if p not in done]
    say(f"{len(plan.points()) - len(todo)} of {len(plan.points())} point(s) already in {path}; {len(todo)} to run")
    for k, (method, n_train, seed) in enumerate(todo, start=1):
        train = split.subset(n_train)
        settings = plan.settings_for(method)
        say(f"[{k}/{len(todo)}] {method} N={n_train} seed={seed}: training ({settings.epochs} epochs) ...")
        started = time.perf_counter()
        result = _train_point(
            method,
            train,
            split.val,
            pretrained=pretrained,
            base=base,
            settings=settings,
            device=device,
            trainer=trainer,
            fresh_model=fresh_model,
            on_epoch=None if on_epoch is None else (lambda r, m=method, n=n_train: on_epoch(m, n, r)),
        )
        val_metrics = evaluate(result.model, split.val, max_atoms_per_batch=max_atoms_per_batch)
        test_metrics = (
            evaluate(result.model, split.test, max_atoms_per_batch=max_atoms_per_batch) if len(split.test) else None
        )
        row = {
            "method": method,
            "n_train": n_train,
            "seed": seed,
            "settings_hash": settings_hash,
            "target_hash": target_hash,
            "atomref": settings.atomref,
            "train_atoms": train.num_atoms,
            **_metric_columns("val", val_metrics),
            **_metric_columns("test", test_metrics),
            "epochs": len(result.history),
            "best_epoch": result.best_epoch,
            "trainable_parameters": result.trainable_parameters,
            "train_seconds": float(result.train_seconds),
            "seconds": time.perf_counter() - started,
            "finished_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "extra_json": json.dumps(result.extra, sort_keys=True, default=str),
        }
        del result
        gc.collect()
        rows.append(row)
        done[(method, n_train, seed)] = row
        write_results(rows, path, hashed_settings=hashed)
        say(
            f"[{k}/{len(todo)}] {method} N={n_train}: val energy MAE {1000 * row['val_energy_mae_ev_per_atom']:.1f} "
            f"meV/atom, force MAE {1000 * row['val_force_mae_ev_per_ang']:.1f} meV/A ({row['seconds']:.1f} s)"
        )
        if on_point is not None:
            on_point(row)
    return ScalingRun(
        rows=[done[p] for p in plan.points()],
        table_rows=rows,
        computed=len(todo),
        split=split,
        settings_hash=settings_hash,
    )


def _train_point(
    method: str,
    train: TrainingSet,
    val: TrainingSet,
    *,
    pretrained: Any,
    base: ModelInfo,
    settings: TrainingSettings,
    device: Device,
    trainer: FinetuneFn | None,
    fresh_model: FreshModelFn | None,
    on_epoch: Callable[[EpochRecord], None] | None,
) -> FinetuneResult:
    if trainer is None or (method == "scratch" and fresh_model is None):
        from curate.training.chgnet_finetune import finetune_chgnet, fresh_chgnet_like

        trainer = trainer or finetune_chgnet
        fresh_model = fresh_model or fresh_chgnet_like
    if method == "scratch":
        assert fresh_model is not None
        start = fresh_model(pretrained, seed=settings.seed)
        start_info = replace(
            base, spec=f"fresh:{base.spec}", name=f"fresh:{base.name}", version=f"random weights, seed {settings.seed}"
        )
    else:
        start, start_info = pretrained, base  # the trainer trains a copy (finetune_chgnet's contract)
    return trainer(start, start_info, train, val, method="full", settings=settings, device=device, on_epoch=on_epoch)


@dataclass(frozen=True)
class PowerLawFit:
    """log10(MAE) = intercept_log10 + slope * log10(N), least squares (numpy.polyfit, degree 1).

    Attributes:
        slope: the scaling exponent (negative when the error falls with N).
        intercept_log10: log10 of the MAE extrapolated to N = 1 (MAE unit).
        points: (N, MAE) points fitted.
        n_min: smallest N fitted.
        n_max: largest N fitted.
        r_squared: coefficient of determination in log-log space.
    """

    slope: float
    intercept_log10: float
    points: int
    n_min: int
    n_max: int
    r_squared: float

    def predict(self, n_train: float | np.ndarray) -> float | np.ndarray:
        """Fitted MAE at ``n_train``: 10**intercept * N**slope."""
        return 10.0**self.intercept_log10 * np.asarray(n_train, dtype=float) ** self.slope

    def n_for(self, mae: float) -> float:
        """N at which the fitted line reaches ``mae``: (mae / 10**intercept) ** (1 / slope)."""
        return float((mae / 10.0**self.intercept_log10) ** (1.0 / self.slope)) if self.slope else float("inf")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the prefactor 10**intercept."""
        return {
            "slope": self.slope,
            "intercept_log10": self.intercept_log10,
            "prefactor": 10.0**self.intercept_log10,
            "points": self.points,
            "n_min": self.n_min,
            "n_max": self.n_max,
            "r_squared": self.r_squared,
        }


def fit_power_law(n_train: Sequence[float], mae: Sequence[float], *, min_n: int | None = None) -> PowerLawFit:
    """Fit MAE = 10**b * N**a by a straight line in log10-log10 space, over points with N >= ``min_n``.

    Args:
        n_train: training-set sizes N (one per point; repeats, e.g. seeds, allowed).
        mae: the MAE of each point (any unit; must be > 0).
        min_n: fit only points with N >= min_n (default: all).

    Raises:
        ConfigurationError: fewer than two distinct N left, or a non-positive or non-finite MAE among them.
    """
    n_arr, mae_arr = np.asarray(n_train, dtype=float), np.asarray(mae, dtype=float)
    keep = n_arr >= (min_n or 0)
    n_arr, mae_arr = n_arr[keep], mae_arr[keep]
    if len(np.unique(n_arr)) < 2:
        raise ConfigurationError(
            f"a power-law fit needs points at two or more sizes N >= {min_n or 1}, found {sorted(set(n_arr.tolist()))}"
        )
    if not np.all(np.isfinite(mae_arr)) or np.any(mae_arr <= 0):
        raise ConfigurationError(f"a power-law fit needs finite positive MAEs, found {mae_arr.tolist()}")
    x, y = np.log10(n_arr), np.log10(mae_arr)
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(np.sum((y - (intercept + slope * x)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    return PowerLawFit(
        slope=float(slope),
        intercept_log10=float(intercept),
        points=len(n_arr),
        n_min=int(n_arr.min()),
        n_max=int(n_arr.max()),
        r_squared=1.0 - residual / total if total > 0 else 1.0,
    )
