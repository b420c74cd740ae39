"""``kerascnn zoo download|import|cache``: fetch, install and manage cached weights."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from kerascnn.cli._common import console, json_option
from kerascnn.errors import UserError
from kerascnn.registry import get_model_card
from kerascnn.weights.cache import cache_root, clear_cache, import_weights, list_cache, variant_file
from kerascnn.weights.cards import WeightCard, parse_spec

__all__ = ["cache", "download", "import_"]


def _variant(spec: str) -> WeightCard:
    """``NAME:VARIANT`` -> that variant; ``NAME`` -> its default variant."""
    name, variant = parse_spec(spec)
    card = get_model_card(name)
    return card.weight(variant or card.default_variant())


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="NAME[:VARIANT]...")
def download(specs: tuple[str, ...]) -> None:
    """Download (and verify) weights into the cache; NAME alone means its default variant.

    Example: kerascnn zoo download vgg16:imagenet alexnet
    """
    wanted = [_variant(spec) for spec in specs]  # all names checked first
    for card in wanted:
        path = variant_file(card)
        click.echo(f"{card.spec}  {'bundled' if card.bundled else path}")


@click.command("import")
@click.argument("spec", metavar="NAME:VARIANT")
@click.argument("file", type=click.Path(dir_okay=False))
def import_(spec: str, file: str) -> None:
    """Install FILE, fetched by other means, as the weights NAME:VARIANT (hash checked).

    For machines without network: download the card's URL elsewhere, copy it over,
    then e.g. kerascnn zoo import vgg16:imagenet vgg16_weights_tf_dim_ordering_tf_kernels.h5
    """
    name, variant = parse_spec(spec)
    if variant is None:
        raise UserError(f"no variant in {spec!r}; give NAME:VARIANT, e.g. vgg16:imagenet")
    card = get_model_card(name).weight(variant)
    click.echo(f"{card.spec}  {import_weights(card, file)}")


@click.command()
@click.argument("spec", required=False, metavar="[NAME[:VARIANT]]")
@click.option("--clear", is_flag=True, help="Delete the cached files (all, or those of SPEC).")
@json_option
def cache(spec: str | None, clear: bool, as_json: bool) -> None:
    """List the cached weight files with their sizes, or delete them with --clear."""
    name, variant = parse_spec(spec) if spec else (None, None)
    if clear:
        removed = clear_cache(name, variant)
        click.echo(f"removed {len(removed)} file(s) from {cache_root()}")
        return
    files = [
        f
        for f in list_cache()
        if (name is None or f.model == name) and (variant is None or f.variant == variant)
    ]
    if as_json:
        click.echo(json.dumps([{**asdict(f), "path": str(f.path)} for f in files], indent=2))
        return
    from rich.table import Table

    table = Table(title=f"weights cache: {cache_root()}")
    table.add_column("weights")
    table.add_column("file")
    table.add_column("size", justify="right")
    for f in files:
        note = " (partial download)" if f.partial else ""
        table.add_row(f"{f.model}:{f.variant}", f.path.name + note, _size(f.size))
    table.add_section()
    table.add_row("total", f"{len(files)} file(s)", _size(sum(f.size for f in files)))
    console().print(table)
