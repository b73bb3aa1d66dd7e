"""The import layering of STYLE.md §6 holds: the functional core does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "responses_gateway"

# module (or package) -> project modules and third-party/stdlib roots it must not import
FORBIDDEN = {
    "protocol": {"translate", "store", "upstream", "server", "views", "generation", "aiohttp",
                 "asyncio", "sqlite3", "redis", "socket", "providers", "config"},
    "translate": {"store", "upstream", "server", "views", "generation", "background", "aiohttp",
                  "asyncio", "sqlite3", "redis", "socket", "time", "uuid", "random", "os"},
    "providers": {"translate", "store", "upstream", "server", "aiohttp", "asyncio", "os"},
    "config": {"translate", "store", "upstream", "server", "aiohttp", "asyncio"},
    "upstream": {"translate", "store", "server", "views", "generation"},
    "store": {"translate", "upstream", "server", "views", "generation", "aiohttp"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                module = node.module or ""
                if module.startswith("responses_gateway."):
                    names.add(module.split(".")[1])
                else:
                    names.add(module.split(".")[0])
            else:
                # relative: resolve against the package root
                up = node.level - 1
                base = list(path.relative_to(PACKAGE).parts[:-1])
                base = base[: len(base) - up] if up else base
                module = node.module.split(".")[0] if node.module else None
                if base:
                    names.add(base[0])
                elif module:
                    names.add(module)
                else:
                    names.update(alias.name for alias in node.names)
    return names


def _modules(layer: str) -> list[Path]:
    target = PACKAGE / layer
    if target.is_dir():
        return sorted(target.glob("*.py"))
    return [target.with_suffix(".py")]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    offenders = []
    for path in _modules(layer):
        bad = _imports(path) & FORBIDDEN[layer]
        bad.discard(layer)
        if bad:
            offenders.append(f"{path.relative_to(PACKAGE)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_layering_check_sees_relative_imports() -> None:
    # Guards the checker itself: views.py imports the upstream client relatively.
    assert "upstream" in _imports(PACKAGE / "views.py")
    assert "protocol" in _imports(PACKAGE / "translate" / "stream.py")
