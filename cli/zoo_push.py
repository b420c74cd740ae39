"""``kerascnn zoo push SOURCE URI``: share a model as a preset on the Hugging Face Hub or Kaggle."""

from __future__ import annotations

from typing import Any

import click

__all__ = ["push"]


@click.command()
@click.argument("source", metavar="SOURCE")
@click.argument("uri", metavar="URI")
@click.option(
    "--local-dir",
    type=click.Path(file_okay=False),
    help="Write the preset folder here (and upload nothing, unless --upload).",
)
@click.option(
    "--upload/--no-upload", default=None, help="Upload to URI (default: without --local-dir)."
)
@click.option(
    "--data",
    type=click.Path(file_okay=False),
    help="Measure the held-out accuracy now on this folder of class sub-folders.",
)
@click.option(
    "--private", is_flag=True, help="Create the hf:// repository private (Kaggle: always)."
)
@click.option("--revision", help="Branch to push to (hf:// only; also URI@revision).")
@click.option("--message", "-m", help="Commit message / version notes.")
@click.option("--allow-random", is_flag=True, help="Share a model with random (untrained) weights.")
@click.option("--force", is_flag=True, help="Overwrite a preset of another architecture.")
def push(source: str, uri: str, local_dir: str | None, upload: bool | None, **options: Any) -> None:
    """Write SOURCE as a preset and upload it to URI.

    SOURCE is a zoo spec (gesture_cnn:sign-digits), a run folder, a .keras file or a preset;
    URI is hf://owner/repo[@revision] or kaggle://owner/model/keras/variant. The preset holds
    config.json, model.weights.h5, metadata.json and a model card (README.md) written from the
    measured numbers. Tokens come from the hub clients' own login and environment.

    Example: kerascnn zoo push runs/signs hf://me/sign-digits --local-dir preset/
    """
    from kerascnn.errors import UserError
    from kerascnn.publish import push as run

    revision = options.pop("revision")
    if revision:
        if "@" in uri:
            raise UserError(f"{uri} names a revision and --revision {revision}; give one of them")
        uri = f"{uri}@{revision}"
    if upload is None:
        upload = local_dir is None
    result = run(source, uri, local_dir=local_dir, upload=upload, **options)
    meta = result.metadata
    acc = (meta.get("accuracy") or {}).get("top1")
    shown = f", {acc:.2f}% top-1 on its {meta['accuracy'].get('split')} split" if acc else ""
    click.echo(f"{meta['architecture']} ({meta['parameter_count']:,} parameters{shown})")
    if result.folder is not None:
        click.echo(f"preset written to {result.folder}")
    if result.uploaded_to:
        click.echo(f"uploaded to {result.uploaded_to}")
