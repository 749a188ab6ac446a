"""Small helpers over nats-py's key-value API: open-or-create a bucket, read a snapshot."""

from __future__ import annotations

import re
from typing import Any

from rcstream.exceptions import ConfigurationError

__all__ = ["KEY_RE", "check_key", "existing_bucket", "open_bucket", "snapshot"]

#: The characters a NATS KV key may contain (nats-py ``_is_key_valid``).
KEY_RE = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


def check_key(key: str) -> str:
    """``key`` if it is a valid KV key, else :class:`ConfigurationError`."""
    if not KEY_RE.match(key) or key.startswith(".") or key.endswith("."):
        raise ConfigurationError(
            f"{key!r} cannot be a NATS key; use letters, digits, '-' and '_' only."
        )
    return key


async def open_bucket(js: Any, bucket: str, *, ttl: float | None = None) -> Any:
    """The KV bucket ``bucket``, created (history 1, file storage, max age ``ttl``
    seconds if given) when missing."""
    import nats.js.errors

    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(bucket=bucket, history=1, ttl=ttl)
    except nats.js.errors.BadRequestError:
        # Another worker created it in between (with the same settings, same code).
        return await js.key_value(bucket)


async def existing_bucket(js: Any, bucket: str) -> Any | None:
    """The KV bucket ``bucket``, or ``None`` when it does not exist (never creates it: a
    reader such as ``fleet status`` must not create the lease bucket without its TTL)."""
    import nats.js.errors

    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        return None


async def snapshot(kv: Any, prefix: str = "") -> dict[str, Any]:
    """Every live entry (key → nats-py ``Entry``) whose key starts with ``prefix``, read
    with one ordered consumer rather than one request per key."""
    watcher = await kv.watch(f"{prefix}>" if prefix else ">", ignore_deletes=True)
    out: dict[str, Any] = {}
    try:
        async for entry in watcher:
            if entry is None:
                break
            out[entry.key] = entry
    finally:
        await watcher.stop()
    return out
