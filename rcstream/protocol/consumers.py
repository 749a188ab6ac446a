"""Routing decisions for the client's consumers, sans-I/O: which consumers an event goes to.

A :class:`Router` knows each consumer's filters (by an integer key the caller chooses) and
the token owner's extension id, and answers :meth:`Router.route` for an ``event`` path.
It never awaits and never reads a clock; the client delivers what it returns.

Rules (see ``docs/delivery.md``):

* a consumer gets an event when one of its filters matches it
  (:meth:`rcstream.filters.FilterMatcher.which`: account-level filters cover the
  extension-scoped paths beneath them; ``~`` means the token owner);
* an event no filter matches is **never dropped silently**: it is counted in
  :attr:`Router.unmatched`, reported once per path shape (:attr:`RouteResult.first_of_shape`,
  for a WARNING line), and given to the consumers whose filters share its resource family
  (``presence``, ``sessions``, ``message-store`` ...), never to another family's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rcstream.filters import FilterMatcher, resource_family

__all__ = ["RouteResult", "Router", "path_shape"]

_ID = re.compile(r"(?<=/)(?:\d+|~)(?=/|$)")

#: Distinct path shapes remembered for the once-per-shape warning.
_MAX_SHAPES = 1024


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
    #: Events that no consumer's filter matched (delivered by family, or to nobody).
    unmatched: int = 0
    _matchers: dict[int, FilterMatcher] = field(default_factory=dict)
    _families: dict[int, frozenset[str]] = field(default_factory=dict)
    _shapes: set[str] = field(default_factory=set)

    def add(self, key: int, filters: Iterable[str]) -> None:
        """Route events to consumer ``key`` by ``filters``."""
        matcher = FilterMatcher(filters, owner_extension=self.owner_extension)
        self._matchers[key] = matcher
        self._families[key] = frozenset(resource_family(f) for f in matcher.filters)

    def remove(self, key: int) -> None:
        """Stop routing to consumer ``key`` (unknown keys are ignored)."""
        self._matchers.pop(key, None)
        self._families.pop(key, None)

    def set_owner(self, owner_extension: str | None) -> None:
        """The token owner became known (or changed): ``~`` means this extension now."""
        if owner_extension and owner_extension != self.owner_extension:
            self.owner_extension = owner_extension
            for matcher in self._matchers.values():
                matcher.set_owner(owner_extension)

    def matches(self, key: int, event: str) -> bool:
        """Whether consumer ``key``'s filters match ``event`` (no fallback)."""
        matcher = self._matchers.get(key)
        return matcher is not None and matcher.matches(event)

    def route(self, event: str) -> RouteResult:
        """The consumers ``event`` goes to (see the module docstring for the rules)."""
        keys = tuple(k for k, m in self._matchers.items() if m.matches(event))
        if keys:
            return RouteResult(keys)
        self.unmatched += 1
        family = resource_family(event)
        fallback = tuple(k for k, fams in self._families.items() if family in fams)
        shape = path_shape(event)
        first = shape not in self._shapes
        if first:
            if len(self._shapes) >= _MAX_SHAPES:
                self._shapes.clear()
            self._shapes.add(shape)
        return RouteResult(fallback, matched=False, first_of_shape=first)
