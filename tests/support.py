"""Helpers shared by the test modules (importable because ``tests`` is on pythonpath)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from hypothesis import strategies as st

import rcstream

if TYPE_CHECKING:
    from rcstream.emulator import Emulator

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> str:
    """A recorded frame from ``tests/fixtures`` as the text the socket would carry."""
    return (FIXTURES / name).read_text(encoding="utf-8").rstrip("\n")


def fast_options(**overrides: Any) -> rcstream.ClientOptions:
    """Client options whose timeouts and backoff are milliseconds, for tests."""
    base: dict[str, Any] = {
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
        "auth_rate_limit": None,
        "heartbeat_interval": 5.0,
        "heartbeat_timeout": 5.0,
        "connect_timeout": 5.0,
        "request_timeout": 5.0,
        "close_timeout": 2.0,
        "ping_interval": None,
        "max_attempts": 20,
    }
    base.update(overrides)
    return rcstream.ClientOptions(**base)


#: Credentials for commands that must fail before any network use (nothing listens on
#: port 9 of 127.0.0.1)
DUMMY_CREDENTIALS = {
    "RINGCENTRAL_SERVER_URL": "http://127.0.0.1:9",
    "RINGCENTRAL_CLIENT_ID": "id",
    "RINGCENTRAL_CLIENT_SECRET": "secret",
    "RINGCENTRAL_JWT": "jwt",
}


#: Fast reconnects for a child ``rcstream`` (seconds), passed as RCSTREAM_* variables.
FAST_ENV = {
    "RCSTREAM_BACKOFF_BASE": "0.01",
    "RCSTREAM_BACKOFF_CAP": "0.05",
    "RCSTREAM_CONNECT_TIMEOUT": "5",
    "RCSTREAM_REQUEST_TIMEOUT": "5",
}


def child_env(env: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment for a child ``rcstream``: ours minus RINGCENTRAL_*, RCSTREAM_* and
    VCC_* (nothing of the machine's own setup leaks in), plus FAST_ENV, ``env`` and
    ``extra``; unbuffered, and without NO_COLOR."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RINGCENTRAL_", "RCSTREAM_", "VCC_"))
    }
    base.update(FAST_ENV)
    base.update(env or {})
    base.update(extra)
    base["PYTHONUNBUFFERED"] = "1"
    base.pop("NO_COLOR", None)
    return base


async def spawn_cli(
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    stdout: int = asyncio.subprocess.PIPE,
    cwd: Path | None = None,
) -> asyncio.subprocess.Process:
    """``python -m rcstream ARGS`` as a child process with :func:`child_env` (``env``),
    stdin from /dev/null and stderr piped; ``stdout`` is piped unless given (a file
    descriptor)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rcstream",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=stdout,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(env),
        cwd=cwd,
    )


def client_for(emulator: Emulator, **overrides: Any) -> rcstream.Client:
    """A client of ``emulator`` with :func:`fast_options` (and ``overrides``)."""
    return rcstream.Client.from_env(emulator.env(), options=fast_options(**overrides))


async def telephony(emulator: Emulator) -> str:
    """Publish one generated telephony-session event; its uuid."""
    return await emulator.publish_generated("telephony-sessions")


async def take(events: rcstream.Subscription[Any], n: int, limit: float = 10.0) -> list[Any]:
    """The next ``n`` items from ``events`` (fails the test after ``limit`` seconds)."""
    out: list[Any] = []
    with anyio.fail_after(limit):
        async for item in events:
            out.append(item)
            if len(out) == n:
                break
    return out


async def take_until(
    events: rcstream.Subscription[Any], uid: str, limit: float = 10.0
) -> list[Any]:
    """Every item from ``events`` up to and including the event with uuid ``uid`` (typed or
    raw), lifecycle items too (fails the test after ``limit`` seconds)."""
    out: list[Any] = []
    with anyio.fail_after(limit):
        async for item in events:
            out.append(item)
            got = item.get("uuid") if isinstance(item, dict) else getattr(item, "uuid", None)
            if got == uid:
                break
    return out


async def stored_messages(js: Any, stream: str = "RCSTREAM") -> list[Any]:
    """Every message in a JetStream ``stream`` (nats-py's ``js``), in stream order."""
    total = (await js.stream_info(stream)).state.messages
    sub = await js.subscribe("rcstream.>", ordered_consumer=True)
    msgs: list[Any] = []
    try:
        while len(msgs) < total:
            msgs.append(await sub.next_msg(timeout=5.0))
    finally:
        await sub.unsubscribe()
    return msgs


def json_values(
    *,
    int_range: tuple[int, int] | None = (-(2**63), 2**63 - 1),
    floats: bool = True,
    infinity: bool = False,
) -> st.SearchStrategy[Any]:
    """JSON values for property tests: ``null``, booleans, integers, floats, short strings,
    and lists and objects of them a few levels deep.

    Never NaN (unequal to itself, so no round trip compares equal). ``int_range``: the
    integers' bounds (default 64-bit; ``None``: any size, for hostile input);
    ``floats=False``: no floats at all; ``infinity``: ``inf``/``-inf`` as well (what
    ``json.dumps`` writes as ``Infinity``, which Python's parsers accept).
    """
    lo, hi = int_range if int_range is not None else (None, None)
    scalars = st.none() | st.booleans() | st.integers(lo, hi) | st.text(max_size=10)
    if floats:
        scalars |= st.floats(allow_nan=False, allow_infinity=infinity)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=20,
    )
