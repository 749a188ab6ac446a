"""Fixtures for client tests: a real emulator on 127.0.0.1:0."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rcstream.emulator import Emulator


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(auth_rate_limit=None, seed=7) as emulator:
        yield emulator
