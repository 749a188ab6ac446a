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
