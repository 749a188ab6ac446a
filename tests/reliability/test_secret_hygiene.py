"""Secret hygiene: no credential or token reaches logs, stderr, stdout, reprs or exceptions.

The client (in-process, every logger at DEBUG) and the CLI (a subprocess with ``-vv``) are
driven through faults and reconnects against the emulator. Every secret the emulator issues
is recorded as it is made, and every text the run produced is searched for any 12-character
piece of any of them (so a truncated secret counts as a leak too).

The recorder reaches into the emulator's private state (``secrets`` module calls and
``_make_wsc``): a test may do that, the emulator keeps its secrets to itself otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import rcstream
from rcstream.emulator import Emulator
from rcstream.emulator import oauth as emulator_oauth
from rcstream.models import Notification

PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"
WINDOW = 12
TOKEN_RUN = re.compile(rf"[A-Za-z0-9_\-.~+/=]{{{WINDOW},}}")
LIMIT = 15.0


class SecretBag:
    """Every secret seen so far; :meth:`leaks` finds any 12-character piece of one."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}  # secret -> what it is

    def add(self, value: str | None, what: str) -> None:
        if value and len(value) >= WINDOW:
            self.values.setdefault(value, what)

    def leaks(self, text: str) -> list[str]:
        pieces: dict[str, str] = {}
        for secret, what in self.values.items():
            for i in range(len(secret) - WINDOW + 1):
                pieces[secret[i : i + WINDOW]] = what
        found: set[str] = set()
        for run in TOKEN_RUN.findall(text):
            for i in range(len(run) - WINDOW + 1):
                what = pieces.get(run[i : i + WINDOW])
                if what is not None:
                    found.add(f"{what} (around {run[max(0, i - 10) : i + WINDOW + 10]!r})")
        return sorted(found)

    def watch(self, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
        """Record the static credentials and every token the emulator issues from now on."""
        self.add(emu.client_secret, "client secret")
        self.add(emu.password, "password")
        for jwt in emu._jwts:  # private: every extension's JWT credential
            self.add(jwt, "JWT")
        real = emulator_oauth.secrets

        class Recording:
            @staticmethod
            def token_urlsafe(n: int | None = None) -> str:
                value = real.token_urlsafe(n)
                if n is not None and n >= 40:  # access, refresh (48) and ws tokens (40)
                    self.add(value, f"token_urlsafe({n})")
                return value

            token_hex = staticmethod(real.token_hex)
            token_bytes = staticmethod(real.token_bytes)

        monkeypatch.setattr(emulator_oauth, "secrets", Recording)
        make_wsc = emu._make_wsc

        def recording_wsc(session_id: str) -> str:
            value = make_wsc(session_id)
            self.add(value, "wsc token")
            return value

        monkeypatch.setattr(emu, "_make_wsc", recording_wsc)


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs() -> Iterator[_Everything]:
    """Every logger (rcstream, websockets, aiohttp, asyncio ...) at DEBUG, fully formatted."""
    handler = _Everything()
    root = logging.getLogger()
    names = ("", "rcstream", "websockets", "aiohttp", "asyncio")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def options(**kw: Any) -> rcstream.ClientOptions:
    base: dict[str, Any] = {
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
        "auth_rate_limit": None,
        "heartbeat_interval": 0.05,
        "heartbeat_timeout": 0.15,
        "connect_timeout": 5.0,
        "request_timeout": 5.0,
        "close_timeout": 1.0,
        "ping_interval": 0.05,
        "ping_timeout": 5.0,
        "max_attempts": 20,
    }
    base.update(kw)
    return rcstream.ClientOptions(**base)


def describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


class Stream:
    """Consumes a subscription in the background, keeping every item."""

    def __init__(self, events: rcstream.Subscription) -> None:
        self.events = events
        self.items: list[Any] = []
        self.changed = asyncio.Event()

    async def run(self) -> None:
        async for item in self.events:
            self.items.append(item)
            self.changed.set()

    async def until(self, predicate: Callable[[list[Any]], bool]) -> None:
        with anyio.fail_after(LIMIT):
            while not predicate(self.items):
                self.changed.clear()
                await self.changed.wait()

    def count(self, kind: type) -> int:
        return sum(isinstance(i, kind) for i in self.items)


async def test_client_at_debug_through_faults_leaks_nothing(
    all_logs: _Everything,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bag = SecretBag()
    texts: list[str] = []
    async with Emulator(auth_rate_limit=None, seed=21, recovery_timeout=0.5) as emu:
        bag.watch(emu, monkeypatch)
        client = rcstream.Client.from_env(emu.env(), options=options())
        async with client, client.subscribe(PRESENCE, lifecycle=True) as events:
            stream = Stream(events)
            async with anyio.create_task_group() as tg:
                tg.start_soon(stream.run)

                async def publish_and_see() -> None:
                    uid = await emu.publish_generated("presence")
                    await stream.until(
                        lambda items: any(
                            isinstance(i, Notification) and i.uuid == uid for i in items
                        )
                    )

                async def reconnected(after: int) -> None:
                    await stream.until(lambda _: stream.count(rcstream.Connected) > after)

                await publish_and_see()
                faults: list[Callable[[], Any]] = [
                    emu.abort_connections,
                    lambda: emu.close_connections(1000, "bye", error_code="WSG-902"),
                    lambda: emu.close_connections(4999, "odd"),
                    lambda: emu.expire_access_tokens(close_sockets=True),
                    emu.go_silent,
                    lambda: emu.revoke_oauth_sessions(error_code="OAU-129"),
                ]
                for fault in faults:
                    before = stream.count(rcstream.Connected)
                    result = fault()
                    if asyncio.iscoroutine(result):
                        await result
                    await reconnected(before)
                    await publish_and_see()
                # 429 on the refresh and the ws token, then a refused recovery
                await emu.expire_access_tokens()
                emu.rate_limit_next("token", retry_after=0.02)
                emu.rate_limit_next("wstoken", retry_after=0.02)
                emu.fail_next_recovery("WSG-1005")
                before = stream.count(rcstream.Connected)
                await emu.abort_connections()
                await reconnected(before)
                # frames that carry secrets in fields the gateway never uses: skipped, and
                # the excerpt in the warning is redacted
                assert client._tokens is not None and client._tokens.tokens is not None
                access = client._tokens.tokens.access_token.get()
                assert access in bag.values
                await emu.inject_raw(f'[{{"type":"Bogus","access_token":"{access}"}}]')
                await emu.inject_raw(f'[{{"type":"ServerNotification","token":"{access}"}}]')
                await emu.inject_raw(f"not json ?access_token={access}&x=1")
                await publish_and_see()
                # REST over the socket and over HTTPS, and their errors
                await client.request("GET", "/restapi/v1.0/account/~/extension/~")
                await client.rest("GET", "/restapi/v1.0/account/~/extension/~")
                for call in (
                    client.request("GET", "/restapi/v1.0/no/such/thing"),
                    client.rest("GET", "/restapi/v1.0/no/such/thing"),
                ):
                    with pytest.raises(rcstream.RCStreamError) as info:
                        await call
                    texts.append(describe(info.value))
                texts += [
                    repr(client),
                    str(client),
                    repr(client.auth),
                    repr(client.options),
                    repr(events),
                    repr(client.stats),
                    repr(client._tokens.tokens),
                    repr(client._state),
                    repr(client._state.wsc),
                ]
                tg.cancel_scope.cancel()
        texts += [repr(i) for i in stream.items]
        texts += [i.model_dump_json() for i in stream.items if not isinstance(i, Notification)]
        assert stream.count(rcstream.Gap) >= 2  # revocation and the refused recovery
        assert client.stats.recoveries >= 4
        assert client.stats.bad_frames >= 3
        assert emu.stats.token_refreshes >= 2
        assert emu.stats.rate_limited >= 2
    out, err = capsys.readouterr()
    texts += [out, err, *all_logs.lines]
    assert {"rcstream.client", "rcstream.frames", "rcstream.websockets"} <= all_logs.names
    assert len(bag.values) >= 10
    leaks = bag.leaks("\n".join(texts))
    assert not leaks, leaks


async def test_password_grant_and_bad_credentials_leak_nothing(
    all_logs: _Everything,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bag = SecretBag()
    texts: list[str] = []
    async with Emulator(auth_rate_limit=None, seed=22) as emu:
        bag.watch(emu, monkeypatch)
        env = {
            "RINGCENTRAL_SERVER_URL": emu.server_url,
            "RINGCENTRAL_CLIENT_ID": emu.client_id,
            "RINGCENTRAL_CLIENT_SECRET": emu.client_secret,
            "RINGCENTRAL_USERNAME": emu.username,
            "RINGCENTRAL_PASSWORD": emu.password,
        }
        client = rcstream.Client.from_env(env, options=options())
        async with client, client.subscribe(PRESENCE) as events:
            uid = await emu.publish_generated("presence")
            with anyio.fail_after(LIMIT):
                note = await events.__anext__()
            assert isinstance(note, Notification) and note.uuid == uid
            await emu.expire_access_tokens(close_sockets=True)
            await emu.wait_for_stat("recoveries_succeeded", 1)
            texts += [repr(client), repr(client.auth), repr(client._tokens)]
        # wrong secrets: the error names the fix, never the value
        wrong_password = "Wr0ng-Passw0rd-" + emu.password[::-1]
        wrong_jwt = "eyJhbGciOiJIUzI1NiJ9.wrong-jwt-payload-value.c2lnbmF0dXJlLXdyb25n"
        wrong_secret = "wrong-client-secret-" + emu.client_secret[::-1]
        bag.add(wrong_password, "wrong password")
        bag.add(wrong_jwt, "wrong JWT")
        bag.add(wrong_secret, "wrong client secret")
        for bad in (
            env | {"RINGCENTRAL_PASSWORD": wrong_password},
            emu.env() | {"RINGCENTRAL_JWT": wrong_jwt},
            emu.env() | {"RINGCENTRAL_CLIENT_SECRET": wrong_secret},
        ):
            client = rcstream.Client.from_env(bad, options=options())
            texts += [repr(client), repr(client.auth)]
            async with client:
                with pytest.raises(rcstream.AuthenticationError) as info:
                    async with client.subscribe(PRESENCE):
                        pass  # pragma: no cover
            texts.append(describe(info.value))
    out, err = capsys.readouterr()
    texts += [out, err, *all_logs.lines]
    leaks = bag.leaks("\n".join(texts))
    assert not leaks, leaks


# ---- the CLI as a subprocess ------------------------------------------------------------


async def _drain(
    stream: asyncio.StreamReader, sink: list[bytes], lines: asyncio.Queue[str]
) -> None:
    while True:
        raw = await stream.readline()
        if not raw:
            return
        sink.append(raw)
        await lines.put(raw.decode("utf-8", "replace"))


#: Fault scenarios for the CLI. Each stays within the CLI's client-side limit of 5 token +
#: wstoken calls a minute (which the CLI offers no flag to lift).
CLI_SCENARIOS: dict[str, list[Callable[[Emulator], Any]]] = {
    "drops": [
        lambda emu: emu.abort_connections(),
        lambda emu: emu.close_connections(1000, "bye", error_code="WSG-903"),
    ],
    "token_refresh": [lambda emu: emu.expire_access_tokens(close_sockets=True)],
    "revocation": [lambda emu: emu.revoke_oauth_sessions(error_code="OAU-129")],
}


@pytest.mark.parametrize("scenario", list(CLI_SCENARIOS))
async def test_cli_with_debug_logs_through_faults_leaks_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, scenario: str
) -> None:
    bag = SecretBag()
    async with Emulator(auth_rate_limit=None, seed=23, recovery_timeout=0.5) as emu:
        bag.watch(emu, monkeypatch)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("RINGCENTRAL_", "RCSTREAM"))
        }
        env |= emu.env() | {
            "RCSTREAM_BACKOFF_BASE": "0.01",
            "RCSTREAM_BACKOFF_CAP": "0.05",
            "RCSTREAM_HEARTBEAT_INTERVAL": "0.1",
            "RCSTREAM_HEARTBEAT_TIMEOUT": "0.3",
            "PYTHONUNBUFFERED": "1",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rcstream",
            "listen",
            "-e",
            "presence",
            "-vv",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        out: list[bytes] = []
        err: list[bytes] = []
        out_lines: asyncio.Queue[str] = asyncio.Queue()
        err_lines: asyncio.Queue[str] = asyncio.Queue()
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.ensure_future(_drain(proc.stdout, out, out_lines)),
            asyncio.ensure_future(_drain(proc.stderr, err, err_lines)),
        ]
        try:
            await emu.wait_for_subscription(1, timeout=LIMIT)

            async def see(uid: str) -> None:
                with anyio.fail_after(LIMIT):
                    while uid not in await out_lines.get():
                        pass

            await see(await emu.publish_generated("presence"))
            for fault in CLI_SCENARIOS[scenario]:
                attached = emu.stats.recoveries_succeeded + emu.stats.subscriptions_created
                await fault(emu)
                # back: the session was recovered, or (after the revocation) subscribed anew
                await emu.wait_until(
                    lambda e, n=attached: (
                        e.stats.recoveries_succeeded + e.stats.subscriptions_created > n
                    ),
                    LIMIT,
                )
                await see(await emu.publish_generated("presence"))
            await emu.inject_raw('[{"type":"Bogus","access_token":"x' + "y" * 20 + '"}]')
            await see(await emu.publish_generated("presence"))
            proc.send_signal(signal.SIGINT)
            with anyio.fail_after(LIMIT):
                code = await proc.wait()
                await asyncio.gather(*readers)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            for r in readers:
                r.cancel()
    stdout = b"".join(out).decode("utf-8", "replace")
    stderr = b"".join(err).decode("utf-8", "replace")
    assert code == 130, stderr[-2000:]
    assert "DEBUG" in stderr  # -vv really logged at debug, other libraries included
    assert "Traceback" not in stderr
    leaks = bag.leaks(stdout + "\n" + stderr)
    assert not leaks, leaks


# ---- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class TlsEmulator(Emulator):
    """The emulator behind TLS with a self-signed certificate (https:// and wss://)."""

    @property
    def server_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"wss://{self.host}:{self.port}/ws"


@pytest.fixture
async def tls_emulator(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Emulator]:
    import ssl
    from functools import partial

    from aiohttp import web

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*self_signed)
    # the emulator builds its own site; serve it over TLS for this test only
    monkeypatch.setattr(web, "TCPSite", partial(web.TCPSite, ssl_context=ctx))
    async with TlsEmulator(auth_rate_limit=None, seed=24) as emu:
        yield emu


async def test_tls_verification_is_on_by_default(
    tls_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    assert rcstream.ClientOptions().verify_ssl is True
    caplog.set_level(logging.WARNING)
    client = rcstream.Client.from_env(tls_emulator.env(), options=options(max_attempts=1))
    with anyio.fail_after(LIMIT):
        async with client:
            with pytest.raises(rcstream.RCStreamError) as info:
                async with client.subscribe(PRESENCE):
                    pass  # pragma: no cover
    assert "certificate" in describe(info.value).lower()
    assert tls_emulator.stats.grants == {}  # the self-signed server never got the credentials
    assert not [r for r in caplog.records if "verification" in r.getMessage()]


async def test_tls_verification_off_needs_the_option_and_warns(
    tls_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    client = rcstream.Client.from_env(
        tls_emulator.env(), options=options(verify_ssl=False, max_attempts=1)
    )
    with anyio.fail_after(LIMIT):
        async with client:
            warned = [r for r in caplog.records if "verification is OFF" in r.getMessage()]
            assert warned and warned[0].levelno == logging.WARNING
            async with client.subscribe(PRESENCE) as events:
                uid = await tls_emulator.publish_generated("presence")
                note = await events.__anext__()
    assert isinstance(note, Notification) and note.uuid == uid


async def test_verify_ssl_false_warns_on_entry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with rcstream.Client(
        "https://127.0.0.1:9",
        auth=rcstream.StaticTokenAuth("t" * 20),
        options=options(verify_ssl=False),
    ):
        pass
    (record,) = [r for r in caplog.records if r.name == "rcstream.client"]
    assert record.levelno == logging.WARNING
    assert "TLS certificate verification is OFF" in record.getMessage()
    caplog.clear()
    async with rcstream.Client(
        "https://127.0.0.1:9", auth=rcstream.StaticTokenAuth("t" * 20), options=options()
    ):
        pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# ---- redaction must happen before truncation ---------------------------------------------

WSC_TOKEN = "eyJ2IjoxLCJzIjoiYWJjIn0.0123456789abcdef0123456789abcdef"


def frames_with_token_at_every_offset() -> Iterator[str]:
    """ConnectionDetails frames whose ``wsc.token`` sits at every offset around the
    points where excerpts are cut (200 characters for decode errors, 300 for frame logs)."""
    for pad in range(100, 320, 3):
        header = {"type": "ConnectionDetails", "messageId": "m" * pad, "status": 200}
        yield json.dumps([{**header, "wsc": {"token": WSC_TOKEN, "sequence": 1}}, {"x": 1}])
        # mistyped body: the frame is skipped and its excerpt ends up in a WARNING
        yield json.dumps(
            [{**header, "wsc": {"token": WSC_TOKEN, "sequence": 1}}, {"recoveryTimeout": "x"}]
        )
        # wsc last, no body (a later ConnectionDetails may come without one)
        yield json.dumps([{**header, "wsc": {"sequence": 1, "token": WSC_TOKEN}}])


def leaked(text: str) -> bool:
    bag = SecretBag()
    bag.add(WSC_TOKEN, "wsc token")
    return bool(bag.leaks(text))


def test_decode_error_excerpt_never_holds_part_of_a_token() -> None:
    from rcstream.exceptions import FrameDecodeError
    from rcstream.protocol import decode_frame

    for text in frames_with_token_at_every_offset():
        try:
            decode_frame(text.replace('"status": 200', '"status": "nope"'))
        except FrameDecodeError as exc:
            assert not leaked(str(exc) + " " + exc.raw), exc.raw


def test_frame_log_never_holds_part_of_a_token(caplog: pytest.LogCaptureFixture) -> None:
    from rcstream.transport import log_frame

    caplog.set_level(logging.DEBUG, logger="rcstream.frames")
    for text in frames_with_token_at_every_offset():
        log_frame("<", text)
    assert not leaked(caplog.text)


def test_websockets_frame_log_never_holds_part_of_a_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from websockets.frames import Frame, Opcode

    from rcstream.transport import _ws_logger

    caplog.set_level(logging.DEBUG, logger="rcstream.websockets")
    for text in frames_with_token_at_every_offset():
        _ws_logger.debug("< %s", Frame(Opcode.TEXT, text.encode()))  # as websockets logs
    assert caplog.records
    assert not leaked(caplog.text)
