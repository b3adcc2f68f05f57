"""The package's own import graph: circles and the direction of its layers.

Every import counts: at module level, inside functions, and under
``if TYPE_CHECKING:`` (a circle that closes only through a type-checking import is
still a circle for a reader, and for any tool that evaluates annotations).

Run it as a script for a report: ``python tests/_import_graph.py [PACKAGE_DIR]``.
"""

from __future__ import annotations

import ast
import pathlib
import sys
from collections.abc import Iterable, Mapping

#: The layers, bottom first. A module may import its own layer or a lower one; a
#: module outside every prefix here (the façade, ``_version``) is at the top.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("trio_otp._version",),
    ("trio_otp._core",),
    ("trio_otp._server",),
    ("trio_otp._supervision",),
    ("trio_otp._behaviours",),
    ("trio_otp.jobs",),
    ("trio_otp.testing", "trio_otp.observer"),
    ("trio_otp._cli", "trio_otp.__main__"),
)


def module_name(root: pathlib.Path, path: pathlib.Path) -> str:
    """The dotted name of ``path`` inside the package whose folder is ``root``."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Every module of the package, by dotted name."""
    return {module_name(root, p): p for p in sorted(root.rglob("*.py"))}


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports(root: pathlib.Path) -> dict[str, set[str]]:
    """For each module, the package modules it imports (every import statement)."""
    mods = modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = _resolve(name, is_package, node.level, node.module)
                else:
                    base = node.module or ""
                # ``from . import _x``: the submodule _x; ``from ._x import y``: _x.
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [base, *subs]
            for target in targets:
                # ``import a.b.c`` imports a.b.c; count the deepest package module.
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.add(target)
        graph[name] = found
    return graph


def circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def layer_of(module: str) -> int:
    """The layer index of ``module`` (``len(LAYERS)`` for the top: the façade)."""
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return len(LAYERS)


def upward_imports(graph: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """Every import from a lower layer into a higher one, as (importer, imported)."""
    return sorted(
        (importer, imported)
        for importer, targets in graph.items()
        for imported in targets
        if layer_of(imported) > layer_of(importer)
    )


def report(root: pathlib.Path) -> str:
    """The check's printable result: circles, upward imports, module count."""
    graph = imports(root)
    lines = [f"circle: {' <-> '.join(c)}" for c in circles(graph)]
    lines += [f"upward: {a} -> {b}" for a, b in upward_imports(graph)]
    lines.append(
        f"{len(circles(graph))} import circle(s), {len(upward_imports(graph))} upward "
        f"import(s) among {len(graph)} modules"
    )
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a developer's report
    here = pathlib.Path(__file__).resolve().parent.parent / "trio_otp"
    print(report(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else here))
