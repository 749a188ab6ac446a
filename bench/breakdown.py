"""Where rcstream's per-notification CPU goes, stage by stage, without sockets.

``python -m bench.breakdown [-n N]`` feeds the same pre-encoded telephony frames the flood
server sends through each stage of rcstream's receive path in isolation and prints the
cost per notification in microseconds. The stages are cumulative where noted, so the
differences say what each layer adds. The ``one-validate``/``general`` lines compare the
client's one-validate path (``rcstream.protocol.scan.validate_frame``: one ``validate_json``
of the whole frame) with the general path, from the same frame bytes; ``--configs`` adds
``bench.configs`` (each model-config choice alone). Run on an otherwise idle machine, or
compare lines of one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections.abc import Callable
from typing import Any

from bench.flood import build_notifications


def _drain(results: Any) -> None:
    """Consume ``results`` dropping each at once, as a stream does (keeping them all would
    measure first-touch page faults of fresh memory instead)."""
    for _ in results:
        pass


def _per_item(fn: Callable[[], Any], n: int, repeat: int = 5) -> float:
    """Best of ``repeat`` runs, per item, with the cyclic GC off (in the client, objects
    die young and full collections are rare)."""
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    finally:
        gc.enable()
    return best / n * 1e6


def _telephony_typed_dict() -> Any:
    """A TypeAdapter for the telephony body as strict TypedDicts: the same fields and JSON
    types as the models (enums as ``str``, which is what ``Open[...]`` accepts), unknown
    keys kept, but dicts out instead of model objects. It isolates what building ~12 model
    instances per event costs on top of validating the same JSON."""
    from pydantic import ConfigDict, TypeAdapter
    from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

    cfg = ConfigDict(strict=True, extra="allow")

    def td(name: str, fields: dict[str, Any]) -> Any:
        cls = TypedDict(name, fields, total=False)  # type: ignore[operator]
        cls.__pydantic_config__ = cfg
        return cls

    ids = int | str
    info = td("Info", {"phoneNumber": str, "name": str, "extensionId": ids, "deviceId": ids})
    peer = td("Peer", {"sessionId": str, "telephonySessionId": str, "partyId": str})
    status = td(
        "Status",
        {
            "code": str,
            "reason": str,
            "description": str,
            "parkData": str,
            "peerId": peer,
            "rcc": bool,
        },
    )
    rec = td("Rec", {"type": str, "value": str})
    party = td(
        "Party",
        {
            "accountId": ids,
            "extensionId": ids,
            "id": str,
            "direction": str,
            "to": info,
            "from": info,
            "recordings": list[td("Recording", {"id": str, "active": bool})],
            "status": status,
            "park": td("Park", {"id": str}),
            "queueCall": bool,
            "missedCall": bool,
            "standAlone": bool,
            "muted": bool,
            "conferenceRole": str,
            "sipData": td("Sip", {"toTag": str, "fromTag": str, "callId": str}),
            "uiCallInfo": td("Ui", {"primary": rec, "additional": rec}),
        },
    )
    body = td(
        "Body",
        {
            "sequence": int,
            "sessionId": str,
            "telephonySessionId": str,
            "serverId": str,
            "eventTime": str,
            "origin": td("Origin", {"type": str}),
            "parties": list[party],
            "accountId": ids,
            "extensionId": ids,
        },
    )
    return TypeAdapter(body)


def run(n: int) -> dict[str, float]:
    from rcstream.models import Notification, parse_notification
    from rcstream.models.routing import model_for_event
    from rcstream.protocol import SessionState
    from rcstream.protocol.frames import decode_frame

    texts = [f[4:].decode() for f in build_notifications(n, family="telephony-sessions", seed=1)]
    datas = [json.loads(t)[1] for t in texts]
    cls = model_for_event(datas[0]["event"])
    out: dict[str, float] = {}
    out["json.loads (the floor's work)"] = _per_item(
        lambda: _drain(json.loads(t) for t in texts), n
    )
    out["decode_frame (orjson + header checks)"] = _per_item(
        lambda: _drain(decode_frame(t) for t in texts), n
    )

    def session() -> None:
        state = SessionState()
        for t in texts:
            state.receive(t, 0.0)

    out["SessionState.receive (decode + dedupe)"] = _per_item(session, n)
    out["parse_notification (typed pydantic model)"] = _per_item(
        lambda: _drain(parse_notification(d) for d in datas), n
    )
    out["  of which: generic Notification (body as dict)"] = _per_item(
        lambda: _drain(Notification.model_validate(d) for d in datas), n
    )
    out["  of which: model_construct (no validation)"] = _per_item(
        lambda: _drain(
            cls.model_construct(uuid=d["uuid"], event=d["event"], body=d["body"]) for d in datas
        ),
        n,
    )
    bodies = [json.dumps(d["body"], separators=(",", ":")) for d in datas]
    body_cls = cls.model_fields["body"].annotation
    assert body_cls is not None
    shape = _telephony_typed_dict()
    out["body: json.loads"] = _per_item(lambda: _drain(json.loads(b) for b in bodies), n)
    out["body: validate_json into the typed models"] = _per_item(
        lambda: _drain(body_cls.model_validate_json(b) for b in bodies), n
    )
    out["body: validate_json into a TypedDict of the same shape"] = _per_item(
        lambda: _drain(shape.validate_json(b) for b in bodies), n
    )
    # the client's one-validate path (issue 13), against the general path it falls back to
    from rcstream.models.routing import sniff_event
    from rcstream.protocol.scan import validate_frame

    frames = [t.encode() for t in texts]
    events = [sniff_event(f) for f in frames]
    assert all(e is not None and validate_frame(f, e) for f, e in zip(frames, events, strict=True))
    out["one-validate: sniff_event (the routing hint)"] = _per_item(
        lambda: _drain(sniff_event(f) for f in frames), n
    )
    out["one-validate: sniff_event + validate_frame, typed (total)"] = _per_item(
        lambda: _drain(validate_frame(f, sniff_event(f)) for f in frames),  # type: ignore[arg-type]
        n,
    )
    out["general: decode_frame + parse_notification, typed (total)"] = _per_item(
        lambda: _drain(parse_notification(decode_frame(f).body) for f in frames),  # type: ignore[union-attr]
        n,
    )
    out["general raw: decode_frame (bytes in)"] = _per_item(
        lambda: _drain(decode_frame(f) for f in frames), n
    )
    notes = [parse_notification(d) for d in datas]
    out["to_wire() (the CLI re-serialising a model)"] = _per_item(
        lambda: _drain(m.to_wire() for m in notes), n
    )
    out["json.dumps of the wire dict (CLI line)"] = _per_item(
        lambda: _drain(json.dumps(d, separators=(",", ":"), ensure_ascii=False) for d in datas), n
    )

    async def queue_hop() -> None:
        q: asyncio.Queue[Any] = asyncio.Queue()

        async def produce() -> None:
            for d in datas:
                await q.put(d)

        async def consume() -> None:
            for _ in datas:
                await q.get()

        await asyncio.gather(produce(), consume())

    out["an asyncio.Queue hop (the CLI has one)"] = _per_item(lambda: asyncio.run(queue_hop()), n)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.breakdown")
    p.add_argument("-n", type=int, default=5000)
    p.add_argument(
        "--configs", action="store_true", help="also time each model-config choice (bench.configs)"
    )
    a = p.parse_args(argv)
    for name, us in run(a.n).items():
        print(f"{us:8.1f} us  {name}")
    if a.configs:
        from bench import configs

        print("\nthe telephony body's validate_json, one model-config choice at a time:")
        for name, us in configs.run(a.n).items():
            print(f"{us:8.1f} us  {name}")


if __name__ == "__main__":
    main()
