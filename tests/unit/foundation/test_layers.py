"""The import graph points down: the floor imports nothing of ours, streaming and scoring no services,
and no production package the benchmarks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OURS = ("foundation", "services", "streaming", "scoring", "bench")


def imported_packages(package: str) -> dict[str, set[str]]:
    """Per module of `package`, the top-level packages of ours it imports (at any depth of the file)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names & set(OURS)
    return found


@pytest.mark.parametrize(
    ("package", "allowed"),
    [
        ("foundation", {"foundation"}),
        ("streaming", {"foundation", "streaming"}),
        ("scoring", {"foundation", "streaming", "scoring"}),
        ("services", {"foundation", "streaming", "scoring", "services"}),  # never bench
    ],
)
def test_a_package_imports_only_the_floors_below_it(package: str, allowed: set[str]) -> None:
    modules = imported_packages(package)
    assert modules, f"no modules found under {package}/"
    upward = {module: sorted(names - allowed) for module, names in modules.items() if names - allowed}
    assert upward == {}


def test_serving_imports_nothing_of_training() -> None:
    """The scorer's process loads no training code: `scoring.training` stands on `scoring.serving`."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "scoring" / "serving").rglob("*.py")):
        modules = [
            node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
            if not (isinstance(node, ast.ImportFrom) and node.module is None)
        ]
        training = sorted({m for m in modules if m and m.startswith("scoring.training")})
        if training:
            found[str(path.relative_to(ROOT))] = training
    assert found == {}
