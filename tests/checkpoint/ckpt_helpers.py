"""Shared values for the checkpoint tests."""

from __future__ import annotations

import asyncio

from rcstream.checkpoint import Checkpoint
from rcstream.redact import Secret

ACCESS = "U0pDMDFQMDlQQVMwMHxBQUFBQUFBQUFBQUFBQUFBQUFBQWNjZXNz"
REFRESH = "U0pDMDFQMDlQQVMwMHxSRUZSRVNIUkVGUkVTSFJFRlJFU0hfcmVm"
WSC = "wsc-token-0123456789abcdefWSC"
SECRETS = (ACCESS, REFRESH, WSC)


def sample(**changes: object) -> Checkpoint:
    """A checkpoint with every secret field set."""
    base = Checkpoint(
        client_id="app-1",
        server_url="http://127.0.0.1:1234",
        access_token=Secret(ACCESS),
        access_expires_at=2_000_003_600.0,
        refresh_token=Secret(REFRESH),
        refresh_expires_at=2_000_604_800.0,
        owner_id="62264425016",
        account_id="809646016",
        wsc=Secret(WSC),
        wsc_sequence=7,
        subscription_id="sub-1",
        filters=("/restapi/v1.0/account/~/extension/~/presence",),
        last_frame_at=2_000_000_000.0,
        recovery_timeout=180.0,
        recent_uuids=("u1", "u2"),
        pending=({"uuid": "u3", "event": "/x", "body": {}},),
    )
    return base.evolve(**changes)


class MemoryStore:
    """A CheckpointStore in memory that records every save (for writer unit tests).

    ``gate``: when set, each save waits for it (to observe work done while a save runs).
    """

    def __init__(self) -> None:
        self.saved: list[Checkpoint] = []
        self.gate: asyncio.Event | None = None
        self.saving = asyncio.Event()
        self.saved_event = asyncio.Event()

    async def load(self) -> Checkpoint | None:
        return self.saved[-1] if self.saved else None

    async def save(self, checkpoint: Checkpoint) -> None:
        self.saving.set()
        if self.gate is not None:
            await self.gate.wait()
        self.saved.append(checkpoint)
        self.saved_event.set()

    async def aclose(self) -> None:
        return None
