"""``curate pull hf``: a published Hugging Face dataset (or a local release folder) back into a curate dataset."""

from __future__ import annotations

from pathlib import Path

import click

from curate.cli.options import out_option


@click.command("hf")
@click.argument("source", metavar="ORG/NAME|FOLDER")
@out_option("Dataset directory (created or appended to).", file_okay=False)
@click.option("--revision", default=None, help="Hub branch, tag or commit (default: main).")
def command(source: str, out: Path, revision: str | None) -> None:
    """Import the dataset published at ORG/NAME on the Hugging Face Hub, or a local release FOLDER.

    \b
    A folder that exists is read directly; anything else is a Hub dataset repo, downloaded with huggingface_hub
    into its cache (resumable; token from HF_TOKEN or `hf auth login` for private repos). Files are checked
    against curate_release.json (sha256, rows); rows come back with identical ids and float64 values, and the
    dataset's content hash must equal the release's. Re-running adds nothing.

    \b
    Examples:
      curate pull hf me/as2so6 --out as2so6-copy
      curate pull hf release/ --out as2so6-copy
    """
    from curate.errors import ConfigurationError
    from curate.publish.pull import download_release, import_release

    folder = Path(source)
    if folder.is_dir():
        report = import_release(folder, out, source=str(folder))
    elif folder.is_absolute() or source.startswith((".", "~")) or folder.exists():
        raise ConfigurationError(f"{source}: no such release folder")
    else:
        from curate.publish.build import check_repo_id

        check_repo_id(source)
        snapshot, sha = download_release(source, revision=revision)
        # the Hugging Face cache keeps a snapshot's files as links into the repo folder's blobs/
        report = import_release(snapshot, out, source=source, revision=sha, within=snapshot.parents[1])
    if report.release_content_hash is None:
        match = "(no curate_release.json to compare with)"
    elif report.content_hash == report.release_content_hash:
        match = "matches the release's"
    else:
        match = "differs from the release's (the dataset already held other rows)"
    click.echo(
        f"{report.rows_added} rows added, {report.duplicates} already present from {report.files} files"
        + (f" (revision {report.revision[:12]})" if report.revision else "")
        + f"; content hash {report.content_hash[:16]} {match}",
        err=True,
    )
    click.echo(str(out))
