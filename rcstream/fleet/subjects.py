"""The subject vocabulary and the stream that holds it.

=====================================  ==============================================
``rcstream.<accountId>.<family>``       one notification as compact JSON (see below)
``rcstream.<accountId>.lifecycle``      gaps, reconnects, take-overs (JSON objects)
=====================================  ==============================================

A notification is the body as received, re-serialised compactly: the same keys in the
same order and the same values; whitespace and string escapes may be spelt differently
(a lone surrogate escape makes the whole message ASCII with ``\\u`` escapes). The
client parses each frame once and does not keep its bytes, so they cannot be forwarded.

``<accountId>`` is the platform's numeric account id (from the token), never a label.
``<family>`` is the ``family`` of the event's model (``rcstream.models``), e.g.
``telephony-sessions``, ``message-store``; ``unknown`` when rcstream has no model for the
event. Family names are lower-case words joined by ``-``, so they are single NATS tokens.
Every message carries ``Nats-Msg-Id``: the notification's ``uuid`` (lifecycle items get a
uuid of their own), so the stream's duplicate window drops a re-publish.

A lifecycle item is one compact JSON object (:func:`lifecycle_record`,
:func:`lifecycle_json`): its ``type``, its own fields, the ``account`` and ``at``
(ISO-8601 UTC with milliseconds, :func:`rcstream.models.lifecycle.iso_utc`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rcstream.exceptions import ConfigurationError
from rcstream.models.lifecycle import iso_utc

__all__ = [
    "DEFAULT_STREAM",
    "LIFECYCLE",
    "MIN_DUPLICATE_WINDOW",
    "SUBJECT_ROOT",
    "StreamSetup",
    "covers_ours",
    "ensure_stream",
    "family_of",
    "lifecycle_json",
    "lifecycle_record",
    "subject_for",
]

logger = logging.getLogger(__name__)

SUBJECT_ROOT = "rcstream"
LIFECYCLE = "lifecycle"
DEFAULT_STREAM = "RCSTREAM"
#: The gateway keeps a session recoverable for 180 s; the window must outlast a replay
#: after that (NATS's default of 2 min does not) [Synadia's check on large dedup windows].
MIN_DUPLICATE_WINDOW = 300.0

_ACCOUNT_RE = re.compile(r"^[0-9]+$")
_FAMILY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def family_of(event: str | None) -> str:
    """The subject token for an event path: its model's ``family``, ``unknown`` if none."""
    if not event:
        return "unknown"
    from rcstream.models import model_for_event

    family = model_for_event(event).family
    if family == "generic" or not _FAMILY_RE.match(family):
        return "unknown"
    return family


def subject_for(account_id: str | int, family: str) -> str:
    """``rcstream.<accountId>.<family>``; raises :class:`ConfigurationError` when the
    account id is not numeric or the family is not one token."""
    account = str(account_id)
    if not _ACCOUNT_RE.match(account):
        raise ConfigurationError(
            f"The account id {account!r} is not numeric; subjects use the platform's account id "
            "from the token, not a label."
        )
    if family != LIFECYCLE and not _FAMILY_RE.match(family):
        raise ConfigurationError(f"{family!r} is not a valid family token for a subject.")
    return f"{SUBJECT_ROOT}.{account}.{family}"


def lifecycle_record(
    account_id: str, kind: str, *, at: float | str, **fields: Any
) -> dict[str, Any]:
    """One item for ``rcstream.<accountId>.lifecycle``: ``{"type": kind, **fields,
    "account": account_id, "at": ...}``. ``at`` is wall-clock seconds, written with
    :func:`~rcstream.models.lifecycle.iso_utc`, or such a string already (a client
    lifecycle item carries its own)."""
    return {
        "type": kind,
        **fields,
        "account": account_id,
        "at": at if isinstance(at, str) else iso_utc(at),
    }


def lifecycle_json(item: Mapping[str, Any]) -> bytes:
    """A lifecycle item as the message body: compact JSON (a value JSON has no form for
    is written as its ``str``)."""
    return json.dumps(dict(item), separators=(",", ":"), default=str).encode()


def _covers(pattern: str, tokens: list[str]) -> bool:
    """True when NATS subject ``pattern`` matches every subject of the form ``tokens``
    (whose ``*`` tokens stand for any single token)."""
    parts = pattern.split(".")
    for i, part in enumerate(parts):
        if part == ">":
            return i < len(tokens)
        if i >= len(tokens):
            return False
        if part != "*" and (part != tokens[i] or tokens[i] == "*"):
            return False
    return len(parts) == len(tokens)


def covers_ours(subjects: list[str] | tuple[str, ...]) -> bool:
    """True when a stream on ``subjects`` stores every ``rcstream.<accountId>.<family>``."""
    ours = [SUBJECT_ROOT, "*", "*"]
    return any(_covers(s, ours) for s in subjects)


@dataclass(frozen=True, slots=True)
class StreamSetup:
    """What :func:`ensure_stream` found or did."""

    name: str
    created: bool
    duplicate_window: float
    #: A sentence for the user when the window is too short, else ``None``.
    warning: str | None = None


async def ensure_stream(
    js: Any,
    name: str = DEFAULT_STREAM,
    *,
    duplicate_window: float = MIN_DUPLICATE_WINDOW,
    subjects: tuple[str, ...] = (f"{SUBJECT_ROOT}.>",),
) -> StreamSetup:
    """Make sure stream ``name`` exists: create it on ``subjects`` with ``duplicate_window``
    seconds (logged at INFO: "created"), or leave an existing one alone and warn (WARNING,
    and in :attr:`StreamSetup.warning`) when its window is under 5 minutes. Raises
    :class:`ConfigurationError` when an existing stream's subjects do not cover every
    ``rcstream.<accountId>.<family>`` (its publishes would never be acked)."""
    import nats.js.errors
    from nats.js import api

    try:
        info = await js.stream_info(name)
    except nats.js.errors.NotFoundError:
        info = None
    if info is None:
        config = api.StreamConfig(
            name=name,
            subjects=list(subjects),
            duplicate_window=duplicate_window,
            storage=api.StorageType.FILE,
        )
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError as exc:
            raise ConfigurationError(
                f"Could not create the JetStream stream {name} on {', '.join(subjects)} "
                f"({exc.description}); pick another --stream or remove the overlapping stream."
            ) from exc
        logger.info(
            "created JetStream stream %s on %s with a %g s duplicate window",
            name,
            ", ".join(subjects),
            duplicate_window,
        )
        return StreamSetup(name, True, duplicate_window)
    existing = list(info.config.subjects or [])
    if not covers_ours(existing):
        raise ConfigurationError(
            f"The JetStream stream {name} stores {', '.join(existing) or 'no subjects'}, not "
            f"every {SUBJECT_ROOT}.<accountId>.<family>; add {SUBJECT_ROOT}.> to its subjects "
            "(nats stream edit) or pick another --stream."
        )
    window = float(info.config.duplicate_window or 0.0)
    warning = None
    if window < MIN_DUPLICATE_WINDOW:
        warning = (
            f"The JetStream stream {name} keeps message ids for {window:g} s, less than "
            f"{MIN_DUPLICATE_WINDOW:g} s: a replay after a reconnect may be stored twice; "
            "raise its duplicate_window (nats stream edit --dupe-window 5m)."
        )
        logger.warning("%s", warning)
    return StreamSetup(name, False, window, warning)
