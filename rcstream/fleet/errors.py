"""The fleet's errors; all derive from :class:`rcstream.RCStreamError`."""

from __future__ import annotations

from rcstream.exceptions import RCStreamError

__all__ = ["FleetError", "LeaseLost", "NatsUnavailable"]


class FleetError(RCStreamError):
    """A NATS bridge or fleet operation failed; the message says what to do."""


class LeaseLost(FleetError):
    """This worker no longer owns an account's lease; its stream must stop and not write."""


class NatsUnavailable(FleetError):
    """The NATS server could not be reached, started or used."""
