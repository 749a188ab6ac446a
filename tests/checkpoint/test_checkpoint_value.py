"""The Checkpoint value round-trips through its JSON encoding, secrets and all."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from rcstream.checkpoint import Checkpoint
from rcstream.redact import Secret

text = st.text(max_size=30)
maybe_time = st.none() | st.floats(min_value=0, max_value=4e9, allow_nan=False)
# token-like: long enough that finding one in a repr cannot be a coincidence with "[secure]"
token = st.text(alphabet=string.ascii_letters + string.digits, min_size=12, max_size=40)
maybe_secret = st.none() | token.map(Secret)
body = st.dictionaries(st.sampled_from(["uuid", "event", "body"]), text, max_size=3)

checkpoints = st.builds(
    Checkpoint,
    client_id=text,
    server_url=text,
    access_token=maybe_secret,
    access_expires_at=maybe_time,
    refresh_token=maybe_secret,
    refresh_expires_at=maybe_time,
    wsc=maybe_secret,
    wsc_sequence=st.none() | st.integers(min_value=0, max_value=2**53),
    subscription_id=st.none() | text,
    filters=st.tuples(text, text),
    last_frame_at=maybe_time,
    disconnected_at=maybe_time,
    recovery_timeout=maybe_time,
    recent_uuids=st.lists(text, max_size=5).map(tuple),
    pending=st.lists(body, max_size=3).map(tuple),
    extra=st.dictionaries(text, st.integers(), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(checkpoints)
def test_json_round_trip(cp: Checkpoint) -> None:
    assert Checkpoint.from_json(cp.to_json()) == cp
    assert Checkpoint.from_dict(cp.to_dict()) == cp
    # a secret never shows in the repr (unless another, non-secret field holds the same text)
    bare = repr(cp.evolve(access_token=None, refresh_token=None, wsc=None))
    for secret in (cp.access_token, cp.refresh_token, cp.wsc):
        if secret is not None and secret.get() not in bare:
            assert secret.get() not in repr(cp)
