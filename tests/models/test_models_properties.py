"""Property tests: no body can make parse_notification raise, and the round trip holds."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import json_values as support_json_values

from rcstream.emulator import catalog
from rcstream.models import (
    NOTIFICATION_MODELS,
    CallStatusCode,
    Notification,
    TelephonySessionsNotification,
    parse_notification,
    parse_notification_json,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = support_json_values()
families = st.sampled_from(catalog.FAMILIES)


def generated(family: str, seed: int) -> tuple[str, dict[str, Any]]:
    return catalog.generate(
        family, account_id="1", extension_id="2", rng=random.Random(seed), filter_shaped=True
    )


def envelope(event: str, body: Any) -> dict[str, Any]:
    return {"uuid": "u-1", "event": event, "timestamp": "2024-01-01T00:00:00Z", "body": body}


def check(data: dict[str, Any], family: str) -> Notification:
    original = copy.deepcopy(data)
    n = parse_notification(data)
    assert type(n) in (NOTIFICATION_MODELS[family], Notification)
    if type(n) is Notification:
        assert n.validation_error
    else:
        assert n.validation_error is None
    assert n.to_wire() == original
    return n


@SETTINGS
@given(family=families, body=json_values)
def test_arbitrary_bodies_never_raise(family: str, body: Any) -> None:
    event, _ = generated(family, 0)
    check(envelope(event, body), family)


@SETTINGS
@given(family=families, seed=st.integers(0, 2**16), data=st.data())
def test_mutated_bodies_never_raise(family: str, seed: int, data: st.DataObject) -> None:
    event, body = generated(family, seed)
    # Walk to a random container inside the body and replace or add one value.
    node: Any = body
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            node = child
            continue
        break
    value = data.draw(json_values)
    if isinstance(node, dict):
        key = data.draw(st.sampled_from([*node, "brandNewKey"]) if node else st.just("k"))
        node[key] = value
    elif node:
        node[data.draw(st.integers(0, len(node) - 1))] = value
    check(envelope(event, body), family)


@SETTINGS
@given(
    family=families,
    seed=st.integers(0, 2**16),
    extra=st.dictionaries(st.text(min_size=1, max_size=8).map(lambda s: "x-" + s), json_values),
)
def test_unknown_fields_survive_everywhere(family: str, seed: int, extra: dict[str, Any]) -> None:
    event, body = generated(family, seed)

    def add_everywhere(node: Any) -> None:
        if isinstance(node, dict):
            for child in list(node.values()):
                add_everywhere(child)
            node.update(copy.deepcopy(extra))
        elif isinstance(node, list):
            for child in node:
                add_everywhere(child)

    add_everywhere(body)
    n = check(envelope(event, body), family)
    assert type(n) is NOTIFICATION_MODELS[family]


@SETTINGS
@given(code=st.text(max_size=20), seed=st.integers(0, 2**16))
def test_enums_accept_any_string(code: str, seed: int) -> None:
    event, body = generated("telephony-sessions", seed)
    body["parties"][0]["status"]["code"] = code
    n = check(envelope(event, body), "telephony-sessions")
    assert isinstance(n, TelephonySessionsNotification)
    assert n.body.parties is not None and n.body.parties[0].status is not None
    parsed = n.body.parties[0].status.code
    assert parsed == code
    assert isinstance(parsed, CallStatusCode) == (code in set(CallStatusCode))


@SETTINGS
@given(family=families, seed=st.integers(0, 2**16), body=json_values, mutate=st.booleans())
def test_json_path_agrees_with_dict_path(family: str, seed: int, body: Any, mutate: bool) -> None:
    event, good = generated(family, seed)
    data = envelope(event, body if mutate else good)
    text = json.dumps(data)
    a = parse_notification(json.loads(text))
    b = parse_notification_json(text)
    assert type(a) is type(b)
    assert a.to_wire() == b.to_wire() == data
