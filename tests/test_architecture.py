"""The house's plan, checked: imports run down the layers of docs/ARCHITECTURE.md."""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"

# Lowest first. A module may import its own layer and any below it, never above.
LAYERS: list[tuple[str, ...]] = [
    (
        "errors",
        "clock",
        "json_input",
        "addresses",
        "brand",
        "context",
        "logs",
        "metrics",
        "replies",
        "signing",
        "problems",
        "openapi",
        "_systemd",
    ),
    ("config",),
    ("store",),
    ("settings",),
    ("content",),
    ("entrance",),
    ("queue", "billing"),
    ("ingress",),
    ("admin", "cli", "daemon", "presenters", "__main__"),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def layer(module: str) -> str:
    """The layer name of ``gateway.X...``: its package or top-level module."""
    return module.split(".")[1]


def imports(path: Path) -> set[str]:
    """Every gateway module ``path`` imports, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gateway":
                found |= {f"gateway.{alias.name}" for alias in node.names}
            elif node.module.startswith("gateway."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("gateway.")}
    return found


def upward_imports() -> list[str]:
    found = []
    for path in sorted(GATEWAY.rglob("*.py")):
        module = ".".join(path.relative_to(GATEWAY.parent).with_suffix("").parts)
        if module == "gateway.__init__":
            continue
        own = RANK[layer(module)]
        found += [
            f"{module} -> {target}"
            for target in sorted(imports(path))
            if layer(target) != "__version__" and RANK[layer(target)] > own
        ]
    return found


def test_every_module_has_a_layer() -> None:
    """Each package and top-level module of gateway/ is placed in a layer."""
    names = {p.stem if p.is_file() else p.name for p in GATEWAY.iterdir()}
    names -= {"__init__", "__pycache__", "py", "_shipped"}
    assert sorted(names - set(RANK)) == []


def test_nothing_imports_upward() -> None:
    """No module imports from a layer above its own."""
    assert upward_imports() == []
