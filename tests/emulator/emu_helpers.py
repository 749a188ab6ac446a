"""Helpers for the emulator's own tests: a plain ``websockets`` client and aiohttp for REST.

Nothing here uses rcstream's client code, so these tests check the emulator alone.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rcstream.emulator import Emulator

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STEP = 5.0  # upper bound for any single awaited step; never reached when things work

# Defaults that keep these tests fast and independent of the Auth rate limit.
FAST: dict[str, Any] = {"auth_rate_limit": None, "ping_interval": None}


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Ws:
    """One gateway connection driven by a plain ``websockets`` client."""

    conn: ClientConnection
    details: list[Any]
    unread: list[list[Any]] = field(default_factory=list)

    @property
    def wsc(self) -> str:
        return str(self.details[0]["wsc"]["token"])

    async def recv(self, timeout: float = STEP) -> list[Any]:
        """The next frame (parsed), taking ones set aside by :meth:`request` first."""
        if self.unread:
            return self.unread.pop(0)
        async with asyncio.timeout(timeout):
            raw = await self.conn.recv()
        frame = json.loads(raw)
        assert isinstance(frame, list)
        return frame

    async def recv_raw(self, timeout: float = STEP) -> str | bytes:
        async with asyncio.timeout(timeout):
            return await self.conn.recv()

    async def send(self, frame: list[Any]) -> None:
        await self.conn.send(json.dumps(frame))

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> list[Any]:
        """Send a ClientRequest and return the frame answering its ``messageId``."""
        mid = message_id or str(uuid.uuid4())
        header: dict[str, Any] = {
            "type": "ClientRequest",
            "messageId": mid,
            "method": method,
            "path": path,
        }
        if query is not None:
            header["query"] = query
        await self.send([header] if body is None else [header, body])
        while True:
            async with asyncio.timeout(STEP):
                frame = json.loads(await self.conn.recv())
            if frame[0].get("messageId") == mid:
                return frame  # type: ignore[no-any-return]
            self.unread.append(frame)

    async def subscribe(self, *filters: str, path: str = "/restapi/v1.0/subscription") -> list[Any]:
        frame = await self.request(
            "POST",
            path,
            {"eventFilters": list(filters), "deliveryMode": {"transportType": "WebSocket"}},
        )
        assert frame[0]["status"] == 200, frame
        return frame

    async def notification(self) -> dict[str, Any]:
        """The next ServerNotification's event body."""
        while True:
            frame = await self.recv()
            if frame[0]["type"] == "ServerNotification":
                return frame[1]  # type: ignore[no-any-return]

    async def closed(self) -> tuple[list[list[Any]], ConnectionClosed]:
        """Read until the socket ends; return the frames seen and the close exception."""
        frames: list[list[Any]] = list(self.unread)
        self.unread.clear()
        try:
            async with asyncio.timeout(STEP):
                while True:
                    frames.append(json.loads(await self.conn.recv()))
        except ConnectionClosed as exc:
            return frames, exc
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.conn.close()


class Rc:
    """REST and gateway access to one emulator, as a minimal hand-written client."""

    def __init__(self, emu: Emulator, http: aiohttp.ClientSession, stack: AsyncExitStack):
        self.emu = emu
        self.http = http
        self._stack = stack

    def basic(self, client_id: str | None = None, secret: str | None = None) -> str:
        return aiohttp.encode_basic_auth(
            client_id or self.emu.client_id, secret or self.emu.client_secret
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        data: Any = None,
        json_body: Any = None,
        params: dict[str, str] | None = None,
    ) -> Reply:
        async with self.http.request(
            method,
            self.emu.server_url + path,
            headers=headers,
            data=data,
            json=json_body,
            params=params,
        ) as resp:
            text = await resp.text()
            body = json.loads(text) if text else None
            return Reply(resp.status, body, dict(resp.headers))

    async def post_token(self, form: dict[str, str], *, auth: str | None = "default") -> Reply:
        headers = {}
        if auth == "default":
            headers["Authorization"] = self.basic()
        elif auth is not None:
            headers["Authorization"] = auth
        return await self.call("POST", "/restapi/oauth/token", headers=headers, data=form)

    async def login(self, jwt: str | None = None) -> dict[str, Any]:
        reply = await self.post_token({"grant_type": JWT_GRANT, "assertion": jwt or self.emu.jwt})
        assert reply.status == 200, reply
        return reply.body  # type: ignore[no-any-return]

    async def refresh(self, refresh_token: str) -> Reply:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self.post_token(form)

    async def wstoken(self, access_token: str) -> Reply:
        return await self.call(
            "POST",
            "/restapi/oauth/wstoken",
            headers={"Authorization": f"Bearer {access_token}"},
        )

    async def api(self, method: str, path: str, access_token: str, **kw: Any) -> Reply:
        headers = {"Authorization": f"Bearer {access_token}"}
        return await self.call(method, path, headers=headers, **kw)

    async def open(self, url: str, **kw: Any) -> ClientConnection:
        kw.setdefault("ping_interval", None)
        kw.setdefault("open_timeout", STEP)
        conn = await connect(url, **kw)
        self._stack.push_async_callback(conn.close)
        return conn

    async def connect(
        self,
        *,
        access_token: str | None = None,
        wsc: str | None = None,
        **kw: Any,
    ) -> Ws:
        """Login (unless given a token), get a ws token, connect, read ConnectionDetails."""
        if access_token is None:
            access_token = (await self.login())["access_token"]
        token = await self.wstoken(access_token)
        assert token.status == 200, token
        url = f"{token.body['uri']}?access_token={token.body['ws_access_token']}"
        if wsc is not None:
            url += f"&wsc={wsc}"
        conn = await self.open(url, **kw)
        async with asyncio.timeout(STEP):
            details = json.loads(await conn.recv())
        return Ws(conn, details)


@pytest.fixture
async def make_rc() -> AsyncIterator[Callable[..., Awaitable[Rc]]]:
    """``rc = await make_rc(**emulator_options)``: a started emulator plus helpers.

    Unless overridden, the Auth rate limit and server pings are off (see ``FAST``).
    Everything is closed at teardown.
    """
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())

        async def make(**options: Any) -> Rc:
            emu = await stack.enter_async_context(Emulator(**{**FAST, **options}))
            return Rc(emu, http, stack)

        yield make


@pytest.fixture
async def rc(make_rc: Callable[..., Awaitable[Rc]]) -> Rc:
    """An emulator with the fast defaults."""
    return await make_rc()


MakeRc = Callable[..., Awaitable[Rc]]
"""The type of the ``make_rc`` fixture."""
