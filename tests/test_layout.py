"""Layering: the library never imports the CLI, no two modules import each other, and the
units of ``kerascnn`` (its subpackages and top-level modules) import only units of a lower rank.

The import graph is read from the source with ``ast`` (nothing is imported): every
``import``/``from ... import`` anywhere in a file (inside functions too), absolute or
relative, resolved to the package's own modules. ``__init__.py`` files are not members of
module cycles (importing through a package's ``__init__`` is a re-export), but they count for
the ranks: a package is its ``__init__`` and its modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# source folder -> the dotted name it is installed as (setup.cfg's package_dir)
ROOTS = {"kerascnn": "kerascnn", "zoo": "kerascnn.zoo", "cli": "kerascnn.cli"}
CLI = "kerascnn.cli"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``)."""
    found: dict[str, tuple[Path, bool]] = {}
    for folder, prefix in ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            found[".".join([prefix, *parts])] = (path, is_package)
    return found


MODULES = _modules()


def _known(name: str) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (``None``: not ours)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _imports(module: str) -> set[str]:
    """Our modules that ``module`` imports, wherever in the file the import is."""
    path, is_package = MODULES[module]
    package = module if is_package else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name``: mod
            names = [
                f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source
                for a in node.names
            ]
        else:
            continue
        targets.update(t for t in map(_known, names) if t is not None)
    targets.discard(module)
    return targets


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path(graph: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """One import cycle through ``start`` inside ``members`` (breadth first: a shortest one)."""
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                cycle = [v]
                while cycle[-1] != start:
                    cycle.append(previous[cycle[-1]])
                return [start, *reversed(cycle[:-1]), start]
            if w not in previous:
                previous[w] = v
                queue.append(w)
    return [start]


def test_the_walk_sees_the_package() -> None:
    """A sanity check of the walker itself: known modules and edges are found."""
    assert {"kerascnn.atomic", "kerascnn.zoo.recipes", "kerascnn.cli.main"} <= set(MODULES)
    assert "kerascnn.errors" in GRAPH["kerascnn.images"]
    assert "kerascnn.deploy.runtime" in GRAPH["kerascnn.predict"]  # imported inside a function


def test_library_never_imports_the_cli() -> None:
    offenders = [
        f"{module} ({MODULES[module][0].relative_to(REPO)}) imports {target}"
        for module, targets in sorted(GRAPH.items())
        if not (module == CLI or module.startswith(CLI + "."))
        for target in sorted(targets)
        if target == CLI or target.startswith(CLI + ".")
    ]
    assert not offenders, "the library imports the CLI:\n  " + "\n  ".join(offenders)


def test_no_import_cycles() -> None:
    plain = {m for m, (_, is_package) in MODULES.items() if not is_package}
    graph = {m: GRAPH[m] & plain for m in plain}
    cycles = [" -> ".join(_path(graph, c[0], set(c))) for c in _cycles(graph)]
    assert not cycles, "modules that import each other:\n  " + "\n  ".join(cycles)


# The units of the package, lowest first: a unit imports only units of lower ranks (its own
# modules aside). Units of one rank do not import each other. A new subpackage or top-level
# module gets a rank here.
RANKS: list[tuple[str, ...]] = [
    ("errors", "compat", "_version", "_typing", "_devices"),  # no imports of ours
    ("atomic", "tta"),  # files written whole; test-time augmentation views (NumPy)
    ("images", "layers", "probabilities"),  # pixels in and out; the zoo's Keras layers
    ("preprocessing", "canvas"),  # pixel modes (their layers); pictures composed and saved
    ("saved", "weights"),  # .keras files and sidecars; cards, cache, downloads, hubs, presets
    ("registry",),  # model names -> builders and cards
    ("builder",),  # what builders call: a variant's classes and weights loaded into a model
    ("resolve",),  # kerascnn.load: anything that names a model -> LoadedModel
    ("training",),  # the engine, data, evaluation
    ("transfer",),  # fine-tuning through the engine
    ("analysis", "interpret"),  # layer tables, memory; dreams, pictures
    ("deploy",),  # export, artifacts in their runtimes, benchmark, server
    ("predict",),  # a Keras model or an exported artifact -> classes
    ("publish",),  # presets written and uploaded
    ("kerascnn",),  # the package itself: the public API (kerascnn/__init__.py)
    ("zoo",),  # model definitions and training recipes
    ("cli",),  # the command line, above everything
]
RANK = {unit: rank for rank, units in enumerate(RANKS) for unit in units}


def _unit(module: str) -> str:
    """``kerascnn.training.loop`` -> ``training``; ``kerascnn.zoo.vgg`` -> ``zoo``."""
    parts = module.split(".")
    if module == "kerascnn":
        return "kerascnn"
    return parts[1]


UNITS = {module: _unit(module) for module in MODULES}


def test_every_unit_has_a_rank() -> None:
    missing = sorted(set(UNITS.values()) - set(RANK))
    assert not missing, f"units without a rank in RANKS (tests/test_layout.py): {missing}"


def test_units_import_only_lower_ranks() -> None:
    offenders = [
        f"{module} ({UNITS[module]}, rank {RANK[UNITS[module]]}) imports {target} "
        f"({UNITS[target]}, rank {RANK[UNITS[target]]})"
        for module, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if UNITS[target] != UNITS[module] and RANK[UNITS[target]] >= RANK[UNITS[module]]
    ]
    assert not offenders, "imports against the ranks:\n  " + "\n  ".join(offenders)


def test_no_package_imports_one_that_imports_it_back() -> None:
    units: dict[str, set[str]] = {unit: set() for unit in UNITS.values()}
    for module, targets in GRAPH.items():
        units[UNITS[module]] |= {UNITS[t] for t in targets} - {UNITS[module]}
    cycles = [" -> ".join(_path(units, c[0], set(c))) for c in _cycles(units)]
    assert not cycles, "packages that import each other:\n  " + "\n  ".join(cycles)
