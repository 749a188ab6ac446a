"""The pure resume planner: a table of checkpoints and clocks, and the decision for each."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ckpt_helpers import WSC, sample

from rcstream.checkpoint import Checkpoint
from rcstream.protocol import SessionState
from rcstream.protocol.resume import (
    ResumeAction,
    ResumeGap,
    ResumePlan,
    TokenAction,
    UuidWindow,
    after_recovery_failed,
    after_refresh_failed,
    pending_to_replay,
    plan_resume,
)
from rcstream.redact import Secret

T0 = 2_000_000_000.0  # sample(): last frame at T0, access valid until T0+3600, refresh T0+7d
R, A, W = ResumeAction, TokenAction, "recovery_window_expired"

# (name, checkpoint changes, now, action, tokens, gap cause, away)
TABLE: list[
    tuple[
        str,
        dict[str, Any],
        float,
        ResumeAction,
        TokenAction,
        str | None,
        float | None,
    ]
] = [
    ("within the window from the last frame", {}, T0 + 60, R.RECOVER, A.REUSE, None, 60),
    ("just inside the window", {}, T0 + 179.9, R.RECOVER, A.REUSE, None, 179.9),
    ("window passed", {}, T0 + 180, R.RECREATE, A.REUSE, W, 180),
    ("hours away", {}, T0 + 3 * 3600, R.RECREATE, A.REFRESH, W, 3 * 3600),
    (
        "disconnect time wins over the last frame",
        {"disconnected_at": T0 + 150},
        T0 + 200,
        R.RECOVER,
        A.REUSE,
        None,
        50,
    ),
    (
        "a stale disconnect before later frames is ignored",
        {"disconnected_at": T0 - 1000},
        T0 + 10,
        R.RECOVER,
        A.REUSE,
        None,
        10,
    ),
    (
        "scaled-down window (emulator)",
        {"recovery_timeout": 2.0},
        T0 + 3,
        R.RECREATE,
        A.REUSE,
        W,
        3,
    ),
    (
        "window from ConnectionDetails",
        {"recovery_timeout": 30.0},
        T0 + 31,
        R.RECREATE,
        A.REUSE,
        W,
        31,
    ),
    (
        "no window recorded: 180 s",
        {"recovery_timeout": None},
        T0 + 179,
        R.RECOVER,
        A.REUSE,
        None,
        179,
    ),
    (
        "no window recorded, passed",
        {"recovery_timeout": None},
        T0 + 180,
        R.RECREATE,
        A.REUSE,
        W,
        180,
    ),
    ("clock went backwards", {}, T0 - 50, R.RECOVER, A.REUSE, None, 0),
    (
        "access token about to expire",
        {"recovery_timeout": 10_000.0},
        T0 + 3590,
        R.RECOVER,
        A.REFRESH,
        None,
        3590,
    ),
    (
        "access expiry unknown",
        {"access_expires_at": None},
        T0 + 1,
        R.RECOVER,
        A.REFRESH,
        None,
        1,
    ),
    ("no access token", {"access_token": None}, T0 + 1, R.RECOVER, A.REFRESH, None, 1),
    (
        "refresh token expired",
        {"access_token": None},
        T0 + 8 * 86400,
        R.RELOGIN,
        A.LOGIN,
        "session_lost",
        8 * 86400,
    ),
    (
        "no tokens at all",
        {"access_token": None, "refresh_token": None},
        T0 + 1,
        R.RELOGIN,
        A.LOGIN,
        "session_lost",
        1,
    ),
    ("no wsc yet", {"wsc": None}, T0 + 1, R.RECREATE, A.REUSE, "no_session", 1),
    (
        "no subscription",
        {"subscription_id": None},
        T0 + 1,
        R.RECREATE,
        A.REUSE,
        "no_session",
        1,
    ),
    ("no times recorded", {"last_frame_at": None}, T0 + 1, R.RECREATE, A.REUSE, W, None),
]


@pytest.mark.parametrize(
    ("changes", "now", "action", "tokens", "cause", "away"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_plan(
    changes: dict[str, Any],
    now: float,
    action: ResumeAction,
    tokens: TokenAction,
    cause: str | None,
    away: float | None,
) -> None:
    cp = sample(**changes)
    plan = plan_resume(cp, now)
    assert (plan.action, plan.tokens) == (action, tokens)
    assert (plan.gap.cause if plan.gap else None) == cause
    assert plan.away == (pytest.approx(away) if away is not None else None)
    if action is R.RECOVER:
        # keep the old subscription, present its wsc
        assert plan.wsc == Secret(WSC) and plan.wsc_sequence == 7
        assert plan.subscription_id == "sub-1" and plan.delete_subscription_id is None
    else:
        # skipped recovery: never send the doomed wsc; the old subscription is deleted
        assert plan.wsc is None and plan.subscription_id is None
        assert plan.delete_subscription_id == cp.subscription_id
        assert plan.gap is not None


def test_no_checkpoint_is_a_fresh_start_without_a_gap() -> None:
    assert plan_resume(None, T0) == ResumePlan(ResumeAction.FRESH, TokenAction.LOGIN)


@pytest.mark.parametrize(
    ("filters", "update"),
    [
        (["/restapi/v1.0/account/~/extension/~/presence"], False),
        (["/restapi/v1.0/account/~/extension/~/presence"] * 2, False),
        (["/restapi/v1.0/account/~/extension/~/message-store"], True),
    ],
)
def test_a_recovered_subscription_is_renewed_when_the_filters_changed(
    filters: list[str], update: bool
) -> None:
    # the plan keeps the old subscription; the session seeded from it (as Client._seed
    # does) renews it with a PUT when this run wants other filters
    cp = sample()
    plan = plan_resume(cp, T0 + 1)
    assert plan.action is ResumeAction.RECOVER and plan.subscription_id == "sub-1"
    state = SessionState()
    state.seed(subscription_id=plan.subscription_id, filters=cp.filters)
    assert state.want_filters(filters) is update
    request = state.subscription_request(0.0)
    if update:
        assert request is not None
        header, body = json.loads(request[1])
        assert (header["method"], header["path"]) == ("PUT", "/restapi/v1.0/subscription/sub-1")
        assert body["eventFilters"] == filters
    else:
        assert request is None


def test_a_refused_recovery_recreates_and_deletes_the_old_subscription() -> None:
    plan = after_recovery_failed(plan_resume(sample(), T0 + 10), "WSG-1003")
    assert plan.action is ResumeAction.RECREATE and plan.tokens is TokenAction.REUSE
    assert plan.delete_subscription_id == "sub-1" and plan.wsc is None
    assert plan.gap == ResumeGap("recovery_failed", 10.0, recovery_error_code="WSG-1003")
    assert "WSG-1003" in plan.gap.message


def test_a_refused_refresh_token_falls_back_to_a_login_with_a_gap() -> None:
    first = plan_resume(sample(access_token=None), T0 + 10)
    assert first.tokens is TokenAction.REFRESH
    plan = after_refresh_failed(first)
    assert (plan.action, plan.tokens) == (ResumeAction.RELOGIN, TokenAction.LOGIN)
    assert plan.delete_subscription_id == "sub-1"
    assert plan.gap is not None and plan.gap.cause == "session_lost"


@pytest.mark.parametrize(
    ("gap", "words"),
    [
        (ResumeGap("recovery_window_expired", 42.4), ["away for 42 s, longer than", "re-created"]),
        (ResumeGap("recovery_window_expired", None), ["the restart came later than"]),
        (ResumeGap("recovery_window_expired", 600), ["away for 10 min"]),
        (ResumeGap("session_lost", 3 * 3600), ["away for 3.0 h", "logged in again"]),
        (ResumeGap("no_session", None), ["the restart", "no session"]),
    ],
)
def test_gap_messages_say_how_long_the_process_was_away(gap: ResumeGap, words: list[str]) -> None:
    assert gap.message.startswith("Events may be missing: ") and gap.message.endswith(".")
    for word in words:
        assert word in gap.message


def test_pending_events_come_first_unless_already_handed_out() -> None:
    pending = (
        {"uuid": "u2", "body": {}},  # already handed out (in recent_uuids): dropped
        {"uuid": "p1", "body": {}},
        {"uuid": "p1", "body": {}},  # a duplicate within pending: dropped
        {"body": {}},  # no uuid: kept
        {"uuid": "p2", "body": {}},
    )
    cp = sample(pending=pending)
    expected = (pending[1], pending[3], pending[4])
    assert pending_to_replay(cp) == expected
    for now in (T0 + 1, T0 + 1000):  # kept whether or not recovery is possible
        assert plan_resume(cp, now).pending == expected
    assert plan_resume(sample(pending=pending, refresh_token=None, access_token=None), T0).pending


def test_the_uuid_window_drops_replays_and_forgets_the_oldest() -> None:
    window = UuidWindow(["a", "b", "a"], size=3)
    assert [window.accept(u) for u in ["a", "b", "c", "c", None, None]] == [
        False,
        False,
        True,
        False,
        True,
        True,
    ]
    assert window.accept("d")  # 'a' is forgotten: the window holds b, c, d
    assert [window.accept(u) for u in ["b", "c", "d"]] == [False, False, False]
    assert window.accept("a")  # and now 'b' is forgotten
    assert window.accept("b")
    with pytest.raises(ValueError, match="size"):
        UuidWindow(size=0)


def test_a_replayed_recovery_buffer_is_dropped_up_to_the_checkpointed_uuids() -> None:
    # the old process handed out e0..e149 and checkpointed them; the gateway (under the other
    # reading: DOCS session-recovery.md) replays its last 100: all are dropped, new ones pass
    handed = [f"e{i}" for i in range(150)]
    cp: Checkpoint = sample(recent_uuids=tuple(handed[-256:]))
    window = UuidWindow(cp.recent_uuids)
    replay = [*handed[-100:], "n1", "n2"]
    assert [u for u in replay if window.accept(u)] == ["n1", "n2"]
