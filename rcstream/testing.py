"""pytest plugin: test code built on rcstream offline, against the bundled emulator.

Installed with rcstream and registered as the ``rcstream`` pytest plugin (a ``pytest11``
entry point), so the fixtures are available in every test without an import:

``rc_emulator``
    A running :class:`~rcstream.emulator.Emulator` on 127.0.0.1 (a free port) with an
    unlimited auth rate and short close timeouts. Stopped after the test.
``rc_env``
    The four ``RINGCENTRAL_*`` variables for it, as a dict (for ``Client.from_env`` or a
    subprocess). ``rc_env_vars`` also puts them into ``os.environ`` for the test.
``rc_client``
    An entered :class:`rcstream.Client` pointed at ``rc_emulator``, with millisecond
    backoff (:func:`fast_client_options`). Closed after the test.

Configure the emulator per test with a marker, or for a whole module by overriding the
``rc_emulator_options`` fixture::

    @pytest.mark.rc_emulator(extensions=3, recovery_timeout=0.5)
    async def test_three_users(rc_emulator): ...

The helpers below publish realistic events (:func:`publish_sms`, :func:`publish_call`,
:func:`publish_presence`) and read from a subscription with a deadline
(:func:`next_event`, :func:`collect`). Faults are the emulator's own methods
(``rc_emulator.abort_connections()``, ``close_connections()``, ``fail_next_recovery()``,
``go_silent()``, ``inject_raw()``, ``rate_limit_next()``, ``expire_access_tokens()`` ...).

Webhooks (``docs/webhooks.md``): ``rc_emulator`` delivers WebHook subscriptions by POST
(validation handshake, ``Verification-Token``, blacklisting), so
:func:`rcstream.webhooks.listen` with ``address=None`` works against ``rc_client`` as is.

``rc_webhook_receiver``
    A running :class:`~rcstream.webhooks.WebhookReceiver` with an Active WebHook
    subscription on ``rc_emulator`` for the user's presence, instant SMS and telephony
    sessions (``@pytest.mark.rc_webhook(filters=[...])`` to change them). Publish with the
    helpers below and read it with ``await anext(rc_webhook_receiver)``.
:func:`create_webhook_subscription`
    For testing *your own* receiver: creates a WebHook subscription for its URL through the
    real REST API (the emulator runs the handshake against it first).
``vcc_emulator``
    A running :class:`~rcstream.emulator.vcc.VccEmulator` (Vonage Contact Center: token,
    subscriptions API, signed CloudEvents deliveries) with retries after 10 to 200 ms
    instead of VCC's minutes (``@pytest.mark.vcc_emulator(...)`` for other options).
    ``vcc_env`` holds its ``VCC_*`` variables, ``vcc_client`` an entered
    :class:`~rcstream.webhooks.VccClient` for it.

The async fixtures need an async test runner: **pytest-asyncio** (``asyncio_mode = "auto"``
or ``"strict"``; in strict mode mark tests with ``@pytest.mark.asyncio``), or anyio's plugin
with ``@pytest.mark.anyio`` and the ``asyncio`` backend. Tests that use ``rc_emulator`` or
``rc_client`` must run in a **function-scoped event loop** (the default): a test marked
``@pytest.mark.asyncio(loop_scope="module")`` fails at setup with a message saying so.
Nothing heavy is imported until a fixture is used, so installing rcstream does not slow
down unrelated test suites.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rcstream.client import Client, ClientOptions, Subscription
    from rcstream.emulator import Emulator
    from rcstream.emulator.vcc import VccEmulator
    from rcstream.models import Notification
    from rcstream.webhooks import VccClient, WebhookReceiver

_F = TypeVar("_F", bound=Callable[..., Any])

try:  # pytest-asyncio's decorator works in both its strict and auto modes
    from pytest_asyncio import fixture as _pa_fixture
except ImportError:  # pragma: no cover - anyio's plugin runs plain async fixtures
    _decorate: Any = pytest.fixture
else:
    # Pin the fixtures to the test's own (function-scoped) loop, whatever
    # asyncio_default_fixture_loop_scope says: the emulator and the client must live in
    # the loop the test runs in.
    if "loop_scope" in inspect.signature(_pa_fixture).parameters:
        _decorate = functools.partial(_pa_fixture, loop_scope="function")
    else:  # pragma: no cover - pytest-asyncio < 0.24
        _decorate = _pa_fixture


def _async_fixture(func: _F) -> _F:
    return cast("_F", _decorate(func))


#: The fixtures that hold objects bound to the test's event loop.
_LOOP_BOUND_FIXTURES = (
    "rc_emulator",
    "rc_client",
    "rc_webhook_receiver",
    "vcc_emulator",
    "vcc_client",
)
#: Every fixture of this plugin (a test using one gets the async-runner check).
_ALL_FIXTURES = (
    *_LOOP_BOUND_FIXTURES,
    "rc_env",
    "rc_env_vars",
    "rc_emulator_options",
    "vcc_env",
    "vcc_emulator_options",
)

__all__ = [
    "FAST_EMULATOR_OPTIONS",
    "FAST_VCC_OPTIONS",
    "WEBHOOK_FAMILIES",
    "collect",
    "create_webhook_subscription",
    "event_path",
    "fast_client_options",
    "next_event",
    "publish_call",
    "publish_presence",
    "publish_sms",
    "rc_client",
    "rc_emulator",
    "rc_emulator_options",
    "rc_env",
    "rc_env_vars",
    "rc_webhook_receiver",
    "vcc_client",
    "vcc_emulator",
    "vcc_emulator_options",
    "vcc_env",
]

#: Emulator options the ``rc_emulator`` fixture starts from: no auth rate limit (tests log
#: in often) and a short wait for close frames. Everything else keeps the real defaults.
FAST_EMULATOR_OPTIONS: dict[str, Any] = {"auth_rate_limit": None, "close_timeout": 0.5}

#: VCC emulator options the ``vcc_emulator`` fixture starts from: redeliveries after 10 to
#: 200 ms (VCC waits minutes) and a 5 s answer timeout, so retry tests finish quickly.
FAST_VCC_OPTIONS: dict[str, Any] = {
    "retry_delays": (0.01, 0.02, 0.05, 0.1, 0.2),
    "request_timeout": 5.0,
}

#: The catalog families ``rc_webhook_receiver`` subscribes to unless told otherwise.
WEBHOOK_FAMILIES = ("presence", "instant-sms", "telephony-sessions")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``rc_emulator``, ``rc_webhook`` and ``vcc_emulator`` markers."""
    config.addinivalue_line(
        "markers",
        "rc_emulator(**options): keyword options for the rc_emulator fixture's Emulator",
    )
    config.addinivalue_line(
        "markers",
        "rc_webhook(filters=[...], **receiver_options): the event filters and "
        "WebhookReceiver options of the rc_webhook_receiver fixture",
    )
    config.addinivalue_line(
        "markers",
        "vcc_emulator(**options): keyword options for the vcc_emulator fixture's VccEmulator",
    )


def _test_loop_scope(item: pytest.Item) -> str:
    """The loop scope pytest-asyncio runs ``item`` in ("function" unless told otherwise)."""
    marker = item.get_closest_marker("asyncio")
    if marker is None:
        return "function"
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    if scope is None:
        try:
            scope = item.config.getini("asyncio_default_test_loop_scope")
        except ValueError:  # an older pytest-asyncio without that option
            scope = None
    return str(scope or "function")


def _no_async_runner(item: pytest.Item) -> str | None:
    """Why nothing would run ``item``, an ``async def`` test, or ``None`` if something will.

    Without this, pytest only says "async def functions are not natively supported" and
    skips the test, which reads as a bug in the fixtures rather than a missing setting.
    """
    if not inspect.iscoroutinefunction(getattr(item, "obj", None)):
        return None
    if item.get_closest_marker("anyio") is not None:
        return None
    config = item.config
    if config.pluginmanager.hasplugin("asyncio"):
        try:
            mode = str(config.getini("asyncio_mode"))
        except ValueError:
            mode = "strict"
        if mode == "auto" or item.get_closest_marker("asyncio") is not None:
            return None
        return (
            f"{item.name} is an async test, but pytest-asyncio is in strict mode and the "
            'test has no @pytest.mark.asyncio; set asyncio_mode = "auto" in your pytest '
            "configuration (or mark the test)."
        )
    return (
        f"{item.name} is an async test, but no async test runner is installed; "
        "pip install 'rcstream[test]' (pytest-asyncio) and set asyncio_mode = \"auto\" in "
        "your pytest configuration."
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail early, with the fix, a test that uses the fixtures but cannot run them.

    An ``async def`` test that no runner will run (pytest-asyncio missing, or in strict
    mode without the marker) fails with the setting to change. ``rc_emulator`` and
    ``rc_client`` run in a function-scoped loop; a test marked
    ``@pytest.mark.asyncio(loop_scope="module")`` (or any non-function loop scope) would
    drive them from another loop and fail deep inside aiohttp instead.
    """
    used = [name for name in _ALL_FIXTURES if name in getattr(item, "fixturenames", ())]
    if not used:
        return
    problem = _no_async_runner(item)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    used = [name for name in _LOOP_BOUND_FIXTURES if name in used]
    if not used:
        return
    scope = _test_loop_scope(item)
    if scope != "function":
        pytest.fail(
            f"{item.name} runs in a {scope}-scoped event loop, but rcstream's fixtures "
            f"({', '.join(used)}) need the test's own function-scoped loop; drop "
            f'loop_scope="{scope}" from @pytest.mark.asyncio (and leave '
            "asyncio_default_test_loop_scope at function) for tests that use them.",
            pytrace=False,
        )


def fast_client_options(**overrides: Any) -> ClientOptions:
    """:class:`rcstream.ClientOptions` for tests: reconnects within milliseconds, no
    client-side auth limiter, no WebSocket pings, short close. ``overrides`` win."""
    from rcstream import ClientOptions

    values: dict[str, Any] = {
        "backoff_base": 0.001,
        "backoff_cap": 0.05,
        "auth_rate_limit": None,
        "connect_timeout": 5.0,
        "request_timeout": 5.0,
        "close_timeout": 1.0,
        "ping_interval": None,
        "max_attempts": 20,
    }
    values.update(overrides)
    return ClientOptions(**values)


@pytest.fixture
def rc_emulator_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The keyword options for ``rc_emulator``: :data:`FAST_EMULATOR_OPTIONS` updated by
    the closest ``@pytest.mark.rc_emulator(...)``. Override this fixture to change them for
    a module or a directory."""
    options = dict(FAST_EMULATOR_OPTIONS)
    marker = request.node.get_closest_marker("rc_emulator")
    if marker is not None:
        options.update(marker.kwargs)
    return options


@_async_fixture
async def rc_emulator(rc_emulator_options: dict[str, Any]) -> AsyncIterator[Emulator]:
    """A running emulator on 127.0.0.1:0, stopped (every socket closed) after the test."""
    from rcstream.emulator import Emulator

    async with Emulator(**rc_emulator_options) as emulator:
        yield emulator


@pytest.fixture
def rc_env(rc_emulator: Emulator) -> dict[str, str]:
    """``RINGCENTRAL_SERVER_URL``, ``_CLIENT_ID``, ``_CLIENT_SECRET`` and ``_JWT`` for
    ``rc_emulator``."""
    return rc_emulator.env()


@pytest.fixture
def rc_env_vars(rc_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Put ``rc_env`` into ``os.environ`` for the test (for code that calls
    ``Client.from_env()`` itself)."""
    for key, value in rc_env.items():
        monkeypatch.setenv(key, value)


@_async_fixture
async def rc_client(rc_emulator: Emulator) -> AsyncIterator[Client]:
    """An entered :class:`rcstream.Client` for ``rc_emulator`` with
    :func:`fast_client_options`; closed (subscription deleted) after the test."""
    from rcstream import Client

    async with Client.from_env(rc_emulator.env(), options=fast_client_options()) as client:
        yield client


# ----------------------------------------------------------------------------- webhooks


async def create_webhook_subscription(
    client: Client,
    address: str,
    filters: Sequence[str] | None = None,
    *,
    verification_token: str | None = None,
    expires_in: int = 3600,
) -> dict[str, Any]:
    """Create a RingCentral WebHook subscription for ``address`` through ``client`` (REST)
    and return the platform's JSON answer (``id``, ``status``, ``expiresIn`` ...).

    ``filters`` default to :data:`WEBHOOK_FAMILIES` of the authorised user. Against the
    emulator, ``address`` must pass the validation handshake first (echo
    ``Validation-Token`` with a 200), else this raises :class:`~rcstream.GatewayError` with
    ``error_code == "SUB-525"``. Delete it with ``client.rest("DELETE", ...)`` or let the
    emulator go.
    """
    from rcstream.emulator import catalog

    chosen = (
        list(filters) if filters is not None else [catalog.filter_for(f) for f in WEBHOOK_FAMILIES]
    )
    delivery: dict[str, Any] = {"transportType": "WebHook", "address": address}
    if verification_token is not None:
        delivery["verificationToken"] = verification_token
    resp = await client.rest(
        "POST",
        "/restapi/v1.0/subscription",
        json={"eventFilters": chosen, "deliveryMode": delivery, "expiresIn": expires_in},
    )
    body = resp.body
    assert isinstance(body, dict), "the platform answered a subscription without a JSON body"
    return body


@_async_fixture
async def rc_webhook_receiver(
    rc_emulator: Emulator, rc_client: Client, request: pytest.FixtureRequest
) -> AsyncIterator[WebhookReceiver]:
    """A running :class:`~rcstream.webhooks.WebhookReceiver` on 127.0.0.1:0 with a random
    verification token and an Active WebHook subscription on ``rc_emulator`` (filters
    from ``@pytest.mark.rc_webhook(filters=[...])``, default :data:`WEBHOOK_FAMILIES`;
    other marker keywords go to the receiver; ``rc_emulator.subscriptions`` lists the
    subscription). Closed after the test."""
    import secrets

    from rcstream.webhooks import WebhookReceiver

    marker = request.node.get_closest_marker("rc_webhook")
    options = dict(marker.kwargs) if marker is not None else {}
    filters = options.pop("filters", None)
    token = secrets.token_urlsafe(32)
    async with WebhookReceiver(token=token, **options) as receiver:
        await create_webhook_subscription(
            rc_client, receiver.url, filters, verification_token=token
        )
        yield receiver


@pytest.fixture
def vcc_emulator_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The keyword options for ``vcc_emulator``: :data:`FAST_VCC_OPTIONS` updated by the
    closest ``@pytest.mark.vcc_emulator(...)``."""
    options = dict(FAST_VCC_OPTIONS)
    marker = request.node.get_closest_marker("vcc_emulator")
    if marker is not None:
        options.update(marker.kwargs)
    return options


@_async_fixture
async def vcc_emulator(vcc_emulator_options: dict[str, Any]) -> AsyncIterator[VccEmulator]:
    """A running Vonage Contact Center emulator on 127.0.0.1:0 (token endpoint,
    subscriptions API, signed deliveries with retries); stopped after the test. Publish
    with ``await vcc_emulator.publish("channel.alerted.v1", data)``; ``await
    vcc_emulator.drain()`` waits for pending redeliveries."""
    from rcstream.emulator.vcc import VccEmulator

    async with VccEmulator(**vcc_emulator_options) as emulator:
        yield emulator


@pytest.fixture
def vcc_env(vcc_emulator: VccEmulator) -> dict[str, str]:
    """``VCC_API_URL``, ``VCC_TOKEN_URL``, ``VCC_CLIENT_ID`` and ``VCC_CLIENT_SECRET`` for
    ``vcc_emulator`` (for ``rcstream vcc listen|subscriptions`` in a subprocess)."""
    return vcc_emulator.env()


@_async_fixture
async def vcc_client(vcc_emulator: VccEmulator) -> AsyncIterator[VccClient]:
    """An entered :class:`~rcstream.webhooks.VccClient` for ``vcc_emulator``."""
    from rcstream.webhooks import VccClient

    async with VccClient(
        vcc_emulator.base_url,
        token_url=vcc_emulator.token_url,
        client_id=vcc_emulator.client_id,
        client_secret=vcc_emulator.client_secret,
    ) as client:
        yield client


# ----------------------------------------------------------------------------- helpers


def event_path(emulator: Emulator, family: str, *, extension_id: str | None = None) -> str:
    """The concrete ``event`` path a notification of ``family`` (a catalog name such as
    ``"presence"``, ``"instant-sms"``, ``"telephony-sessions"``) carries for the authorised
    user, or for ``extension_id``."""
    from rcstream.emulator import catalog

    event, _ = catalog.generate(
        family,
        account_id=emulator.account_id,
        extension_id=extension_id or emulator.extension_id,
        rng=random.Random(0),
    )
    return event


async def publish_sms(
    emulator: Emulator,
    text: str,
    *,
    from_number: str = "+16505550123",
    extension_id: str | None = None,
) -> str:
    """Publish an inbound SMS with ``text`` from ``from_number`` to the authorised user (or
    ``extension_id``); the rest of the body is realistic. Returns the notification uuid."""
    from rcstream.emulator import catalog

    event, body = catalog.generate(
        "instant-sms",
        account_id=emulator.account_id,
        extension_id=extension_id or emulator.extension_id,
        rng=random.Random(),
    )
    body["subject"] = text
    body["from"] = {**body.get("from", {}), "phoneNumber": from_number}
    return await emulator.publish(event, body)


async def publish_call(
    emulator: Emulator, *, extension_id: str | None = None, seed: int | None = None
) -> list[str]:
    """Publish one whole inbound call (Setup → Proceeding → Answered → Disconnected, one
    telephony session) to the authorised user; returns the four uuids in order."""
    from rcstream.emulator import catalog

    events = catalog.telephony_call(
        account_id=emulator.account_id,
        extension_id=extension_id or emulator.extension_id,
        rng=random.Random(seed),
    )
    return [await emulator.publish(event, body) for event, body in events]


async def publish_presence(
    emulator: Emulator,
    status: str = "Available",
    *,
    extension_id: str | None = None,
    **fields: Any,
) -> str:
    """Publish a presence change (``presenceStatus`` = ``status`` plus ``fields`` in wire
    names, e.g. ``telephonyStatus="Ringing"``); returns the uuid."""
    ext = extension_id or emulator.extension_id
    body: dict[str, Any] = {"extensionId": ext, "presenceStatus": status, **fields}
    return await emulator.publish(event_path(emulator, "presence", extension_id=ext), body)


async def next_event(events: Subscription[Any], timeout: float = 5.0) -> Notification:  # noqa: ASYNC109
    """The next notification from ``events``.

    Lifecycle items (``Connected``, ``Disconnected``, ``Gap``, on a subscription opened
    with ``lifecycle=True``) are skipped: this waits for an *event*. Raises
    :class:`TimeoutError` after ``timeout`` seconds, with a message naming the filters it
    waited on, and :class:`AssertionError` if the stream ends first.
    """
    from rcstream.models import Notification

    skipped = 0
    try:
        async with asyncio.timeout(timeout):
            async for item in events:
                if isinstance(item, Notification):
                    return item
                skipped += 1
    except TimeoutError:
        filters = list(getattr(events, "filters", ()))
        note = f" ({skipped} lifecycle item(s) skipped)" if skipped else ""
        raise TimeoutError(
            f"next_event: no notification within {timeout:g} s on the subscription to "
            f"{filters}{note}; publish one (publish_sms, publish_presence ...) whose event "
            "path matches those filters, or raise the timeout."
        ) from None
    raise AssertionError("the subscription ended before another notification arrived")


async def collect(
    events: Subscription[Any],
    count: int,
    timeout: float = 5.0,  # noqa: ASYNC109
) -> list[Notification]:
    """The next ``count`` notifications from ``events`` within ``timeout`` seconds total."""
    async with asyncio.timeout(timeout):
        return [await next_event(events, timeout) for _ in range(count)]
