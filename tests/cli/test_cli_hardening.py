"""Regression tests for the CLI's second review: encodings, exit codes for refusals,
``--forward-to`` validation and retries, ``.env`` parsing, credential files, signals,
the emulator's port, pretty-output sanitising and subscriptions left behind on exit."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from cli_helpers import LIMIT, Receiver, assert_no_traceback
from support import DUMMY_CREDENTIALS, child_env

import rcstream
from rcstream.cli import error_message, exit_code_for, main
from rcstream.cli.env import load_environment, parse_dotenv
from rcstream.cli.forward import Forwarder, validate_forward_url
from rcstream.cli.output import Output, format_lifecycle, format_pretty
from rcstream.emulator import Emulator
from rcstream.testing import event_path, publish_sms

CREDS = DUMMY_CREDENTIALS


# ----------------------------------------------------------------------------- 1 encodings


async def test_emoji_and_lone_surrogate_survive_a_legacy_stdout_encoding(
    emu: Emulator, run_cli: Any
) -> None:
    """cp1252 stdout, an emoji and a lone surrogate escape: UTF-8 JSON lines, exit 0, and
    --forward-to receives exactly the bytes written to stdout."""
    receiver = Receiver()
    url = await receiver.__aenter__()
    try:
        cli = await run_cli(
            "listen",
            "-e",
            "sms,presence",
            "-n",
            "2",
            "--forward-to",
            url,
            env=emu.env(),
            PYTHONIOENCODING="cp1252",
        )
        (sub,) = await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
        u1 = await publish_sms(emu, "Thanks \U0001f44d")
        frame = [
            {"type": "ServerNotification", "messageId": "u2", "status": 200, "headers": {}},
            {
                "uuid": "u2",
                "event": event_path(emu, "presence"),
                "timestamp": "2026-01-01T00:00:00.000Z",
                "subscriptionId": sub.id,
                "ownerId": emu.extension_id,
                "body": {"presenceStatus": "Available", "note": "half \ud83d"},
            },
        ]
        await emu.inject_raw(json.dumps(frame))  # "\ud83d" stays an escape in the text
        assert await cli.wait() == 0, await cli.stderr()
        await receiver.wait_for(2)
    finally:
        await receiver.__aexit__()
    assert_no_traceback(await cli.stderr())
    first, second = (json.loads(line) for line in cli.stdout_lines)
    assert first["uuid"] == u1
    assert first["body"]["subject"] == "Thanks \U0001f44d"
    assert "\U0001f44d" in cli.stdout_lines[0]  # raw UTF-8, not an escape
    assert second["body"]["note"] == "half \ud83d"
    assert [b.decode("utf-8") for b in receiver.bodies] == cli.stdout_lines


def test_output_writes_utf8_bytes_and_json_stays_encodable() -> None:
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="cp1252")
    out = Output(text)
    out.write_line("caf\u00e9 \U0001f44d")
    out.write_bytes(Output.json_bytes({"s": "\ud83d", "e": "\U0001f44d"}))
    out.write_line("lone \ud83d")  # pretty output: escaped, never an exception
    lines = raw.getvalue().decode("utf-8").splitlines()
    assert lines[0] == "caf\u00e9 \U0001f44d"
    assert json.loads(lines[1]) == {"s": "\ud83d", "e": "\U0001f44d"}
    assert lines[2] == "lone \\ud83d"
    assert Output.json_line({"s": "\ud83d"}).encode("utf-8") == b'{"s":"\\ud83d"}'


def test_output_unflushed_lines_leave_on_flush() -> None:
    class Recording(io.BytesIO):
        flushed: list[bytes] = []

        def flush(self) -> None:
            self.flushed.append(self.getvalue())

    raw = Recording()
    out = Output(io.BufferedWriter(raw))
    out.write_bytes(b'{"a":1}', flush=False)
    out.write_bytes(b'{"a":2}', flush=False)
    assert raw.getvalue() == b""  # still in the buffer: one write for the burst
    out.flush()
    assert raw.getvalue() == b'{"a":1}\n{"a":2}\n'
    out.write_bytes(b'{"a":3}')  # the default flushes each line
    assert raw.getvalue().endswith(b'{"a":3}\n')


def test_output_on_a_file_buffers_in_its_own_writer_and_leaves_the_fd_open(
    tmp_path: Any,
) -> None:
    import gc

    path = tmp_path / "out.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        out = Output(f)
        out.write_bytes(b'{"a":1}', flush=False)
        assert path.read_bytes() == b""  # in Output's own buffer, not yet written
        out.flush()
        assert path.read_bytes() == b'{"a":1}\n'
        del out
        gc.collect()  # finalising Output's writer must not close the file descriptor
        f.write("still open\n")
    assert path.read_bytes() == b'{"a":1}\nstill open\n'


def test_pretty_line_for_a_deeply_nested_body() -> None:
    """A hostile body nested thousands of levels deep still gives one line (pretty output
    reads a few levels only), and control characters near the top are still stripped."""
    deep: Any = 1
    for _ in range(5000):
        deep = {"a": deep}
    wire = {
        "uuid": "u1",
        "event": "/restapi/v1.0/account/1/extension/2/presence",
        "timestamp": "2026-01-01T10:11:12.000Z",
        "body": {"presenceStatus": "Avail\x1b[31mable", "deep": deep},
    }
    line = format_pretty(wire, color=False)
    assert "10:11:12" in line
    assert "\x1b" not in line


def test_json_lines_stay_valid_and_exact_where_json_can_be() -> None:
    """What the fast writer (orjson) refuses takes an exact slower path; values JSON cannot
    carry become null, so every line parses."""
    big = {"sequence": 2**70, "negative": -(2**64)}  # beyond 64 bits: digits kept
    assert json.loads(Output.json_bytes(big)) == big
    special = {"v": float("nan"), "w": float("inf"), "x": 1.5}
    assert json.loads(Output.json_bytes(special)) == {"v": None, "w": None, "x": 1.5}

    def strict(text: bytes) -> Any:
        def refuse(constant: str) -> None:
            raise AssertionError(f"{constant} is not JSON")

        return json.loads(text, parse_constant=refuse)

    # NaN next to what only the slower writers take: still null on their paths
    assert strict(Output.json_bytes({"v": float("nan"), "big": 2**70})) == {
        "v": None,
        "big": 2**70,
    }
    assert strict(Output.json_bytes({"v": float("-inf"), "s": "\ud83d"})) == {
        "v": None,
        "s": "\ud83d",
    }
    deep: Any = 1
    for _ in range(600):  # deeper than orjson writes (254), as json.loads can still read
        deep = {"a": deep}
    assert json.loads(Output.json_bytes({"body": deep})) == {"body": deep}
    absurd: Any = 1
    for _ in range(50_000):
        absurd = [absurd]
    with pytest.raises(ValueError, match="nested too deeply"):
        Output.json_bytes({"body": absurd})


async def test_an_event_no_writer_accepts_is_skipped_before_any_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pretty output with --forward-to: an event whose JSON cannot be written is neither
    printed, nor forwarded, nor counted; the next one is all three."""
    from rcstream.cli.listen import listen

    real = Output.json_bytes

    def refuse_busy(obj: Any) -> bytes:
        if obj.get("body", {}).get("presenceStatus") == "Busy":
            raise ValueError("the notification is nested too deeply to write as JSON")
        return real(obj)

    monkeypatch.setattr(Output, "json_bytes", staticmethod(refuse_busy))
    out = io.BytesIO()
    receiver = Receiver()
    async with Emulator(auth_rate_limit=None, seed=5) as emu:
        hook_url = await receiver.__aenter__()
        try:
            task = asyncio.ensure_future(
                listen(
                    env=emu.env(),
                    filters=["/restapi/v1.0/account/~/extension/~/presence"],
                    fmt="pretty",
                    count=1,
                    timeout=LIMIT,
                    forward_to=hook_url,
                    output=Output(out),
                )
            )
            await emu.wait_for_subscription(timeout=LIMIT)
            await emu.publish(event_path(emu, "presence"), {"presenceStatus": "Busy"})
            uid = await emu.publish(event_path(emu, "presence"), {"presenceStatus": "Available"})
            assert await task == 0  # --count 1, reached by the second event
        finally:
            await receiver.__aexit__()
    lines = out.getvalue().decode().splitlines()
    assert len(lines) == 1
    assert "Available" in lines[0]
    assert [json.loads(body)["uuid"] for body in receiver.bodies] == [uid]


# ----------------------------------------------------------------------------- 2 refusals


@pytest.mark.parametrize(
    "exc",
    [
        rcstream.GatewayError("x", status=s, error_code=c)
        for s in (None, 400, 401, 403, 404, 408, 409, 422, 500, 503)
        for c in (None, "SUB-508", "WSG-902", "WSG-201", "OAU-213")
    ]
    + [
        rcstream.AuthenticationError("x"),
        rcstream.PermissionDeniedError("x"),
        rcstream.ConnectionFailedError("x"),
        rcstream.ProtocolError("x"),
        rcstream.RateLimitedError("x"),
        rcstream.RecoveryFailedError("x"),
        rcstream.ConfigurationError("x"),
        rcstream.UsageError("x"),
    ],
    ids=repr,
)
def test_exit_codes_follow_retry_classify(exc: Exception) -> None:
    """One table: what the client retries ends in 4 (it gave up), what it does not in 2/3."""
    from rcstream.retry import classify

    code = exit_code_for(exc)
    if isinstance(exc, rcstream.ConfigurationError | rcstream.UsageError):
        assert code == 2
    elif classify(exc).retry or isinstance(exc, rcstream.RecoveryFailedError):
        assert code == 4
    else:
        assert code in (2, 3)
        assert (code == 3) == isinstance(exc, rcstream.AuthenticationError)


def test_exit_codes_for_permanent_refusals() -> None:
    def gw(status: int | None, code: str | None = None) -> rcstream.GatewayError:
        return rcstream.GatewayError("x", status=status, error_code=code)

    assert exit_code_for(gw(400, "SUB-508")) == 2
    assert exit_code_for(gw(403)) == 2
    assert exit_code_for(gw(404)) == 4  # retry.classify retries 404: the client gave up
    assert exit_code_for(gw(408)) == 4
    assert exit_code_for(rcstream.RateLimitedError("x")) == 4
    assert exit_code_for(gw(503)) == 4
    assert exit_code_for(gw(None)) == 4
    assert exit_code_for(gw(400, "WSG-902")) == 4  # the gateway's own: reconnectable
    assert exit_code_for(rcstream.RequestTimeoutError("x", status=408)) == 4
    sub508 = rcstream.GatewayError(
        "Subscribing to events failed with HTTP 400 (SUB-508: Invalid event filters: [/x]).",
        status=400,
        error_code="SUB-508",
    )
    assert error_message(sub508).endswith(
        "; fix or remove the filter (`rcstream listen -e help` lists working presets)."
    )
    sub505 = rcstream.PermissionDeniedError(
        "Subscribing to events was refused (SUB-505: Subscriptions limit exceeded): check "
        "the app's permissions and the user's role.",
        error_code="SUB-505",
        status=403,
    )
    message = error_message(sub505)
    assert "rcstream subscriptions delete" in message
    assert "permissions" not in message


async def test_invalid_filter_exits_2_and_full_subscription_list_waits(
    run_cli: Any,
) -> None:
    async with Emulator(auth_rate_limit=None, subscription_limit=1) as emu:
        bad = await run_cli(
            "listen", "-f", "/restapi/v1.0/account/~/extension/abc/presence", env=emu.env()
        )
        assert await bad.wait() == 2  # not 4: a supervisor must not restart it
        stderr = await bad.stderr()
        errors = [line for line in stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and "fix or remove the filter" in errors[0], stderr

        async with (
            rcstream.Client.from_env(emu.env()) as client,
            client.subscribe(["/restapi/v1.0/account/~/extension/~/presence"]),
        ):
            full = await run_cli("listen", "-e", "sms", env=emu.env())
            # SUB-505 is not fatal (issue 11 item 3): the listener waits for a free slot
            # and its warning names the commands that free one
            assert full.proc.stderr is not None
            seen = ""
            with anyio.fail_after(30):
                while "SUB-505" not in seen:
                    line = (await full.proc.stderr.readline()).decode()
                    assert line, seen
                    seen += line
            assert "rcstream subscriptions delete" in seen, seen
            assert full.proc.returncode is None
            full.proc.terminate()
            await full.wait()
        assert_no_traceback(seen)


# ----------------------------------------------------------------------------- 3, 4 forwarding


@pytest.mark.parametrize(
    "url", ["localhost:8000/hook", "ftp://host/hook", "http://", "http://host:99999/", "hook"]
)
def test_forward_to_url_is_checked_up_front(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for key, value in CREDS.items():
        monkeypatch.setenv(key, value)
    assert main(["listen", "-e", "presence", "--forward-to", url]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "--forward-to" in err
    assert validate_forward_url(" https://example.com/h ") == "https://example.com/h"


async def test_forwarder_never_posts_twice_after_a_timeout(emu: Emulator, run_cli: Any) -> None:
    receiver = Receiver(hang_first=True)
    url = await receiver.__aenter__()
    try:
        cli = await run_cli(
            "listen",
            "-e",
            "sms",
            "-n",
            "2",
            "--forward-to",
            url,
            env=emu.env(),
            RCSTREAM_FORWARD_TIMEOUT="0.3",
        )
        await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
        uuids = [await publish_sms(emu, f"m{i}") for i in range(2)]
        assert await cli.wait() == 0
        await receiver.wait_for(2)
    finally:
        await receiver.__aexit__()
    # one POST per event: the timed-out one was not sent again
    assert [json.loads(b)["uuid"] for b in receiver.bodies] == uuids
    stderr = await cli.stderr()
    assert "no answer within 0.3 s" in stderr and "not retried" in stderr, stderr


async def test_forwarder_retries_only_when_no_connection_was_made() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with Forwarder(f"http://127.0.0.1:{port}/h", retries=2, delay=0.001) as fwd:
        assert await fwd.forward(b"{}", event="/e", uuid="u") is None  # refused 3 times
    async with Receiver() as url, Forwarder(url, timeout=2) as fwd:
        assert await fwd.forward(b'{"a":1}', event="/e", uuid="u") == 200


# ----------------------------------------------------------------------------- 5, 6 .env


def test_parse_dotenv_quotes_escapes_and_trailing_text() -> None:
    assert parse_dotenv('G="a\\"b" # note') == {"G": 'a"b'}
    assert parse_dotenv('S="abc" # the "prod" key') == {"S": "abc"}
    assert parse_dotenv("Q='a' # c\nR=\"x\"#c") == {"Q": "a", "R": "x"}
    assert parse_dotenv('K="-----BEGIN KEY-----\nAAA\n-----END KEY-----"\nN=1') == {
        "K": "-----BEGIN KEY-----\nAAA\n-----END KEY-----",
        "N": "1",
    }
    for text in ('H="x"y', "I='it''s'", 'A=1\nH="secretvalue"trailing'):
        with pytest.raises(rcstream.ConfigurationError) as info:
            parse_dotenv(text, source="x.env")
        assert "unexpected text after the closing quote" in str(info.value)
        assert "secretvalue" not in str(info.value) and "trailing" not in str(info.value)
    with pytest.raises(rcstream.ConfigurationError, match="line 2 has an unterminated quote"):
        parse_dotenv('A=1\nP="unterminated\nB=2')


def test_implicit_dotenv_skips_what_it_cannot_read_unless_it_is_ours(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other_tool = (
        'PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"\n'
        "this line is not for us\n"
        "BROKEN='unterminated\n"
        "RINGCENTRAL_CLIENT_ID=from-dotenv\n"
    )
    (tmp_path / ".env").write_text(other_tool)
    with caplog.at_level("WARNING", logger="rcstream.cli"):
        env = load_environment(environ=CREDS | {"RINGCENTRAL_CLIENT_ID": "environ"}, cwd=tmp_path)
    assert env == CREDS | {"RINGCENTRAL_CLIENT_ID": "environ"}
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings  # one warning at most
    assert "unterminated" not in warnings[0].getMessage() or "BROKEN" not in str(warnings)
    # The same file given explicitly stays strict.
    with pytest.raises(rcstream.ConfigurationError, match="line 4"):
        load_environment(environ={}, env_file=str(tmp_path / ".env"), cwd=tmp_path / "x")
    # A broken RINGCENTRAL_* entry in ./.env is an error, not silently skipped.
    (tmp_path / ".env").write_text('RINGCENTRAL_JWT="abc"def\n')
    with pytest.raises(rcstream.ConfigurationError, match="closing quote"):
        load_environment(environ=CREDS, cwd=tmp_path)


async def test_listen_works_next_to_another_tools_dotenv(
    emu: Emulator, run_cli: Any, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        'CERT="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"\nsome odd line\n'
    )
    cli = await run_cli("listen", "-e", "presence", "--timeout", "0.3", env=emu.env())
    await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    assert await cli.wait() == 0, await cli.stderr()
    assert (await cli.stderr()).count("warning:") == 1


# ----------------------------------------------------------------------------- 7 files


def test_unreadable_credential_files_are_configuration_errors(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.env"
    latin1.write_bytes(b"RINGCENTRAL_JWT=caf\xe9\n")
    with pytest.raises(rcstream.ConfigurationError, match="not UTF-8"):
        load_environment(environ={}, env_file=str(latin1), cwd=tmp_path)
    (tmp_path / ".env").write_bytes(b"\xff\xfe junk")
    with pytest.raises(rcstream.ConfigurationError, match="not UTF-8"):
        load_environment(environ={}, cwd=tmp_path)
    (tmp_path / ".env").unlink()
    for content in (b"\xff\xfe\x00bad", b"TOKEN\nSECONDLINE\n", b"TOK EN", b"TOK\x1bEN"):
        token = tmp_path / "token.txt"
        token.write_bytes(content)
        with pytest.raises(rcstream.ConfigurationError, match="just the token") as info:
            load_environment(environ={}, access_token_file=str(token), cwd=tmp_path)
        assert "SECONDLINE" not in str(info.value)
    token.write_text("  GOODTOKEN\n")
    env = load_environment(environ={}, access_token_file=str(token), cwd=tmp_path)
    assert env["RINGCENTRAL_ACCESS_TOKEN"] == "GOODTOKEN"


async def test_refused_access_token_says_invalid_or_expired(
    emu: Emulator, run_cli: Any, tmp_path: Path
) -> None:
    token = tmp_path / "token.txt"
    token.write_text("not-a-real-token\n")
    newline = tmp_path / "two-lines.txt"
    newline.write_text("not-a-real-token\nsecond\n")
    server = {"RINGCENTRAL_SERVER_URL": emu.server_url}
    cli = await run_cli("listen", "-e", "presence", "--access-token-file", str(token), env=server)
    two = await run_cli("listen", "-e", "presence", "--access-token-file", str(newline), env=server)
    assert await cli.wait() == 3
    stderr = await cli.stderr()
    assert "invalid or expired" in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert "not-a-real-token" not in stderr
    assert await two.wait() == 2
    assert "just the token" in await two.stderr()


# ----------------------------------------------------------------------------- 8 signals


def test_sigterm_before_the_event_loop_exits_130() -> None:
    """SIGTERM while the command is still starting (no event loop yet) is an interrupt."""
    code = (
        "import os, signal, sys\n"
        "import rcstream.cli.listen as L\n"
        "from rcstream.cli import main\n"
        "def early(args):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    for _ in range(10**6): pass  # the handler runs here\n"
        "    return 0\n"
        "L.run = early\n"
        "sys.exit(main(['listen', '-e', 'presence']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        env=child_env(CREDS),
    )
    assert result.returncode == 130, result.stderr
    assert_no_traceback(result.stderr)


# ----------------------------------------------------------------------------- 9, 10 usage


async def test_emulator_port_in_use_or_out_of_range_exits_2(
    run_cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["emulator", "--port", "70000"]) == 2
    assert "0 to 65535" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cli = await run_cli("emulator", "--port", str(port))
        assert await cli.wait() == 2
    stderr = await cli.stderr()
    assert f"Port {port} is in use (another `rcstream emulator`?)" in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert cli.stdout_lines == []


def test_subscriptions_without_an_action_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["subscriptions"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "an action is required" in captured.err
    assert "usage: rcstream subscriptions" in captured.err


# ----------------------------------------------------------------------------- 12 pretty


def test_pretty_output_strips_control_characters() -> None:
    evil = "Mallory\x1b]0;pwned\x07\x1b[2J\x9b31m"
    wire = {
        "event": "/restapi/v1.0/account/1/extension/2/message-store/instant?type=SMS",
        "timestamp": "2026-01-02T03:04:05.678Z\x1b[1m",
        "ownerId": "2",
        "body": {
            "from": {"name": evil, "phoneNumber": "+1\x1b[5m"},
            "to": [{"phoneNumber": "+2"}],
            "subject": "hi\x1b[31m\nthere\r",
        },
    }
    for color in (False, True):
        line = format_pretty(wire, color=color)
        assert "\x07" not in line and "\x9b" not in line and "\r" not in line
        assert "]0;pwned" in line  # the text stays, the escape character goes
        stripped = line.replace("\x1b[0m", "")
        for style in ("\x1b[2m", "\x1b[1m", "\x1b[32m"):  # our own colours only
            stripped = stripped.replace(style, "")
        assert "\x1b" not in stripped, repr(line)
    assert "hi[31m there" in format_pretty(wire, color=False)
    wire_telephony = {
        "event": "/restapi/v1.0/account/1/extension/2/telephony/sessions",
        "body": {"parties": [{"from": {"name": "\x1b[31mEve"}, "status": {"code": "\x1b[2J"}}]},
    }
    assert "\x1b" not in format_pretty(wire_telephony, color=False)
    assert "\x1b" not in format_lifecycle({"type": "gap", "message": "a\x1b[2Jb"}, color=False)


# ----------------------------------------------------------------------------- 13 exit


async def test_subscription_left_behind_on_a_half_open_link_is_named(
    emu: Emulator, run_cli: Any
) -> None:
    cli = await run_cli("listen", "-e", "presence", env=emu.env(), RCSTREAM_CLOSE_TIMEOUT="0.3")
    (sub,) = await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    uuid = await emu.publish(event_path(emu, "presence"), {"presenceStatus": "Busy"})
    assert (await cli.json_line())["uuid"] == uuid  # streaming, so the id is known
    emu.go_silent()
    emu.rate_limit_next("request", retry_after=60, count=5)  # the REST DELETE on close fails too
    cli.proc.send_signal(signal.SIGINT)
    assert await cli.wait() == 130
    stderr = await cli.stderr()
    assert_no_traceback(stderr)
    assert f"rcstream subscriptions delete {sub.id}" in stderr, stderr


async def test_subscription_on_a_half_open_link_is_deleted_over_rest_on_close(
    emu: Emulator, run_cli: Any
) -> None:
    cli = await run_cli("listen", "-e", "presence", env=emu.env(), RCSTREAM_CLOSE_TIMEOUT="0.3")
    (sub,) = await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    uuid = await emu.publish(event_path(emu, "presence"), {"presenceStatus": "Busy"})
    assert (await cli.json_line())["uuid"] == uuid
    emu.go_silent()  # the socket DELETE gets no answer: REST does it
    cli.proc.send_signal(signal.SIGINT)
    assert await cli.wait() == 130
    assert "warning" not in await cli.stderr()
    assert sub.id not in {s.id for s in emu.subscriptions}


async def test_no_warning_when_the_subscription_was_deleted(emu: Emulator, run_cli: Any) -> None:
    cli = await run_cli("listen", "-e", "presence", env=emu.env())
    await cli.expect(emu.wait_for_subscription(timeout=LIMIT))
    await emu.publish(event_path(emu, "presence"), {"presenceStatus": "Busy"})
    await cli.json_line()
    cli.proc.send_signal(signal.SIGTERM)
    assert await cli.wait() == 130
    assert "warning" not in await cli.stderr()
