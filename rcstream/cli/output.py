"""What ``rcstream listen`` writes to stdout: JSON lines or one pretty line per event.

stdout carries data only. :class:`Output` writes one line per item and flushes it before
rcstream waits for more events, so a pipeline (``rcstream listen | jq``) sees every event
as soon as it arrives (a burst that arrived together leaves together). A closed stdout
(``| head -1``) raises :class:`BrokenPipeError` from :meth:`Output.write_line`; the caller
stops streaming and exits quietly.

The pretty format works on the wire dict, so it renders any notification, typed or not.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any, Final

__all__ = [
    "Output",
    "choose_format",
    "count_of",
    "family_of",
    "format_lifecycle",
    "format_pretty",
    "strip_controls",
    "use_color",
]

_RESET: Final = "\033[0m"
_STYLES: Final = {
    "dim": "\033[2m",
    "bold": "\033[1m",
    "red": "\033[31m",
    "green": "\033[32m",
    "yellow": "\033[33m",
    "blue": "\033[34m",
    "magenta": "\033[35m",
    "cyan": "\033[36m",
}

_FAMILY_COLORS: Final = {
    "telephony": "magenta",
    "presence": "blue",
    "sms": "green",
    "message-store": "cyan",
    "voicemail": "yellow",
    "fax": "yellow",
    "team-messaging": "green",
    "a2p-sms": "green",
}


def use_color(stream: IO[str], *, no_color: bool) -> bool:
    """Colour only on a terminal, and never with ``--no-color`` or ``NO_COLOR`` set."""
    if no_color or os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def choose_format(
    fmt: str | None, *, no_color: bool, stream: IO[str] | None = None
) -> tuple[str, bool]:
    """``--format`` and ``--no-color`` as every command that prints events reads them:
    the format (``fmt``, or when ``None`` pretty on a terminal and json otherwise) and
    whether to colour it (:func:`use_color`; pretty only). ``stream`` is stdout."""
    out = sys.stdout if stream is None else stream
    if fmt is None:
        try:
            fmt = "pretty" if out.isatty() else "json"
        except (AttributeError, ValueError):
            fmt = "json"
    return fmt, fmt == "pretty" and use_color(out, no_color=no_color)


_dumps: Callable[[Any], bytes] | None = None


def _fast_json(obj: Any) -> bytes:
    # orjson: 3x faster than pydantic-core's to_json on a notification dict, which makes
    # 'rcstream listen' ~20 % faster end to end. Imported on first use (--help stays light).
    global _dumps
    if _dumps is None:
        import orjson

        _dumps = orjson.dumps
    return _dumps(obj)


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (for the json.dumps path)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


#: Size of the CLI's own stdout buffer.
_BUFFER_SIZE = 1 << 16


def _own_buffer(binary: IO[bytes]) -> IO[bytes]:
    """A 64 KiB buffered writer of our own on ``binary``'s file descriptor.

    Python's stdout buffer is 8 KiB, or none at all under ``PYTHONUNBUFFERED``: bursts of
    ~1 KB lines would then cost a system call every few lines, or every line. A fixed
    buffer of our own is reused for every burst, so no large temporary is allocated per
    burst either. The file descriptor is shared, not owned (``closefd=False``). Streams
    without a descriptor (tests) are used as they are.
    """
    try:
        fd = binary.fileno()
    except (AttributeError, OSError, ValueError):
        return binary
    return io.BufferedWriter(io.FileIO(fd, "wb", closefd=False), buffer_size=_BUFFER_SIZE)


class Output:
    """Line writer for stdout: one item per line as UTF-8 bytes, flushed at once unless the
    caller says another line follows (``write_bytes(..., flush=False)``).

    Lines go, as UTF-8 whatever the locale or ``PYTHONIOENCODING`` says, to a buffered
    writer of Output's own on the descriptor under ``stream`` (default ``sys.stdout``), so
    an emoji in a message can never end the stream. A stream without a descriptor (a
    ``BytesIO`` in tests) is written directly; one without a binary buffer (a ``StringIO``)
    gets text.
    """

    def __init__(self, stream: IO[str] | IO[bytes] | None = None) -> None:
        target: Any = stream if stream is not None else sys.stdout
        with contextlib.suppress(AttributeError, ValueError, OSError):
            target.flush()  # anything already written through the text layer goes first
        self._binary: IO[bytes] | None = None
        self._text: IO[str] | None = None
        buffer = getattr(target, "buffer", None)
        if buffer is not None:
            self._binary = _own_buffer(buffer)
        elif isinstance(target, io.TextIOBase) or hasattr(target, "encoding"):
            self._text = target
        else:
            self._binary = target

    def write_line(self, line: str) -> None:
        """Write ``line`` plus a newline and flush. Raises BrokenPipeError if stdout closed.

        A lone surrogate (only possible in pretty output) is written as a ``\\udXXX``
        escape rather than failing.
        """
        self.write_bytes(line.encode("utf-8", "backslashreplace"))

    def write_bytes(self, data: bytes, *, flush: bool = True) -> None:
        """Write ``data`` (one line of UTF-8, without the newline) plus a newline.

        ``flush=False`` leaves the line in the buffer for a caller that knows another line
        follows at once and calls :meth:`flush` after the last one: a burst then leaves in
        a few large writes instead of one system call per line.
        """
        if self._binary is not None:
            self._binary.write(data)
            self._binary.write(b"\n")
            if flush:
                self._binary.flush()
        else:
            assert self._text is not None
            self._text.write(data.decode("utf-8") + "\n")
            if flush:
                self._text.flush()

    def flush(self) -> None:
        """Flush what :meth:`write_bytes` left buffered. Raises BrokenPipeError if stdout
        closed."""
        if self._binary is not None:
            self._binary.flush()
        else:
            assert self._text is not None
            self._text.flush()

    @staticmethod
    def json_bytes(obj: Mapping[str, Any]) -> bytes:
        """Compact JSON as UTF-8 bytes, keys in the order received, non-ASCII kept as is:
        what goes to stdout and to ``--forward-to``.

        Every line is valid JSON. What orjson refuses takes a slower path that keeps it
        exact: integers beyond 64 bits go through pydantic-core; text that UTF-8 cannot
        carry (a lone surrogate such as ``"\\ud83d"``, which ``json.loads`` accepts) and
        nesting deeper than ~250 levels make the whole line ASCII-only JSON, where a lone
        surrogate stays the ``\\ud83d`` escape it arrived as. ``NaN`` and infinities, which
        JSON cannot carry (a server that sent them broke the JSON grammar), are written as
        ``null`` on every path, as JavaScript's ``JSON.stringify`` does. Raises ValueError
        for a value nested too deeply for any of them.
        """
        try:
            return _fast_json(obj)
        except TypeError:  # orjson.JSONEncodeError
            pass
        from pydantic_core import to_json

        try:
            return to_json(obj, inf_nan_mode="null")
        except (ValueError, RecursionError):
            pass
        try:
            try:
                text = json.dumps(obj, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
            except ValueError:  # NaN or an infinity somewhere: null, as on the other paths
                text = json.dumps(
                    _finite(obj), separators=(",", ":"), ensure_ascii=True, allow_nan=False
                )
        except RecursionError:
            raise ValueError("the notification is nested too deeply to write as JSON") from None
        return text.encode("ascii")

    @staticmethod
    def json_line(obj: Mapping[str, Any]) -> str:
        """:meth:`json_bytes` as text (always encodable as UTF-8)."""
        return Output.json_bytes(obj).decode("utf-8")


#: C0 and C1 control characters (and DEL): whitespace ones become a space, the rest go.
#: Caller names, numbers and message texts come from outside parties; an escape sequence
#: in one must not reach the terminal.
_CONTROL_TABLE: Final = {
    **{c: None for c in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0))},
    **{ord(c): " " for c in "\t\n\r\v\f"},
}


#: Pretty output shows fields a few levels deep at most; below this depth values are left
#: as they are (a hostile, deeply nested body must not exhaust the recursion limit).
_STRIP_DEPTH: Final = 32


def strip_controls(value: Any, _depth: int = 0) -> Any:
    """``value`` with C0/C1 control characters removed from every string in it (keys too),
    down to 32 levels of nesting."""
    if isinstance(value, str):
        return value.translate(_CONTROL_TABLE)
    if _depth >= _STRIP_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {
            strip_controls(k, _depth + 1): strip_controls(v, _depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [strip_controls(v, _depth + 1) for v in value]
    return value


def _paint(text: str, style: str | None, color: bool) -> str:
    if not color or style is None or not text:
        return text
    return f"{_STYLES[style]}{text}{_RESET}"


_FAMILY_PATTERNS: Final = (
    (re.compile(r"/telephony/sessions"), "telephony"),
    (re.compile(r"/presence"), "presence"),
    (re.compile(r"/message-store/instant"), "sms"),
    (re.compile(r"/message-store"), "message-store"),
    (re.compile(r"/voicemail"), "voicemail"),
    (re.compile(r"/fax"), "fax"),
    (re.compile(r"/a2p-sms"), "a2p-sms"),
    (re.compile(r"^/team-messaging|/glip/"), "team-messaging"),
    (re.compile(r"^/webinar"), "webinar"),
    (re.compile(r"/directory"), "directory"),
    (re.compile(r"/extension/[^/?]+/?$|/extension$"), "extension"),
)


def family_of(event: str) -> str:
    """A short family name for an event path (``telephony``, ``presence``, ``sms`` ...)."""
    for pattern, name in _FAMILY_PATTERNS:
        if pattern.search(event):
            return name
    return "event"


_EXT_RE: Final = re.compile(r"/extension/(\d+)")


def _party(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return "?"
    number = value.get("phoneNumber") or value.get("extensionNumber")
    name = value.get("name")
    if number and name:
        return f"{name} <{number}>"
    return str(number or name or value.get("extensionId") or "?")


def _preview(text: Any, limit: int = 60) -> str:
    if not isinstance(text, str):
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _details(family: str, body: Mapping[str, Any], color: bool) -> str:
    """The few fields that matter for each family."""

    def status(text: Any) -> str:
        if not text:
            return ""
        style = {
            "Answered": "green",
            "Disconnected": "dim",
            "Setup": "yellow",
            "Proceeding": "yellow",
            "Ringing": "yellow",
            "Available": "green",
            "Busy": "red",
            "Offline": "dim",
        }.get(str(text))
        return _paint(str(text), style, color)

    if family == "telephony":
        parties = body.get("parties") or [{}]
        party = parties[-1] if isinstance(parties, list) and parties else {}
        if not isinstance(party, dict):
            party = {}
        code = (party.get("status") or {}).get("code") if isinstance(party, dict) else None
        return (
            f"{_party(party.get('from'))} → {_party(party.get('to'))}  "
            f"{status(code)}  {party.get('direction', '')}".rstrip()
        )
    if family == "presence":
        parts = [
            status(body.get("presenceStatus")),
            f"telephony={body['telephonyStatus']}" if body.get("telephonyStatus") else "",
            f"dnd={body['dndStatus']}" if body.get("dndStatus") else "",
        ]
        active = body.get("activeCalls")
        if isinstance(active, list) and active:
            call = active[0] if isinstance(active[0], dict) else {}
            parts.append(f"{call.get('from', '?')} → {call.get('to', '?')}")
        return "  ".join(p for p in parts if p)
    if family in ("sms", "voicemail", "fax"):
        line = f"{_party(body.get('from'))} → {_party(body.get('to'))}"
        if family == "sms":
            line += f"  {_preview(body.get('subject'))!r}"
        elif family == "fax" and body.get("faxPageCount"):
            pages = body["faxPageCount"]
            line += "  " + (count_of(pages, "page") if isinstance(pages, int) else f"{pages} pages")
        elif family == "voicemail":
            attachments = body.get("attachments") or []
            duration = next(
                (
                    a.get("vmDuration")
                    for a in attachments
                    if isinstance(a, dict) and a.get("vmDuration")
                ),
                None,
            )
            if duration:
                line += f"  {duration}s"
        return line
    if family == "message-store":
        changes = body.get("changes") or []
        return ", ".join(
            f"{c.get('type', '?')} +{c.get('newCount', 0)} new/{c.get('updatedCount', 0)} updated"
            for c in changes
            if isinstance(c, dict)
        )
    if family == "a2p-sms":
        if "text" in body:
            return (
                f"{_party(body.get('from'))} → {_party(body.get('to'))}  "
                f"{status(body.get('messageStatus'))}  {_preview(body.get('text'))!r}"
            )
        if "batchSize" in body:
            return (
                f"batch {body.get('processedCount', '?')}/{body.get('batchSize')} "
                f"{status(body.get('status'))}"
            )
        return f"{_party(body.get('from'))} opt-out active={body.get('active')}"
    if family == "team-messaging":
        text = _preview(body.get("text") or body.get("name"))
        return f"{body.get('eventType', '')}  {text!r}" if text else str(body.get("eventType", ""))
    event_type = body.get("eventType")
    keys = ", ".join(list(body)[:4])
    return f"{event_type}  {{{keys}}}" if event_type else f"{{{keys}}}"


def format_pretty(wire: Mapping[str, Any], *, color: bool) -> str:
    """One readable line for a notification's wire dict (control characters stripped).

    ``HH:MM:SS  family  ext 123  <details>`` where the details are the fields that matter
    for the family (from → to and status for calls, status for presence, a text preview
    for messages).
    """
    wire = strip_controls(wire)  # before any colour is added
    event = str(wire.get("event", ""))
    family = family_of(event)
    timestamp = str(wire.get("timestamp", ""))
    clock = timestamp[11:19] if len(timestamp) >= 19 else timestamp
    body = wire.get("body")
    body = body if isinstance(body, Mapping) else {}
    match = _EXT_RE.search(event)
    extension = match.group(1) if match else str(wire.get("ownerId") or "-")
    try:
        details = _details(family, body, color)
    except (AttributeError, TypeError, KeyError, IndexError):
        details = ""
    return "  ".join(
        [
            _paint(clock, "dim", color),
            _paint(f"{family:<14}", _FAMILY_COLORS.get(family, "bold"), color),
            _paint(f"ext {extension:<12}", "dim", color),
            details,
        ]
    ).rstrip()


def format_lifecycle(record: Mapping[str, Any], *, color: bool) -> str:
    """One pretty line for a lifecycle record (``connected``, ``disconnected``, ``gap``)."""
    record = strip_controls(record)
    kind = str(record.get("type", "lifecycle"))
    extra = ", ".join(f"{k}={v}" for k, v in record.items() if k != "type" and v is not None)
    style = "red" if kind == "gap" else "dim"
    return _paint(f"-- {kind} {extra}".rstrip(), style, color)


def count_of(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 filter"``, ``"2 filters"``: a count that reads naturally in a status line."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail (a closed
    pipe, ``| head``)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
