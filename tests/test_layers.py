"""The package's layering, as README's module map gives it: imports only run down.

A module may import modules of its own layer or below, never above, and the
imports form no cycle.  Lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import minipaas_certs

LAYERS = {
    "cli": ["launcher", "__main__", "cli", "commands", "output"],
    "operations": ["generate", "rotate_ca", "inventory", "docker_config", "doctor",
                   "pkcs12"],
    "core": ["plan", "issue", "store", "sums", "render", "openssl", "parallel", "interrupts",
             "revocations", "vault"],
    "base": ["layout", "files", "certinfo", "names", "errors", "__init__"],
}
RANK = {module: rank for rank, layer in enumerate(LAYERS.values()) for module in layer}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return {name for name in found if name in RANK or name not in {"__version__", "templates"}}


def test_every_module_has_a_layer() -> None:
    package = Path(minipaas_certs.__file__).parent
    assert {path.stem for path in package.glob("*.py")} == set(RANK)


def test_imports_run_down_and_make_no_cycle() -> None:
    package = Path(minipaas_certs.__file__).parent
    graph = {path.stem: _imports(path) for path in package.glob("*.py")}
    upward = [(module, imported) for module, imports in graph.items() for imported in imports
              if RANK[imported] < RANK[module]]
    assert not upward, upward

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in trail, " -> ".join((*trail, module))
        for imported in graph[module]:
            visit(imported, (*trail, module))

    for module in graph:
        visit(module, ())
