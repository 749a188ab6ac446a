"""The client's one-validate path for ``ServerNotification`` frames.

A ``ServerNotification`` frame is ``[{header},{notification}]``. :func:`validate_frame`
validates the whole frame once, straight from its bytes, into ``[dict, the event's model]``
(:func:`rcstream.models.routing.parse_frame_typed`: no intermediate dict for the
notification), then checks the header as :func:`~rcstream.protocol.frames.decode_frame`
would (:func:`~rcstream.protocol.frames.notification_header`).

It never guesses: whenever the frame is unusual it returns ``None`` and the caller takes
the general path, :func:`~rcstream.protocol.frames.decode_frame` then
:func:`~rcstream.models.parse_notification`, which gives the same model, degrades the body
or reports the error. What it returns is what the general path gives (property-tested in
``tests/protocol/test_scan.py``).
"""

from __future__ import annotations

from rcstream.models import Notification
from rcstream.models.routing import parse_frame_typed
from rcstream.protocol.frames import Wsc, notification_header

__all__ = ["validate_frame"]


def validate_frame(frame: bytes, event: str) -> tuple[Notification, str | None, Wsc | None] | None:
    """The client's one-validate path: ``(model, messageId, wsc)`` of a ``ServerNotification``
    frame whose event path is (probably) ``event``, from one ``validate_json`` of the whole
    frame (:func:`rcstream.models.routing.parse_frame_typed`) and the header checks of
    :func:`~rcstream.protocol.frames.notification_header`.

    ``None`` whenever the frame needs the general path
    (:func:`~rcstream.protocol.frames.decode_frame` and
    :func:`~rcstream.models.parse_notification`), which then gives the same model, degrades
    the body or reports the error. A header that carries a ``wsc`` also takes the general
    path: the model keeps the frame it was validated from (for ``to_wire()``), and the
    session token must not travel with a notification a caller may pickle or copy.
    """
    parsed = parse_frame_typed(frame, event)
    if parsed is None:
        return None
    header, notification = parsed
    ids = notification_header(header)
    if ids is None or ids[1] is not None:
        return None
    return notification, ids[0], None
