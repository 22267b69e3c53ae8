"""The layout a newcomer reads from the folder names: ``ui/`` above ``qa/`` above ``index/``, never an import
upward; what answers a question never imports the offline work in ``qa/training/``; no module past 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

LAYERS = ("index", "qa", "ui")  # each may import the ones before it
MAX_LINES = 600


def modules() -> dict[str, Path]:
    """Every module of the product, by dotted name."""
    found = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(path: Path) -> set[str]:
    """The modules ``path`` imports, at its top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = []
    for name, path in modules().items():
        layer = LAYERS.index(name.split(".")[0])
        upward += [f"{name} -> {other}" for other in imported(path) if other.split(".")[0] in LAYERS[layer + 1 :]]
    assert upward == []


def test_answering_never_imports_the_training_and_evaluation_code() -> None:
    runtime = {name: path for name, path in modules().items()
               if name.startswith(("qa", "index")) and not name.startswith("qa.training")}
    assert [f"{name} -> {other}" for name, path in runtime.items() for other in imported(path)
            if other.startswith("qa.training")] == []


def test_no_module_is_over_600_lines() -> None:
    assert {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES} == {}
