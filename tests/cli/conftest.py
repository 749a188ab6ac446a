"""Fixtures for the CLI tests (the helpers live in ``cli_helpers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Cli
from support import spawn_cli

from rcstream.emulator import Emulator


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """An emulator on 127.0.0.1:0 without an auth rate limit."""
    async with Emulator(auth_rate_limit=None, seed=11) as emulator:
        yield emulator


@pytest.fixture
async def run_cli(tmp_path: Path) -> AsyncIterator[Any]:
    """Start ``python -m rcstream ARGS`` in ``tmp_path`` (so no stray ./.env is read)."""
    started: list[Cli] = []

    async def start(*args: str, env: Mapping[str, str] | None = None, **extra: str) -> Cli:
        cli = Cli(await spawn_cli(args, {**(env or {}), **extra}, cwd=tmp_path))
        started.append(cli)
        return cli

    yield start
    for cli in started:
        if cli.proc.returncode is None:
            cli.proc.kill()
            await cli.proc.communicate()
