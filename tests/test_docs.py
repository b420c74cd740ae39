"""The documentation stays true: its generated parts match their sources, every name and link
in it exists, every command is documented, every docs page's Python runs, and the README
stays a short overview.

Generated parts (``kerascnn.cli._docgen``): ``docs/cli.md`` from the click app, and the models
and weights tables from the weight cards. When they drift, ``python -m kerascnn.cli._docgen``
rewrites them.
"""

from __future__ import annotations

import importlib
import re
import shutil
import warnings
from pathlib import Path

import pytest

from kerascnn.cli import _docgen
from tests.conftest import REPO
from tests.test_readme import NOT_RUN, pages, run_python_examples

DOCS = ["README.md", "benchmarks/README.md"] + sorted(
    str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")
)
# dotted kerascnn.* words in the docs that are not Python names, and what they are
NOT_PYTHON = {
    "kerascnn.models": "the entry-point group that plugins declare their models in",
    "kerascnn.json": "the file of facts inside a LiteRT or SavedModel export",
}
STATUS_NOTES = ("still to be done", "not yet run", "no gpu here", "todo", "tbd", "to be done")


def _text(page: str) -> str:
    return (REPO / page).read_text(encoding="utf-8")


def test_the_generated_docs_are_current():
    stale = _docgen.drift()
    assert not stale, f"{', '.join(stale)} drifted from the code; run `{_docgen.REGENERATE}`"


def test_drift_is_noticed(tmp_path: Path):
    """The drift check fails on a hand-edited table and on a missing CLI page."""
    for page in ("README.md", "docs/models.md"):
        (tmp_path / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / page, tmp_path / page)
    readme = tmp_path / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8").replace("99.3%", "99.9%", 1))
    assert _docgen.drift(tmp_path) == ["docs/cli.md", "README.md"]
    (tmp_path / "docs" / "models.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="weights-table:start"):
        _docgen.drift(tmp_path)


def test_the_weights_table_has_every_card():
    """A row per weight card of the zoo, in the README and docs/models.md, with its top-1."""
    from kerascnn.registry import get_model_card, list_models

    cards = [w for m in list_models() for w in get_model_card(m).weights.values()]
    assert len(cards) >= 6
    for page in ("README.md", "docs/models.md"):
        table = _text(page).split("<!-- weights-table:start -->")[1].split("<!-- weights")[0]
        for card in cards:
            row = next(r for r in table.splitlines() if r.startswith(f"| `{card.spec}` |"))
            assert f"{card.accuracy['top1']:g}%" in row, row


def _resolve(name: str) -> str:
    """``"ok"`` when ``a.b.c`` is a module or an attribute of the longest importable prefix,
    ``"missing"`` when not, ``"deprecated"`` when reaching it warns that it is."""
    from kerascnn.errors import KerascnnDeprecationWarning

    parts = name.split(".")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(len(parts), 0, -1):
            try:
                found = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for part in parts[i:]:
                    found = getattr(found, part)
            except AttributeError:
                return "missing"
            break
        else:
            return "missing"
    warned = any(issubclass(w.category, KerascnnDeprecationWarning) for w in caught)
    return "deprecated" if warned else "ok"


def _dotted_names() -> dict[str, list[str]]:
    """Every ``kerascnn.x.y`` in the docs (not inside a path or URL) -> the pages naming it."""
    found: dict[str, list[str]] = {}
    for page in DOCS:
        for name in re.findall(r"(?<![\w./-])kerascnn(?:\.\w+)+", _text(page)):
            found.setdefault(name, []).append(page)
    return found


def test_every_dotted_name_resolves():
    names = _dotted_names()
    assert {"kerascnn.load", "kerascnn.zoo", "kerascnn.cli._docgen"} <= set(names)
    assert set(NOT_PYTHON) <= set(names), "NOT_PYTHON lists a word the docs no longer use"
    found = {n: (_resolve(n), sorted(set(p))) for n, p in names.items() if n not in NOT_PYTHON}
    deprecated = {n: p for n, (state, p) in found.items() if state == "deprecated"}
    assert not deprecated, f"deprecated names: {deprecated}"
    missing = {n: p for n, (state, p) in found.items() if state == "missing"}
    assert not missing, f"names that do not exist: {missing}"


def test_every_command_is_documented():
    """Each command and subcommand has its section in docs/cli.md, and the README's command
    table or a docs page shows it in use."""
    reference = _text("docs/cli.md")
    guides = _text("README.md") + "".join(_text(p) for p in DOCS if p != "docs/cli.md")
    paths = [path for path, _, _ in _docgen.commands()]
    assert {"kerascnn export", "kerascnn zoo reproduce", "kerascnn zoo push"} <= set(paths)
    assert {"kerascnn benchmark", "kerascnn serve", "kerascnn visualize maximize"} <= set(paths)
    for path in paths:
        assert f"\n## `{path}`\n" in reference, path
        assert f"`{path}" in guides or path == "kerascnn", f"{path} is in no guide"
    table = _text("README.md").split("## Command line")[1].split("\n## ")[0]
    leaves = [p for p, command, _ in _docgen.commands() if not hasattr(command, "commands")]
    missing = [p for p in leaves if f"| `{p} " not in table and f"| `{p}`" not in table]
    assert not missing, f"not in the README's command table: {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_pages_resolve():
    """Every relative link names a file that exists and, after ``#``, one of its headings."""
    broken = []
    for page in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", _text(page)):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = (REPO / page).parent / file if file else REPO / page
            if not path.exists():
                broken.append(f"{page}: {target}")
            elif anchor and path.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", path.read_text(encoding="utf-8"), flags=re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{page}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_readme_is_an_overview():
    """Short, one picture, a link to every docs page, no status notes."""
    readme = _text("README.md")
    assert len(readme.splitlines()) <= 300
    assert len(re.findall(r"!\[", readme)) == 1
    for page in sorted((REPO / "docs").glob("*.md")):
        if page.name != "README.md":
            assert f"(docs/{page.name}" in readme, f"the README does not link docs/{page.name}"
    for page in DOCS:
        lower = _text(page).lower()
        notes = [n for n in STATUS_NOTES if re.search(rf"\b{n}\b", lower)]
        assert not notes, f"{page}: status notes {notes}"


def test_the_docs_python_examples_run(tmp_path: Path):
    """Every ```python block of every docs page (but those of NOT_RUN), page by page."""
    docs = [p for p in pages() if p != "README.md"]
    assert "docs/transfer.md" in docs and "docs/hub.md" in NOT_RUN
    folders = run_python_examples(docs, tmp_path)
    assert (folders["docs/export.md"] / "cifar.onnx").is_file()
    assert (folders["docs/training.md"] / "runs" / "photos" / "model.keras").is_file()
    assert (folders["docs/transfer.md"] / "out" / "model.keras").is_file()
