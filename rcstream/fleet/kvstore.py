"""A :class:`~rcstream.checkpoint.CheckpointStore` in a JetStream key-value bucket.

Values are the checkpoint's JSON encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from
``cryptography``) under ``RCSTREAM_FLEET_KEY``, because a checkpoint holds the account's
refresh token: read access to the bucket must not be access to the accounts.

**Key rotation.** ``RCSTREAM_FLEET_KEY`` may hold several keys separated by commas, newest
first (a :class:`cryptography.fernet.MultiFernet`): writes use the first, reads try each.
To rotate: generate a key, deploy ``NEW,OLD`` to every worker, let every checkpoint be
written once (each save re-encrypts; :func:`rotate_checkpoints` does it at once), then
deploy ``NEW`` alone.

**Compare-and-set and fencing.** :meth:`KVCheckpoint.save` first awaits the optional
``fence`` (the fleet passes one that checks this worker still holds the account's lease,
see :meth:`rcstream.fleet.lease.LeaseTable.fence`), then writes with
``update(key, value, last=revision)``: a write by anybody since our last load or save
raises :class:`~rcstream.checkpoint.CheckpointConflict`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from rcstream.checkpoint import (
    Checkpoint,
    CheckpointConflict,
    CheckpointCorrupt,
    CheckpointError,
)
from rcstream.exceptions import ConfigurationError
from rcstream.fleet.errors import LeaseLost
from rcstream.fleet.kv import check_key, open_bucket, snapshot
from rcstream.retry import backoff

__all__ = [
    "CHECKPOINT_BUCKET",
    "FLEET_KEY_ENV",
    "FencedOut",
    "KVCheckpoint",
    "fernet_from_env",
    "make_fernet",
    "rotate_checkpoints",
]

logger = logging.getLogger(__name__)

FLEET_KEY_ENV = "RCSTREAM_FLEET_KEY"
CHECKPOINT_BUCKET = "RCSTREAM_CHECKPOINTS"

FernetKeys = str | bytes | Sequence[str | bytes]


def make_fernet(keys: FernetKeys) -> Any:
    """A ``MultiFernet`` from one key, a comma-separated list, or a sequence (newest
    first). Raises :class:`ConfigurationError` when a key is not a Fernet key."""
    from cryptography.fernet import Fernet, MultiFernet

    if isinstance(keys, (str, bytes)):
        text = keys.decode() if isinstance(keys, bytes) else keys
        items: list[str | bytes] = [k.strip() for k in text.split(",") if k.strip()]
    else:
        items = list(keys)
    if not items:
        raise ConfigurationError(
            f"{FLEET_KEY_ENV} is empty; set it to a Fernet key (python -c 'from "
            "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
        )
    try:
        return MultiFernet([Fernet(k) for k in items])
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"{FLEET_KEY_ENV} is not a Fernet key (32 random bytes in url-safe base64); "
            "generate one with Fernet.generate_key()."
        ) from exc


def fernet_from_env(environ: Mapping[str, str] | None = None) -> Any:
    """:func:`make_fernet` of ``RCSTREAM_FLEET_KEY``; :class:`ConfigurationError` if unset."""
    env = os.environ if environ is None else environ
    value = env.get(FLEET_KEY_ENV)
    if not value:
        raise ConfigurationError(
            f"Set {FLEET_KEY_ENV} to a Fernet key shared by all workers; it encrypts the "
            "checkpoints (they hold refresh tokens)."
        )
    return make_fernet(value)


class FencedOut(LeaseLost, CheckpointConflict):
    """A checkpoint write refused by the lease fence: this worker no longer owns the
    account (a :class:`CheckpointConflict` to the client, which then stops the stream)."""


class KVCheckpoint:
    """One account's checkpoint under ``key`` in KV ``bucket``, encrypted.

    ``fence`` (optional) is awaited before every save and raises to refuse the write
    (:class:`~rcstream.fleet.errors.LeaseLost`).
    """

    def __init__(
        self,
        js: Any,
        bucket: str,
        key: str,
        fernet_key: FernetKeys | Any,
        *,
        fence: Callable[[], Awaitable[None]] | None = None,
        retry_for: float = 30.0,
        retry_backoff: tuple[float, float] = (0.05, 1.0),
        time_left: Callable[[], float] | None = None,
    ) -> None:
        self._js = js
        self._bucket_name = bucket
        self._key = check_key(key)
        self._fernet: Any = (
            fernet_key if hasattr(fernet_key, "decrypt") else make_fernet(fernet_key)
        )
        self._fence = fence
        #: Seconds until the fence deadline: a write still waiting for NATS then gives up,
        #: so a fenced stream is not held open by a KV request timing out after it.
        self._time_left = time_left
        self._kv: Any = None
        #: Seconds a save keeps retrying a NATS request that failed.
        self.retry_for = retry_for
        #: (first wait, longest wait) in seconds between those tries: the shared capped,
        #: jittered backoff (:func:`rcstream.retry.backoff`; the first retry is immediate).
        self.retry_backoff = retry_backoff
        #: The KV revision of the last load or save (``None``: the key did not exist).
        self.revision: int | None = None
        #: The last checkpoint a save was asked to write that did not land (refused by
        #: the fence, NATS down, cancelled); ``None`` once a save succeeds. A fenced
        #: stream's final save lands here with the events it read but never stored.
        self.unsaved: Checkpoint | None = None

    def __repr__(self) -> str:
        return f"KVCheckpoint(bucket={self._bucket_name!r}, key={self._key!r})"

    async def _bucket(self) -> Any:
        if self._kv is None:
            self._kv = await open_bucket(self._js, self._bucket_name)
        return self._kv

    async def load(self) -> Checkpoint | None:
        """The stored checkpoint or ``None``. A value that cannot be decrypted or decoded
        is copied aside to ``<key>.aside-<unix ms>`` (nothing is lost: the right key can
        still read it) and :class:`CheckpointCorrupt` is raised; the next save replaces it."""
        import nats.js.errors
        from cryptography.fernet import InvalidToken

        kv = await self._bucket()
        try:
            entry = await kv.get(self._key)
        except nats.js.errors.KeyNotFoundError:
            self.revision = None
            return None
        self.revision = int(entry.revision)
        try:
            clear = self._fernet.decrypt(entry.value or b"")
        except InvalidToken as exc:
            await self._set_aside(kv, entry.value)
            raise CheckpointCorrupt(
                f"The checkpoint {self._key} in {self._bucket_name} cannot be decrypted with "
                f"{FLEET_KEY_ENV}; set the key it was written with (or add it after the new "
                "one, comma-separated)."
            ) from exc
        try:
            return Checkpoint.from_json(clear)
        except CheckpointCorrupt:
            await self._set_aside(kv, entry.value)
            raise

    async def _set_aside(self, kv: Any, value: bytes | None) -> None:
        aside = f"{self._key}.aside-{int(time.time() * 1000)}"
        await kv.put(aside, value or b"")
        logger.warning("set the unreadable checkpoint %s aside as %s", self._key, aside)

    async def save(self, checkpoint: Checkpoint) -> None:
        """Encrypt and write ``checkpoint`` if the fence passes and the revision is still
        the one last seen; :class:`CheckpointConflict` otherwise (:class:`FencedOut`, both
        a ``CheckpointConflict`` and a :class:`~rcstream.fleet.errors.LeaseLost`, when the
        fence refuses). A NATS request that fails (outage, timeout) is tried again, the
        fence first each time, for up to ``retry_for`` seconds: with a fence, the lease
        deadline ends the retries sooner; then :class:`CheckpointError`."""
        import nats.errors
        import nats.js.errors

        token = self._fernet.encrypt(checkpoint.to_json())
        self.unsaved = checkpoint  # until the write lands
        first, cap = self.retry_backoff
        delays = backoff(base=first, cap=cap)
        give_up = time.monotonic() + self.retry_for
        while True:
            try:
                kv = await self._bucket()
                if self._fence is not None:
                    try:
                        await self._fence()
                    except LeaseLost as exc:
                        raise FencedOut(str(exc)) from exc
                write = (
                    kv.create(self._key, token)
                    if self.revision is None
                    else kv.update(self._key, token, last=self.revision)
                )
                if self._time_left is not None:
                    rev = await asyncio.wait_for(write, max(0.01, self._time_left()))
                else:
                    rev = await write
            except nats.js.errors.KeyWrongLastSequenceError as exc:
                raise CheckpointConflict(
                    f"The checkpoint {self._key} was written by another owner since this "
                    "worker read it; stop this stream and load it again."
                ) from exc
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                delay = next(delays)
                if time.monotonic() + delay >= give_up:
                    raise CheckpointError(
                        f"The checkpoint {self._key} could not be written to NATS for "
                        f"{self.retry_for:g} s ({type(exc).__name__}); check the NATS server."
                    ) from exc
                await asyncio.sleep(delay)
                continue
            self.revision = int(rev)
            self.unsaved = None
            return

    async def aclose(self) -> None:
        """Nothing to release: the NATS connection belongs to the caller."""
        self._kv = None


async def rotate_checkpoints(js: Any, bucket: str, fernet: Any) -> int:
    """Re-encrypt every checkpoint in ``bucket`` with ``fernet``'s first key (CAS per key;
    one written meanwhile is skipped, as its writer already used the new key). Returns how
    many were rewritten. Raises :class:`ConfigurationError` for a checkpoint none of the
    keys decrypts (add the key it was written with, newest first, and run it again)."""
    import nats.js.errors
    from cryptography.fernet import InvalidToken

    kv = await open_bucket(js, bucket)
    done = 0
    for key, entry in (await snapshot(kv)).items():
        if ".aside-" in key:
            continue
        try:
            value = fernet.rotate(entry.value)
        except InvalidToken as exc:
            raise ConfigurationError(
                f"The checkpoint {key} cannot be decrypted with any key in {FLEET_KEY_ENV}; "
                "list the key it was written with after the new one (NEW,OLD) and run "
                "rotate-key again."
            ) from exc
        try:
            await kv.update(key, value, last=entry.revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            continue
        done += 1
    return done
