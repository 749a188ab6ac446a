"""Event filters: builders for every family, presets, validation and matching.

An event filter is the path of the API resource whose changes you want to hear about,
``~`` standing for the authorised user's account or extension::

    from rcstream import filters

    filters.telephony_sessions()                  # this extension's calls
    filters.telephony_sessions(extension=None)    # every call of the account
    filters.presence(detailed=True)               # presence with active calls
    filters.preset("telephony,sms")               # the CLI's --events names

Every builder takes its ids as keyword arguments defaulting to ``"~"`` and returns the
filter string. :func:`validate_filter` catches the usual mistakes in hand-written filters,
and :class:`FilterMatcher` tells which subscribed filters a notification's ``event``
path belongs to.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Final

from rcstream.exceptions import ConfigurationError

__all__ = [
    "PRESETS",
    "FilterMatcher",
    "a2p_batches",
    "a2p_messages",
    "a2p_opt_outs",
    "account_presence",
    "contact_center_numbers",
    "directory_entries",
    "dnd",
    "emergency_address",
    "extension_info",
    "extension_list",
    "favorite_presence",
    "favorites",
    "fax",
    "filter_matches",
    "grants",
    "instant_sms",
    "line_presence",
    "message_store",
    "presence",
    "presence_line",
    "preset",
    "resource_family",
    "team_messaging_groups",
    "team_messaging_posts",
    "telephony_sessions",
    "validate_filter",
    "voicemail",
    "webinar_registrants",
    "webinar_registration_state",
    "webinar_session_state",
    "webinar_sessions",
]

_RESTAPI: Final = "/restapi/v1.0"


# --------------------------------------------------------------------------- builders


def _id(value: str | int, what: str) -> str:
    text = str(value)
    if not text or any(c in text for c in "/?&# ") or text != text.strip():
        raise ConfigurationError(
            f"The {what} id {text!r} is not a valid id; pass '~' or a numeric id such as "
            "'233676004'."
        )
    return text


def _account(account: str | int) -> str:
    return f"{_RESTAPI}/account/{_id(account, 'account')}"


def _extension(account: str | int, extension: str | int) -> str:
    return f"{_account(account)}/extension/{_id(extension, 'extension')}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _with_query(path: str, params: Iterable[tuple[str, str | None]]) -> str:
    query = "&".join(f"{name}={value}" for name, value in params if value is not None)
    return f"{path}?{query}" if query else path


def telephony_sessions(
    *,
    account: str | int = "~",
    extension: str | int | None = "~",
    direction: str | None = None,
    missed_call: bool | None = None,
    status_code: str | None = None,
    phone_number: str | None = None,
    sip_data: bool | None = None,
    with_recordings: bool | None = None,
) -> str:
    """Telephony session events (calls changing state).

    ``extension=None`` gives the account-wide filter
    (``/restapi/v1.0/account/~/telephony/sessions``). The other arguments add the
    documented query parameters (``direction`` is ``"Inbound"`` or ``"Outbound"``;
    ``status_code`` e.g. ``"Answered"``); ``None`` leaves a parameter out.
    Model: :class:`rcstream.models.TelephonySessionsNotification`.
    """
    base = _account(account) if extension is None else _extension(account, extension)
    return _with_query(
        f"{base}/telephony/sessions",
        [
            ("direction", direction),
            ("missedCall", None if missed_call is None else _bool(missed_call)),
            ("statusCode", status_code),
            ("phoneNumber", phone_number),
            ("sipData", None if sip_data is None else _bool(sip_data)),
            ("withRecordings", None if with_recordings is None else _bool(with_recordings)),
        ],
    )


def presence(
    *,
    account: str | int = "~",
    extension: str | int = "~",
    detailed: bool = False,
    sip_data: bool = False,
) -> str:
    """Presence of one extension.

    ``detailed=True`` adds the active calls (``?detailedTelephonyState=true``) and
    ``sip_data=True`` their SIP data (needs ``detailed``). For many extensions, build one
    filter per extension id; ``~`` means only the authorised user.
    Model: :class:`rcstream.models.PresenceNotification` (or the detailed variants).
    """
    if sip_data and not detailed:
        raise ConfigurationError(
            "presence(sip_data=True) needs detailed=True; SIP data only comes with the "
            "detailed telephony state."
        )
    path = f"{_extension(account, extension)}/presence"
    if sip_data:
        return f"{path}?detailedTelephonyState=true&sipData=true"
    return f"{path}?detailedTelephonyState=true" if detailed else path


def account_presence(*, account: str | int = "~") -> str:
    """Presence of every extension of the account (``/restapi/v1.0/account/~/presence``)."""
    return f"{_account(account)}/presence"


def dnd(*, account: str | int = "~", extension: str | int = "~") -> str:
    """Do-Not-Disturb status of an extension (``.../presence/dnd``)."""
    return f"{_extension(account, extension)}/presence/dnd"


def presence_line(*, account: str | int = "~", extension: str | int = "~") -> str:
    """The list of lines an extension monitors (``.../presence/line``)."""
    return f"{_extension(account, extension)}/presence/line"


def line_presence(*, account: str | int = "~", extension: str | int = "~") -> str:
    """Presence of the lines an extension monitors (``.../presence/line/presence``)."""
    return f"{_extension(account, extension)}/presence/line/presence"


def favorite_presence(*, account: str | int = "~", extension: str | int = "~") -> str:
    """Presence of an extension's favorites (``.../favorite/presence``)."""
    return f"{_extension(account, extension)}/favorite/presence"


def instant_sms(*, account: str | int = "~", extension: str | int = "~") -> str:
    """Inbound SMS, the whole message in the body (``.../message-store/instant?type=SMS``)."""
    return f"{_extension(account, extension)}/message-store/instant?type=SMS"


def message_store(
    *,
    account: str | int = "~",
    extension: str | int = "~",
    type: str | None = None,
    direction: str | None = None,
) -> str:
    """Message-store changes: counts and ids of new or updated messages.

    ``type`` narrows to ``"SMS"``, ``"Fax"``, ``"VoiceMail"`` or ``"Pager"``; ``direction``
    to ``"Inbound"`` or ``"Outbound"``.
    """
    return _with_query(
        f"{_extension(account, extension)}/message-store",
        [("type", type), ("direction", direction)],
    )


def voicemail(*, account: str | int = "~", extension: str | int = "~") -> str:
    """New voicemails of an extension (``.../voicemail``)."""
    return f"{_extension(account, extension)}/voicemail"


def fax(
    *, account: str | int = "~", extension: str | int = "~", direction: str | None = "Inbound"
) -> str:
    """Faxes of an extension; by default inbound only (``.../fax?direction=Inbound``)."""
    return _with_query(f"{_extension(account, extension)}/fax", [("direction", direction)])


def a2p_batches(*, account: str | int = "~", batch_id: str | None = None) -> str:
    """A2P (high-volume) SMS batches of the account, or one batch with ``batch_id``."""
    path = f"{_account(account)}/a2p-sms/batches"
    return path if batch_id is None else f"{path}/{_id(batch_id, 'batch')}"


def a2p_messages(
    *,
    account: str | int = "~",
    direction: str | None = None,
    to: str | None = None,
    from_: str | None = None,
) -> str:
    """A2P SMS messages (sent, delivered, failed or received), optionally narrowed by
    ``direction`` and by the ``to`` / ``from`` phone number (E.164)."""
    return _with_query(
        f"{_account(account)}/a2p-sms/messages",
        [("direction", direction), ("to", to), ("from", from_)],
    )


def a2p_opt_outs(*, account: str | int = "~") -> str:
    """A2P SMS opt-outs and opt-ins (``.../a2p-sms/opt-outs``)."""
    return f"{_account(account)}/a2p-sms/opt-outs"


def contact_center_numbers(*, account: str | int = "~") -> str:
    """Contact-centre phone numbers created, changed or deleted."""
    return f"{_account(account)}/phone-number?usageType=ContactCenterNumber"


def team_messaging_posts() -> str:
    """Team Messaging posts added, changed or removed (``/team-messaging/v1/posts``)."""
    return "/team-messaging/v1/posts"


def team_messaging_groups() -> str:
    """Team Messaging chats (groups) joined, changed or left (``/team-messaging/v1/groups``)."""
    return "/team-messaging/v1/groups"


def directory_entries(*, account: str | int = "~") -> str:
    """Company-directory entries changed (``.../directory/entries``)."""
    return f"{_account(account)}/directory/entries"


def emergency_address(device_id: str | int, *, account: str | int = "~") -> str:
    """The emergency address of one device (``.../device/{device_id}/emergency-address``)."""
    return f"{_account(account)}/device/{_id(device_id, 'device')}/emergency-address"


def favorites(*, account: str | int = "~", extension: str | int = "~") -> str:
    """An extension's favorites list changed (``.../favorite``)."""
    return f"{_extension(account, extension)}/favorite"


def grants(*, account: str | int = "~", extension: str | int = "~") -> str:
    """An extension's grant list changed (``.../grant``)."""
    return f"{_extension(account, extension)}/grant"


def extension_info(*, account: str | int = "~", extension: str | int = "~") -> str:
    """An extension's settings changed (``/restapi/v1.0/account/~/extension/~``)."""
    return _extension(account, extension)


def extension_list(*, account: str | int = "~") -> str:
    """Extensions created, updated or deleted (``/restapi/v1.0/account/~/extension``)."""
    return f"{_account(account)}/extension"


def webinar_sessions() -> str:
    """Webinar sessions created or changed."""
    return "/webinar/configuration/v1/company/sessions"


def webinar_session_state() -> str:
    """Webinar sessions' live state (started, live, ended)."""
    return "/webinar/runtime/v1/company/sessions/state"


def webinar_registration_state() -> str:
    """Webinar sessions' registration settings."""
    return "/webinar/registration/v1/company/sessions/state"


def webinar_registrants() -> str:
    """Webinar registrants created or changed."""
    return "/webinar/registration/v1/company/sessions/registrants"


# --------------------------------------------------------------------------- presets

#: Named filter sets for the CLI's ``--events`` option.
PRESETS: Final[dict[str, tuple[str, ...]]] = {
    "telephony": (telephony_sessions(),),
    "account-telephony": (telephony_sessions(extension=None),),
    "presence": (presence(),),
    "detailed-presence": (presence(detailed=True),),
    "account-presence": (account_presence(),),
    "dnd": (dnd(),),
    "sms": (instant_sms(),),
    "message-store": (message_store(),),
    "voicemail": (voicemail(),),
    "fax": (fax(),),
    "a2p": (a2p_batches(), a2p_messages(), a2p_opt_outs()),
    "team-messaging": (team_messaging_posts(), team_messaging_groups()),
    "account": (extension_info(), extension_list(), directory_entries()),
    "webinar": (
        webinar_sessions(),
        webinar_session_state(),
        webinar_registration_state(),
        webinar_registrants(),
    ),
}


def preset(names: str | Iterable[str]) -> list[str]:
    """The filters of one or more presets, in order, without duplicates.

    ``names`` is a name, a comma-separated string (``"telephony,sms"``) or an iterable of
    names. Raises :class:`~rcstream.exceptions.ConfigurationError` naming the valid
    choices for an unknown name, or when no name is given.
    """
    if isinstance(names, str):
        names = names.split(",")
    wanted = [name.strip() for name in names if name.strip()]
    if not wanted:
        raise ConfigurationError(
            f"No event preset was given; choose one or more of: {', '.join(sorted(PRESETS))}."
        )
    result: list[str] = []
    for name in wanted:
        try:
            filters = PRESETS[name]
        except KeyError:
            raise ConfigurationError(
                f"Unknown event preset {name!r}; choose from: {', '.join(sorted(PRESETS))}."
            ) from None
        result.extend(f for f in filters if f not in result)
    return result


# --------------------------------------------------------------------------- validation

_VERSION = re.compile(r"[vV]?\d+(\.\d+)*")
_PLACEHOLDERS = ("{accountId}", "{extensionId}", "{deviceId}", "{batchId}")


def _fail(filter_: str, fix: str) -> ConfigurationError:
    return ConfigurationError(f"Event filter {filter_!r} is invalid: {fix}.")


def validate_filter(f: str) -> str:
    """Check a hand-written event filter and return it normalised.

    Surrounding whitespace is removed. Raises
    :class:`~rcstream.exceptions.ConfigurationError` (one sentence naming the fix) for the
    usual mistakes: an empty filter, a full URL with a host, a missing leading ``/``, a
    missing or misspelt ``/restapi/v1.0`` prefix, a doubled or trailing ``/``, spaces,
    or a ``{accountId}``-style placeholder left in. Unknown but well-formed paths are
    accepted, so filters the platform adds later keep working.
    """
    if not isinstance(f, str):
        raise ConfigurationError(
            f"An event filter must be a string, got {type(f).__name__}; pass a path such "
            "as '/restapi/v1.0/account/~/extension/~/presence'."
        )
    text = f.strip()
    if not text:
        raise ConfigurationError(
            "An event filter is empty; pass a path such as "
            "'/restapi/v1.0/account/~/extension/~/presence'."
        )
    if any(c.isspace() for c in text):
        raise _fail(f, "remove the spaces inside it")
    _, sep, after = text.partition("://")
    if sep:
        slash = after.find("/")
        path = after[slash:] if slash >= 0 else "/"
        raise _fail(f, f"drop the scheme and host and use the path {path!r}")
    if not text.startswith("/"):
        if "/restapi/" in text or "/team-messaging/" in text or "/webinar/" in text:
            for marker in ("/restapi/", "/team-messaging/", "/webinar/"):
                if marker in text:
                    path = text[text.index(marker) :]
                    raise _fail(f, f"drop the host and use the path {path!r}")
        if text.startswith(("account/", "account~")):
            raise _fail(f, f"prefix it with '/restapi/v1.0/': {_RESTAPI + '/' + text!r}")
        raise _fail(f, f"start it with '/': {'/' + text!r}")
    path, _, query = text.partition("?")
    if "//" in path:
        fixed = "/" + "/".join(s for s in path.split("/") if s)
        raise _fail(f, f"remove the doubled '/': {fixed!r}")
    if path.endswith("/") and path != "/":
        raise _fail(f, f"remove the trailing '/': {path.rstrip('/') + text[len(path) :]!r}")
    for placeholder in _PLACEHOLDERS:
        if placeholder in text:
            raise _fail(f, f"replace {placeholder!r} with '~' or a real id")
    segments = path.split("/")
    if segments[1] == "account" or segments[1] == "v1.0":
        prefix = "/restapi" if segments[1] == "v1.0" else _RESTAPI
        raise _fail(f, f"prefix it with {prefix!r}: {prefix + text!r}")
    if segments[1].lower() == "restapi" and segments[1:3] != ["restapi", "v1.0"]:
        # A misspelt version (v1, v1.1, 1.0, V1.0 ...) is replaced, a missing one inserted.
        has_version = len(segments) > 2 and _VERSION.fullmatch(segments[2]) is not None
        tail = segments[3:] if has_version else segments[2:]
        fixed = "/".join(["", "restapi", "v1.0", *tail]) + (f"?{query}" if query else "")
        raise _fail(f, f"the prefix must be exactly '/restapi/v1.0': {fixed!r}")
    if "?" in query:
        raise _fail(f, "use '&' between query parameters, not a second '?'")
    if text.endswith("?") or "&&" in query or query.startswith("&") or query.endswith("&"):
        raise _fail(f, "remove the empty query parameter")
    for pair in query.split("&") if query else ():
        name, eq, value = pair.partition("=")
        if not name or not eq or not value:
            raise _fail(f, f"write the query parameter {pair!r} as 'name=value'")
    return text


# --------------------------------------------------------------------------- matching


def _split(path: str) -> tuple[tuple[str, ...], frozenset[str]]:
    path, _, query = path.partition("?")
    params = frozenset(query.split("&")) if query else frozenset()
    return tuple(path.rstrip("/").split("/")), params


def _segments_match(
    filter_segments: tuple[str, ...],
    event_segments: tuple[str, ...],
    owner_extension: str | None = None,
) -> bool:
    if len(filter_segments) != len(event_segments):
        return False
    previous = ""
    for want, got in zip(filter_segments, event_segments, strict=True):
        if want != got and got != "~" and want != "*":
            if want != "~":
                return False
            if previous == "extension" and owner_extension is not None and got != owner_extension:
                return False  # '~' is the token owner's extension, not any extension
        previous = want
    return True


def _account_level_view(event_segments: tuple[str, ...]) -> tuple[str, ...] | None:
    """``/restapi/v1.0/account/A/extension/X/rest`` seen as ``/restapi/v1.0/account/A/rest``.

    Account-level filters (``account/~/presence``, ``account/~/telephony/sessions``) are
    answered with extension-scoped event paths: docs samples ``account-presence.json``
    (``/restapi/v1.0/account/~/extension/6610372004/presence``) and
    ``account-telephony-sessions.json`` (``.../account/{acc}/extension/{ext}/telephony/
    sessions``), ringcentral-api-docs@64067a50.
    """
    if (
        len(event_segments) > 7
        and event_segments[3] == "account"
        and event_segments[5] == "extension"
    ):
        return event_segments[:5] + event_segments[7:]
    return None


#: Tails of filters about *other* extensions' presence. No source shows their event paths;
#: the emulator's default (and the likeliest reading) is the watched extension's own
#: presence path, ``account/{acc}/extension/{watched}/presence``; the filter-shaped path
#: matches as usual. Both readings are routed to the filter (docs/delivery.md).
_WATCHED_PRESENCE: Final = (("presence", "line", "presence"), ("favorite", "presence"))


def _watched_variant(segments: tuple[str, ...]) -> tuple[str, ...] | None:
    """For ``.../extension/~/presence/line/presence`` or ``.../extension/~/favorite/presence``
    the pattern ``.../extension/*/presence`` (``*``: any extension)."""
    for tail in _WATCHED_PRESENCE:
        n = len(tail)
        if len(segments) > n + 2 and segments[-n:] == tail and segments[-n - 2] == "extension":
            return (*segments[: -n - 1], "*", "presence")
    return None


def resource_family(path: str) -> str:
    """The resource an event path or filter is about: its path after the API prefix and the
    ``account/{id}`` / ``extension/{id}`` scope, without ids or query (``presence``,
    ``telephony/sessions``, ``message-store/instant``,
    ``webinar/configuration/v1/company/sessions`` ...). The presence of other extensions a
    filter watches (``presence/line/presence``, ``favorite/presence``) is ``presence``: the
    platform delivers it as the watched extension's presence (docs/delivery.md).

    RingCentral's own app routes notifications by the whole resource suffix of their
    ``event`` (ringcentral-js-widgets ``WebSocketSubscription.ts``,
    ``new RegExp(`${eventType}$`)``), so ``telephony/sessions`` and a webinar's
    ``company/sessions`` are different resources. rcstream uses the family only for events
    no consumer's filter matches, so that such an event still reaches the consumers of its
    family and never another family's.
    """
    segments = [s for s in path.partition("?")[0].split("/") if s]
    if segments[:2] == ["restapi", "v1.0"]:
        segments = segments[2:]
    out: list[str] = []
    i = 0
    while i < len(segments):
        seg = segments[i]
        if seg in ("account", "extension") and i + 1 < len(segments):
            i += 2  # the scope and its id (or ~)
            continue
        if seg != "~" and not seg.isdigit():
            out.append(seg)
        i += 1
    tail = tuple(out)
    for watched in _WATCHED_PRESENCE:
        if tail[-len(watched) :] == watched:
            return "presence"
    return "/".join(out)


def filter_matches(filter: str, event: str, *, owner_extension: str | None = None) -> bool:
    """Whether a notification's ``event`` path belongs to subscription filter ``filter``.

    Path segments must be equal, except that ``~`` in the filter stands for the token
    owner: in the extension position it matches ``owner_extension`` when that is known
    (any extension otherwise), in the account position any account (a token sees only its
    own). A ``~`` kept in the event path matches anything. An account-level filter
    (``account/~/presence``) also covers the extension-scoped paths beneath it
    (``account/{acc}/extension/{ext}/presence``), which is how the platform delivers them.
    Every ``name=value`` parameter of the filter's query must be in the event's (the
    platform copies the filter's query string into the event path); the event may carry
    more: when plain and detailed presence are both subscribed the platform sends only the
    detailed form ("detailed wins"), and it is still a presence event for the plain filter.
    """
    return bool(FilterMatcher((filter,), owner_extension=owner_extension).which(event))


class FilterMatcher:
    """A compiled set of filters, to route each notification to the filters it matches.

    Built once per subscription; :meth:`which` caches its answer per distinct ``event``
    string (a stream sees few of them), so the steady-state cost is one dict lookup.
    The cache is bounded: it is cleared when it holds ``cache_size`` entries.
    ``owner_extension`` is the token owner's extension id (what ``~`` means in a filter's
    extension position); set it later with :meth:`set_owner` when it becomes known.
    """

    __slots__ = ("_by_shape", "_cache", "_cache_size", "_owner", "filters")

    def __init__(
        self,
        filters: Iterable[str],
        *,
        cache_size: int = 4096,
        owner_extension: str | None = None,
    ) -> None:
        #: The filters, in the order given (duplicates removed).
        self.filters: tuple[str, ...] = tuple(dict.fromkeys(filters))
        self._cache_size = cache_size
        self._cache: dict[str, tuple[str, ...]] = {}
        self._owner = owner_extension
        # segment count -> [(segments, query parameters, filter)]
        self._by_shape: dict[int, list[tuple[tuple[str, ...], frozenset[str], str]]] = {}
        for f in self.filters:
            segments, params = _split(f)
            self._by_shape.setdefault(len(segments), []).append((segments, params, f))
            watched = _watched_variant(segments)
            if watched is not None:
                self._by_shape.setdefault(len(watched), []).append((watched, params, f))

    def set_owner(self, owner_extension: str | None) -> None:
        """Make ``~`` in the extension position mean ``owner_extension`` from now on."""
        if owner_extension != self._owner:
            self._owner = owner_extension
            self._cache.clear()

    def which(self, event: str) -> tuple[str, ...]:
        """The filters ``event`` belongs to, in the order the filters were given."""
        found = self._cache.get(event)
        if found is not None:
            return found
        segments, params = _split(event)
        owner = self._owner
        hits = {
            f
            for fs, fp, f in self._by_shape.get(len(segments), ())
            if fp <= params and _segments_match(fs, segments, owner)
        }
        view = _account_level_view(segments)
        if view is not None:
            hits.update(
                f
                for fs, fp, f in self._by_shape.get(len(view), ())
                if fp <= params and fs[5:6] != ("extension",) and _segments_match(fs, view)
            )
        found = tuple(f for f in self.filters if f in hits) if hits else ()
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[event] = found
        return found

    def matches(self, event: str) -> bool:
        """Whether ``event`` belongs to at least one of the filters."""
        return bool(self.which(event))

    def __repr__(self) -> str:
        return f"FilterMatcher({list(self.filters)!r})"


# --------------------------------------------------------------------------- typo suggestions

#: Path templates of every filter family rcstream knows, ids as ``*`` (from the builders
#: above, so they cannot drift from them). Used only to catch typos, never to refuse.
_ID_AFTER: Final = frozenset({"account", "extension", "device", "batches"})


def _shape(f: str) -> str:
    """``f``'s path with every id (a segment after account/extension/device/batches) as ``*``
    and the query dropped: the part a typo check compares."""
    segments = f.partition("?")[0].split("/")
    out = [
        "*" if i > 0 and segments[i - 1] in _ID_AFTER and s else s for i, s in enumerate(segments)
    ]
    return "/".join(out)


def _known_shapes() -> tuple[str, ...]:
    builders = (
        telephony_sessions(),
        telephony_sessions(extension=None),
        presence(),
        account_presence(),
        dnd(),
        presence_line(),
        line_presence(),
        favorite_presence(),
        instant_sms(),
        message_store(),
        voicemail(),
        fax(),
        a2p_batches(),
        a2p_batches(batch_id="1"),
        a2p_messages(),
        a2p_opt_outs(),
        contact_center_numbers(),
        team_messaging_posts(),
        team_messaging_groups(),
        directory_entries(),
        emergency_address("1"),
        favorites(),
        grants(),
        extension_info(),
        extension_list(),
        webinar_sessions(),
        webinar_session_state(),
        webinar_registration_state(),
        webinar_registrants(),
    )
    return tuple(dict.fromkeys(_shape(f) for f in builders))


KNOWN_SHAPES: Final[tuple[str, ...]] = _known_shapes()


@functools.cache
def _every_known_shape() -> tuple[str, ...]:
    """:data:`KNOWN_SHAPES` and every path the models route (the routing table is the
    authority on which families rcstream knows; imported on first use, not with this
    module, which the command line loads before pydantic)."""
    from rcstream.models.routing import _ROUTES

    routed = (_shape(key) for key in _ROUTES)
    return tuple(dict.fromkeys((*KNOWN_SHAPES, *routed)))


def is_known_family(f: str) -> bool:
    """Whether filter ``f`` has the path of an event family rcstream knows (ids and the
    query string aside). ``False`` is not an error: the platform has filters we do not
    model; it is a reason to check ``f`` for a typo (:func:`suggest_filter`)."""
    return _shape(f) in _every_known_shape()


def suggest_filter(f: str) -> str | None:
    """The known filter path closest to ``f`` (with ``f``'s own ids and query kept), or
    ``None`` if nothing is close: the "did you mean" for a misspelt filter."""
    import difflib

    shape = _shape(f)
    close = difflib.get_close_matches(shape, _every_known_shape(), n=1, cutoff=0.8)
    if not close:
        return None
    path, sep, query = f.partition("?")
    own = path.split("/")
    ids = [s for i, s in enumerate(own) if i > 0 and own[i - 1] in _ID_AFTER]
    out: list[str] = []
    for seg in close[0].split("/"):
        out.append(ids.pop(0) if seg == "*" and ids else ("~" if seg == "*" else seg))
    return "/".join(out) + sep + query


def suggest_preset(name: str) -> str | None:
    """The :data:`PRESETS` name closest to a misspelt ``name``, or ``None``."""
    import difflib

    close = difflib.get_close_matches(name.lower(), PRESETS, n=1, cutoff=0.6)
    return close[0] if close else None
