"""The package layout of ARCHITECTURE.md: no upward imports, no cycles, light subpackage imports."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "screener"
SUBPACKAGES = ("io", "grid", "synth", "models", "training", "screening", "dft", "query", "report")

#: subpackage -> the subpackages it may import (top-level modules such as config are open to all).
ALLOWED = {
    "io": set(),
    "grid": set(),
    "synth": {"io", "grid"},
    "models": {"io", "grid", "synth"},  # descriptors: valence partitions and free-atom densities
    "training": {"io", "grid", "models"},
    "screening": {"io", "grid", "models"},
    "dft": {"io", "screening"},  # the CHGCAR writer and density table; Ray start/join (screening.ray_runtime)
    "query": {"screening"},
    "report": {"screening", "query"},
    "api": {"io", "grid", "models", "screening", "query"},  # screener/api.py: the Python API over the stages
    "cli": {"io", "grid", "synth", "models", "training", "screening", "dft", "query", "report", "api"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Absolute names of the screener modules ``path`` imports (every import, or module-level ones)."""
    tree = ast.parse(path.read_text())
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:  # ``from . import physics`` names a module
                candidate = f"{module}.{alias.name}"
                found.add(candidate if _exists(candidate) else module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m == "screener" or m.startswith("screener.")}


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _layer(module: str) -> str | None:
    if module == "screener.api":  # a top-level module, but a layer of its own (above query, below cli)
        return "api"
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else None


def test_no_upward_imports() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _layer(_module_name(path))
        for target in _imports(path, top_level_only=False):
            layer = _layer(target)
            if layer is None or layer == source:
                continue
            if source is None or layer not in ALLOWED.get(source, set()):
                bad.append(f"{_module_name(path)} imports {target}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles() -> None:
    graph = {_module_name(p): _imports(p, top_level_only=True) for p in PACKAGE.rglob("*.py")}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == node or nxt == "screener":  # ``from .. import __version__``
                continue
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_subpackage_imports_are_light() -> None:
    code = (
        "import sys\n"
        f"for name in {SUBPACKAGES!r}: __import__('screener.' + name)\n"
        "print(sorted(m for m in ('torch', 'ray', 'lightgbm', 'duckdb', 'pyarrow', 'pymatgen') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_exports_resolve(name: str) -> None:
    package = importlib.import_module(f"screener.{name}")
    submodules = {p.stem for p in (PACKAGE / name).glob("*.py")}
    assert package.__all__ and not set(package.__all__) & submodules  # a submodule import would shadow the name
    for export in package.__all__:
        value = getattr(package, export)
        assert getattr(value, "__module__", None) is None or value.__module__.startswith(f"screener.{name}.") or export.isupper()
