"""The package's layering, as docs/development.rst's module map gives it: imports run down.

A module may import modules of its own layer or below, never above, and the
imports form no cycle.  Every spelling counts, wherever it is (lazy imports inside
functions too): ``from .x import``, ``from . import x``, ``import minipaas_certs.x``,
``from minipaas_certs(.x) import``, ``importlib.import_module`` and ``__import__``
with a literal name.  An import by a computed name is refused: it cannot be checked.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

import minipaas_certs

pytestmark = pytest.mark.invariant  # the source's imports: no openssl or Python of its own
PACKAGE = Path(minipaas_certs.__file__).parent
DEVELOPMENT = PACKAGE.parent / "docs" / "development.rst"
LAYERS = {
    "cli": ["launcher", "__main__", "cli", "commands", "options", "groups", "secrets",
            "reports", "output"],
    "operations": ["generate", "rotate_ca", "check", "inventory", "docker_config", "prune",
                   "doctor", "pkcs12"],
    "core": ["plan", "signers", "signing", "authority", "verify", "keys", "store", "journal",
             "sums", "render", "openssl", "parallel", "interrupts", "revocations", "vault"],
    "base": ["layout", "identity", "clock", "files", "certinfo", "names", "errors", "__init__"],
}
RANK = {module: rank for rank, layer in enumerate(LAYERS.values()) for module in layer}
DYNAMIC = "<computed name>"


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) \
        else None


def _argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    if len(call.args) > index:
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def module_name(package: Path, path: Path) -> str:
    """A module's dotted name within the package: ``errors``, ``signers.base``, and
    ``signers`` for a subpackage's ``__init__``."""
    parts = path.relative_to(package).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def modules_of(package: Path) -> dict[str, Path]:
    return {module_name(package, path): path for path in sorted(package.rglob("*.py"))
            if "__pycache__" not in path.parts}


def rank(module: str) -> int:
    """A module's layer; a subpackage's modules are in the subpackage's layer."""
    return RANK.get(module, RANK.get(module.split(".")[0], -1))


def _imports(path: Path, package: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports (``__init__`` for its attributes)."""
    here = list(path.relative_to(package).parent.parts)  # the subpackage it is in, if any
    found: set[str] = set()

    def add(dotted: str, names: list[str]) -> None:  # dotted is relative to the package
        if not dotted:  # `from . import x`: a module, or an attribute of __init__
            found.update(name if name in modules else "__init__" for name in names)
            return
        inner = [f"{dotted}.{name}" for name in names if f"{dotted}.{name}" in modules]
        parts = dotted.split(".")
        known = next((".".join(parts[:n]) for n in range(len(parts), 0, -1)
                      if ".".join(parts[:n]) in modules), parts[0])
        found.update(inner or [known])

    def relative(level: int, dotted: str) -> str:
        base = here[:len(here) - (level - 1)] if level - 1 <= len(here) else []
        return ".".join([*base, *([dotted] if dotted else [])])

    def within(absolute: str) -> str | None:  # "minipaas_certs.x.y" -> "x.y"
        head, _, rest = absolute.partition(".")
        return rest if head == package.name else None

    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level >= 1:
                add(relative(node.level, node.module or ""), names)
            elif node.level == 0 and (inner := within(node.module or "")) is not None:
                add(inner, names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if (inner := within(alias.name)) is not None:
                    add(inner, ["__init__"])
        elif isinstance(node, ast.Call):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else \
                function.id if isinstance(function, ast.Name) else None
            if called not in ("import_module", "__import__"):
                continue
            name = _literal(_argument(node, 0, "name"))
            if name is None:
                found.add(DYNAMIC)
                continue
            fromlist = _argument(node, 3, "fromlist") if called == "__import__" else None
            listed = [_literal(item) or DYNAMIC for item in fromlist.elts] \
                if isinstance(fromlist, (ast.List, ast.Tuple)) else ["__init__"]
            level = _argument(node, 4, "level") if called == "__import__" else None
            if name.startswith(".") or (isinstance(level, ast.Constant) and level.value):
                dots = len(name) - len(name.lstrip("."))
                add(relative(max(dots, 1), name.lstrip(".")), listed)
            elif (inner := within(name)) is not None:
                add(inner, listed)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    """Each module of the package folder ``package`` -> the package modules it imports."""
    modules = modules_of(package)
    return {name: _imports(path, package, set(modules)) for name, path in modules.items()}


def layering_problems(package: Path) -> list[str]:
    """Upward or uncheckable imports, and cycles, among the modules of ``package``."""
    graph = import_graph(package)
    problems = [f"{module} imports {imported}" + (" (no layer)" if rank(imported) < 0
                                                  else " (a layer above)")
                for module, imports in sorted(graph.items()) for imported in sorted(imports)
                if rank(imported) < rank(module)]

    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:  # depth first, each module once
        if module in trail:
            problems.append("cycle: " + " -> ".join((*trail[trail.index(module):], module)))
        elif module in graph and module not in done:
            for imported in sorted(graph[module]):
                visit(imported, (*trail, module))
            done.add(module)

    for module in sorted(graph):
        visit(module, ())
    return problems


def test_every_module_has_a_layer() -> None:
    assert [module for module in modules_of(PACKAGE) if rank(module) < 0] == []
    assert {module.split(".")[0] for module in modules_of(PACKAGE)} == set(RANK)


def test_imports_run_down_and_make_no_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert "commands" in graph["cli"] and "interrupts" in graph["launcher"]  # lazy ones seen
    assert layering_problems(PACKAGE) == []


@pytest.mark.parametrize("line, found", [
    ("from . import generate", "errors imports generate (a layer above)"),
    ("from .commands import main", "errors imports commands (a layer above)"),
    ("import minipaas_certs.generate", "errors imports generate (a layer above)"),
    ("import minipaas_certs.generate as g", "errors imports generate (a layer above)"),
    ("from minipaas_certs.commands import main", "errors imports commands (a layer above)"),
    ("from minipaas_certs import generate", "errors imports generate (a layer above)"),
    ("importlib.import_module('minipaas_certs.store')", "errors imports store (a layer above)"),
    ("import_module('.plan', __package__)", "errors imports plan (a layer above)"),
    ("__import__('minipaas_certs.cli')", "errors imports cli (a layer above)"),
    ("__import__('minipaas_certs', fromlist=['doctor'])", "errors imports doctor (a layer above)"),
    ("__import__('', globals(), None, ['sums'], 1)", "errors imports sums (a layer above)"),
    ("importlib.import_module(f'minipaas_certs.{name}')",
     "errors imports <computed name> (no layer)"),
    ("from .files import read_limited", "cycle: errors -> files -> errors"),
])
def test_a_planted_import_is_found(tmp_path: Path, line: str, found: str) -> None:
    """A copy of the package with one lazy import planted in errors.py (the bottom layer)."""
    package = tmp_path / PACKAGE.name
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    with (package / "errors.py").open("a") as module:
        module.write(f"\n\ndef _planted(name: str) -> object:\n    return {line}\n"
                     if not line.startswith(("from ", "import ")) else
                     f"\n\ndef _planted() -> None:\n    {line}\n")
    assert found in layering_problems(package)


def _module_map() -> list[tuple[str, str]]:
    """The module map: (module, its description's first line), top to bottom."""
    development = DEVELOPMENT.read_text()
    rows = re.findall(r"^``([\w/]+)\.py``\s{2,}(\S.*)$", development, re.MULTILINE)
    return [(name.replace("/__init__", "").replace("/", "."), text) for name, text in rows]


def test_the_readme_module_map_names_every_module_in_its_layer() -> None:
    rows = _module_map()
    names = [name for name, _ in rows]
    assert len(names) == len(set(names))
    assert set(names) == set(modules_of(PACKAGE)) - {"__init__", "__main__"}
    ranks = [rank(name) for name in names]
    assert ranks == sorted(ranks), "the map runs from the command line down"
    labels = {"operation": "operations", "core": "core", "base": "base"}
    for name, description in rows:
        label = description.split(":", 1)[0]
        if label in labels:
            assert name.split(".")[0] in LAYERS[labels[label]], (name, label)
