"""What a restarted process does with the checkpoint its predecessor left (sans-I/O).

:func:`plan_resume` reads a :class:`~rcstream.checkpoint.Checkpoint`, the wall-clock
``now`` and the recovery window, and returns a :class:`ResumePlan`: which tokens to use,
whether to present the stored ``wsc``, which old subscription to delete, which gap to
report and which pending events to hand out first. :func:`after_refresh_failed` and
:func:`after_recovery_failed` give the fallback plans. :class:`UuidWindow` drops replays
of events already handed out. No I/O, no clocks: ``now`` is a parameter.

The rules, and the facts they rest on (the developer guide's ``session-recovery.md`` and
``refresh-tokens.md`` pages, the .NET and JavaScript SDKs' recovery code):

* The gateway recovers a session for whoever presents its ``wsc`` *from the same OAuth
  session* (a refreshed token recovers; a new login gets ``WSG-1003``), within
  ``recoveryTimeout`` (180 s documented) of the disconnect. So a restart reuses the stored
  token pair, and presents ``wsc`` only while the window can still be open.
* The window is measured from ``disconnected_at`` when the old process recorded one (a clean
  stop; the later of it and ``last_frame_at`` in case a stale one was not cleared after a
  reconnect), else from ``last_frame_at`` (``kill -9``: the gateway noticed the drop at or after
  the last frame, so this errs towards skipping a recovery that might have worked, never
  towards attempting a doomed one beyond the window by more than the frame-time staleness).
  A doomed attempt would spend a ``wstoken`` call of the Auth group (5/min).
* A skipped or failed recovery re-creates the subscription and deletes the old one (it would
  otherwise live up to 24 h and count toward the limit); a successful one keeps it.
* A refresh token past its expiry (or refused when used) means a fresh login: a gap.
* Events handed out are remembered by uuid; a replay of one is dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from rcstream.checkpoint import Checkpoint
    from rcstream.redact import Secret

__all__ = [
    "DEFAULT_ACCESS_MARGIN",
    "DEFAULT_RECOVERY_TIMEOUT",
    "DEFAULT_UUID_WINDOW",
    "ResumeAction",
    "ResumeGap",
    "ResumePlan",
    "TokenAction",
    "UuidWindow",
    "after_recovery_failed",
    "after_refresh_failed",
    "pending_to_replay",
    "plan_resume",
]

#: The documented recovery window (seconds), used when the checkpoint recorded none.
DEFAULT_RECOVERY_TIMEOUT: Final = 180.0
#: A stored access token is reused only if it stays valid at least this long (seconds).
DEFAULT_ACCESS_MARGIN: Final = 60.0
#: Recent uuids to remember: above the gateway's recovery buffer (100 messages).
DEFAULT_UUID_WINDOW: Final = 256


class ResumeAction(StrEnum):
    """How the first connection of a restarted process opens."""

    FRESH = "fresh"  #: no checkpoint: log in, subscribe, no gap
    RECOVER = "recover"  #: present the stored wsc on the same OAuth session
    RECREATE = "recreate"  #: same OAuth session, new subscription (window passed): a gap
    RELOGIN = "relogin"  #: the stored session is unusable: log in afresh, new subscription, gap


class TokenAction(StrEnum):
    """What to do with the stored OAuth token pair."""

    LOGIN = "login"  #: no usable pair: a fresh login (a new OAuth session)
    REUSE = "reuse"  #: the stored access token is still valid: use it as is
    REFRESH = "refresh"  #: refresh with the stored refresh token (same session; save first)


GapCause = Literal[
    "recovery_window_expired",  # away longer than the recovery window
    "recovery_failed",  # the gateway refused the wsc (code in recovery_error_code)
    "no_session",  # the checkpoint holds no wsc to recover with
    "session_lost",  # refresh token expired or revoked: a new login
]


@dataclass(frozen=True, slots=True)
class ResumeGap:
    """Events published while the process was away may be missing.

    ``away`` is how long (seconds) since the old process's last sign of life, when known.
    """

    cause: GapCause
    away: float | None
    recovery_error_code: str | None = None

    @property
    def message(self) -> str:
        """One sentence for stderr and the lifecycle item."""
        gone = f"the process was away for {_duration(self.away)}" if self.away is not None else ""
        why = {
            "recovery_window_expired": (", longer" if gone else "came later")
            + " than the gateway keeps a session, so the subscription was re-created",
            "recovery_failed": "and the gateway refused to recover the session"
            + (f" ({self.recovery_error_code})" if self.recovery_error_code else "")
            + ", so the subscription was re-created",
            "no_session": "and the checkpoint had no session to recover, so a new "
            "subscription was created",
            "session_lost": "and its OAuth session had expired or been revoked, so "
            "rcstream logged in again",
        }[self.cause]
        head = f"Events may be missing: {gone}" if gone else "Events may be missing: the restart"
        return f"{head}{why}." if why.startswith(",") else f"{head} {why}."


@dataclass(frozen=True, slots=True)
class ResumePlan:
    """The decision :func:`plan_resume` makes. See the module docstring for the rules.

    ``wsc`` is set only for :attr:`ResumeAction.RECOVER`. ``delete_subscription_id`` is the
    old subscription to DELETE once the new one exists (or once recovery failed); a
    recovered one is kept, and the session renews it if this run wants other filters.
    ``pending`` are wire bodies to hand out before anything from the socket.
    """

    action: ResumeAction
    tokens: TokenAction
    wsc: Secret | None = None
    wsc_sequence: int | None = None
    subscription_id: str | None = None
    delete_subscription_id: str | None = None
    gap: ResumeGap | None = None
    away: float | None = None
    pending: tuple[dict[str, Any], ...] = ()


def plan_resume(
    checkpoint: Checkpoint | None,
    now: float,
    *,
    access_margin: float = DEFAULT_ACCESS_MARGIN,
) -> ResumePlan:
    """Decide how to start from ``checkpoint`` at wall-clock ``now`` (seconds since the epoch).

    The recovery window is the one the checkpoint recorded (default 180 s). A checkpoint of
    another app must have been refused by the store before this.
    """
    if checkpoint is None:
        return ResumePlan(ResumeAction.FRESH, TokenAction.LOGIN)
    pending = pending_to_replay(checkpoint)
    # the later of the two: a clean stop records the disconnect after the last frame; a
    # disconnect followed by a reconnect and more frames is stale if it was not cleared
    known = [t for t in (checkpoint.disconnected_at, checkpoint.last_frame_at) if t is not None]
    since = max(known) if known else None
    away = max(now - since, 0.0) if since is not None else None
    old_sub = checkpoint.subscription_id
    tokens = _token_action(checkpoint, now, access_margin)
    if tokens is TokenAction.LOGIN:
        return ResumePlan(
            ResumeAction.RELOGIN,
            TokenAction.LOGIN,
            delete_subscription_id=old_sub,
            gap=ResumeGap("session_lost", away),
            away=away,
            pending=pending,
        )
    window = checkpoint.recovery_timeout or DEFAULT_RECOVERY_TIMEOUT
    if checkpoint.wsc is None or old_sub is None:
        return ResumePlan(
            ResumeAction.RECREATE,
            tokens,
            delete_subscription_id=old_sub,
            gap=ResumeGap("no_session", away),
            away=away,
            pending=pending,
        )
    if away is None or away >= window:
        return ResumePlan(
            ResumeAction.RECREATE,
            tokens,
            delete_subscription_id=old_sub,
            gap=ResumeGap("recovery_window_expired", away),
            away=away,
            pending=pending,
        )
    return ResumePlan(
        ResumeAction.RECOVER,
        tokens,
        wsc=checkpoint.wsc,
        wsc_sequence=checkpoint.wsc_sequence,
        subscription_id=old_sub,
        away=away,
        pending=pending,
    )


def after_refresh_failed(plan: ResumePlan) -> ResumePlan:
    """The stored refresh token was refused (revoked, expired, rotated): log in afresh."""
    old_sub = plan.subscription_id or plan.delete_subscription_id
    return ResumePlan(
        ResumeAction.RELOGIN,
        TokenAction.LOGIN,
        delete_subscription_id=old_sub,
        gap=ResumeGap("session_lost", plan.away),
        away=plan.away,
        pending=plan.pending,
    )


def after_recovery_failed(plan: ResumePlan, error_code: str | None) -> ResumePlan:
    """The gateway refused the stored ``wsc`` (``WSG-1003`` ...): re-create, delete the old one."""
    old_sub = plan.subscription_id or plan.delete_subscription_id
    return ResumePlan(
        ResumeAction.RECREATE,
        plan.tokens,
        delete_subscription_id=old_sub,
        gap=ResumeGap("recovery_failed", plan.away, recovery_error_code=error_code),
        away=plan.away,
        pending=plan.pending,
    )


def pending_to_replay(checkpoint: Checkpoint) -> tuple[dict[str, Any], ...]:
    """The checkpoint's pending bodies not already handed out (by uuid), oldest first."""
    window = UuidWindow(checkpoint.recent_uuids)
    return tuple(body for body in checkpoint.pending if window.accept(_uuid_of(body)))


class UuidWindow:
    """The uuids of the most recent events handed out; :meth:`accept` drops replays.

    Bounded: the oldest uuid is forgotten when ``size`` is exceeded. Events without a uuid
    are always accepted (nothing to compare).
    """

    __slots__ = ("_order", "_seen", "_size")

    def __init__(self, uuids: Iterable[str] = (), *, size: int = DEFAULT_UUID_WINDOW) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self._size = size
        self._order: deque[str] = deque()
        self._seen: set[str] = set()
        for uuid in uuids:
            self._add(uuid)

    def accept(self, uuid: str | None) -> bool:
        """True (and remember it) when ``uuid`` was not handed out yet; False for a replay."""
        if uuid is None:
            return True
        if uuid in self._seen:
            return False
        self._add(uuid)
        return True

    def _add(self, uuid: str) -> None:
        if uuid in self._seen:
            return
        self._order.append(uuid)
        self._seen.add(uuid)
        if len(self._order) > self._size:
            self._seen.discard(self._order.popleft())


def _uuid_of(body: dict[str, Any]) -> str | None:
    uuid = body.get("uuid")
    return uuid if isinstance(uuid, str) else None


def _token_action(checkpoint: Checkpoint, now: float, margin: float) -> TokenAction:
    # an access token of unknown expiry is not trusted: refresh rather than meet a 401
    access_ok = (
        checkpoint.access_token is not None
        and checkpoint.access_expires_at is not None
        and checkpoint.access_expires_at - now >= margin
    )
    refresh_ok = checkpoint.refresh_token is not None and (
        checkpoint.refresh_expires_at is None or checkpoint.refresh_expires_at > now
    )
    if access_ok:
        return TokenAction.REUSE
    if refresh_ok:
        return TokenAction.REFRESH
    return TokenAction.LOGIN


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
