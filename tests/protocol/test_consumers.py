"""Synchronous tests of the routing core (rcstream.protocol.consumers)."""

from __future__ import annotations

from rcstream.protocol.consumers import Router, path_shape

ACC = "/restapi/v1.0/account/~/presence"
EXT = "/restapi/v1.0/account/~/extension/~/presence"
SESSIONS = "/restapi/v1.0/account/~/extension/~/telephony/sessions"
MINE = "/restapi/v1.0/account/37439510/extension/101/presence"
THEIRS = "/restapi/v1.0/account/37439510/extension/102/presence"


def test_account_level_consumer_gets_every_extension_and_extension_consumer_only_its_own() -> None:
    router = Router(owner_extension="101")
    router.add(1, [ACC])
    router.add(2, [EXT])
    router.add(3, [SESSIONS])
    assert router.route(MINE).keys == (1, 2)
    assert router.route(THEIRS).keys == (1,)
    assert router.route(MINE).matched and router.route(THEIRS).matched


def test_unmatched_event_is_counted_reported_once_per_shape_and_goes_to_its_family_only() -> None:
    router = Router(owner_extension="101")
    router.add(2, [EXT])
    router.add(3, [SESSIONS])
    first = router.route(THEIRS)
    assert first == first.__class__(keys=(2,), matched=False, first_of_shape=True)
    again = router.route("/restapi/v1.0/account/37439510/extension/103/presence")
    assert again.keys == (2,) and not again.matched and not again.first_of_shape
    other = router.route("/restapi/v1.0/account/1/extension/103/message-store")
    assert other.keys == () and other.first_of_shape  # no message-store consumer: nobody
    assert not other.matched


def test_owner_learned_later_narrows_tilde() -> None:
    router = Router()
    router.add(2, [EXT])
    assert router.route(THEIRS).keys == (2,)  # unknown owner: '~' matches any extension
    router.set_owner("101")
    assert router.route(MINE).keys == (2,)
    result = router.route(THEIRS)
    assert result.keys == (2,) and not result.matched  # delivered by family, but counted
    router.remove(2)
    assert router.route(MINE).keys == ()


def test_path_shape_hides_ids() -> None:
    assert path_shape(THEIRS + "?detailedTelephonyState=true") == (
        "/restapi/v1.0/account/{id}/extension/{id}/presence"
    )


# ---- the consumer table -------------------------------------------------------------------

from rcstream.protocol.consumers import ConsumerTable, Refusal  # noqa: E402

A = "/restapi/v1.0/account/~/extension/~/presence"
B = "/restapi/v1.0/account/~/extension/~/message-store"
C = "/restapi/v1.0/account/~/extension/~/telephony/sessions"


def test_merged_filters_and_confirmation() -> None:
    table = ConsumerTable()
    table.add(1, [A, B])
    table.add(2, [B, C])
    assert table.wanted() == (A, B, C)
    assert not table.confirm([A, B])  # covers 1 only
    assert table.is_confirmed(1) and not table.is_confirmed(2)
    table.confirm([A, B, C])
    assert table.is_confirmed(2) and table.any_confirmed()
    table.remove(1)
    assert table.wanted() == (B, C)


def test_a_refused_batch_is_parked_and_tried_one_consumer_at_a_time() -> None:
    table = ConsumerTable()
    table.add(1, [A])
    table.confirm([A])
    table.add(2, [B])
    table.add(3, [C])
    assert table.reject(sent=(A, B, C), base=(A,)) == (None, False)  # 3 parked
    assert table.wanted() == (A, B)
    assert table.reject(sent=(A, B), base=(A,)) == (2, False)  # 2 alone: it fails
    assert 2 not in table
    assert table.confirm([A])  # nobody waits: 3's turn
    assert table.wanted() == (A, C)
    table.confirm([A, C])
    assert table.is_confirmed(3)


def test_reject_with_nobody_waiting_is_fatal_unless_the_asker_left() -> None:
    table = ConsumerTable()
    table.add(1, [A])
    table.confirm([A])
    assert table.reject(sent=(A,), base=(A,)) == (None, True)  # re-creating: fatal
    assert table.reject(sent=(A, B), base=(A,)) == (None, False)  # what asked for B left


def test_disabled_filters_fail_new_consumers_and_are_not_asked_again() -> None:
    table = ConsumerTable()
    table.add(1, [A])
    table.confirm([A])
    table.add(2, [B])
    table.add(3, [A, C])
    refusals = table.refuse_disabled({A: "no permission"})
    assert refusals == [Refusal(1, A, "no permission", True), Refusal(3, A, "no permission", False)]
    assert 1 in table and 3 not in table  # the streaming one stays, the new one fails
    assert table.wanted() == (B,)
