"""Event-filter validation, ``~`` expansion and matching for the emulator.

This is the emulator's own matcher (it does not use ``rcstream.filters``).

Rules:

* A filter is a path starting with a known API prefix (``/restapi/``, ``/team-messaging/``,
  ``/webinar/`` …) with an optional query string; no whitespace, no empty segments.
* ``~`` is allowed only as the value after an ``account`` or ``extension`` segment and is
  replaced by the subscriber's numeric account / extension id. A numeric account id other
  than the subscriber's is refused (``SUB-406``).
* A filter matches an event when the paths are equal (a trailing slash is ignored) and every
  query parameter the filter and the event *both* name has the same set of values
  (compared case-insensitively). A filter parameter the event does not mention does not
  restrict (``…/presence?detailedTelephonyState=true`` gets plain presence events), and an
  event parameter the filter does not mention does not restrict either (``…/message-store``
  gets ``…/message-store?type=SMS`` events). Parameter order never matters.
* The notification's ``event`` field is the event's concrete path plus the *filter's* query
  string, as the platform writes it.
* Account-level filters cover extension-scoped events (:meth:`EventFilter.delivery`):
  ``/account/{acc}/presence`` gets ``/account/{acc}/extension/{ext}/presence`` events and
  ``/account/{acc}/telephony/sessions`` gets ``.../extension/{ext}/telephony/sessions``
  events, with those paths in ``event`` (DOCS ``code-samples/events/account-presence.json:3``,
  ``account-telephony-sessions.json:10``; ``docs/voice/call-control-sessions.md:88,103``).
* ``.../extension/{S}/presence/line/presence`` and ``.../extension/{S}/favorite/presence``
  get the presence events of the *other* extensions of the account (the emulator treats
  every other extension as monitored and a favourite). No public source shows their
  ``event`` path: ``presence_event_path="extension"`` (the default, an assumption) writes
  the watched extension's own ``.../extension/{W}/presence``; ``"filter"`` writes the
  filter's own path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl

PresenceEventPath = Literal["extension", "filter"]

# An extension-scoped event an account-level or watching filter may cover.
_EXTENSION_EVENT = re.compile(
    r"(?P<account>/restapi/v1\.0/account/\d+)/extension/(?P<ext>\d+)"
    r"(?P<suffix>/presence|/telephony/sessions)"
)
_WATCHING = ("/presence/line/presence", "/favorite/presence")

# The event filter shapes the emulator knows under /restapi/v1.0/ and /team-messaging/v1/
# (after ``~`` expansion: numeric ids). Source: the developer guide's event-filter list
# plus the older Glip aliases. Anything else under these two prefixes (``.../presense``)
# is refused with 400 SUB-508 "Invalid event filters" (the developer guide's ``errors.md``).
# Other API prefixes (webinar, video, AI …) are not catalogued here and are accepted when
# well-formed.
_ACC = r"/restapi/v1\.0/account/\d+"
_EXT = _ACC + r"/extension/\d+"
_KNOWN_SHAPES = re.compile(
    "|".join(
        (
            _EXT + r"/message-store/instant",
            _EXT + r"/message-store",
            _EXT + r"/fax",
            _EXT + r"/voicemail",
            _EXT + r"/telephony/sessions",
            _EXT + r"/presence",
            _EXT + r"/presence/dnd",
            _EXT + r"/presence/line",
            _EXT + r"/presence/line/presence",
            _EXT + r"/favorite/presence",
            _EXT + r"/favorite",
            _EXT + r"/grant",
            _EXT,
            _ACC + r"/extension",
            _ACC + r"/telephony/sessions",
            _ACC + r"/presence",
            _ACC + r"/a2p-sms/batches(?:/[\w-]+)?",
            _ACC + r"/a2p-sms/messages",
            _ACC + r"/a2p-sms/opt-outs",
            _ACC + r"/phone-number",
            _ACC + r"/directory/entries",
            _ACC + r"/device/\d+/emergency-address",
            r"/restapi/v1\.0/glip/(?:posts|groups|chats)",
            r"/team-messaging/v1/(?:posts|groups|chats)",
        )
    )
)
_CATALOGUED = ("/restapi/v1.0/", "/team-messaging/v1/")

KNOWN_PREFIXES = (
    "/restapi/",
    "/team-messaging/",
    "/webinar/",
    "/rcvideo/",
    "/video/",
    "/ai/",
    "/analytics/",
    "/cx/",
    "/scim/",
)

Params = dict[str, frozenset[str]]


class FilterError(ValueError):
    """A filter was refused; ``code``/``status`` say how (``SUB-508`` 400 or ``SUB-406`` 403)."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


@dataclass(frozen=True)
class EventFilter:
    """One expanded filter: ``path`` has numeric ids, ``query`` is the original query string."""

    path: str
    query: str
    params: tuple[tuple[str, frozenset[str]], ...]

    @property
    def text(self) -> str:
        """The expanded filter as the platform echoes it in ``SubscriptionInfo.eventFilters``."""
        return f"{self.path}?{self.query}" if self.query else self.path

    def event_field(self, event_path: str) -> str:
        """The ``event`` value for a notification of ``event_path`` delivered via this filter."""
        return f"{event_path}?{self.query}" if self.query else event_path

    def matches(self, path: str, params: Params) -> bool:
        """Whether an event with concrete ``path`` and query ``params`` matches this filter
        exactly (same path; shared query parameters agree)."""
        return path == self.path and self._params_agree(params)

    def _params_agree(self, params: Params) -> bool:
        return all(key not in params or params[key] == values for key, values in self.params)

    def delivery(
        self, path: str, params: Params, *, presence_event_path: PresenceEventPath = "extension"
    ) -> str | None:
        """The ``event`` field an event of ``path`` gets through this filter, or ``None``
        when the filter does not cover it (see the module rules for covering)."""
        if not self._params_agree(params):
            return None
        if path == self.path:
            return self.event_field(path)
        m = _EXTENSION_EVENT.fullmatch(path)
        if m is None:
            return None
        account, suffix = m["account"], m["suffix"]
        if self.path == account + suffix:
            return self.event_field(path)  # account-level filter: the extension's own path
        if suffix != "/presence":
            return None
        for tail in _WATCHING:
            owner = self.path.removesuffix(tail)
            if (
                owner != self.path
                and owner.startswith(account + "/extension/")
                and owner != f"{account}/extension/{m['ext']}"
            ):
                return self.event_field(path if presence_event_path == "extension" else self.path)
        return None


def _params(query: str) -> Params:
    grouped: dict[str, set[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        grouped.setdefault(key, set()).add(value.casefold())
    return {k: frozenset(v) for k, v in grouped.items()}


def _normalise(path: str) -> str:
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


def split_event(event: str) -> tuple[str, Params]:
    """Split a concrete event path into ``(path, params)`` for :meth:`EventFilter.matches`."""
    path, _, query = event.partition("?")
    return _normalise(path), _params(query)


def parse_filter(raw: object, *, account_id: str, extension_id: str) -> EventFilter:
    """Validate one filter and expand ``~``; raise :class:`FilterError` if it is refused."""
    if not isinstance(raw, str) or not raw or len(raw) > 2000:
        raise FilterError("SUB-508", 400, f"Invalid event filters: [{raw}]")
    invalid = FilterError("SUB-508", 400, f"Invalid event filters: [{raw}]")
    if any(c.isspace() for c in raw) or not raw.startswith(KNOWN_PREFIXES):
        raise invalid
    path, _, query = raw.partition("?")
    path = _normalise(path)
    segments = path.split("/")[1:]
    if any(s == "" for s in segments):
        raise invalid
    out: list[str] = []
    for i, seg in enumerate(segments):
        prev = segments[i - 1] if i else ""
        if prev == "account":
            if seg == "~":
                seg = account_id
            elif not seg.isdigit():
                raise invalid
            elif seg != account_id:
                raise FilterError(
                    "SUB-406",
                    403,
                    "Not allowed subscribe for events to extensions of other account",
                )
        elif prev == "extension":
            if seg == "~":
                seg = extension_id
            elif not seg.isdigit():
                raise invalid
        elif "~" in seg:
            raise invalid
        out.append(seg)
    expanded = "/" + "/".join(out)
    if expanded.startswith(_CATALOGUED) and _KNOWN_SHAPES.fullmatch(expanded) is None:
        raise invalid
    params = _params(query)
    return EventFilter(
        path="/" + "/".join(out),
        query=query,
        params=tuple(sorted(params.items())),
    )
