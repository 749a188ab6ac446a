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
    assert router.unmatched == 0


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
    assert router.unmatched == 3


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
