"""Routing event paths to notification classes."""

from __future__ import annotations

import pytest

import rcstream.models as models
from rcstream.models import (
    A2PBatchNotification,
    A2PMessageNotification,
    AccountTelephonySessionsNotification,
    ChatNotification,
    ContactCenterNumberNotification,
    DetailedPresenceNotification,
    DetailedPresenceWithSipNotification,
    ExtensionInfoNotification,
    ExtensionListNotification,
    FaxNotification,
    InstantMessageNotification,
    MessageStoreNotification,
    Notification,
    PostNotification,
    PresenceNotification,
    TelephonySessionsNotification,
    model_for_event,
    route_key,
)

# Every filter of event-filters.md, as documented (placeholders filled with ids or ~).
DOCUMENTED = {
    "/restapi/v1.0/account/1/extension/2/message-store/instant?type=SMS": "instant-sms",
    "/restapi/v1.0/account/1/a2p-sms/batches": "a2p-batches",
    "/restapi/v1.0/account/1/a2p-sms/batches/b6f5610f-5ff1-4273": "a2p-batches",
    "/restapi/v1.0/account/1/a2p-sms/messages": "a2p-messages",
    "/restapi/v1.0/account/~/a2p-sms/opt-outs": "a2p-opt-outs",
    "/restapi/v1.0/account/1/extension/2/fax?direction=Inbound": "fax",
    "/restapi/v1.0/account/1/extension/2/message-store": "message-store",
    "/restapi/v1.0/account/1/extension/2/voicemail": "voicemail",
    "/restapi/v1.0/account/1/phone-number?usageType=ContactCenterNumber": "contact-center-numbers",
    "/restapi/v1.0/account/1/telephony/sessions": "account-telephony-sessions",
    "/restapi/v1.0/account/1/extension/2/telephony/sessions": "telephony-sessions",
    "/restapi/v1.0/account/1/presence": "account-presence",
    "/restapi/v1.0/account/1/extension/2/presence/dnd": "dnd",
    "/restapi/v1.0/account/1/extension/2/presence": "presence",
    "/restapi/v1.0/account/1/extension/2/presence?detailedTelephonyState=true": (
        "detailed-presence"
    ),
    "/restapi/v1.0/account/1/extension/2/presence?detailedTelephonyState=true&sipData=true": (
        "detailed-presence-sip"
    ),
    "/restapi/v1.0/account/1/extension/2/presence/line/presence": "line-presence",
    "/restapi/v1.0/account/1/extension/2/favorite/presence": "favorite-presence",
    "/restapi/v1.0/account/1/extension/2/presence/line": "presence-line",
    "/team-messaging/v1/posts": "team-messaging-posts",
    "/team-messaging/v1/groups": "team-messaging-groups",
    "/restapi/v1.0/account/1/directory/entries": "directory-entries",
    "/restapi/v1.0/account/1/device/3/emergency-address": "emergency-address",
    "/restapi/v1.0/account/1/extension/2/favorite": "favorites",
    "/restapi/v1.0/account/1/extension/2/grant": "grants",
    "/restapi/v1.0/account/1/extension/2": "extension-info",
    "/restapi/v1.0/account/1/extension": "extension-list",
    "/webinar/configuration/v1/company/sessions": "webinar-sessions",
    "/webinar/runtime/v1/company/sessions/state": "webinar-session-state",
    "/webinar/registration/v1/company/sessions/state": "webinar-registration-state",
    "/webinar/registration/v1/company/sessions/registrants": "webinar-registrants",
}


@pytest.mark.parametrize(("event", "family"), sorted(DOCUMENTED.items()))
def test_documented_filters_route_to_their_family(event: str, family: str) -> None:
    assert model_for_event(event).family == family
    # The same path written with ~ ids (a filter rather than an event) routes the same way.
    tilde = event.replace("/account/1", "/account/~").replace("/extension/2", "/extension/~")
    assert model_for_event(tilde).family == family
    # And so does the same path with a trailing slash.
    path, sep, query = event.partition("?")
    assert model_for_event(f"{path}/{sep}{query}").family == family


@pytest.mark.parametrize(
    ("event", "cls"),
    [
        ("/restapi/v1.0/glip/posts", PostNotification),
        ("/restapi/v1.0/glip/groups", ChatNotification),
        ("/restapi/v1.0/glip/chats", ChatNotification),
        ("/team-messaging/v1/chats", ChatNotification),
        # Query parameters that do not change the body shape are ignored.
        (
            "/restapi/v1.0/account/1/extension/2/telephony/sessions?direction=Inbound"
            "&missedCall=true",
            TelephonySessionsNotification,
        ),
        (
            "/restapi/v1.0/account/1/telephony/sessions?statusCode=Answered",
            AccountTelephonySessionsNotification,
        ),
        ("/restapi/v1.0/account/1/extension/2/message-store?type=SMS", MessageStoreNotification),
        (
            "/restapi/v1.0/account/1/a2p-sms/messages?direction=Inbound&to=+12406680432",
            A2PMessageNotification,
        ),
        ("/restapi/v1.0/account/1/a2p-sms/batches/abc?x=1", A2PBatchNotification),
        ("/restapi/v1.0/account/~/extension/2/fax", FaxNotification),
        ("/restapi/v1.0/account/1/extension/2/message-store/instant", InstantMessageNotification),
        # Parameter order and boolean case do not matter for presence.
        (
            "/restapi/v1.0/account/1/extension/2/presence?sipData=true&detailedTelephonyState=true",
            DetailedPresenceWithSipNotification,
        ),
        (
            "/restapi/v1.0/account/1/extension/2/presence?detailedTelephonyState=TRUE",
            DetailedPresenceNotification,
        ),
        (
            "/restapi/v1.0/account/1/extension/2/presence?detailedTelephonyState=false",
            PresenceNotification,
        ),
        ("/restapi/v1.0/account/1/extension/2/presence?sipData=true", PresenceNotification),
        (
            "/restapi/v1.0/account/1/phone-number?usageType=contactcenternumber",
            ContactCenterNumberNotification,
        ),
        ("/restapi/v1.0/account/~/extension/~", ExtensionInfoNotification),
        ("/restapi/v1.0/account/~/extension", ExtensionListNotification),
        # Unknown or incomplete paths are generic.
        ("/restapi/v1.0/account/1/phone-number", Notification),
        ("/restapi/v1.0/account/1/phone-number?usageType=DirectNumber", Notification),
        ("/restapi/v1.0/account/1/extension/2/brand-new", Notification),
        ("/restapi/v1.0/account/1/extension/2/telephony/sessions/extra", Notification),
        ("", Notification),
        ("/", Notification),
        ("?", Notification),
        ("no-slash", Notification),
    ],
)
def test_aliases_query_strings_and_unknown_paths(event: str, cls: type[Notification]) -> None:
    assert model_for_event(event) is cls


def test_route_key_normalises_ids_and_keeps_only_shape_parameters() -> None:
    assert route_key(
        "/restapi/v1.0/account/123/extension/456/presence?detailedTelephonyState=true"
    ) == (
        "/restapi/v1.0/account/*/extension/*/presence?detailedtelephonystate=true",
        "/restapi/v1.0/account/*/extension/*/presence",
    )
    assert (
        route_key("/restapi/v1.0/account/~/device/9/emergency-address")
        == ("/restapi/v1.0/account/*/device/*/emergency-address",) * 2
    )
    assert route_key("/team-messaging/v1/posts?foo=bar") == ("/team-messaging/v1/posts",) * 2


def test_routing_is_cached_and_bounded() -> None:
    info = model_for_event.cache_info()
    assert info.maxsize is not None and info.maxsize > 0
    model_for_event("/team-messaging/v1/posts")
    before = model_for_event.cache_info().hits
    model_for_event("/team-messaging/v1/posts")
    assert model_for_event.cache_info().hits == before + 1


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, Classes, functions."""
    if name.isupper():
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def test_models_all_is_sorted_and_complete() -> None:
    assert list(models.__all__) == sorted(models.__all__, key=isort_key)
    for name in models.__all__:
        assert hasattr(models, name), name
    public_classes = [
        getattr(models, n) for n in models.__all__ if isinstance(getattr(models, n), type)
    ]
    for cls in public_classes:
        assert cls.__doc__, cls
