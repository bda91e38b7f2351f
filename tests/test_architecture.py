"""The house's plan, checked: imports run down the layers of docs/ARCHITECTURE.md."""

from __future__ import annotations

import ast
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"
PLUGINS = GATEWAY.parent / "plugins"

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
        "decisions",
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
    ("admin", "cli", "console", "daemon", "presenters", "__main__"),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def layer(module: str) -> str:
    """The layer name of ``gateway.X...``: its package or top-level module."""
    return module.split(".")[1]


def modules_imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file; ``from gateway
    import x`` counts as ``gateway.x``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gateway":
                found |= {f"gateway.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def imports(path: Path) -> set[str]:
    """Every gateway module ``path`` imports, at any depth of the file."""
    return {name for name in modules_imported(path) if name.startswith("gateway.")}


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


def test_only_the_queue_talks_smtp_to_the_upstream() -> None:
    """aiosmtplib, the SMTP client, is imported in gateway/queue/ and nowhere else."""
    queue = GATEWAY / "queue"
    found = [
        str(path.relative_to(GATEWAY.parent))
        for path in sorted([*GATEWAY.rglob("*.py"), *PLUGINS.rglob("*.py")])
        if queue not in path.parents
        and any(name.split(".")[0] == "aiosmtplib" for name in modules_imported(path))
    ]
    assert found == []


# What a stage may reach: the stage contract, the content it renders and the
# foundations; never the queue, the store, the ways in or the faces.
STAGES_MAY_NOT_IMPORT = ("queue", "store", "settings", "billing", "ingress", "admin", "cli")


def test_the_stages_cannot_reach_the_relay_or_the_store() -> None:
    """The built-in stages import neither the queue nor the store, nor anything above them."""
    found = [
        f"{path.name} -> {name}"
        for path in sorted(PLUGINS.rglob("*.py"))
        for name in sorted(imports(path))
        if layer(name) in STAGES_MAY_NOT_IMPORT or layer(name) == "daemon"
    ]
    assert found == []
