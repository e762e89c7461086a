"""The Hub dataset card: YAML front matter (license, configs, features, sizes, tags) and a body that says what
is inside and how biased it is. ``curate/dataset/card.py`` is the plain local card; this one is for publishing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from curate import __version__
from curate.dataset.card import columns_section, markdown_table, sources_table
from curate.dataset.schema import row_schema
from curate.publish.layout import DEFAULT_CONFIG, UNLABELLED_CONFIG, ShardFile, configs_yaml
from curate.publish.reports import Report, render_report
from curate.publish.split import SPLIT_NAMES, SplitPlan
from curate.publish.stats import NEAR_EQUILIBRIUM_EV_PER_ANG, ReleaseStats, force_bias_metrics

SOFTWARE = ("pymatgen", "ase", "chgnet", "mace-torch", "matgl", "pyarrow", "numpy", "datasets", "huggingface_hub")
TAGS = ["chemistry", "materials-science", "interatomic-potentials", "dft", "curate"]
_SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]


@dataclass(frozen=True)
class CardInputs:
    """Everything the card renders; built by :func:`curate.publish.build.build_release`."""

    repo_id: str
    license: str
    manifest: dict[str, Any]
    plan: SplitPlan
    files: list[ShardFile]
    stats: ReleaseStats
    reports: list[Report]
    figures: list[str]


def size_category(rows: int) -> str:
    """The Hub's size category of ``rows`` rows (``n<1K``, ``1K<n<10K``, ...)."""
    for limit, name in _SIZE_CATEGORIES:
        if rows < limit:
            return name
    return "1M<n<10M" if rows < 10_000_000 else "10M<n<100M"


def software_versions() -> dict[str, str]:
    """Installed versions of curate and the libraries that read, label or check the data (absent ones skipped)."""
    versions = {"curate": __version__}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _find_keys(value: Any, pattern: re.Pattern[str], found: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if pattern.search(str(key)) and isinstance(item, str | int | float):
                found.setdefault(str(key), str(item))
            _find_keys(item, pattern, found)
    elif isinstance(value, list):
        for item in value:
            _find_keys(item, pattern, found)


def database_versions(manifest: dict[str, Any]) -> dict[str, str]:
    """Database versions recorded anywhere in the manifest's sources or history (keys containing
    ``database_version``, e.g. the Materials Project release a ``curate pull mp`` used)."""
    found: dict[str, str] = {}
    _find_keys([manifest.get("sources", []), manifest.get("history", [])], re.compile("database_version"), found)
    return found


def front_matter(inputs: CardInputs) -> dict[str, Any]:
    """The YAML header: license, pretty name, size category, tags, configs with data_files, and per config the
    features (float64 labels kept) and split sizes."""
    from datasets.features import Features

    features = Features.from_arrow_schema(row_schema().arrow)._to_yaml_list()
    configs = configs_yaml(inputs.files)
    infos = []
    for config in configs:
        name = config["config_name"]
        chosen = [f for f in inputs.files if _in_config(f, name)]
        splits = [
            {
                "name": split,
                "num_bytes": sum(f.arrow_bytes for f in chosen if f.split == split),
                "num_examples": sum(f.rows for f in chosen if f.split == split),
            }
            for split in SPLIT_NAMES
            if any(f.split == split for f in chosen)
        ]
        infos.append({"config_name": name, "features": features, "splits": splits})
    functionals = sorted({c for c in inputs.stats.configs})
    return {
        "license": inputs.license,
        "pretty_name": inputs.repo_id.split("/")[-1],
        "size_categories": [size_category(sum(f.rows for f in inputs.files))],
        "tags": TAGS + [f for f in functionals if f not in TAGS],
        "configs": configs,
        "dataset_info": infos,
    }


def _in_config(shard: ShardFile, config: str) -> bool:
    if config == DEFAULT_CONFIG:
        return True
    if config.startswith("generated_") and shard.origin == config.removeprefix("generated_"):
        return True
    return shard.config == config


def _configs_section(inputs: CardInputs) -> list[str]:
    plan = inputs.plan
    rows = []
    for config in configs_yaml(inputs.files):
        name = config["config_name"]
        counts = [sum(f.rows for f in inputs.files if _in_config(f, name) and f.split == s) for s in SPLIT_NAMES]
        rows.append([f"`{name}`", *counts, sum(counts)])
    groups = plan.groups_per_split()
    fractions = ", ".join(f"{s} {f:g}" for s, f in zip(SPLIT_NAMES, plan.fractions, strict=True))
    return [
        "## Configs and splits",
        "",
        "Rows per config and split (`default` holds every row once; a functional config holds the rows of one "
        "exchange-correlation functional; a `generated_*` config the rows one generator made):",
        "",
        *markdown_table(["config", *SPLIT_NAMES, "total"], rows),
        "",
        f"Split by material, seeded (seed {plan.seed}, target shares {fractions}): rows sharing a Materials "
        "Project id, a calculation (task), a geometry, a cross-functional pair or a parent row form one material "
        "group, and a group without any material id joins every group of its reduced formula, so no material is "
        "in two splits. "
        f"Material groups per split: {', '.join(f'{s} {groups[s]}' for s in SPLIT_NAMES)}. "
        f"Rows whose split came from the source dataset: {plan.kept_existing}.",
        "",
    ]


def _sources_section(inputs: CardInputs) -> list[str]:
    manifest = inputs.manifest
    lines = ["## Sources and versions", ""]
    sources = manifest.get("sources", [])
    if sources:
        lines += [*sources_table(sources), ""]
    else:
        lines += ["No source files recorded.", ""]
    databases = database_versions(manifest)
    if databases:
        lines += [f"Database versions: {', '.join(f'{k} {v}' for k, v in sorted(databases.items()))}.", ""]
    else:
        lines += ["Database version: not recorded (rows were imported from files, not pulled from an API).", ""]
    versions = software_versions()
    created = manifest.get("created_with", {})
    lines += [
        f"Dataset created with {', '.join(f'{k} {v}' for k, v in sorted(created.items()))}; "
        f"published with {', '.join(f'{k} {v}' for k, v in versions.items())}.",
        "",
        f"Source dataset content hash: `{manifest.get('content_hash')}` ({manifest.get('num_rows')} rows). "
        "`curate_release.json` lists every file with its rows and sha256, and the source manifest's history.",
        "",
    ]
    counts = inputs.stats.by_source
    lines += ["Rows per source: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ".", ""]
    return lines


def _provenance_section(stats: ReleaseStats) -> list[str]:
    lines = ["## Provenance of generated rows", ""]
    if not stats.by_generator:
        return [*lines, "None: every row was read from a DFT calculation file.", ""]
    rows = []
    for (generator, config), n in sorted(stats.by_generator.items()):
        seeds = sorted(stats.generator_seeds.get(generator, set()))
        seed_text = f"{seeds[0]}..{seeds[-1]} ({len(seeds)})" if seeds else ""
        parameter_sets = len(stats.generator_params.get(generator, ()))
        rows.append(
            [generator, f"`{config}`", n, len(stats.generator_parents.get(generator, ())), seed_text, parameter_sets]
        )
    lines += markdown_table(["generator", "config", "rows", "parent rows", "seeds (distinct)", "parameter sets"], rows)
    for generator, params in sorted(stats.generator_params.items()):
        for text, n in params.most_common(3):
            lines.append(f"\n`{generator}` parameters ({n} rows): `{text}`")
    return [*lines, "", "Each generated row names its parent row (`parent_id`), generator, parameters and seed.", ""]


def _elements_section(stats: ReleaseStats) -> list[str]:
    elements = sorted({e for e, _ in stats.element_rows})
    rows = [
        [e, *[stats.element_rows[(e, s)] for s in SPLIT_NAMES], sum(stats.element_rows[(e, s)] for s in SPLIT_NAMES)]
        for e in elements
    ]
    return [
        "## Elements",
        "",
        f"{len(elements)} elements. Rows containing each element, per split:",
        "",
        *markdown_table(["element", *SPLIT_NAMES, "total"], rows),
        "",
    ]


def _bias_section(inputs: CardInputs) -> list[str]:
    stats = inputs.stats
    rows = []
    for config in stats.configs:
        energies, norms, max_force = stats.labels[config].arrays()
        m = force_bias_metrics(norms, max_force)
        e_range = f"{energies.min():.3f} .. {energies.max():.3f}" if energies.size else "-"
        if m:
            rows.append(
                [
                    f"`{config}`",
                    norms.size,
                    f"{m['median']:.4f}",
                    f"{m['p95']:.4f}",
                    f"{m['max']:.3f}",
                    f"{100 * m['atoms_below']:.1f} %",
                    f"{100 * m['structures_below']:.1f} %",
                    e_range,
                ]
            )
        else:
            rows.append([f"`{config}`", 0, "-", "-", "-", "-", "-", e_range])
    arrays = [stats.labels[c].arrays() for c in stats.configs]
    all_norms = np.concatenate([a[1] for a in arrays])
    all_max = np.concatenate([a[2] for a in arrays])
    overall = force_bias_metrics(all_norms, all_max)
    lines = [
        "## Bias",
        "",
        "Models trained on relaxation trajectories see mostly near-equilibrium structures and learn a potential "
        "energy surface that is too soft (systematic softening: Deng et al., npj Comput. Mater. 11, 9 (2025), "
        "doi:10.1038/s41524-024-01500-6). "
        "The force distribution shows how much of this dataset sits near equilibrium.",
        "",
        "### Force-norm distribution",
        "",
        *markdown_table(
            [
                "config",
                "atoms",
                "median |F| (eV/Å)",
                "p95 |F| (eV/Å)",
                "max |F| (eV/Å)",
                f"atoms with |F| < {NEAR_EQUILIBRIUM_EV_PER_ANG} eV/Å",
                f"structures with max |F| < {NEAR_EQUILIBRIUM_EV_PER_ANG} eV/Å",
                "energy range (eV/atom)",
            ],
            rows,
        ),
        "",
    ]
    if overall:
        lines += [
            f"Over all configs, {100 * overall['atoms_below']:.1f} % of atoms and "
            f"{100 * overall['structures_below']:.1f} % of structures are within {NEAR_EQUILIBRIUM_EV_PER_ANG} eV/Å "
            f"of equilibrium; the median |F| is {overall['median']:.4f} eV/Å.",
            "",
        ]
    lines += [f"![{Path(f).stem}]({f})\n" for f in inputs.figures]
    if inputs.reports:
        lines += [r for report in inputs.reports for r in render_report(report)]
    else:
        lines += [
            "No coverage or softening reports were found in the source dataset's `reports/` folder; run "
            "`curate coverage` and `curate softening` on it before publishing to include them here.",
            "",
        ]
    return lines


def render_card(inputs: CardInputs) -> str:
    """The README.md text of the release."""
    stats = inputs.stats
    total = sum(f.rows for f in inputs.files)
    atoms = sum(stats.atoms.values())
    functionals = [c for c in stats.configs if c != UNLABELLED_CONFIG]
    unlabelled = sum(n for (c, _), n in stats.rows.items() if c == UNLABELLED_CONFIG)
    # the example config must have a train split, or the snippet would fail
    with_train = [c for c in functionals if stats.rows[(c, "train")] > 0]
    example = with_train[0] if with_train else DEFAULT_CONFIG
    body = [
        f"# {inputs.repo_id.split('/')[-1]}",
        "",
        f"{total} atomic configurations ({atoms} atoms) for training machine-learning interatomic potentials: "
        f"{total - unlabelled} with DFT energies, forces and stresses "
        f"(functionals {', '.join(f'`{c}`' for c in functionals) or 'none'}) and {unlabelled} unlabelled. "
        "Built and published with curate.",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'everything = load_dataset("{inputs.repo_id}")  # DatasetDict: train / validation / test',
        f'one_functional = load_dataset("{inputs.repo_id}", "{example}")',
        'forces = one_functional["train"].with_format("numpy", dtype="float64")[0]["forces"]  # (nsites, 3), eV/Å',
        "```",
        "",
        "Labels are stored as float64. `datasets`' numpy and torch formats turn float arrays into float32 unless "
        'a dtype is given: pass `dtype="float64"` (or read rows as Python lists, or with `with_format("arrow")`) '
        "to keep every digit.",
        "",
        *_configs_section(inputs),
        *columns_section(),
        *_sources_section(inputs),
        *_provenance_section(stats),
        *_elements_section(stats),
        *_bias_section(inputs),
    ]
    header = yaml.safe_dump(front_matter(inputs), sort_keys=False, allow_unicode=True).rstrip()
    return "---\n" + header + "\n---\n" + "\n".join(body).rstrip() + "\n"
