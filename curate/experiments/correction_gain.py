"""Does a chosen correction set beat random data? Fine-tune on it and on random sets of its size, then compare.

The experiment of the softening paper, made a control: the model is fine-tuned once on the correction set
(e.g. the structures ``curate sample`` picked) and once on each of R random sets of the same size drawn from
the pool (seeded, :func:`curate.training.data.random_subsets`), every run with the same settings and seed.
Every fine-tuned model and the untouched one are evaluated on a held-out benchmark
(:func:`curate.training.evaluate.metrics_from_predictions`). Training goes through the
:class:`~curate.training.fine_tuner.FineTuner` registered for the model's architecture (or one passed in).
The gain of the chosen set over random data is, per random set k and error metric m,

    gain_k(m) = m(random_k) - m(correction),

reported as the mean +- sample standard deviation (ddof = 1) over the R random sets
(:mod:`curate.experiments.gains`); positive = the chosen set is better. For the softening scale a the error
is |1 - a| (a = 1 is no softening).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from curate.errors import ConfigurationError, InputError
from curate.experiments.gains import MIN_REPEATS, MeanStd, gains_over_random, softening_error, spread_over_random
from curate.models.base import Model, ModelInfo, Prediction, SharesGraphs, max_atoms_for
from curate.training.data import TrainingSet, load_training_set, random_subsets
from curate.training.evaluate import Metrics, metrics_from_predictions
from curate.training.fine_tuner import FineTuner
from curate.training.out_of_domain import WORSE_THRESHOLD_PERCENT, BenchmarkPart, OutOfDomainCheck, change_lines
from curate.training.settings import FinetuneMethod, TrainingSettings

LEAK_IDS_SHOWN = 10
SetKind = Literal["correction", "random"]


def _named_ids(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:LEAK_IDS_SHOWN])
    return shown + (f" and {len(ids) - LEAK_IDS_SHOWN} more" if len(ids) > LEAK_IDS_SHOWN else "")


def check_experiment_inputs(
    pool: TrainingSet, correction: TrainingSet, benchmark: TrainingSet, *, repeats: int
) -> None:
    """Refuse inputs the experiment cannot use honestly.

    Raises:
        ConfigurationError: fewer than two repeats; the correction set is larger than the pool (random sets of
            its size cannot be drawn); a structure of the correction set or the pool is also in the benchmark
            (a leak: the ids are named); the benchmark's forces are all zero (no softening scale).
    """
    if repeats < MIN_REPEATS:
        raise ConfigurationError(f"repeats must be >= {MIN_REPEATS} to report mean +- std, got {repeats}")
    if len(correction) > len(pool):
        raise ConfigurationError(
            f"the correction set {correction.origin} has {len(correction)} structures, more than the "
            f"{len(pool)} of the pool {pool.origin}: random sets of its size cannot be drawn from the pool"
        )
    benchmark_ids = set(benchmark.ids)
    for role, items in (("correction set", correction), ("pool", pool)):
        leaked = list(dict.fromkeys(i for i in items.ids if i in benchmark_ids))
        if leaked:
            raise ConfigurationError(
                f"{len(leaked)} structure(s) of the {role} {items.origin} are also in the benchmark "
                f"{benchmark.origin} (a leak: the benchmark must be held out): {_named_ids(leaked)}"
            )
    if not any(np.any(np.asarray(c.forces) != 0.0) for c in benchmark):
        raise ConfigurationError(
            f"every force of the benchmark {benchmark.origin} is zero: the softening scale is undefined"
        )


def load_role(path: str | Path, role: str) -> TrainingSet:
    """The labelled structures of the dataset at ``path``; errors say which input (``role``) is at fault.

    Raises:
        InputError: a row lacks energy or forces (names the role, row, file and record).
        ConfigurationError, DatasetError: the dataset is empty or missing.
    """
    try:
        return load_training_set(path)
    except InputError as exc:
        raise InputError(f"{role}: {exc.reason}", file=exc.file, record=exc.record, field=exc.field) from exc


def validation_split(size: int, val_fraction: float | None, *, seed: int) -> tuple[list[int], list[int]]:
    """Seeded (train, validation) indices of a training set of ``size`` structures, split by structure.

    round(val_fraction x size) structures, at least one, validate; the same rule for the correction set and
    every random set, so all train on the same number of structures. ``None`` or 0: no validation set.

    Raises:
        ConfigurationError: the fraction is outside [0, 1) or leaves no training structure.
    """
    if not val_fraction:
        return list(range(size)), []
    if not 0.0 < val_fraction < 1.0:
        raise ConfigurationError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = max(1, round(val_fraction * size))
    if n_val >= size:
        raise ConfigurationError(
            f"val_fraction {val_fraction} of {size} structure(s) leaves nothing to train on; "
            "use a larger correction set or no validation set (the last epoch is then kept)"
        )
    order = np.random.default_rng(seed).permutation(size)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


@dataclass(frozen=True)
class TrainedSet:
    """One fine-tuning run of the experiment and its benchmark metrics.

    Attributes:
        label: ``correction`` or ``random 1`` ... ``random R``.
        kind: correction or random.
        train_ids: dataset ids of the structures trained on.
        val_ids: dataset ids of the validation structures (empty without a validation fraction).
        pool_indices: for a random set, the indices into the pool that were drawn; empty for the correction.
        metrics: benchmark metrics of the fine-tuned model.
        energy_scale: the fitted scalar for ``linear``, else None.
        best_epoch: epoch kept (None for ``linear``).
        train_seconds: wall time of the training steps (s).
        same_as: label of an earlier run on the same structures whose model was reused (the same structures
            in the same order with the same settings and seed train the same model, up to floating-point
            non-determinism), else None.
        out_of_domain: for the correction run, the out-of-domain change
            (:meth:`curate.training.out_of_domain.OutOfDomainChange.as_dict`); None when not evaluated.
    """

    label: str
    kind: SetKind
    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    pool_indices: tuple[int, ...]
    metrics: Metrics
    energy_scale: float | None
    best_epoch: int | None
    train_seconds: float
    same_as: str | None = None
    out_of_domain: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "label": self.label,
            "kind": self.kind,
            "train_ids": list(self.train_ids),
            "val_ids": list(self.val_ids),
            "pool_indices": list(self.pool_indices),
            "energy_scale": self.energy_scale,
            "best_epoch": self.best_epoch,
            "train_seconds": round(self.train_seconds, 3),
            "same_as": self.same_as,
            "metrics": self.metrics.as_dict(),
            "softening_error": softening_error(self.metrics.softening_scale),
            "out_of_domain": self.out_of_domain,
        }


@dataclass(frozen=True)
class CorrectionGainResult:
    """Everything the experiment measured, and how.

    Attributes:
        model: provenance of the untouched model.
        method: linear, full or heads.
        settings: training hyper-parameters (shared by every run).
        seed: seed of the random sets, the validation splits and training.
        val_fraction: share of each training set held out for validation (None: last epoch kept).
        data: provenance of pool, correction set and benchmark (origin, content hash, structures, atoms).
        correction_in_pool: how many correction structures are also in the pool.
        before: benchmark metrics of the untouched model.
        correction: the run on the correction set.
        random: the runs on the random sets.
        recommendation: for ``linear``, which model to use and why
            (:func:`curate.experiments.correction_advice.recommendation`); None for other methods.
    """

    model: ModelInfo
    method: FinetuneMethod
    settings: TrainingSettings
    seed: int
    val_fraction: float | None
    data: dict[str, Any]
    correction_in_pool: int
    before: Metrics
    correction: TrainedSet
    random: tuple[TrainedSet, ...]
    recommendation: dict[str, Any] | None = None

    def gains(self) -> dict[str, MeanStd]:
        """Gain of the correction set over random sets per error metric (see :func:`gains_over_random`)."""
        return gains_over_random(self.correction.metrics, [r.metrics for r in self.random])

    def random_spread(self) -> dict[str, MeanStd]:
        """Mean +- std over the random sets of each metric (see :func:`spread_over_random`)."""
        return spread_over_random([r.metrics for r in self.random])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready record: provenance, before, every set's after, random mean +- std and the gains."""
        from curate import __version__

        return {
            "created_with": {"curate": __version__},
            "model": self.model.as_dict(),
            "method": self.method,
            "settings": self.settings.as_dict(),
            "seed": self.seed,
            "repeats": len(self.random),
            "val_fraction": self.val_fraction,
            "data": self.data,
            "correction_in_pool": self.correction_in_pool,
            "before": {**self.before.as_dict(), "softening_error": softening_error(self.before.softening_scale)},
            "correction": self.correction.as_dict(),
            "random": [r.as_dict() for r in self.random],
            "recommendation": self.recommendation,
            "random_mean_std": {k: v.as_dict() for k, v in self.random_spread().items()},
            "gain_over_random": {k: v.as_dict() for k, v in self.gains().items()},
            "gain_definition": "gain = error(random set) - error(correction set), mean +- sample std (ddof=1) "
            "over the random sets; softening_error = |1 - softening scale|; positive = the correction set is "
            "better",
        }


class BenchmarkEvaluator:
    """Benchmark metrics of many models, building the neighbour graphs once when the models can share them."""

    def __init__(self, benchmark: TrainingSet, base: Model, *, max_atoms_per_batch: int | None = None):
        """Remember the benchmark; graphs are built by ``base`` on first use (CHGNet-style models)."""
        self.benchmark = benchmark
        self.max_atoms_per_batch = max_atoms_per_batch
        self._base = base
        self._graphs: list[Any] | None = None

    def predictions(self, model: Model) -> list[Prediction]:
        """Predictions of ``model`` for every benchmark structure (energy eV, forces eV/A, stress GPa)."""
        structures = list(self.benchmark.configurations)
        max_atoms = self.max_atoms_per_batch or max_atoms_for([model])
        base = self._base
        if isinstance(model, SharesGraphs) and isinstance(base, SharesGraphs) and model.graph_key() == base.graph_key():
            if self._graphs is None:
                self._graphs = base.build_graphs(structures)
            return model.predict_graphs(self._graphs, [c.nsites for c in structures], max_atoms_per_batch=max_atoms)
        return model.predict(structures, max_atoms_per_batch=max_atoms)

    def metrics(self, model: Model) -> Metrics:
        """:class:`Metrics` of ``model`` on the benchmark."""
        return metrics_from_predictions(self.benchmark, self.predictions(model))


class SetTrainer:
    """Fine-tunes the model on one training set after another and evaluates each on the benchmark.

    The same structures in the same order with the same settings and seed train the same model (up to
    floating-point non-determinism), so a repeated set reuses the earlier run's model and metrics.
    """

    def __init__(
        self,
        base: Model,
        tuner: FineTuner,
        evaluator: BenchmarkEvaluator,
        *,
        method: FinetuneMethod,
        settings: TrainingSettings,
        val_fraction: float | None,
        say: Callable[[str], None],
    ):
        self.base, self.tuner, self.evaluator = base, tuner, evaluator
        self.method, self.settings, self.val_fraction, self.say = method, settings, val_fraction, say
        self.done: dict[tuple[str, ...], TrainedSet] = {}

    def run(
        self,
        label: str,
        kind: SetKind,
        items: TrainingSet,
        pool_indices: Sequence[int],
        *,
        ood: OutOfDomainCheck | None = None,
    ) -> TrainedSet:
        """Train on ``items`` (less its seeded validation split) and evaluate, with the out-of-domain change when
        ``ood`` is given; or reuse an identical earlier run (its out-of-domain change included)."""
        train_idx, val_idx = validation_split(len(items), self.val_fraction, seed=self.settings.seed)
        train = items.subset(train_idx, origin=f"{items.origin} ({label})")
        val = items.subset(val_idx, origin=f"{items.origin} ({label}, validation)") if val_idx else None
        key = (*train.ids, "|", *(() if val is None else val.ids))
        if key in self.done:
            earlier = self.done[key]
            self.say(f"{label}: the same structures as {earlier.label}; its model and metrics are reused")
            return replace(earlier, label=label, kind=kind, pool_indices=tuple(pool_indices), same_as=earlier.label)
        result = self.tuner.finetune(self.base, train, val, method=self.method, settings=self.settings)
        metrics = self.evaluator.metrics(result.model)
        self.say(_progress_line(label, metrics))
        out_of_domain = None
        if ood is not None:
            change = ood.change(result.model)
            for line in change_lines(change):
                self.say(line)
            out_of_domain = change.as_dict()
        self.done[key] = TrainedSet(
            label=label,
            kind=kind,
            train_ids=train.ids,
            val_ids=() if val is None else val.ids,
            pool_indices=tuple(pool_indices),
            metrics=metrics,
            energy_scale=result.energy_scale,
            best_epoch=result.best_epoch,
            train_seconds=result.train_seconds,
            out_of_domain=out_of_domain,
        )
        return self.done[key]


def run_correction_gain(
    *,
    pool: TrainingSet,
    correction: TrainingSet,
    benchmark: TrainingSet,
    model_spec: str,
    method: FinetuneMethod,
    settings: TrainingSettings,
    repeats: int,
    val_fraction: float | None = None,
    device: str | None = None,
    max_atoms_per_batch: int | None = None,
    on_progress: Callable[[str], None] | None = None,
    fine_tuner: FineTuner | None = None,
    ood_parts: Sequence[BenchmarkPart] = (),
    ood_threshold_percent: float = WORSE_THRESHOLD_PERCENT,
) -> CorrectionGainResult:
    """Fine-tune ``model_spec`` on the correction set and on ``repeats`` random pool sets of its size; evaluate.

    Random sets are ``random_subsets(len(pool), len(correction), repeats, seed=settings.seed)`` (independent
    draws); every run uses ``settings`` (its seed too), so the sets differ only in their structures. The
    untouched model and the benchmark's neighbour graphs are evaluated/built once. With ``method`` linear the
    result carries a recommendation (:func:`~curate.experiments.correction_advice.set_recommendation`).

    Args:
        pool: labelled structures random sets are drawn from.
        correction: the chosen structures (need not be in the pool).
        benchmark: held-out labelled structures; no pool or correction structure may be among them.
        model_spec: the model to start from, e.g. ``chgnet@0.3.0``; method: linear, full or heads.
        settings: training hyper-parameters; repeats: number of random sets (>= 2).
        val_fraction: share of each training set used for validation (best epoch kept); None: last epoch.
        device: cpu, cuda, or None/auto; max_atoms_per_batch: atoms per forward pass when evaluating.
        on_progress: receives one line per finished step (for stderr).
        fine_tuner: trains every set (default: the one registered for the model's architecture).
        ood_parts: out-of-domain parts (:mod:`curate.training.out_of_domain`) on which the untouched and the
            correction run's model are compared (verdict above ``ood_threshold_percent``); none: not evaluated.

    Raises:
        ConfigurationError: see :func:`check_experiment_inputs`, :func:`validation_split`; no fine-tuner.
    """
    from curate.experiments.correction_advice import set_recommendation
    from curate.models import load_model
    from curate.models.base import select_device
    from curate.training.registry import fine_tuner_for

    check_experiment_inputs(pool, correction, benchmark, repeats=repeats)
    validation_split(len(correction), val_fraction, seed=settings.seed)  # refuse before any model work
    say = on_progress or (lambda _message: None)
    base = load_model(model_spec, device=select_device(device))
    tuner = fine_tuner or fine_tuner_for(base)
    evaluator = BenchmarkEvaluator(benchmark, base, max_atoms_per_batch=max_atoms_per_batch)
    before = evaluator.metrics(base)
    say(_progress_line("before", before))
    ood = OutOfDomainCheck(ood_parts, base, threshold_percent=ood_threshold_percent) if ood_parts else None
    trainer = SetTrainer(base, tuner, evaluator, method=method, settings=settings, val_fraction=val_fraction, say=say)
    chosen = trainer.run("correction", "correction", correction, (), ood=ood)
    draws = random_subsets(len(pool), len(correction), repeats, seed=settings.seed)
    random_runs = tuple(
        trainer.run(f"random {k}", "random", pool.subset(indices, origin=pool.origin), indices)
        for k, indices in enumerate(draws, start=1)
    )
    pool_ids = set(pool.ids)
    verdict = set_recommendation(base, before, chosen.metrics, correction, settings) if method == "linear" else None
    if verdict is not None:
        say(verdict["message"])
    return CorrectionGainResult(
        model=base.info,
        method=method,
        settings=settings,
        seed=settings.seed,
        val_fraction=val_fraction or None,
        data={"pool": pool.describe(), "correction": correction.describe(), "benchmark": benchmark.describe()},
        correction_in_pool=sum(1 for i in correction.ids if i in pool_ids),
        before=before,
        correction=chosen,
        random=random_runs,
        recommendation=verdict,
    )


def _progress_line(label: str, metrics: Metrics) -> str:
    return (
        f"{label}: benchmark force MAE {metrics.force_mae_ev_per_ang:.4f} eV/A, "
        f"softening scale {metrics.softening_scale:.4f}"
    )
