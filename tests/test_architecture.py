# SPDX-License-Identifier: Apache-2.0
"""The dependency rule of the README's "Architecture": the data path flows one way.

``extract``, ``diff``, ``sequence``, ``codec``, ``analysis`` and ``derive`` are pure (no network, disk or archive);
``archive`` knows nothing of fetching or alerting; only the command-line layer imports ``cli``; and there are no import cycles.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tosmonitor"
PURE = {"extract", "diff", "sequence", "codec", "analysis", "derive"}
IO_EDGES = {"fetch", "browser", "archive", "notify", "scheduler", "web", "cli", "monitor", "commands", "demo"}
CLI_LAYER = {"cli", "cli_research", "cli_web", "__main__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def top(name: str) -> str:
    return name.split(".")[0]


def internal_imports(path: Path) -> set[str]:
    """Top-level tosmonitor modules imported by one file (relative or absolute imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = module_name(path)
    package_parts = own.split(".")[:-1] if path.name != "__init__.py" else own.split(".")
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = (
                    package_parts[: len(package_parts) - (node.level - 1)]
                    if node.level > 1
                    else package_parts
                )
                target = ".".join([*base, node.module] if node.module else base)
                if not target:  # "from . import x, y"
                    found.update(alias.name for alias in node.names)
                else:
                    found.add(top(target))
                    if not node.module:
                        found.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("tosmonitor."):
                found.add(top(node.module.removeprefix("tosmonitor.")))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tosmonitor."):
                    found.add(top(alias.name.removeprefix("tosmonitor.")))
    found.discard("")
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = top(module_name(path)) if module_name(path) else "__init__"
        edges.setdefault(name, set()).update(internal_imports(path) - {name})
    return edges


@pytest.mark.parametrize("pure", sorted(PURE))
def test_pure_modules_import_no_io_module(pure):
    imported = graph()[pure]
    assert not imported & IO_EDGES, f"{pure} imports {sorted(imported & IO_EDGES)}"


@pytest.mark.parametrize("pure", sorted(PURE))
def test_pure_modules_do_no_io(pure):
    paths = (
        [PACKAGE / f"{pure}.py"] if (PACKAGE / f"{pure}.py").exists() else list((PACKAGE / pure).glob("*.py"))
    )
    for path in paths:
        source = path.read_text(encoding="utf-8")
        for forbidden in ("import httpx", "import sqlite", "open(", "urllib.request", "socket"):
            assert forbidden not in source, f"{path.name} uses {forbidden!r}"


def test_archive_knows_nothing_of_fetching_or_alerting():
    assert not graph()["archive"] & {"fetch", "browser", "notify", "monitor", "scheduler", "web", "cli"}


def test_only_the_command_line_layer_imports_cli():
    importers = {name for name, imported in graph().items() if "cli" in imported}
    assert importers <= CLI_LAYER, importers


def test_no_import_cycles_at_module_load():
    edges = graph()  # imports inside functions count too: the rule is strict on purpose
    seen: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        seen[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt in CLI_LAYER and node in CLI_LAYER:
                continue  # cli registers cli_research / cli_web, which attach commands to cli's group
            if seen.get(nxt) == 1:
                cycle.extend([*stack, node, nxt])
                return True
            if nxt not in seen and visit(nxt, [*stack, node]):
                return True
        seen[node] = 2
        return False

    for start in sorted(edges):
        if start not in seen and visit(start, []):
            break
    assert not cycle, " -> ".join(cycle)


def test_worker_processes_start_light():
    # A worker (spawn) imports the main module, its initializer's module and the module of each function it
    # runs (a check's worker: ``derive``; an import's: ``import_worker``): none should load the archive, the
    # HTTP client or the command line.
    import subprocess
    import sys

    code = (
        "import sys, tosmonitor.__main__, tosmonitor.worker, tosmonitor.derive, tosmonitor.import_worker; "
        "print(sorted(m for m in ('tosmonitor.cli', 'tosmonitor.monitor', 'tosmonitor.archive', 'httpx', 'aiohttp', "
        "'sqlite_utils') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
