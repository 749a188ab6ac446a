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
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

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
        """Whether an event with concrete ``path`` and query ``params`` matches this filter."""
        if path != self.path:
            return False
        return all(key not in params or params[key] == values for key, values in self.params)


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
    params = _params(query)
    return EventFilter(
        path="/" + "/".join(out),
        query=query,
        params=tuple(sorted(params.items())),
    )
