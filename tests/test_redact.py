from __future__ import annotations

import pytest

from rcstream.redact import Secret, redact, redact_url


@pytest.mark.parametrize(
    "text",
    [
        "ws://h/ws?access_token=SECRET1&wsc=SECRET2",
        '{"access_token": "SECRET1", "refresh_token":"SECRET2"}',
        '{"ws_access_token":"SECRET1","wsc":{"token":"SECRET2","sequence":1}}',
        "grant_type=jwt&assertion=SECRET1&password=SECRET2",
        "Authorization: Bearer SECRET1 / Basic SECRET2==",
    ],
)
def test_redact_masks_every_secret(text: str) -> None:
    out = redact(text)
    assert "SECRET1" not in out and "SECRET2" not in out
    assert "[secure]" in out


def test_redact_keeps_ordinary_text() -> None:
    text = '{"errorCode":"SUB-505","message":"limit","sequence":1}'
    assert redact(text) == text


def test_redact_url_keeps_host_and_path() -> None:
    assert (
        redact_url("ws://127.0.0.1:1/ws?access_token=abc&wsc=def")
        == "ws://127.0.0.1:1/ws?access_token=[secure]&wsc=[secure]"
    )


def test_secret_never_shows() -> None:
    s = Secret("hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert s.get() == "hunter2"
    assert s == Secret("hunter2")
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)


TOKEN = "TOKEN-abcdefghijklmnop"
FRAME = f'[{{"type":"ConnectionDetails","wsc":{{"token":"{TOKEN}","sequence":1}}}}]'


@pytest.mark.parametrize("cut", range(1, len(FRAME)))
def test_a_token_cut_by_truncation_is_still_masked(cut: int) -> None:
    excerpt = redact(FRAME[:cut])
    pieces = {TOKEN[i : i + 3] for i in range(len(TOKEN) - 2)}
    assert not [p for p in pieces if p in excerpt], excerpt


async def test_a_token_in_a_rest_path_reaches_no_error_message() -> None:
    import socket

    import aiohttp

    from rcstream._http import RestClient
    from rcstream.exceptions import ConnectionFailedError

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with aiohttp.ClientSession() as http:
        rest = RestClient(f"http://127.0.0.1:{port}", http, timeout=5.0)
        with pytest.raises(ConnectionFailedError) as info:
            await rest.send("GET", "/restapi/v1.0/content?access_token=SECRET-IN-PATH")
    assert "SECRET-IN-PATH" not in str(info.value)
    assert "access_token=" in str(info.value)  # the path is still named, redacted


def test_retry_after_is_bounded() -> None:
    from rcstream._http import _retry_after

    assert _retry_after({"retry-after": "7"}) == 7.0
    assert _retry_after({"Retry-After": "inf"}) is None  # not a wait for ever
    assert _retry_after({"Retry-After": "nan"}) is None
    assert _retry_after({"Retry-After": "1e12"}) == 3600.0


def test_redact_url_masks_the_password_of_a_url() -> None:
    assert redact_url("http://user:hunter2@localhost:9/hook?token=t") == (
        "http://user:[secure]@localhost:9/hook?token=[secure]"
    )
    assert redact_url("http://localhost:9/a@b") == "http://localhost:9/a@b"  # no userinfo
    assert redact_url("http://user@localhost/") == "http://user@localhost/"


def test_a_bad_header_flag_does_not_echo_its_value() -> None:
    import argparse

    from rcstream.cli._args import header

    with pytest.raises(argparse.ArgumentTypeError) as info:
        header("Authorization Bearer SECRET-TOKEN")
    assert "SECRET-TOKEN" not in str(info.value)
