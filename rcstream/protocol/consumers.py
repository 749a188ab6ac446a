"""Routing decisions for the client's consumers, sans-I/O: which consumers an event goes to.

:class:`ConsumerTable` keeps the bookkeeping of several consumers sharing one server
subscription: the merged filters to ask for, which consumers the server confirmed, the
filters it refused (``disabledFilters``), and the consumers *parked* while another new
consumer's filters are tried alone (so one refused filter fails only the consumer that
asked for it). A :class:`Router` knows each consumer's filters (by an integer key the
caller chooses) and the token owner's extension id, and answers :meth:`Router.route` for
an ``event`` path.
It never awaits and never reads a clock; the client delivers what it returns.

Rules (see ``docs/delivery.md``):

* a consumer gets an event when one of its filters matches it
  (:meth:`rcstream.filters.FilterMatcher.which`: account-level filters cover the
  extension-scoped paths beneath them; ``~`` means the token owner);
* an event no filter matches is **never dropped silently**: the client counts it in
  ``ClientStats.unmatched`` (``RouteResult.matched`` is false), it is reported once per
  path shape (:attr:`RouteResult.first_of_shape`, for a WARNING line), and given to the
  consumers whose filters share its resource family (``presence``, ``sessions``,
  ``message-store`` ...), never to another family's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rcstream.filters import FilterMatcher, resource_family

__all__ = ["ConsumerTable", "Refusal", "RouteResult", "Router", "path_shape"]

_ID = re.compile(r"(?<=/)(?:\d+|~)(?=/|$)")

#: Distinct path shapes remembered for the once-per-shape warning.
_MAX_SHAPES = 1024
#: Event paths whose (matched) route is remembered.
_MAX_ROUTES = 4096


def path_shape(event: str) -> str:
    """``event`` with its ids replaced by ``{id}`` and its query dropped (for logs)."""
    return _ID.sub("{id}", event.partition("?")[0])


@dataclass(frozen=True, slots=True)
class RouteResult:
    """Where one event goes. ``keys``: the consumers to deliver to; ``matched``: False when
    no filter matched and ``keys`` came from the resource-family fallback;
    ``first_of_shape``: an unmatched event of a shape not seen before (log it)."""

    keys: tuple[int, ...]
    matched: bool = True
    first_of_shape: bool = False


@dataclass
class Router:
    """The consumers' filters, and the routing rule. ``owner_extension``: the token owner's
    extension id (``owner_id`` of the token response, or ``ownerId`` of a notification)."""

    owner_extension: str | None = None
    _matchers: dict[int, FilterMatcher] = field(default_factory=dict)
    _families: dict[int, frozenset[str]] = field(default_factory=dict)
    _shapes: set[str] = field(default_factory=set)
    #: matched routes by event path (the hot path: one dict lookup per event); emptied
    #: whenever the filters or the owner change
    _routes: dict[str, RouteResult] = field(default_factory=dict)

    def add(self, key: int, filters: Iterable[str]) -> None:
        """Route events to consumer ``key`` by ``filters``."""
        self._routes.clear()
        matcher = FilterMatcher(filters, owner_extension=self.owner_extension)
        self._matchers[key] = matcher
        self._families[key] = frozenset(resource_family(f) for f in matcher.filters)

    def remove(self, key: int) -> None:
        """Stop routing to consumer ``key`` (unknown keys are ignored)."""
        self._routes.clear()
        self._matchers.pop(key, None)
        self._families.pop(key, None)

    def set_owner(self, owner_extension: str | None) -> None:
        """The token owner became known (or changed): ``~`` means this extension now."""
        if owner_extension and owner_extension != self.owner_extension:
            self._routes.clear()
            self.owner_extension = owner_extension
            for matcher in self._matchers.values():
                matcher.set_owner(owner_extension)

    def matches(self, key: int, event: str) -> bool:
        """Whether consumer ``key``'s filters match ``event`` (no fallback)."""
        matcher = self._matchers.get(key)
        return matcher is not None and matcher.matches(event)

    def cached_route(self, event: str) -> RouteResult | None:
        """The matched route of ``event`` if :meth:`route` has already computed it (one dict
        lookup), else ``None``."""
        return self._routes.get(event)

    def route(self, event: str) -> RouteResult:
        """The consumers ``event`` goes to (see the module docstring for the rules)."""
        found = self._routes.get(event)
        if found is not None:
            return found
        keys = tuple(k for k, m in self._matchers.items() if m.matches(event))
        if keys:
            if len(self._routes) >= _MAX_ROUTES:
                self._routes.clear()
            found = self._routes[event] = RouteResult(keys)
            return found
        family = resource_family(event)
        fallback = tuple(k for k, fams in self._families.items() if family in fams)
        shape = path_shape(event)
        first = shape not in self._shapes
        if first:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            self._shapes.add(shape)
        return RouteResult(fallback, matched=False, first_of_shape=first)


@dataclass
class _Consumer:
    filters: tuple[str, ...]
    confirmed: bool = False
    parked: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """The server did not grant ``filter`` (``reason``) to consumer ``key``. ``confirmed``:
    the consumer was already streaming its other filters (warn; it stays), else it fails
    and has been removed from the table."""

    key: int
    filter: str
    reason: str
    confirmed: bool


@dataclass
class ConsumerTable:
    """The consumers of one server subscription, and what to ask the server for.

    Every method is synchronous and pure bookkeeping; the caller sends what
    :meth:`wanted` returns (through :meth:`rcstream.protocol.SessionState.want_filters`)
    and reports the server's answers back with :meth:`confirm`, :meth:`refuse_disabled`
    and :meth:`reject`.
    """

    router: Router = field(default_factory=Router)
    _consumers: dict[int, _Consumer] = field(default_factory=dict)
    #: filters the server accepted but did not grant (disabledFilters): not asked again
    _refused: set[str] = field(default_factory=set)

    def __contains__(self, key: int) -> bool:
        return key in self._consumers

    def add(self, key: int, filters: Iterable[str]) -> None:
        """A new consumer (unconfirmed until :meth:`confirm` sees its filters)."""
        self._consumers[key] = _Consumer(tuple(filters))
        self.router.add(key, self._consumers[key].filters)

    def remove(self, key: int) -> None:
        """The consumer left (or failed): its filters are no longer wanted."""
        self._consumers.pop(key, None)
        self.router.remove(key)

    def is_confirmed(self, key: int) -> bool:
        """Whether the server subscription carries all of consumer ``key``'s filters."""
        consumer = self._consumers.get(key)
        return consumer is not None and consumer.confirmed

    def any_confirmed(self) -> bool:
        """Whether some consumer is already streaming (a lost subscription is then a gap)."""
        return any(c.confirmed for c in self._consumers.values())

    def wanted(self) -> tuple[str, ...]:
        """The merged filters to ask the server for (parked consumers and refused filters
        left out), in first-asked order."""
        refused = self._refused
        return tuple(
            dict.fromkeys(
                f
                for c in self._consumers.values()
                if not c.parked
                for f in c.filters
                if f not in refused
            )
        )

    def confirm(self, subscribed: Iterable[str]) -> bool:
        """The server subscription now carries ``subscribed``: confirm every consumer it
        covers. When no unparked consumer waits any more, unpark the next parked one and
        return True (the wanted filters changed: send them)."""
        active = set(subscribed)
        for consumer in self._consumers.values():
            if (
                not consumer.confirmed
                and not consumer.parked
                and active.issuperset(consumer.filters)
            ):
                consumer.confirmed = True
        if any(not c.confirmed and not c.parked for c in self._consumers.values()):
            return False
        for consumer in self._consumers.values():
            if consumer.parked:  # the batch that was refused: try the next one on its own
                consumer.parked = False
                return True
        return False

    def refuse_disabled(self, refused: Mapping[str, str]) -> list[Refusal]:
        """The server accepted the subscription without granting ``refused`` (filter ->
        reason). Unconfirmed consumers that asked for one fail (and leave the table)."""
        self._refused.update(refused)
        out: list[Refusal] = []
        for key, consumer in list(self._consumers.items()):
            which = next((f for f in consumer.filters if f in refused), None)
            if which is None:
                continue
            out.append(Refusal(key, which, refused[which], consumer.confirmed))
            if not consumer.confirmed:
                self.remove(key)
        return out

    def reject(self, sent: Iterable[str], base: Iterable[str]) -> tuple[int | None, bool]:
        """A subscription request for ``sent`` (the server had ``base``) was refused.

        Returns ``(failed, fatal)``. With several new consumers waiting, all but the first
        are parked (tried one at a time later): ``(None, False)``. With one, it fails and
        leaves the table: ``(key, False)``. With none (re-creating after a reconnect),
        ``fatal`` is True unless what is wanted changed meanwhile (the asker left).
        """
        sent_set = set(sent)
        added = sent_set - set(base)
        waiting = [
            k
            for k, c in self._consumers.items()
            if not c.confirmed and not c.parked and added.intersection(c.filters)
        ]
        if not waiting:
            return None, sent_set == set(self.wanted())
        if len(waiting) > 1:
            for key in waiting[1:]:
                self._consumers[key].parked = True
            return None, False
        self.remove(waiting[0])
        return waiting[0], False
