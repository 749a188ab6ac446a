"""The sans-I/O gateway protocol: frame codec and client session state.

Nothing in this package opens sockets, awaits, sleeps or reads a clock.
"""

from __future__ import annotations

from rcstream.protocol.frames import (
    ClientResponse,
    ConnectionDetails,
    ConnectionDetailsBody,
    ErrorFrame,
    Frame,
    FrameType,
    HeartbeatReply,
    ServerNotification,
    Wsc,
    decode_frame,
    encode_client_request,
    encode_heartbeat,
)
from rcstream.protocol.session import (
    SUBSCRIPTION_PATH,
    BadFrame,
    Connected,
    ConnectPlan,
    GatewayErrorReceived,
    HeartbeatDue,
    LinkDead,
    NotificationReceived,
    RecoveryOutcome,
    RecoveryReplayed,
    RequestFailed,
    RequestTimedOut,
    ResponseReceived,
    SessionEvent,
    SessionState,
    SessionTimings,
    SubscriptionReply,
)

__all__ = [
    "SUBSCRIPTION_PATH",
    "BadFrame",
    "ClientResponse",
    "ConnectPlan",
    "Connected",
    "ConnectionDetails",
    "ConnectionDetailsBody",
    "ErrorFrame",
    "Frame",
    "FrameType",
    "GatewayErrorReceived",
    "HeartbeatDue",
    "HeartbeatReply",
    "LinkDead",
    "NotificationReceived",
    "RecoveryOutcome",
    "RecoveryReplayed",
    "RequestFailed",
    "RequestTimedOut",
    "ResponseReceived",
    "ServerNotification",
    "SessionEvent",
    "SessionState",
    "SessionTimings",
    "SubscriptionReply",
    "Wsc",
    "decode_frame",
    "encode_client_request",
    "encode_heartbeat",
]
