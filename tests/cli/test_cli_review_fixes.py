"""CLI fixes for the independent review of issues 11 and 12 (/work/prompts/review_report.md),
against the emulator over real sockets on 127.0.0.1 port 0."""

from __future__ import annotations

import pytest
from support import fast_options

import rcstream
from rcstream.cli.listen import listen
from rcstream.emulator import Emulator

PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"


# ---- review 8: the restart hint only for credentials refused at a login ------------------


async def test_an_expired_caller_supplied_token_gets_no_restart_hint() -> None:
    async with Emulator(auth_rate_limit=None, seed=3, access_token_ttl=2) as emu:
        login = rcstream.Client.from_env(
            emu.env(), options=fast_options(keep_session_on_close=True)
        )
        async with login:
            await login.rest("GET", "/restapi/v1.0/subscription")
            assert login._tokens is not None and login._tokens.tokens is not None
            token = login._tokens.tokens.access_token.get()
        env = {"RINGCENTRAL_SERVER_URL": emu.server_url, "RINGCENTRAL_ACCESS_TOKEN": token}
        with pytest.raises(rcstream.AuthenticationError) as info:
            await listen(env=env, filters=[PRESENCE], timeout=15, options=fast_options())
    text = str(info.value)
    assert "restarted" not in text and "server changed" not in text, text
    assert "token" in text


# ---- review duplicate: `webhook listen` takes -e/-f from the same definition as `listen` ---


def _option_help(*command: str) -> dict[str, str]:
    import argparse

    from rcstream.cli._main import build_parser

    parser = build_parser()
    sub: argparse.ArgumentParser = parser
    for name in command:
        action = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction))
        sub = action.choices[name]
    return {
        opt: str(a.help)
        for a in sub._actions
        for opt in a.option_strings
        if opt in ("-e", "--events", "-f", "--filter")
    }


def test_webhook_listen_and_listen_share_the_filter_options() -> None:
    listen_help = _option_help("listen")
    assert set(listen_help) == {"-e", "--events", "-f", "--filter"}
    assert _option_help("webhook", "listen") == listen_help
