"""The sans-I/O core must not depend on the I/O layers (STYLE.md: dependencies point one way)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent / "rcstream"
IO_MODULES = (
    "asyncio",
    "aiohttp",
    "websockets",
    "anyio",
    "socket",
    "time",
    "rcstream.client",
    "rcstream.transport",
    "rcstream.auth",
    "rcstream.emulator",
    "rcstream.cli",
)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            # ``from rcstream import cli`` imports the module rcstream.cli
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


@pytest.mark.parametrize("package", ["protocol", "models"])
def test_core_imports_no_io(package: str) -> None:
    files = sorted((ROOT / package).glob("*.py"))
    assert files, package
    for f in files:
        for name in imports_of(f):
            assert not any(name == m or name.startswith(m + ".") for m in IO_MODULES), (f, name)


def test_emulator_does_not_reuse_client_codec() -> None:
    for f in sorted((ROOT / "emulator").glob("*.py")):
        for name in imports_of(f):
            assert not name.startswith(
                ("rcstream.protocol", "rcstream.models", "rcstream.filters")
            ), (
                f,
                name,
            )


def test_only_the_cli_imports_the_cli() -> None:
    """The CLI is built on the library, never the other way round: no module outside
    ``rcstream.cli`` imports it (``rcstream.webhooks`` once held the webhook commands).
    ``__main__`` modules are programs (``python -m rcstream``), so they may."""
    checked = 0
    for f in sorted(ROOT.rglob("*.py")):
        rel = f.relative_to(ROOT)
        if rel.parts[0] == "cli" or f.name == "__main__.py":
            continue
        checked += 1
        for name in imports_of(f):
            assert not (name == "rcstream.cli" or name.startswith("rcstream.cli.")), (f, name)
    assert checked > 50
