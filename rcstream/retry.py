"""Whether to retry after a failure, and how long to wait: pure functions, no I/O.

:func:`classify` is the one place that decides retry versus fatal for every error the
client meets; :func:`backoff` yields the waits between attempts (capped exponential with
jitter, the first retry immediate).
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
    ProtocolError,
    RateLimitedError,
    RecoveryFailedError,
    UsageError,
)

__all__ = ["RetryDecision", "backoff", "classify"]

#: Waited after a 429 that carried no Retry-After (the platform's docs say at least 30 s).
DEFAULT_RATE_LIMIT_WAIT = 30.0

#: Gateway codes after which an immediate reconnect (with recovery) is the right move.
RECONNECT_NOW = frozenset({"WSG-902", "WSG-903"})


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """``retry``: try again; ``min_delay``: wait at least this long (s); ``reset``: the
    failure was routine (server timeouts), so the backoff starts over."""

    retry: bool
    min_delay: float = 0.0
    reset: bool = False


def classify(exc: BaseException) -> RetryDecision:
    """Decide what the reconnect loop does after ``exc``."""
    if isinstance(exc, RateLimitedError):
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RATE_LIMIT_WAIT
        return RetryDecision(retry=True, min_delay=wait)
    if isinstance(exc, AuthenticationError | ConfigurationError | UsageError | RecoveryFailedError):
        return RetryDecision(retry=False)
    if isinstance(exc, GatewayError):
        code = exc.error_code or ""
        if code in RECONNECT_NOW:
            return RetryDecision(retry=True, reset=True)
        if code.startswith(("WSG-", "OAU-")):
            return RetryDecision(retry=True)
        if exc.status is None or exc.status >= 500 or exc.status in (404, 408, 409):
            return RetryDecision(retry=True)
        return RetryDecision(retry=False)
    if isinstance(exc, ConnectionFailedError | ProtocolError | TimeoutError | OSError):
        return RetryDecision(retry=True)
    return RetryDecision(retry=False)


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
