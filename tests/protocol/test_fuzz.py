"""Property tests: the decoder and the session never crash on arbitrary input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import json_values as support_json_values

from rcstream.exceptions import FrameDecodeError
from rcstream.protocol import (
    BadFrame,
    Connected,
    SessionState,
    decode_frame,
)

# hostile input: integers of any size, and infinities
json_values = support_json_values(int_range=None, infinity=True)
types = st.sampled_from(
    ["ConnectionDetails", "ClientRequest", "ServerNotification", "Heartbeat", "Error", "X"]
)
headers = st.fixed_dictionaries(
    {"type": types},
    optional={
        "messageId": json_values,
        "status": json_values,
        "headers": json_values,
        "wsc": st.fixed_dictionaries({"token": json_values, "sequence": json_values}) | json_values,
    },
)
frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.tuples(headers).map(lambda t: json.dumps(list(t))),
    st.tuples(headers, json_values).map(lambda t: json.dumps(list(t))),
)


@given(frames)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_decoder_only_raises_frame_decode_error(text: str) -> None:
    try:
        decode_frame(text)
    except FrameDecodeError as exc:
        assert str(exc).startswith("Skipped a gateway frame:")


@given(st.binary(max_size=100))
def test_decoder_on_bytes(data: bytes) -> None:
    try:
        decode_frame(data)
    except FrameDecodeError:
        pass


@given(st.lists(st.tuples(frames, st.floats(min_value=0, max_value=1e4)), max_size=30))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_session_invariants_hold_for_any_frame_sequence(
    seq: list[tuple[str, float]],
) -> None:
    state = SessionState()
    state.want_filters(["/restapi/v1.0/account/~/extension/~/presence"])
    now = 0.0
    state.connection_opened(now, state.plan_connect(now))
    connected = 0
    for text, dt in seq:
        now += dt
        events: list[Any] = state.receive(text, now)
        events += state.poll(now)
        connected += sum(isinstance(e, Connected) for e in events)
        for e in events:
            if isinstance(e, BadFrame):
                assert isinstance(e.error, FrameDecodeError)
        deadline = state.next_deadline()
        assert deadline is None or deadline == deadline  # never NaN
    assert connected <= 1  # one Connected per connection, whatever else arrives
    assert state.pending_count >= 0
