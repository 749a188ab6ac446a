"""``rcstream demo``, ``emulator``, ``subscriptions``, ``--help``, credentials and output
helpers. Subprocess tests run against the in-process emulator (see ``conftest.py``)."""

from __future__ import annotations

import argparse
import base64
import io
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cli_helpers import LIMIT, assert_no_traceback

import rcstream
from rcstream.cli import exit_code_for, main
from rcstream.cli.env import load_environment, parse_dotenv
from rcstream.cli.output import choose_format, family_of, format_pretty
from rcstream.emulator import Emulator

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"


# ----------------------------------------------------------------------------- subprocess


async def test_demo_prints_count_events_and_exits_0(run_cli: Any) -> None:
    cli = await run_cli("demo", "-n", "4", "--rate", "40", "--format", "json")
    assert await cli.wait() == 0
    records = [json.loads(line) for line in cli.stdout_lines]
    assert len(records) == 4
    assert all({"uuid", "event", "body"} <= set(r) for r in records)
    assert_no_traceback(await cli.stderr())


async def test_demo_pretty_is_the_default(run_cli: Any) -> None:
    cli = await run_cli("demo", "-n", "2", "--rate", "40")
    assert await cli.wait() == 0
    assert len(cli.stdout_lines) == 2
    assert not cli.stdout_lines[0].startswith("{")


async def test_emulator_command_prints_credentials_and_stops_on_sigint(
    run_cli: Any, tmp_path: Path
) -> None:
    cli = await run_cli("emulator", "--rate", "0", "--port", "0")
    lines = [await cli.line() for _ in range(4)]
    assert all(line.startswith("export RINGCENTRAL_") for line in lines), lines
    env = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    assert sorted(env) == [
        "RINGCENTRAL_CLIENT_ID",
        "RINGCENTRAL_CLIENT_SECRET",
        "RINGCENTRAL_JWT",
        "RINGCENTRAL_SERVER_URL",
    ]
    # The printed lines are a usable env file for `listen --env-file`.
    async with rcstream.Client.from_env(env) as client:
        resp = await client.rest("GET", "/restapi/v1.0/account/~/extension/~")
        assert resp.status == 200
    cli.proc.send_signal(signal.SIGINT)
    assert await cli.wait() == 130
    assert_no_traceback(await cli.stderr())


async def test_subscriptions_list_show_delete(emu: Emulator, run_cli: Any) -> None:
    async with rcstream.Client.from_env(emu.env()) as client, client.subscribe([PRESENCE]):
        (sub,) = emu.subscriptions
        listed = await run_cli("subscriptions", "list", "--json", env=emu.env())
        table = await run_cli("subscriptions", "list", env=emu.env())
        show = await run_cli("subscriptions", "show", sub.id, env=emu.env())
        assert await listed.wait() == 0
        body = json.loads("\n".join(listed.stdout_lines))
        assert [r["id"] for r in body["records"]] == [sub.id]
        assert await table.wait() == 0
        assert table.stdout_lines[0].split()[:3] == ["ID", "STATUS", "TRANSPORT"]
        assert sub.id in table.stdout_lines[1]
        assert "WebSocket" in table.stdout_lines[1]
        assert await show.wait() == 0
        assert any(sub.id in line for line in show.stdout_lines)
        assert any("/presence" in line for line in show.stdout_lines)

        delete = await run_cli("subscriptions", "delete", sub.id, env=emu.env())
        assert await delete.wait() == 0
        assert emu.subscriptions == ()

        gone = await run_cli("subscriptions", "show", sub.id, env=emu.env())
        assert await gone.wait() == 1
        stderr = await gone.stderr()
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert_no_traceback(stderr)


async def test_dotenv_in_working_directory_and_access_token_file(
    emu: Emulator, run_cli: Any, tmp_path: Path
) -> None:
    # ./.env is read from the working directory (the fixture runs the CLI in tmp_path).
    (tmp_path / ".env").write_text(
        "# emulator credentials\n" + "".join(f'{k}="{v}"\n' for k, v in emu.env().items())
    )
    cli = await run_cli("listen", "-e", "presence", "-n", "1")
    await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    await emu.publish(
        f"/restapi/v1.0/account/{emu.account_id}/extension/{emu.extension_id}/presence",
        {"presenceStatus": "Available"},
    )
    assert await cli.wait() == 0
    assert len(cli.stdout_lines) == 1
    (tmp_path / ".env").unlink()

    # --access-token-file: a token obtained elsewhere, no client secret or JWT needed.
    basic = base64.b64encode(f"{emu.client_id}:{emu.client_secret}".encode()).decode()
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{emu.server_url}/restapi/oauth/token",
            data={"grant_type": JWT_GRANT, "assertion": emu.jwt},
            headers={"Authorization": f"Basic {basic}"},
        )
        token = (await resp.json())["access_token"]
    token_file = tmp_path / "token.txt"
    token_file.write_text(token + "\n")
    cli = await run_cli(
        "subscriptions",
        "list",
        "--json",
        "--server",
        emu.server_url,
        "--access-token-file",
        str(token_file),
    )
    assert await cli.wait() == 0, await cli.stderr()
    assert json.loads("\n".join(cli.stdout_lines))["records"] == []


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    top_text = capsys.readouterr().out
    for word in ("listen", "demo", "emulator", "subscriptions", "exit codes"):
        assert word in top_text
    assert main(["listen", "--help"]) == 0
    listen_text = capsys.readouterr().out
    for flag in ("--filter", "--events", "--all-extensions", "--format", "--count", "--timeout"):
        assert flag in listen_text
    for flag in ("--lifecycle", "--forward-to", "--env-file", "--access-token-file", "examples:"):
        assert flag in listen_text
    assert "--backoff-cap" not in listen_text  # hidden test knob
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"rcstream {rcstream.__version__}\n"


# ----------------------------------------------------------------------------- in-process


def test_parse_dotenv_forms() -> None:
    text = """
# comment
export A=1
B = two words  # trailing comment
C='single # not a comment'
D="double\\nline \\"quoted\\""
E=
F="x" # comment after quotes
"""
    assert parse_dotenv(text) == {
        "A": "1",
        "B": "two words",
        "C": "single # not a comment",
        "D": 'double\nline "quoted"',
        "E": "",
        "F": "x",
    }


def test_parse_dotenv_rejects_garbage_without_echoing_it() -> None:
    with pytest.raises(rcstream.ConfigurationError) as info:
        parse_dotenv("GOOD=1\nsecret-value-without-key\n", source="x.env")
    assert "x.env line 2" in str(info.value)
    assert "secret-value" not in str(info.value)


def test_credential_precedence(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "RINGCENTRAL_CLIENT_ID=dotenv\nRINGCENTRAL_JWT=dotenv\nOTHER=x\n"
    )
    explicit = tmp_path / "explicit.env"
    explicit.write_text("RINGCENTRAL_JWT=explicit\n")
    env = load_environment(
        environ={"RINGCENTRAL_CLIENT_ID": "environ", "PATH": "/bin"},
        env_file=str(explicit),
        server="https://example.test",
        cwd=tmp_path,
    )
    assert env == {
        "RINGCENTRAL_CLIENT_ID": "environ",  # the environment beats ./.env
        "RINGCENTRAL_JWT": "explicit",  # --env-file beats the environment
        "RINGCENTRAL_SERVER_URL": "https://example.test",  # --server beats everything
    }
    with pytest.raises(rcstream.ConfigurationError, match="does not exist"):
        load_environment(environ={}, env_file=str(tmp_path / "missing.env"), cwd=tmp_path)


def test_exit_codes() -> None:
    assert exit_code_for(rcstream.ConfigurationError("x")) == 2
    assert exit_code_for(rcstream.UsageError("x")) == 2
    assert exit_code_for(rcstream.AuthenticationError("x")) == 3
    assert exit_code_for(rcstream.PermissionDeniedError("x")) == 3
    for exc in (
        rcstream.ConnectionFailedError("x"),
        rcstream.RecoveryFailedError("x"),
        rcstream.RateLimitedError("x"),
        rcstream.GatewayError("x"),
        rcstream.StreamClosedError("x"),
    ):
        assert exit_code_for(exc) == 4
    assert exit_code_for(RuntimeError("bug")) == 1


def test_usage_error_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["listen", "--count", "0"]) == 2
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "must be 1 or more" in err


@pytest.mark.parametrize(
    ("event", "family"),
    [
        ("/restapi/v1.0/account/1/extension/2/telephony/sessions", "telephony"),
        ("/restapi/v1.0/account/1/extension/2/presence?detailedTelephonyState=true", "presence"),
        ("/restapi/v1.0/account/1/extension/2/message-store/instant?type=SMS", "sms"),
        ("/restapi/v1.0/account/1/extension/2/message-store", "message-store"),
        ("/team-messaging/v1/posts", "team-messaging"),
        ("/something/new", "event"),
    ],
)
def test_family_of(event: str, family: str) -> None:
    assert family_of(event) == family


def test_format_pretty_handles_odd_bodies() -> None:
    wire = {
        "uuid": "u",
        "event": "/restapi/v1.0/account/1/extension/22/message-store/instant?type=SMS",
        "timestamp": "2026-01-02T03:04:05.678Z",
        "body": {"from": {"phoneNumber": "+1"}, "to": [], "subject": "a\nb " * 40},
    }
    line = format_pretty(wire, color=False)
    assert line.startswith("03:04:05  sms")
    assert "ext 22" in line
    assert "\n" not in line
    assert "…" in line
    assert "\033[" in format_pretty(wire, color=True)
    for body in ({"parties": "nonsense"}, {"parties": [None]}, {}, {"changes": [1, 2]}):
        weird = {"event": "/restapi/v1.0/account/1/extension/2/telephony/sessions", "body": body}
        assert "telephony" in format_pretty(weird, color=False)
    assert format_pretty({}, color=False)


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("fmt", "tty", "no_color", "env_no_color", "expected"),
    [
        (None, True, False, False, ("pretty", True)),
        (None, False, False, False, ("json", False)),
        (None, True, True, False, ("pretty", False)),
        (None, True, False, True, ("pretty", False)),
        ("json", True, False, False, ("json", False)),
        ("pretty", False, False, False, ("pretty", False)),
    ],
)
def test_one_format_choice_for_every_command_that_prints_events(
    fmt: str | None,
    tty: bool,
    no_color: bool,
    env_no_color: bool,
    expected: tuple[str, bool],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # listen, demo and the webhook/vcc commands all read --format/--no-color with this
    monkeypatch.delenv("NO_COLOR", raising=False)
    if env_no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    assert choose_format(fmt, no_color=no_color, stream=_Stream(tty)) == expected
    monkeypatch.setattr(sys, "stdout", _Stream(tty))
    assert choose_format(fmt, no_color=no_color) == expected  # stdout by default
    from rcstream.cli._receive import Printer

    args = argparse.Namespace(format=fmt, no_color=no_color)
    printer = Printer(args, stream=io.BytesIO())
    assert (printer.format, printer.color) == expected


def test_help_imports_nothing_heavy() -> None:
    """``rcstream --help`` must stay fast: no asyncio, aiohttp, websockets, pydantic or client
    (every command module is imported to build the parser, so they import these lazily)."""
    code = (
        "import sys, contextlib, io\n"
        "from rcstream.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['listen', '--help']) == 0\n"
        "heavy = ('asyncio', 'aiohttp', 'websockets', 'pydantic', 'rcstream.client',\n"
        "         'rcstream.emulator')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=LIMIT
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


async def test_subscriptions_renew_a_webhook_subscription(emu: Emulator, run_cli: Any) -> None:
    from rcstream.webhooks import WebhookReceiver

    # the receiver answers the emulator's validation request at creation
    async with rcstream.Client.from_env(emu.env()) as client, WebhookReceiver(token="t") as rx:
        created = await client.rest(
            "POST",
            "/restapi/v1.0/subscription",
            json={
                "eventFilters": [PRESENCE],
                "deliveryMode": {"transportType": "WebHook", "address": rx.url},
                "expiresIn": 600,
            },
        )
    sub_id = created.body["id"]
    renew = await run_cli("subscriptions", "renew", sub_id, "--json", env=emu.env())
    assert await renew.wait() == 0
    body = json.loads("\n".join(renew.stdout_lines))
    assert body["id"] == sub_id
    assert body["status"] == "Active"
    assert_no_traceback(await renew.stderr())
