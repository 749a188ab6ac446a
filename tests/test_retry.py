"""The pure retry policy, the backoff generator and the Auth-group budget."""

from __future__ import annotations

import itertools
import random

import pytest

import rcstream
from rcstream._http import AuthBudget
from rcstream.retry import backoff, classify, exit_code, give_up


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (rcstream.ConnectionFailedError("x"), True),
        (rcstream.ProtocolError("x"), True),
        (rcstream.GatewayError("x", error_code="WSG-902"), True),
        (rcstream.GatewayError("x", error_code="WSG-903"), True),
        (rcstream.GatewayError("x", error_code="OAU-129", status=401), True),
        (rcstream.GatewayError("x", status=503), True),
        (rcstream.RequestTimeoutError("x"), True),
        (rcstream.RateLimitedError("x", retry_after=2.0), True),
        (rcstream.GatewayError("x", error_code="SUB-508", status=400), False),
        (rcstream.AuthenticationError("x"), False),
        (rcstream.PermissionDeniedError("x", error_code="SUB-528"), False),
        (rcstream.ConfigurationError("x"), False),
        (rcstream.RecoveryFailedError("x"), False),
        (RuntimeError("bug"), False),
    ],
)
def test_classify(exc: BaseException, retry: bool) -> None:
    assert classify(exc).retry is retry


def test_full_subscription_table_is_retried_after_a_long_injectable_wait() -> None:
    full = rcstream.PermissionDeniedError("x", error_code="SUB-505", status=403)
    assert classify(full).retry
    assert classify(full).min_delay == 300.0
    assert classify(full, subscription_limit_wait=0.5).min_delay == 0.5
    assert exit_code(full) == 4  # a stream that gave up, not a credentials problem


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (None, 0),
        (rcstream.ConfigurationError("x"), 2),
        (rcstream.UsageError("x"), 2),
        (rcstream.GatewayError("x", error_code="SUB-508", status=400), 2),
        (rcstream.AuthenticationError("x"), 3),
        (rcstream.PermissionDeniedError("x", error_code="SUB-528"), 3),
        (rcstream.RecoveryFailedError("x"), 4),
        (rcstream.ConnectionFailedError("x"), 4),
        (rcstream.GatewayError("x", status=429), 4),
        (RuntimeError("bug"), 1),
    ],
)
def test_exit_code_table(exc: BaseException | None, code: int) -> None:
    assert exit_code(exc) == code


def test_give_up_only_when_never_connected_for_too_long_or_attempts_are_capped() -> None:
    kw = {"max_attempts": None, "first_connect_timeout": 15.0}
    assert not give_up(failures=10_000, ever_connected=True, disconnected_for=1e6, **kw)
    assert not give_up(failures=3, ever_connected=False, disconnected_for=14.9, **kw)
    assert give_up(failures=3, ever_connected=False, disconnected_for=15.0, **kw)
    assert give_up(
        failures=4,
        max_attempts=3,
        ever_connected=True,
        disconnected_for=0,
        first_connect_timeout=None,
    )
    assert not give_up(
        failures=3,
        max_attempts=3,
        ever_connected=True,
        disconnected_for=0,
        first_connect_timeout=None,
    )


def test_server_timeouts_reset_the_backoff_and_429_sets_a_floor() -> None:
    assert classify(rcstream.GatewayError("x", error_code="WSG-903")).reset
    assert classify(rcstream.RateLimitedError("x", retry_after=7.0)).min_delay == 7.0


def test_backoff_first_retry_is_immediate_then_capped_with_jitter() -> None:
    delays = list(itertools.islice(backoff(base=1, cap=8, jitter=0.5, rng=random.Random(3)), 8))
    assert delays[0] == 0.0
    nominal = [1, 2, 4, 8, 8, 8, 8]
    for got, top in zip(delays[1:], nominal, strict=True):
        assert top * 0.5 <= got <= top


def test_backoff_without_jitter_is_exact() -> None:
    assert list(itertools.islice(backoff(base=0.5, cap=3, jitter=0), 6)) == [0, 0.5, 1, 2, 3, 3]


async def test_auth_budget_waits_when_the_window_is_full() -> None:
    now = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    budget = AuthBudget(calls=2, window=60.0, clock=lambda: now[0], sleep=sleep)
    await budget.acquire()
    now[0] += 10
    await budget.acquire()
    await budget.acquire()  # third call in the window: waits for the first to age out
    assert waits == [50.0]


async def test_auth_budget_penalty_after_429() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    budget = AuthBudget(calls=5, window=60.0, clock=lambda: now[0], sleep=sleep)
    budget.penalise(3.0)
    await budget.acquire()
    assert waits == [3.0]


async def test_auth_budget_disabled() -> None:
    budget = AuthBudget(calls=None)
    for _ in range(100):
        await budget.acquire()


def test_one_shot_refusals_exit_1_from_the_one_table() -> None:
    # review 13: `rcstream subscriptions` no longer decides its own exit code
    from rcstream.exceptions import GatewayError
    from rcstream.retry import EXIT_FAILED, EXIT_STREAM, EXIT_USAGE, exit_code

    unknown = GatewayError("gone", status=404, error_code="SUB-507")
    refused = GatewayError("bad", status=400, error_code="SUB-508")
    busy = GatewayError("busy", status=503)
    assert exit_code(unknown, one_shot=True) == EXIT_FAILED
    assert exit_code(unknown) == EXIT_STREAM  # a stream retries 404 (session recovering)
    assert exit_code(refused, one_shot=True) == EXIT_FAILED
    assert exit_code(refused) == EXIT_USAGE
    assert exit_code(busy, one_shot=True) == EXIT_STREAM  # may pass: not a refusal
