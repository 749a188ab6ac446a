"""What a new process needs to continue the same gateway session, and where it is kept.

A :class:`Checkpoint` is a plain value: the OAuth token pair, the latest ``wsc`` token and
its sequence, the subscription, the recent-uuid window and the times that decide whether
recovery is still possible. A :class:`CheckpointStore` loads and saves it (async, so a
store may live on disk or in a key-value bucket). Stores are optimistic: :meth:`save`
takes the revision of the last :meth:`load` or :meth:`save` and raises
:class:`CheckpointConflict` if somebody else wrote in between.

Times are wall-clock seconds since the epoch (``time.time()``): the monotonic clock of
a dead process means nothing to the next one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol, runtime_checkable

from rcstream.exceptions import RCStreamError
from rcstream.redact import Secret

__all__ = [
    "FORMAT",
    "Checkpoint",
    "CheckpointConflict",
    "CheckpointCorrupt",
    "CheckpointStore",
]

#: Written into every checkpoint; a file with another value is treated as corrupt.
FORMAT = "rcstream.checkpoint/1"


class CheckpointConflict(RCStreamError):
    """The checkpoint changed since this process last read or wrote it (another owner)."""


class CheckpointCorrupt(RCStreamError):
    """The stored checkpoint cannot be read as one of ours."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One session's resumable state. Secrets are :class:`~rcstream.redact.Secret` values,
    so a repr never shows them; :meth:`to_json` is the only way out in clear text."""

    #: Which app and server the session belongs to (a checkpoint from another is not ours).
    client_id: str
    server_url: str
    access_token: Secret | None = None
    access_expires_at: float | None = None
    refresh_token: Secret | None = None
    refresh_expires_at: float | None = None
    owner_id: str | None = None
    account_id: str | None = None
    #: The latest ``wsc`` token, and the sequence it came with (``None``: none yet).
    wsc: Secret | None = None
    wsc_sequence: int | None = None
    subscription_id: str | None = None
    filters: tuple[str, ...] = ()
    #: Wall-clock time of the last frame received, and of the disconnect (if known).
    last_frame_at: float | None = None
    disconnected_at: float | None = None
    #: The gateway's recovery window as announced in ConnectionDetails (seconds).
    recovery_timeout: float | None = None
    #: uuids of the most recent events handed to the consumer, oldest first.
    recent_uuids: tuple[str, ...] = ()
    #: Notifications received but not yet handed out (wire bodies, oldest first).
    pending: tuple[dict[str, Any], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> Checkpoint:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_json(self) -> bytes:
        """The clear-text JSON encoding (secrets included): for stores only."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = value.get()
            elif isinstance(value, tuple):
                value = list(value)
            data[f.name] = value
        data["format"] = FORMAT
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Checkpoint:
        """Decode :meth:`to_json` output; anything else raises :class:`CheckpointCorrupt`."""
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CheckpointCorrupt("the checkpoint is not valid JSON") from exc
        if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
            raise CheckpointCorrupt("the checkpoint was not written by this rcstream version")
        try:
            for key in ("access_token", "refresh_token", "wsc"):
                if data.get(key) is not None:
                    data[key] = Secret(str(data[key]))
            for key in ("filters", "recent_uuids", "pending"):
                data[key] = tuple(data.get(key) or ())
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise CheckpointCorrupt("the checkpoint has fields this version does not know") from exc


@runtime_checkable
class CheckpointStore(Protocol):
    """Where a checkpoint lives. Implementations: ``FileCheckpoint`` (this package) and a
    JetStream key-value store (``rcstream.fleet``)."""

    async def load(self) -> Checkpoint | None:
        """The stored checkpoint, or ``None`` when there is none. Remembers its revision.

        A stored value that cannot be decoded raises :class:`CheckpointCorrupt` after the
        store has set it aside, so the caller can start fresh and report a gap.
        """
        ...

    async def save(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` durably, if the revision is still the one last seen.

        Raises :class:`CheckpointConflict` otherwise.
        """
        ...

    async def aclose(self) -> None:
        """Release what the store holds (a file lock, a connection)."""
        ...
