"""Benchmark (issue 6): training throughput of ``curate finetune`` against chgnet's own Trainer.

The anchor is what users do today: ``chgnet.data.dataset.StructureData`` + torch ``DataLoader`` with
``collate_graphs``, and ``chgnet.trainer.Trainer(targets="efs", ...).train(train_loader, val_loader)``.
curate is :func:`curate.training.finetune.finetune` (the library call behind ``curate finetune --method
full``). Same pretrained model (chgnet@0.3.0), same training and validation structures, same settings: loss
weights energy : force : stress = 0.1 : 100 : 0.1, MSE, Adam, learning rate 1e-3 cosine-decayed to 1e-5,
``--epochs`` epochs, ``--batch-size`` structures per step, validation every epoch, best validation force
MAE kept (the Trainer's ``bestF`` checkpoint for the anchor).

Throughput = training structures x epochs / wall seconds of the whole training call (graph building,
every epoch's training and validation, the Trainer's checkpoint writes); models loaded and imports done
before the clock, for both (the anchor's ``Trainer`` and its Adam are built before the clock, so curate
builds a throwaway Adam first: the first one imports ~1 s of torch machinery). Each mode runs in a fresh
process, in ``--repeats`` interleaved rounds; the best time of each mode counts (the machine is shared).
Peak memory is the process's ``ru_maxrss``. The final validation force MAE of both (evaluated by the same
code on the same structures) is printed and must agree within 15 % (different batch orders, same
optimisation). curate's savings are per epoch (graphs, one gradient pass for forces and stress, validation
without a training graph), so the ratio grows with the number of epochs: ~1.5x at 4, ~1.6x at 10.

Input: real PBE frames from ``../shared/data``: the 10 Si64 molecular-dynamics frames (2000 K) and the
ionic steps of the As2SO6 Materials Project tasks, imported with curate, sampled evenly to
``--structures`` rows and split seeded into training and validation (5:1).

Target: curate >= 1.5x the anchor's structures/s with the same final validation error.

Usage (from the project root)::

    .venv/bin/python bench/finetune.py                   # CPU, 48 structures, 10 epochs
    .venv/bin/python bench/finetune.py --write-results   # also record the numbers in bench/RESULTS.md
    .venv/bin/python bench/finetune.py --device cuda     # on a machine with a GPU

Exit status: 0 when the target passes, 1 when it fails, 2 when a run fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"
DEFAULT_WORK_DIR = PROJECT_ROOT / "bench" / "_work" / "finetune"
RESULTS_PATH = PROJECT_ROOT / "bench" / "RESULTS.md"
RESULTS_SECTION = "## finetune (issue 6)"
SOURCES = (
    ("vasp", "vasp/pymatgen_core/outputs__vasprun.md.xml.gz"),
    ("mp-tasks", "emmet/test_As2SO6_tasks.json.gz"),
)
TARGET_RATIO = 1.5
VAL_AGREEMENT = 0.15


def _sys_path() -> None:
    # bench/ holds a coverage.py that would shadow the coverage package; curate comes from the project root
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, str(PROJECT_ROOT))


def prepare(data_dir: Path, work: Path, structures: int, seed: int) -> tuple[Path, Path]:
    """Import the real frames once; write train and val datasets (5:1, seeded) of ``structures`` rows."""
    from curate.dataset.configuration import configurations_to_batch
    from curate.dataset.store import Dataset
    from curate.sources.ingest import import_paths
    from curate.training.data import load_training_set

    source = work / "source"
    if not (source / "manifest.json").is_file():
        shutil.rmtree(source, ignore_errors=True)
        for fmt, rel in SOURCES:
            import_paths([data_dir / rel], format_name=fmt, out=source)
    everything = load_training_set(source)
    pick = np.linspace(0, len(everything) - 1, num=min(structures, len(everything))).round().astype(int)
    order = np.random.default_rng(seed).permutation(np.unique(pick))
    n_val = max(1, len(order) // 6)
    paths = []
    for name, rows in (("train", sorted(order[n_val:])), ("val", sorted(order[:n_val]))):
        out = work / f"{name}-{structures}-{seed}"
        if not (out / "manifest.json").is_file():
            shutil.rmtree(out, ignore_errors=True)
            dataset = Dataset.create(out)
            with dataset.writer() as writer:
                writer.append(configurations_to_batch([everything.configurations[i] for i in rows]))
        paths.append(out)
    return paths[0], paths[1]


def run_anchor(train_dir: Path, val_dir: Path, epochs: int, batch_size: int, device: str, scratch: Path) -> dict:
    """chgnet's Trainer on the same data; returns seconds, structures/s and the bestF model's val force MAE."""
    import contextlib
    import io

    import torch
    from chgnet.data.dataset import StructureData, collate_graphs
    from chgnet.model import CHGNet
    from chgnet.trainer import Trainer
    from torch.utils.data import DataLoader

    from curate.dataset.configuration import stress_vasp_kbar_from_gpa
    from curate.models.chgnet import CHGNetModel, to_pymatgen
    from curate.training.data import load_training_set
    from curate.training.evaluate import evaluate

    train, val = load_training_set(train_dir), load_training_set(val_dir)

    def loader(data: Any, shuffle: bool) -> DataLoader:
        structure_data = StructureData(
            structures=[to_pymatgen(c) for c in data],
            energies=[float(c.energy) / c.nsites for c in data],
            forces=[np.asarray(c.forces).tolist() for c in data],
            stresses=[stress_vasp_kbar_from_gpa(c.stress).tolist() for c in data],
        )
        return DataLoader(structure_data, batch_size=batch_size, shuffle=shuffle, collate_fn=collate_graphs)

    with contextlib.redirect_stdout(io.StringIO()):
        model = CHGNet.load(model_name="0.3.0", verbose=False)
        train_loader, val_loader = loader(train, True), loader(val, False)
    torch.manual_seed(0)
    trainer = Trainer(
        model,
        targets="efs",
        energy_loss_ratio=0.1,
        force_loss_ratio=100,
        stress_loss_ratio=0.1,
        optimizer="Adam",
        scheduler="CosLR",
        scheduler_params={"decay_fraction": 1e-2},
        criterion="MSE",
        epochs=epochs,
        learning_rate=1e-3,
        use_device=device,
        print_freq=10_000,
    )
    save_dir = scratch / "anchor-checkpoints"
    shutil.rmtree(save_dir, ignore_errors=True)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.train(train_loader, val_loader, save_dir=str(save_dir))
    seconds = time.perf_counter() - started
    best = next(p for p in sorted(save_dir.iterdir()) if p.name.startswith("bestF"))
    best_model = CHGNetModel.from_file(best, device=device)
    return {
        "seconds": seconds,
        "structures_per_second": len(train) * epochs / seconds,
        "val_force_mae": evaluate(best_model, val).force_mae_ev_per_ang,
        "train_structures": len(train),
    }


def run_curate(train_dir: Path, val_dir: Path, epochs: int, batch_size: int, device: str, scratch: Path) -> dict:
    """curate's fine-tuning on the same data and settings."""
    from curate.models import load_model
    from curate.training.data import load_training_set
    from curate.training.evaluate import evaluate
    from curate.training.finetune import finetune
    from curate.training.settings import TrainingSettings

    train, val = load_training_set(train_dir), load_training_set(val_dir)
    import torch

    load_model("chgnet@0.3.0", device=device)  # weights read once before the clock, as for the anchor
    # the anchor builds its Trainer (and so its Adam, whose first construction imports ~1 s of torch
    # machinery) before the clock; the same import happens here before the clock
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    settings = TrainingSettings(epochs=epochs, batch_size=batch_size, seed=0)
    started = time.perf_counter()
    result = finetune("chgnet@0.3.0", train, val, method="full", settings=settings, device=device)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "structures_per_second": len(train) * epochs / seconds,
        "val_force_mae": evaluate(result.model, val).force_mae_ev_per_ang,
        "train_structures": len(train),
        "best_epoch": result.best_epoch,
    }


def child(mode: str, train_dir: Path, val_dir: Path, epochs: int, batch_size: int, device: str, out: Path) -> None:
    """Run one mode in this process and write its numbers (plus peak RSS) as JSON."""
    _sys_path()
    runner = run_anchor if mode == "anchor" else run_curate
    numbers = runner(train_dir, val_dir, epochs, batch_size, device, out.parent)
    numbers["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(numbers))


def _load_average() -> float:
    return os.getloadavg()[0]


def write_results(row: dict[str, Any], command: str) -> None:
    """Append a row to the finetune section of bench/RESULTS.md (creating the section when missing)."""
    header = (
        f"{RESULTS_SECTION}\n\n"
        "`curate finetune --method full` (library call `finetune`) against chgnet's own `Trainer` on the same\n"
        "real frames (Si64 MD at 2000 K and As2SO6 relaxation steps), chgnet@0.3.0, E:F:S = 0.1:100:0.1, MSE,\n"
        "Adam, lr 1e-3 cosine to 1e-5, validation every epoch, best validation force MAE kept. Throughput =\n"
        "training structures x epochs / wall seconds of the whole training call; each mode in a fresh process,\n"
        "best of the interleaved rounds; peak = `ru_maxrss`. val F MAE = force MAE (eV/A) of each run's kept\n"
        "model on the validation frames. Target: >= 1.5x with the same final validation error.\n\n"
        "| train structures | epochs | batch | device | load | anchor s | anchor structures/s | anchor peak MB "
        "| curate s | curate structures/s | curate peak MB | ratio | anchor val F MAE | curate val F MAE "
        "| speed (>= 1.5x) | same error | date | curate rev |\n"
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|\n"
    )
    line = (
        f"| {row['train_structures']} | {row['epochs']} | {row['batch_size']} | {row['device']} | {row['load']} "
        f"| {row['anchor_s']:.1f} | {row['anchor_sps']:.2f} | {row['anchor_peak']:.0f} | {row['curate_s']:.1f} "
        f"| {row['curate_sps']:.2f} | {row['curate_peak']:.0f} | {row['ratio']:.2f}x | {row['anchor_mae']:.4f} "
        f"| {row['curate_mae']:.4f} | {row['speed']} | {row['same']} | {row['date']} | {row['rev']} |\n"
    )
    text = RESULTS_PATH.read_text() if RESULTS_PATH.is_file() else "# Benchmark results\n"
    if RESULTS_SECTION not in text:
        text = text.rstrip("\n") + "\n\n" + header + line + f"\nCommand: `{command}` on {os.cpu_count()} cores.\n"
    else:
        start = text.index(RESULTS_SECTION)
        end = text.find("\n## ", start + 1)
        section = text[start:] if end == -1 else text[start:end]
        anchor = section.index("\nCommand:")
        section = section[:anchor].rstrip("\n") + "\n" + line + section[anchor:]
        text = text[:start] + section + ("" if end == -1 else text[end:])
    RESULTS_PATH.write_text(text)


@click.command()
@click.option("--structures", default=48, show_default=True, help="Real structures (train + val).")
@click.option("--epochs", default=10, show_default=True)
@click.option("--batch-size", default=4, show_default=True)
@click.option("--repeats", default=2, show_default=True, help="Interleaved rounds; the best time counts.")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda"]))
@click.option("--seed", default=0, show_default=True, help="Sampling and split seed.")
@click.option("--data-dir", default=DEFAULT_DATA_DIR, type=click.Path(path_type=Path), show_default=True)
@click.option("--work-dir", default=DEFAULT_WORK_DIR, type=click.Path(path_type=Path), show_default=True)
@click.option("--write-results", "record", is_flag=True, help="Append the numbers to bench/RESULTS.md.")
@click.option("--child-mode", hidden=True, default=None)
@click.option("--child-out", hidden=True, default=None, type=click.Path(path_type=Path))
@click.option("--child-train", hidden=True, default=None, type=click.Path(path_type=Path))
@click.option("--child-val", hidden=True, default=None, type=click.Path(path_type=Path))
def main(
    structures: int,
    epochs: int,
    batch_size: int,
    repeats: int,
    device: str,
    seed: int,
    data_dir: Path,
    work_dir: Path,
    record: bool,
    child_mode: str | None,
    child_out: Path | None,
    child_train: Path | None,
    child_val: Path | None,
) -> None:
    if child_mode is not None:
        assert child_out is not None and child_train is not None and child_val is not None
        child(child_mode, child_train, child_val, epochs, batch_size, device, child_out)
        return
    _sys_path()
    work_dir.mkdir(parents=True, exist_ok=True)
    train_dir, val_dir = prepare(data_dir, work_dir, structures, seed)
    load_start = _load_average()
    runs: dict[str, list[dict]] = {"anchor": [], "curate": []}
    for round_ in range(repeats):
        for mode in ("anchor", "curate"):
            out = work_dir / f"{mode}-{round_}.json"
            cmd = [
                sys.executable,
                __file__,
                "--epochs",
                str(epochs),
                "--batch-size",
                str(batch_size),
                "--device",
                device,
                "--child-mode",
                mode,
                "--child-out",
                str(out),
                "--child-train",
                str(train_dir),
                "--child-val",
                str(val_dir),
            ]
            finished = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True)
            if finished.returncode != 0:
                click.echo(finished.stderr[-3000:], err=True)
                click.echo(f"{mode} run failed (exit {finished.returncode})", err=True)
                sys.exit(2)
            numbers = json.loads(out.read_text())
            runs[mode].append(numbers)
            click.echo(
                f"round {round_ + 1} {mode:>6}: {numbers['seconds']:.1f} s, "
                f"{numbers['structures_per_second']:.2f} structures/s, val force MAE "
                f"{numbers['val_force_mae']:.4f} eV/A, peak {numbers['peak_mb']:.0f} MB",
                err=True,
            )
    load_end = _load_average()
    anchor = min(runs["anchor"], key=lambda r: r["seconds"])
    curate = min(runs["curate"], key=lambda r: r["seconds"])
    ratio = curate["structures_per_second"] / anchor["structures_per_second"]
    same = abs(curate["val_force_mae"] - anchor["val_force_mae"]) <= VAL_AGREEMENT * anchor["val_force_mae"]
    speed = ratio >= TARGET_RATIO
    click.echo(
        f"anchor {anchor['structures_per_second']:.2f} structures/s, curate {curate['structures_per_second']:.2f} "
        f"structures/s: ratio {ratio:.2f}x (target >= {TARGET_RATIO}x) {'PASS' if speed else 'FAIL'}; val force MAE "
        f"anchor {anchor['val_force_mae']:.4f}, curate {curate['val_force_mae']:.4f} eV/A "
        f"({'same' if same else 'DIFFERENT'}); peak MB anchor {anchor['peak_mb']:.0f}, curate {curate['peak_mb']:.0f}; "
        f"load {load_start:.2f}-{load_end:.2f}"
    )
    if record:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True, text=True
        ).stdout.strip()
        write_results_row = {
            "train_structures": curate["train_structures"],
            "epochs": epochs,
            "batch_size": batch_size,
            "device": device,
            "load": f"{load_start:.2f}-{load_end:.2f}",
            "anchor_s": anchor["seconds"],
            "anchor_sps": anchor["structures_per_second"],
            "anchor_peak": anchor["peak_mb"],
            "curate_s": curate["seconds"],
            "curate_sps": curate["structures_per_second"],
            "curate_peak": curate["peak_mb"],
            "ratio": ratio,
            "anchor_mae": anchor["val_force_mae"],
            "curate_mae": curate["val_force_mae"],
            "speed": "PASS" if speed else "FAIL",
            "same": "yes" if same else "NO",
            "date": dt.date.today().isoformat(),
            "rev": rev,
        }
        command = shlex.join([".venv/bin/python", "bench/finetune.py", *sys.argv[1:]])
        write_results(write_results_row, command + f" ({platform.python_version()})")
    sys.exit(0 if speed and same else 1)


if __name__ == "__main__":
    main()
