"""The generated parts of the documentation, and the command that rewrites them.

* ``docs/cli.md``: the command-line reference, read from the click app (every command and
  subcommand of ``kerascnn``, with its usage, help and options, as ``--help`` prints them).
* The zoo's tables, read from the model and weight cards (``zoo/*.json``), as torchvision
  builds its tables from each weight's ``meta``: the weights table in ``README.md`` and
  ``docs/models.md``, the models table in ``docs/models.md``, each between marker comments
  (``<!-- weights-table:start -->`` ... ``<!-- weights-table:end -->``).

``python -m kerascnn.cli._docgen`` rewrites them; ``--check`` only lists the files that
differ (exit status 1), as ``tests/test_docs.py`` does.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

REGENERATE = "python -m kerascnn.cli._docgen"
ROOT = Path(__file__).resolve().parents[1]  # the checkout: cli/ sits beside README.md
CLI_PAGE = "docs/cli.md"
WIDTH = 88  # help text wrapped as on an 88-column terminal, whatever the terminal is
# table -> the files that hold it between its marker comments
TABLES = {"weights-table": ("README.md", "docs/models.md"), "models-table": ("docs/models.md",)}
_FORMATS = {
    "keras-h5": "Keras `.h5`",
    "keras-weights": "`.weights.h5`",
    "torch-pth": "torch `.pth`",
}


Found = tuple[str, click.Command, click.Context]


def commands() -> Iterator[Found]:
    """Every command of the click app, depth first: (``"kerascnn zoo list"``, command, context)."""
    from kerascnn.cli.main import cli

    def walk(
        command: click.Command, ctx: click.Context
    ) -> Iterator[tuple[str, click.Command, click.Context]]:
        yield ctx.command_path, command, ctx
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    yield from walk(sub, sub.make_context(name, [], ctx, resilient_parsing=True))

    top = cli.make_context("kerascnn", [], resilient_parsing=True, terminal_width=WIDTH,
                           max_content_width=WIDTH)  # fmt: skip
    yield from walk(cli, top)


def _anchor(path: str) -> str:
    """GitHub's anchor of the heading ``## `kerascnn zoo list```: ``kerascnn-zoo-list``."""
    return path.replace(" ", "-")


def cli_reference() -> str:
    """The text of ``docs/cli.md``."""
    found = list(commands())
    lines = [
        "# Command-line reference",
        "",
        f"<!-- Generated from the click app by `{REGENERATE}`; do not edit by hand. -->",
        "",
        "Every command and subcommand of `kerascnn`, with its usage, help and options exactly",
        "as `--help` prints them. Options of `kerascnn` itself (`--quiet`, `--verbose`) come",
        "before the command: `kerascnn --quiet train ...`. Guides to each job: the",
        "[documentation index](README.md).",
        "",
        "| command | what |",
        "| --- | --- |",
    ]
    for path, command, _ in found:
        summary = command.get_short_help_str(limit=200).replace("|", "\\|")
        lines.append(f"| [`{path}`](#{_anchor(path)}) | {summary} |")
    for path, command, ctx in found:
        lines += ["", f"## `{path}`", "", "```text", command.get_help(ctx).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _short(text: str) -> str:
    """The head of a card's prose field: ``"torchvision (https://...), X"`` -> ``"torchvision"``."""
    for stop in (" (", ", ", ": "):
        text = text.split(stop, 1)[0]
    return text


def _zoo_cards() -> list:
    """The cards of the models that ship with kerascnn (no plugin's), by model name."""
    from kerascnn.registry import get_model_card, list_models

    cards = [get_model_card(name) for name in list_models()]
    return [card for card in cards if card.source == "kerascnn"]


def _figure(value: object, include_top: bool = True) -> str:
    """``71.3`` -> ``71.3%``; in brackets for a file without its classifier (the full net's)."""
    if not isinstance(value, int | float):
        return ""
    return f"{value:g}%" if include_top else f"({value:g}%)"


def weights_table() -> str:
    """One row per weight card: accuracy, data, input, preprocessing, file, origin, license.

    A file without the classifier (``include_top`` false) shows the full network's figures in
    brackets; a variant with test-time augmentation on by default shows its figure first."""
    rows = [
        "| weights | top-1 | top-5 | measured on | errors | input | preprocessing | file "
        "| from | license |",
        "| --- | ---: | ---: | --- | ---: | --- | --- | --- | --- | --- |",
    ]
    for model in _zoo_cards():
        for card in model.weights.values():
            acc = card.accuracy
            errors = f"{acc['errors']:,} / {acc['test_images']:,}" if "errors" in acc else ""
            height, width, channels = card.input_shape
            file = f"{card.size / 2**20:.1f} MiB, {_FORMATS.get(card.format, card.format)}"
            file += ", **bundled**" if card.bundled else ("" if card.include_top else ", no top")
            top1 = _figure(acc.get("top1"), card.include_top)
            if card.tta not in (None, "none") and "top1_tta" in acc:  # what evaluate reports
                top1 = f"{_figure(acc['top1_tta'])} (`--tta {card.tta}`; {top1} without)"
                errors = f"{acc['errors_tta']:,} / {acc['test_images']:,}"
            rows.append(
                f"| `{card.spec}` | {top1} "
                f"| {_figure(acc.get('top5'), card.include_top)} "
                f"| {_short(acc['dataset'])} | {errors} | {height}x{width}x{channels} "
                f"| `{card.preprocessing}` | {file} | {_short(card.source)} "
                f"| {_short(card.license)} |"
            )
    return "\n".join(rows)


def models_table() -> str:
    """One row per zoo model: what it is, parameters, default input, feature layer, weights."""
    rows = [
        "| model | what | parameters (default top) | default input | feature layer | weights |",
        "| --- | --- | ---: | --- | --- | --- |",
    ]
    for card in _zoo_cards():
        shape = "x".join(map(str, card.input_shape)) if card.input_shape else "any"
        weights = ", ".join(f"`{v}`" for v in card.weights) or "-"
        rows.append(
            f"| `{card.name}` | {card.description} | {card.params:,} | {shape} "
            f"| `{card.feature_layer}` | {weights} |"
        )
    return "\n".join(rows)


def replace_between(text: str, name: str, body: str, where: str = "") -> str:
    """``text`` with what stands between its two marker comments replaced by ``body``.

    Args:
        text: a page's text.
        name: the markers' name: ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``.
        body: the new text between them.
        where: the page, named in the ``ValueError`` raised when a marker is missing.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"{where}: needs one {start} line, then one {end} line")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    return f"{head}{start}\n{body}\n{end}{tail}"


def render(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file as it should read: path -> text."""
    pages: dict[Path, str] = {root / CLI_PAGE: cli_reference()}
    bodies = {"weights-table": weights_table(), "models-table": models_table()}
    for name, files in TABLES.items():
        for file in files:
            path = root / file
            text = pages.get(path) or path.read_text(encoding="utf-8")
            pages[path] = replace_between(text, name, bodies[name], file)
    return pages


def drift(root: Path = ROOT) -> list[str]:
    """The generated files (relative paths) whose text differs from what ``render`` gives."""
    return [
        str(path.relative_to(root))
        for path, text in render(root).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the generated docs (``--check``: list the stale ones and exit 1 instead)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args != ["--check"]:
        print(f"usage: {REGENERATE} [--check]", file=sys.stderr)
        return 2
    if args:
        stale = drift()
        for file in stale:
            print(f"{file} is out of date; run `{REGENERATE}`")
        return int(bool(stale))
    for path, text in render().items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
