"""The layers of registry/ point one way: no package imports one above it (function-local and
type-checking imports count too), so no package-level import cycle can exist.

From the bottom: the core modules; the audit trail; accounts; the publication core; the domains
(lists, documents); subscriptions and objections; notifications and webhooks, which react to their events;
privacy, which reaches every table holding an address; the admin pages and the API on top. The
app factory, the scheduler, the CLI and the model registry wire them together and may use all.
"""

from __future__ import annotations

import ast
from pathlib import Path

REGISTRY = Path(__file__).resolve().parent.parent / "registry"
WIRING = {"__init__", "models", "scheduler", "cli"}
LAYERS = {
    "wiring": 9,
    "core": 0,
    "audit": 1,
    "accounts": 2,
    "publishing": 3,
    "lists": 4,
    "documents": 4,
    "subscriptions": 5,
    "objections": 5,
    "notifications": 6,
    "webhooks": 6,
    "privacy": 7,
    "admin": 8,
    "api": 8,
}


def _area(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "registry" or len(parts) < 2:
        return None
    if (REGISTRY / parts[1]).is_dir():
        return parts[1]
    return None if parts[1] in WIRING else "core"


def _imports() -> list[tuple[str, str, str]]:
    """(importing area, imported area, where) for every import of registry code."""
    found = []
    for path in sorted(REGISTRY.rglob("*.py")):
        relative = path.relative_to(REGISTRY.parent).with_suffix("")
        source = _area(".".join(part for part in relative.parts if part != "__init__"))
        if source is None:
            continue
        package = relative.parts[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                # A relative import counts as the absolute one it stands for.
                base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                module = ".".join(part for part in (base, node.module or "") if part)
                names = [f"{module}.{alias.name}" for alias in node.names]
                if module != "registry":
                    names.append(module)
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                target = _wiring(name) or _area(name)
                if target is not None and target != source:
                    found.append((source, target, f"{relative}:{node.lineno}"))
    return found


def _wiring(module: str) -> str | None:
    """``wiring`` for the app factory, the scheduler, the CLI and the model registry: they import
    every area, so an area importing them is an arrow pointing up."""
    parts = module.split(".")
    if parts[0] == "registry" and (len(parts) == 1 or (len(parts) >= 2 and parts[1] in WIRING)):
        return "wiring"
    return None


def test_every_area_has_a_layer() -> None:
    areas = {p.name for p in REGISTRY.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert areas | {"core", "wiring"} == set(LAYERS)


def test_no_package_imports_one_above_it_or_beside_it() -> None:
    imports = _imports()
    assert len(imports) > 100  # the walk found the imports (a broken walk would pass vacuously)
    upward = [
        f"{where}: {source} imports {target}"
        for source, target, where in imports
        if LAYERS[target] >= LAYERS[source]
    ]
    assert upward == []
