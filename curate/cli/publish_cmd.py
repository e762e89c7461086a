"""``curate publish``: a dataset as a Hugging Face Hub dataset repo with a card that reports its bias."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from curate.cli.options import SHARES, FiniteFloatRange, dry_run_option, out_option, seed_option


@click.command("publish")
@click.argument("dataset_dir", metavar="DIR", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--repo", "repo_id", required=True, help="Hub dataset repo ORG/NAME (created when missing).")
@click.option("--private", is_flag=True, help="Create the repo private (an existing repo keeps its visibility).")
@dry_run_option("Write the folder that would be uploaded to --out and stop.")
@out_option(
    "Release folder (new, empty, or an incomplete release a killed publish left, which is replaced); required "
    "with --dry-run, otherwise a hidden folder inside DIR, removed after the upload.",
    required=False,
    file_okay=False,
)
@seed_option("Seed of the material-level split.")
@click.option(
    "--split",
    default="0.8:0.1:0.1",
    show_default=True,
    type=SHARES,
    help="Target shares of rows for train:validation:test, split by material (normalised to sum 1).",
)
@click.option("--resplit", is_flag=True, help="Ignore the dataset's own split column and split afresh.")
@click.option("--license", "license_id", default="cc-by-4.0", show_default=True, help="Hub license id for the card.")
@click.option(
    "--shard-mb",
    default=512.0,
    show_default=True,
    type=FiniteFloatRange(min=0.001),
    help="Roll a Parquet shard after this many MB of uncompressed Arrow data.",
)
@click.option(
    "--commit-mb",
    default=1024.0,
    show_default=True,
    type=FiniteFloatRange(min=0.001),
    help="Most MB of data files per commit (each commit is kept if a later one fails; re-run to resume).",
)
def command(
    dataset_dir: Path,
    repo_id: str,
    private: bool,
    dry_run: bool,
    out: Path | None,
    seed: int,
    split: tuple[float, float, float],
    resplit: bool,
    license_id: str,
    shard_mb: float,
    commit_mb: float,
) -> None:
    """Publish the dataset at DIR to the Hugging Face Hub as dataset repo ORG/NAME.

    \b
    The release is split by material (seeded; no material in two splits; an existing split column is kept),
    has one config per functional (pbe, pbe_u, r2scan, ...), one per generator and `default` with every row,
    float64 Parquet shards under data/, and a README.md card: schema and units, sources and versions,
    provenance of generated rows, counts per split/config/element, the force-norm distribution with plots, and
    every DIR/reports/*.json (coverage, softening) with its PNGs. The folder loads with
    datasets.load_dataset(FOLDER) and `curate pull hf` brings it back unchanged.

    \b
    Upload uses huggingface_hub; the token comes from HF_TOKEN or `hf auth login` and is never written.
    Files already on the Hub with the same content are skipped, so an interrupted upload resumes.

    \b
    Examples:
      curate publish as2so6 --repo me/as2so6 --dry-run --out release
      curate publish as2so6 --repo me/as2so6 --private
    """
    from curate.errors import ConfigurationError
    from curate.publish.build import build_release, check_repo_id
    from curate.publish.staging import remove_stale_staging, staging_folder

    check_repo_id(repo_id)
    if dry_run and out is None:
        raise ConfigurationError("--dry-run needs --out FOLDER (the folder that would be uploaded)")
    token = None if dry_run else _token()
    for stale in remove_stale_staging(dataset_dir):
        click.echo(f"curate: removed {stale}, left by a publish that did not finish", err=True)
    root = out if out is not None else staging_folder(dataset_dir)
    try:
        release = build_release(
            dataset_dir,
            root,
            repo_id=repo_id,
            license=license_id,
            seed=seed,
            fractions=_fractions(split),
            keep_existing_split=not resplit,
            shard_bytes=int(shard_mb * 1e6),
        )
        counts = ", ".join(f"{name} {n}" for name, n in release.plan.rows_per_split.items())
        click.echo(
            f"release of {release.num_rows} rows in {len(release.files)} shards: {counts}; "
            f"configs {', '.join(release.stats.configs)}",
            err=True,
        )
        if token is None:
            click.echo(str(root))
            return
        _upload(root, repo_id, token=token, private=private, commit_mb=commit_mb)
    finally:
        if out is None:
            shutil.rmtree(root, ignore_errors=True)


def _fractions(split: tuple[float, float, float]) -> tuple[float, float, float]:
    """The train:validation:test shares as fractions summing to 1 (as given when they already do)."""
    total = sum(split)
    return split if abs(total - 1.0) <= 1e-9 else (split[0] / total, split[1] / total, split[2] / total)


def _token() -> str:
    """The Hub token (the library's error, plus the flag that needs none)."""
    from curate.errors import ConfigurationError
    from curate.publish.hub import resolve_token
    from curate.redact import register_secret

    try:
        token = resolve_token()
    except ConfigurationError as exc:
        raise ConfigurationError(f"{exc} (or use --dry-run)") from None
    register_secret(token)  # from HF_TOKEN or the saved login
    return token


def _upload(root: Path, repo_id: str, *, token: str, private: bool, commit_mb: float) -> None:
    """Upload the release folder ``root`` to the Hub repo; counts to stderr, the repo URL to stdout."""
    from curate.publish.hub import upload_release

    report = upload_release(
        root,
        repo_id,
        token=token,
        private=private,
        commit_bytes=int(commit_mb * 1e6),
        on_progress=lambda line: click.echo(line, err=True),
    )
    click.echo(
        f"{len(report.uploaded)} files uploaded, {len(report.skipped)} already on the Hub, "
        f"{len(report.deleted)} stale files deleted in {len(report.commits)} commits",
        err=True,
    )
    click.echo(report.repo_url, file=sys.stdout)
