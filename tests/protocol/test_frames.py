"""Byte-level tests of the frame codec against recorded frames."""

from __future__ import annotations

import json

import pytest
from support import load

from rcstream.exceptions import FrameDecodeError
from rcstream.protocol import (
    ClientResponse,
    ConnectionDetails,
    ErrorFrame,
    HeartbeatReply,
    ServerNotification,
    Wsc,
    decode_frame,
    encode_client_request,
    encode_heartbeat,
)


def test_connection_details_fields() -> None:
    frame = decode_frame(load("connection-details.json"))
    assert isinstance(frame, ConnectionDetails)
    assert frame.wsc == Wsc(token="WSC-EXAMPLE-TOKEN", sequence=1)
    assert frame.details is not None
    d = frame.details
    assert (d.recovery_timeout, d.idle_timeout, d.absolute_timeout) == (180, 1800, 86400)
    assert (d.max_active_requests, d.recovery_buffer_size) == (10, 100)
    assert d.max_connections_per_session == 50
    assert d.recovery_state is None


def test_recovery_states() -> None:
    ok = decode_frame(load("connection-details-recovered.json"))
    failed = decode_frame(load("connection-details-failed.json"))
    assert isinstance(ok, ConnectionDetails) and isinstance(failed, ConnectionDetails)
    assert ok.details is not None and ok.details.recovery_state == "Successful"
    assert failed.details is not None
    assert failed.details.recovery_state == "Failed"
    assert failed.details.recovery_error_code == "WSG-1005"


def test_connection_details_without_body() -> None:
    frame = decode_frame(load("connection-details-bare.json"))
    assert isinstance(frame, ConnectionDetails)
    assert frame.details is None and frame.wsc is None


def test_subscription_response() -> None:
    frame = decode_frame(load("subscription-response.json"))
    assert isinstance(frame, ClientResponse)
    assert frame.ok and frame.status == 200
    assert frame.message_id == "7f0c6a52-3c1e-4b5e-9a43-2f1d0e9b8a11"
    assert frame.headers["Content-Type"] == "application/json"
    assert frame.body["id"] == "5b7a1c9e-0000-4000-8000-0000000005b1"


def test_error_reply_as_client_request() -> None:
    frame = decode_frame(load("subscription-error.json"))
    assert isinstance(frame, ClientResponse)
    assert not frame.ok and frame.status == 403
    assert frame.body["errorCode"] == "SUB-505"


def test_error_frame_for_request() -> None:
    frame = decode_frame(load("request-error-frame.json"))
    assert isinstance(frame, ErrorFrame)
    assert frame.message_id == "7f0c6a52-3c1e-4b5e-9a43-2f1d0e9b8a11"
    assert (frame.error_code, frame.status) == ("SUB-508", 400)


@pytest.mark.parametrize(
    ("name", "code", "message_id"),
    [
        ("error-idle-timeout.json", "WSG-902", "e0e0e0e0-0000-4000-8000-000000000902"),
        ("error-absolute-timeout-bare.json", "WSG-903", None),
        ("error-malformed-wsc.json", "WSG-400", "e0e0e0e0-0000-4000-8000-000000000400"),
    ],
)
def test_gateway_errors(name: str, code: str, message_id: str | None) -> None:
    frame = decode_frame(load(name))
    assert isinstance(frame, ErrorFrame)
    assert frame.error_code == code
    assert frame.message_id == message_id


def test_notification() -> None:
    frame = decode_frame(load("notification-telephony.json"))
    assert isinstance(frame, ServerNotification)
    assert frame.message_id == frame.body["uuid"] == "1823485288313900000"
    assert frame.body["body"]["parties"][0]["status"]["code"] == "Setup"
    assert frame.wsc is None


def test_wsc_on_a_notification() -> None:
    frame = decode_frame(load("notification-with-wsc.json"))
    assert frame.wsc == Wsc(token="WSC-EXAMPLE-TOKEN-9", sequence=9)


@pytest.mark.parametrize("name", ["heartbeat-response.json", "heartbeat-response-nostatus.json"])
def test_heartbeat_reply(name: str) -> None:
    frame = decode_frame(load(name))
    assert isinstance(frame, HeartbeatReply)
    assert frame.message_id == "4f1e9a0c-5b2d-4c3e-8f7a-6b5c4d3e2f10"


def test_multipart_rest_reply_keeps_raw_body() -> None:
    frame = decode_frame(load("rest-multipart-response.json"))
    assert isinstance(frame, ClientResponse)
    assert frame.status == 207
    assert isinstance(frame.body, str)
    assert frame.body.startswith("--Boundary_1_2_3")
    assert '{"response":[{"status":200}]}' in frame.body


def test_delete_reply_without_body() -> None:
    frame = decode_frame(load("delete-response-nobody.json"))
    assert isinstance(frame, ClientResponse)
    assert frame.status == 204 and frame.body is None


def test_bytes_are_accepted() -> None:
    frame = decode_frame(load("heartbeat-response.json").encode())
    assert isinstance(frame, HeartbeatReply)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not valid JSON"),
        ("{}", "not a JSON array"),
        ("[]", "empty array"),
        ("[1]", "header is not an object"),
        ('[{"type":"Bogus"}]', "unknown frame type"),
        ('[{"messageId":"x"}]', "no 'type'"),
        ('[{"type":"ClientRequest","status":200}]', "without 'messageId'"),
        ('[{"type":"ClientRequest","messageId":"x"}]', "without 'status'"),
        ('[{"type":"ServerNotification"}, 5]', "without an object body"),
        ('[{"type":"Heartbeat","status":"two hundred"}]', "'status' is not an integer"),
        ('[{"type":"Heartbeat","wsc":"x"}]', "'wsc' is not an object"),
        ('[{"type":"Heartbeat","wsc":{"sequence":1}}]', "'wsc' has no token"),
        ('[{"type":"Heartbeat","headers":[]}]', "'headers' is not an object"),
        ('[{"type":"Heartbeat"},{},{}]', "more than two elements"),
        ('[{"type":"ConnectionDetails"},{"idleTimeout":"soon"}]', "mistyped fields"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_malformed_frames_raise_named_error(text: str, reason: str) -> None:
    with pytest.raises(FrameDecodeError, match=reason) as info:
        decode_frame(text)
    assert str(info.value).startswith("Skipped a gateway frame:")


def test_invalid_utf8() -> None:
    with pytest.raises(FrameDecodeError, match="UTF-8"):
        decode_frame(b"[\xff\xfe]")


def test_decode_error_redacts_secrets() -> None:
    text = '[{"type":"Nope","wsc":{"token":"SUPERSECRET","sequence":1}}]'
    with pytest.raises(FrameDecodeError) as info:
        decode_frame(text)
    assert "SUPERSECRET" not in info.value.raw
    assert "SUPERSECRET" not in str(info.value)


def test_encode_matches_recorded_request_shapes() -> None:
    text = encode_client_request(
        "c1",
        "post",
        "/restapi/v1.0/subscription",
        {"eventFilters": ["/a"], "deliveryMode": {"transportType": "WebSocket"}},
    )
    assert json.loads(text) == [
        {
            "type": "ClientRequest",
            "messageId": "c1",
            "method": "POST",
            "path": "/restapi/v1.0/subscription",
        },
        {"eventFilters": ["/a"], "deliveryMode": {"transportType": "WebSocket"}},
    ]
    # no body element at all for DELETE, query and headers only when given
    assert json.loads(encode_client_request("d1", "DELETE", "/x")) == [
        {"type": "ClientRequest", "messageId": "d1", "method": "DELETE", "path": "/x"}
    ]
    q = json.loads(encode_client_request("g", "GET", "/x", query={"a": "1"}, headers={"H": "v"}))
    assert q[0]["query"] == {"a": "1"} and q[0]["headers"] == {"H": "v"}
    assert json.loads(encode_heartbeat("4f1e9a0c-5b2d-4c3e-8f7a-6b5c4d3e2f10")) == json.loads(
        load("heartbeat-request.json")
    )


def test_wsc_repr_hides_token() -> None:
    assert "WSC-EXAMPLE" not in repr(Wsc(token="WSC-EXAMPLE", sequence=3))
