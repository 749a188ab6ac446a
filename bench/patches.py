"""Bench-only monkeypatches that *simulate* proposed rcstream fixes, for before/after figures.

Nothing here ships: each patch stands in for a change proposed in ``docs/performance.md``
so its effect can be measured with the same harness before anyone edits ``rcstream/``.

``gc-freeze``
    ``gc.freeze()`` once the heavy modules are imported, so the cyclic GC's full
    collections stop re-scanning the ~100k long-lived objects of pydantic's schemas and
    the imported modules (a CLI-level fix: an application can do the same).
``lazy-body``
    build the notification with ``model_construct`` (no validation) and the raw body dict:
    the lower bound of "validate the typed body lazily, on first access". The real fix
    keeps the typed body behind a cached property; this patch does not type it at all.
``raw-json``
    ``Notification.to_wire()`` returns the dict that was received instead of rebuilding
    it with ``model_dump`` (what the CLI's JSON output needs; the proposed fix keeps the
    wire dict next to the model).

``msgspec-typed``
    the alternative to pydantic that issue 13 names: telephony frames are decoded by
    ``msgspec`` into the frozen structs of ``bench/msgspec_proto.py`` (same fields, ids
    keeping their wire type, open enums as ``str``) in the client's one-validate path
    (``rcstream.protocol.scan.parse_frame_typed``), so the consumer's ``async for`` yields
    structs; any other frame, or one msgspec refuses, takes the shipped path. Measures the
    whole typed path with the faster validator, same client, same harness. Needs
    ``pip install msgspec``.

``lazy-body`` and ``raw-json`` act on the general path only (``parse_notification``):
since the one-validate path, a typed-only route no longer calls it.

``python -m bench.patches PATCHES -- ARGS`` runs ``rcstream ARGS`` (the CLI) with the
comma-separated ``PATCHES`` applied.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

__all__ = ["PATCHES", "apply"]

PATCHES = ("gc-freeze", "lazy-body", "raw-json", "msgspec-typed")
_RAW: dict[int, dict[str, Any]] = {}


def apply(names: str | list[str] | None) -> list[str]:
    """Apply the named patches (comma-separated or a list); return the names applied."""
    if not names:
        return []
    wanted = names.split(",") if isinstance(names, str) else list(names)
    unknown = [n for n in wanted if n not in PATCHES]
    if unknown:
        raise SystemExit(f"unknown patch {unknown[0]!r}; known: {', '.join(PATCHES)}")
    import rcstream.models as models
    import rcstream.subscription as client_mod
    from rcstream.models.routing import model_for_event

    parse = client_mod.parse_notification
    if "lazy-body" in wanted:

        def lazy_parse(data: dict[str, Any]) -> Any:
            cls = model_for_event(data["event"])
            return cls.model_construct(
                uuid=data["uuid"],
                event=data["event"],
                timestamp=data.get("timestamp"),
                subscription_id=data.get("subscriptionId"),
                owner_id=data.get("ownerId"),
                body=data.get("body", {}),
            )

        parse = lazy_parse
    if "raw-json" in wanted:
        inner = parse

        def keep_raw(data: dict[str, Any]) -> Any:
            note = inner(data)
            _RAW[id(note)] = data
            return note

        def to_wire(self: Any) -> dict[str, Any]:
            raw = _RAW.pop(id(self), None)
            return raw if raw is not None else self.model_dump(by_alias=True, exclude_unset=True)

        parse = keep_raw
        models.Notification.to_wire = to_wire  # type: ignore[method-assign]
    client_mod.parse_notification = parse  # type: ignore[assignment]
    if "msgspec-typed" in wanted:
        _patch_msgspec()
    if "gc-freeze" in wanted:
        gc.collect()
        gc.freeze()
    return wanted


def _patch_msgspec() -> None:
    import msgspec

    import rcstream.protocol.scan as scan_mod
    from bench.msgspec_proto import Frame

    shipped = scan_mod.parse_frame_typed
    decoder = msgspec.json.Decoder(Frame)

    def parse_frame_typed(frame: bytes, event: str) -> Any:
        if not event.endswith("/telephony/sessions"):
            return shipped(frame, event)
        try:
            decoded = decoder.decode(frame)
        except msgspec.ValidationError:
            return shipped(frame, event)
        if decoded.notification.event != event:
            return shipped(frame, event)
        return decoded.header, decoded.notification

    scan_mod.parse_frame_typed = parse_frame_typed  # type: ignore[assignment]


def main() -> int:
    argv = sys.argv[1:]
    names = argv.pop(0) if argv and argv[0] != "--" else ""
    if argv and argv[0] == "--":
        argv.pop(0)
    import rcstream.cli.listen  # noqa: F401  (import before freezing)
    from rcstream.cli import main as cli_main

    apply(names)
    return int(cli_main(argv) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
