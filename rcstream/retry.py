"""Whether to retry after a failure, how long to wait, when to give up, and the exit code
a command reports: pure functions, no I/O.

:func:`classify` is the one place that decides retry versus fatal for every error the
client meets (a dropped link, a gateway ``Error`` frame, a refused or deferred
subscription request, a full subscription table). :func:`give_up` is the one rule for
stopping a stream that retries; :func:`backoff` yields the waits between attempts (capped
exponential with jitter, the first retry immediate); :func:`exit_code` maps the error that
ended a command to the CLI's documented exit code, from the same decisions.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from rcstream.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    GatewayError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    RCStreamError,
    RecoveryFailedError,
    UsageError,
)

__all__ = [
    "DEFAULT_RATE_LIMIT_WAIT",
    "DEFAULT_SUBSCRIPTION_LIMIT_WAIT",
    "EXIT_AUTH",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_STREAM",
    "EXIT_USAGE",
    "RECONNECT_NOW",
    "RetryDecision",
    "backoff",
    "classify",
    "exit_code",
    "give_up",
    "is_subscription_limit",
]

#: Waited after a 429 that carried no Retry-After (the platform's docs say at least 30 s).
DEFAULT_RATE_LIMIT_WAIT = 30.0

#: Waited after ``SUB-505`` (the user's subscription table for this app is full). Old
#: WebSocket subscriptions expire 24 h after their last renewal, and rcstream deletes the
#: ones it orphaned in the background, so a slot usually frees within minutes.
DEFAULT_SUBSCRIPTION_LIMIT_WAIT = 300.0

#: Gateway codes after which an immediate reconnect (with recovery) is the right move.
RECONNECT_NOW = frozenset({"WSG-902", "WSG-903"})

#: Exit codes of the ``rcstream`` command (``rcstream --help`` documents them).
EXIT_OK = 0
#: ``subscriptions``: the platform refused the request; any command: an internal error.
EXIT_FAILED = 1
#: Usage or configuration (flags, environment, a request refused for good such as an
#: invalid filter): fix the command line, do not restart.
EXIT_USAGE = 2
#: Fatal (credentials refused, permission missing): fix the credentials, do not restart.
EXIT_AUTH = 3
#: The stream stopped: it gave up (``--max-attempts``, never connected) or could not
#: continue; a supervisor restarts.
EXIT_STREAM = 4


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """``retry``: try again; ``min_delay``: wait at least this long (s); ``reset``: the
    failure was routine (server timeouts), so the backoff starts over."""

    retry: bool
    min_delay: float = 0.0
    reset: bool = False


def is_subscription_limit(exc: BaseException) -> bool:
    """True for ``SUB-505``: the user has as many subscriptions for this app as allowed."""
    return isinstance(exc, GatewayError | AuthenticationError) and exc.error_code == "SUB-505"


def classify(
    exc: BaseException, *, subscription_limit_wait: float = DEFAULT_SUBSCRIPTION_LIMIT_WAIT
) -> RetryDecision:
    """Decide what the reconnect loop does after ``exc``.

    Retried: a lost or refused connection, protocol trouble, gateway errors (``WSG-*``,
    ``OAU-*``: the token is renewed first), 5xx/404/408/409 replies, 429 (after its
    ``Retry-After`` or 30 s) and ``SUB-505`` (after ``subscription_limit_wait``). Fatal:
    credentials refused, a missing permission, bad configuration or usage, a 4xx refusal,
    and anything that is not an rcstream error (a bug: never retried, never disguised).
    """
    if isinstance(exc, RateLimitedError):
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RATE_LIMIT_WAIT
        return RetryDecision(retry=True, min_delay=wait)
    if is_subscription_limit(exc):
        return RetryDecision(retry=True, min_delay=subscription_limit_wait)
    if isinstance(exc, AuthenticationError | ConfigurationError | UsageError | RecoveryFailedError):
        return RetryDecision(retry=False)
    if isinstance(exc, GatewayError):
        code = exc.error_code or ""
        if code in RECONNECT_NOW:
            return RetryDecision(retry=True, reset=True)
        if code.startswith(("WSG-", "OAU-")):
            return RetryDecision(retry=True)
        if exc.status == 429:
            # a GatewayError with status 429 (a VCC REST call; the gateway's and
            # RingCentral REST's 429s are RateLimitedError): no Retry-After known
            return RetryDecision(retry=True, min_delay=DEFAULT_RATE_LIMIT_WAIT)
        if exc.status is None or exc.status >= 500 or exc.status in (404, 408, 409):
            return RetryDecision(retry=True)
        return RetryDecision(retry=False)
    if isinstance(exc, ConnectionFailedError | ProtocolError | TimeoutError | OSError):
        return RetryDecision(retry=True)
    return RetryDecision(retry=False)


def give_up(
    *,
    failures: int,
    max_attempts: int | None,
    ever_connected: bool,
    disconnected_for: float,
    first_connect_timeout: float | None,
) -> bool:
    """Whether a retrying stream stops now.

    ``failures`` consecutive failed attempts; ``max_attempts`` the opt-in cap (``None``:
    retry forever). A stream that has never connected stops once it has tried for
    ``first_connect_timeout`` seconds (``disconnected_for``): a refused connection, DNS
    or TLS failure before the first success is almost always a configuration error.
    """
    if max_attempts is not None and failures > max_attempts:
        return True
    return (
        not ever_connected
        and first_connect_timeout is not None
        and disconnected_for >= first_connect_timeout
    )


def exit_code(exc: BaseException | None, *, one_shot: bool = False) -> int:
    """The ``rcstream`` exit code for the error that ended a command (``None``: success).

    ``one_shot``: the command made single REST calls on named resources (``rcstream
    subscriptions``, ``webhook``/``vcc`` management): a request the platform refused for
    good, or a 404 (there the answer, not a transient state: :func:`classify` retries 404
    only because a stream's own subscription can be briefly unknown while its session
    recovers), is 1.

    0 done; 2 usage or configuration, or a request refused for good (an HTTP 4xx that
    :func:`classify` does not retry, e.g. ``SUB-508`` invalid filter: restarting would only
    repeat it); 3 fatal
    credentials or permission (``AuthenticationError``, ``PermissionDeniedError``); 4 the
    stream gave up (``max_attempts`` reached, never connected) or another rcstream error;
    1 anything else (a bug).
    """
    if exc is None:
        return EXIT_OK
    if (
        one_shot
        and isinstance(exc, GatewayError)
        and (exc.status == 404 or not classify(exc).retry)
    ):
        return EXIT_FAILED
    if isinstance(exc, ConfigurationError | UsageError):
        return EXIT_USAGE
    if isinstance(exc, PermissionDeniedError) and is_subscription_limit(exc):
        return EXIT_STREAM
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH
    if (
        isinstance(exc, GatewayError)
        and exc.status is not None
        and 400 <= exc.status < 500
        and not classify(exc).retry
    ):
        return EXIT_USAGE
    if isinstance(exc, RCStreamError):
        return EXIT_STREAM
    return EXIT_FAILED


def backoff(
    *,
    base: float = 1.0,
    factor: float = 2.0,
    cap: float = 60.0,
    jitter: float = 0.5,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Yield waits in seconds: 0 first, then ``base * factor**n`` capped at ``cap``.

    Each wait after the first is scaled by a random factor in ``[1 - jitter, 1]`` so that
    many clients do not reconnect in step.
    """
    rand = rng or random.Random()
    yield 0.0
    delay = base
    while True:
        yield min(cap, delay) * (1.0 - jitter * rand.random())
        delay = min(cap, delay * factor)
