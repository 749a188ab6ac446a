"""Filter builders, presets, validation and matching."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcstream import filters as F
from rcstream.emulator import catalog
from rcstream.exceptions import ConfigurationError
from rcstream.filters import FilterMatcher, filter_matches, resource_family, validate_filter
from rcstream.models import model_for_event

# The builder call for each family of the catalog.
BUILT: dict[str, str] = {
    "telephony-sessions": F.telephony_sessions(),
    "account-telephony-sessions": F.telephony_sessions(extension=None),
    "presence": F.presence(),
    "detailed-presence": F.presence(detailed=True),
    "detailed-presence-sip": F.presence(detailed=True, sip_data=True),
    "account-presence": F.account_presence(),
    "dnd": F.dnd(),
    "presence-line": F.presence_line(),
    "line-presence": F.line_presence(),
    "favorite-presence": F.favorite_presence(),
    "instant-sms": F.instant_sms(),
    "message-store": F.message_store(),
    "voicemail": F.voicemail(),
    "fax": F.fax(),
    "a2p-batches": F.a2p_batches(),
    "a2p-messages": F.a2p_messages(),
    "a2p-opt-outs": F.a2p_opt_outs(),
    "contact-center-numbers": F.contact_center_numbers(),
    "team-messaging-posts": F.team_messaging_posts(),
    "team-messaging-groups": F.team_messaging_groups(),
    "directory-entries": F.directory_entries(),
    "emergency-address": F.emergency_address(catalog.EMERGENCY_DEVICE_ID),
    "favorites": F.favorites(),
    "grants": F.grants(),
    "extension-info": F.extension_info(),
    "extension-list": F.extension_list(),
    "webinar-sessions": F.webinar_sessions(),
    "webinar-session-state": F.webinar_session_state(),
    "webinar-registration-state": F.webinar_registration_state(),
    "webinar-registrants": F.webinar_registrants(),
}


def test_a_builder_for_every_catalog_family() -> None:
    assert set(BUILT) == set(catalog.FAMILIES)


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_builder_filter_is_valid_routes_and_matches_the_catalog(family: str) -> None:
    built = BUILT[family]
    assert built == catalog.filter_for(family)
    assert validate_filter(built) == built
    assert model_for_event(built).family == family
    path, _ = catalog.generate(
        family,
        account_id="809646016",
        extension_id="809646017",
        rng=random.Random(7),
        filter_shaped=True,
    )
    assert filter_matches(built, path)
    # ... and no other family's filter claims this event, except a less specific form of
    # the same filter (plain presence takes detailed presence events: "detailed wins") or
    # the account-level filter above it (the platform delivers account/~/telephony/sessions
    # as account/{acc}/extension/{ext}/telephony/sessions: docs account-*.json samples)
    others = [f for fam, f in BUILT.items() if fam != family]
    # (the emulator now sends the platform's real paths: account-level filters get
    # extension-scoped paths, line/favorite presence the watched extension's presence path,
    # so every filter of the same resource family may claim it; never another family)
    for other in (f for f in others if filter_matches(f, path)):
        assert resource_family(other) == resource_family(built), (other, path)
    assert built in FilterMatcher(BUILT.values()).which(path)


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (
            F.telephony_sessions(extension=None, direction="Inbound", missed_call=True),
            "/restapi/v1.0/account/~/telephony/sessions?direction=Inbound&missedCall=true",
        ),
        (
            F.telephony_sessions(account=1, extension=2, sip_data=False, with_recordings=True),
            "/restapi/v1.0/account/1/extension/2/telephony/sessions"
            "?sipData=false&withRecordings=true",
        ),
        (
            F.telephony_sessions(status_code="Answered", phone_number="+16505550100"),
            "/restapi/v1.0/account/~/extension/~/telephony/sessions"
            "?statusCode=Answered&phoneNumber=+16505550100",
        ),
        (
            F.presence(extension="62534323"),
            "/restapi/v1.0/account/~/extension/62534323/presence",
        ),
        (
            F.message_store(type="SMS", direction="Inbound"),
            "/restapi/v1.0/account/~/extension/~/message-store?type=SMS&direction=Inbound",
        ),
        (F.fax(direction=None), "/restapi/v1.0/account/~/extension/~/fax"),
        (F.a2p_batches(batch_id="b-1"), "/restapi/v1.0/account/~/a2p-sms/batches/b-1"),
        (
            F.a2p_messages(direction="Inbound", to="+12406680432"),
            "/restapi/v1.0/account/~/a2p-sms/messages?direction=Inbound&to=+12406680432",
        ),
        (F.a2p_messages(from_="+1"), "/restapi/v1.0/account/~/a2p-sms/messages?from=+1"),
        (F.emergency_address(42, account=7), "/restapi/v1.0/account/7/device/42/emergency-address"),
    ],
)
def test_builder_options(built: str, expected: str) -> None:
    assert built == expected
    assert validate_filter(built) == built


@pytest.mark.parametrize("bad", ["", "a/b", "1?x", " 1", "~ "])
def test_builders_reject_bad_ids(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid id"):
        F.presence(extension=bad)


def test_presence_sip_data_needs_detailed() -> None:
    with pytest.raises(ConfigurationError, match="detailed=True"):
        F.presence(sip_data=True)


def test_presets() -> None:
    for name, filters in F.PRESETS.items():
        assert filters, name
        for f in filters:
            assert validate_filter(f) == f
            assert model_for_event(f).family != "generic", f
    for name in ("telephony", "presence", "sms", "message-store", "voicemail", "fax"):
        assert name in F.PRESETS
    assert F.preset("telephony") == [F.telephony_sessions()]
    assert F.preset("telephony, sms,telephony") == [F.telephony_sessions(), F.instant_sms()]
    assert F.preset(["team-messaging"]) == [
        F.team_messaging_posts(),
        F.team_messaging_groups(),
    ]


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ConfigurationError, match="Unknown event preset 'telefony'") as info:
        F.preset("telephony,telefony")
    assert "telephony" in str(info.value) and "sms" in str(info.value)
    with pytest.raises(ConfigurationError, match="No event preset"):
        F.preset(" , ")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (
            "https://platform.ringcentral.com/restapi/v1.0/account/~/presence",
            "drop the scheme and host and use the path '/restapi/v1.0/account/~/presence'",
        ),
        (
            "platform.ringcentral.com/restapi/v1.0/account/~/presence",
            "drop the host and use the path '/restapi/v1.0/account/~/presence'",
        ),
        ("team-messaging/v1/posts", "start it with '/': '/team-messaging/v1/posts'"),
        (
            "account/~/extension/~/presence",
            "prefix it with '/restapi/v1.0/': '/restapi/v1.0/account/~/extension/~/presence'",
        ),
        (
            "/account/~/extension/~/presence",
            "prefix it with '/restapi/v1.0': '/restapi/v1.0/account/~/extension/~/presence'",
        ),
        ("/v1.0/account/~/presence", "prefix it with '/restapi'"),
        ("/restapi/v1/account/~/presence", "exactly '/restapi/v1.0': '/restapi/v1.0/account"),
        ("/restapi/v2.0/account/~/presence", "exactly '/restapi/v1.0'"),
        ("/restapi/V1.0/account/~/presence", "exactly '/restapi/v1.0'"),
        ("/restapi/account/~/presence", "'/restapi/v1.0/account/~/presence'"),
        (
            "/restapi/v1.0/account/~/message-store?type=SMS".replace("/restapi", "/RestApi"),
            "exactly '/restapi/v1.0': '/restapi/v1.0/account/~/message-store?type=SMS'",
        ),
        ("/restapi/v1.0//account/~/presence", "remove the doubled '/'"),
        ("/restapi/v1.0/account/~/presence/", "remove the trailing '/'"),
        (
            "/restapi/v1.0/account/~/extension/~/fax/?direction=Inbound",
            "'/restapi/v1.0/account/~/extension/~/fax?direction=Inbound'",
        ),
        ("/restapi/v1.0/account/{accountId}/presence", "replace '{accountId}' with '~'"),
        ("/restapi/v1.0/account/~/ext ension/~/presence", "remove the spaces"),
        ("/restapi/v1.0/account/~/presence?", "remove the empty query parameter"),
        ("/restapi/v1.0/account/~/presence?a=1&&b=2", "remove the empty query parameter"),
        ("/restapi/v1.0/account/~/presence?a=1?b=2", "use '&' between query parameters"),
        ("/restapi/v1.0/account/~/presence?detailed", "as 'name=value'"),
    ],
)
def test_validator_names_the_fix(bad: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        validate_filter(bad)
    text = str(info.value)
    assert message in text
    assert text.endswith(".") and text.count(". ") == 0  # one sentence


def test_validator_rejects_non_strings() -> None:
    with pytest.raises(ConfigurationError, match="must be a string"):
        validate_filter(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "good",
    [
        "/restapi/v1.0/account/~/extension/~/presence?detailedTelephonyState=true",
        "/restapi/v1.0/account/123/extension/456/telephony/sessions",
        "/restapi/v1.0/account/~/some-future-resource",  # forward compatible
        "/team-messaging/v1/chats",
        "/restapi/v1.0/glip/posts",
        "/webinar/notifications/v2/something-new",
    ],
)
def test_validator_accepts_plausible_filters(good: str) -> None:
    assert validate_filter(good) == good
    assert validate_filter(f"  {good}\n") == good


@pytest.mark.parametrize(
    ("filter_", "event", "expected"),
    [
        (F.presence(), "/restapi/v1.0/account/1/extension/2/presence", True),
        (F.presence(), "/restapi/v1.0/account/1/extension/2/presence/", True),
        (F.presence(extension=2), "/restapi/v1.0/account/1/extension/2/presence", True),
        (F.presence(extension=3), "/restapi/v1.0/account/1/extension/2/presence", False),
        # An event path that kept "~" still matches.
        (F.presence(extension=2), "/restapi/v1.0/account/~/extension/2/presence", True),
        # A plain filter also takes the detailed form: with both subscribed, the platform
        # sends only that ("detailed wins"); a detailed filter never takes the plain one.
        (
            F.presence(),
            "/restapi/v1.0/account/1/extension/2/presence?detailedTelephonyState=true",
            True,
        ),
        (F.presence(detailed=True), "/restapi/v1.0/account/1/extension/2/presence", False),
        # Query parameters compare as sets.
        (
            F.presence(detailed=True, sip_data=True),
            "/restapi/v1.0/account/1/extension/2/presence?sipData=true&detailedTelephonyState=true",
            True,
        ),
        (F.fax(), "/restapi/v1.0/account/1/extension/2/fax?direction=Outbound", False),
        (F.dnd(), "/restapi/v1.0/account/1/extension/2/presence", False),
        (F.extension_info(), "/restapi/v1.0/account/1/extension", False),
        (F.extension_list(), "/restapi/v1.0/account/1/extension/2", False),
        (F.telephony_sessions(extension=None), "/restapi/v1.0/account/1/telephony/sessions", True),
        (F.a2p_batches(batch_id="b"), "/restapi/v1.0/account/1/a2p-sms/batches/b", True),
        (F.a2p_batches(batch_id="b"), "/restapi/v1.0/account/1/a2p-sms/batches/c", False),
    ],
)
def test_filter_matches(filter_: str, event: str, expected: bool) -> None:
    assert filter_matches(filter_, event) is expected
    assert FilterMatcher([filter_]).matches(event) is expected


def test_matcher_returns_every_matching_filter_in_order() -> None:
    filters = [F.presence(extension=2), F.dnd(), F.presence(), F.presence(extension=2)]
    matcher = FilterMatcher(filters)
    assert matcher.filters == (F.presence(extension=2), F.dnd(), F.presence())
    event = "/restapi/v1.0/account/1/extension/2/presence"
    assert matcher.which(event) == (F.presence(extension=2), F.presence())
    assert matcher.which(event) is matcher.which(event)  # cached
    assert matcher.which("/restapi/v1.0/account/1/extension/3/presence") == (F.presence(),)
    assert not matcher.matches("/team-messaging/v1/posts")
    assert "FilterMatcher" in repr(matcher)


def test_matcher_cache_is_bounded() -> None:
    matcher = FilterMatcher([F.presence()], cache_size=4)
    for ext in range(10):
        assert matcher.matches(f"/restapi/v1.0/account/1/extension/{ext}/presence")
    assert len(matcher._cache) <= 4


@settings(max_examples=200, deadline=None)
@given(
    family=st.sampled_from(catalog.FAMILIES),
    account=st.integers(1, 10**12).map(str),
    extension=st.integers(1, 10**12).map(str),
    filter_family=st.sampled_from(catalog.FAMILIES),
)
def test_matcher_agrees_with_filter_matches(
    family: str, account: str, extension: str, filter_family: str
) -> None:
    path, _ = catalog.generate(
        family, account_id=account, extension_id=extension, rng=random.Random(0), filter_shaped=True
    )
    f = BUILT[filter_family]
    built = BUILT[family]
    # its own filter, or a less specific form of it (plain presence takes detailed events)
    own = f.partition("?")[0] == built.partition("?")[0] and set(
        filter(None, f.partition("?")[2].split("&"))
    ) <= set(filter(None, built.partition("?")[2].split("&")))
    got = FilterMatcher([f]).matches(path)
    assert got == filter_matches(f, path)
    if own:
        assert got
    if got:  # otherwise only the same resource family (account-level, watched presence)
        assert resource_family(f) == resource_family(path)


ACC_PRESENCE = "/restapi/v1.0/account/~/presence"
EXT_PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"


def test_account_level_filter_covers_extension_scoped_event_paths() -> None:
    # docs samples account-presence.json / account-telephony-sessions.json
    assert filter_matches(ACC_PRESENCE, "/restapi/v1.0/account/~/extension/6610372004/presence")
    assert filter_matches(
        "/restapi/v1.0/account/~/telephony/sessions",
        "/restapi/v1.0/account/400144452008/extension/400144455008/telephony/sessions",
    )
    assert filter_matches(
        ACC_PRESENCE + "?detailedTelephonyState=true",
        "/restapi/v1.0/account/1/extension/2/presence?detailedTelephonyState=true",
    )
    assert not filter_matches(
        ACC_PRESENCE + "?detailedTelephonyState=true",
        "/restapi/v1.0/account/1/extension/2/presence",
    )
    # not another family beneath the account
    assert not filter_matches(ACC_PRESENCE, "/restapi/v1.0/account/1/extension/2/message-store")


def test_tilde_is_the_token_owner_not_a_wildcard() -> None:
    mine = "/restapi/v1.0/account/1/extension/101/presence"
    theirs = "/restapi/v1.0/account/1/extension/102/presence"
    matcher = FilterMatcher([EXT_PRESENCE])
    assert matcher.matches(theirs)  # owner unknown: '~' matches any extension
    matcher.set_owner("101")
    assert matcher.matches(mine)
    assert not matcher.matches(theirs)
    assert not filter_matches(EXT_PRESENCE, theirs, owner_extension="101")
    assert filter_matches(
        EXT_PRESENCE, "/restapi/v1.0/account/~/extension/~/presence", owner_extension="101"
    )
    # the account-level filter still covers both
    both = FilterMatcher([ACC_PRESENCE, EXT_PRESENCE], owner_extension="101")
    assert both.which(mine) == (ACC_PRESENCE, EXT_PRESENCE)
    assert both.which(theirs) == (ACC_PRESENCE,)


def test_resource_family() -> None:
    assert resource_family("/restapi/v1.0/account/~/extension/1/presence?x=1") == "presence"
    assert resource_family("/restapi/v1.0/account/~/telephony/sessions") == "telephony/sessions"
    assert (
        resource_family("/restapi/v1.0/account/1/extension/2/telephony/sessions?x=1")
        == "telephony/sessions"
    )
    assert resource_family("/webinar/configuration/v1/company/sessions") != resource_family(
        "/restapi/v1.0/account/~/telephony/sessions"
    )  # review 9: a webinar consumer never gets a telephony event by the fallback
    assert resource_family("/restapi/v1.0/account/~/extension/~/presence/line/presence") == (
        "presence"
    )
    assert resource_family("/restapi/v1.0/account/~/extension/~/message-store") == "message-store"


def test_line_and_favorite_presence_take_the_watched_extensions_presence_path() -> None:
    watched = "/restapi/v1.0/account/1/extension/447712782004/presence"
    for f in (
        EXT_PRESENCE + "/line/presence",
        "/restapi/v1.0/account/~/extension/~/favorite/presence",
    ):
        assert filter_matches(f, watched, owner_extension="101")
        assert filter_matches(f, f.replace("~", "1"))  # the filter-shaped reading too
        assert not filter_matches(f, "/restapi/v1.0/account/1/extension/2/message-store")
    assert not filter_matches(EXT_PRESENCE, watched, owner_extension="101")


def test_every_path_the_models_route_is_a_known_family() -> None:
    # the typo check (and `listen --strict`) must accept every filter rcstream has a model
    # for; it once missed the chats and Glip paths and suggested the posts filter instead
    from rcstream.filters import is_known_family
    from rcstream.models.routing import _ROUTES

    for key in _ROUTES:
        assert is_known_family(key.replace("*", "~")), key
    assert is_known_family("/team-messaging/v1/chats")
    assert is_known_family("/restapi/v1.0/glip/groups")
