"""The accounts file: the fixed TOML format, resolution and errors that name label and key."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rcstream.exceptions import ConfigurationError
from rcstream.fleet.accounts import DEFAULT_SERVER_URL, load_accounts, parse_accounts

ENV = {"A_ID": "cid-a", "A_SECRET": "sec-a", "A_JWT": "jwt-a", "B_ID": "cid-b", "B_SECRET": "s"}
TEL = "/restapi/v1.0/account/~/extension/~/telephony/sessions"


def test_issue_format_resolves(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "b.jwt").write_text("jwt-b\n")
    f = tmp_path / "accounts.toml"
    f.write_text(
        f"""
[defaults]
server_url = "https://platform.devtest.ringcentral.com"
filters = ["{TEL}"]

[[accounts]]
id = "acme"
client_id_env = "A_ID"
client_secret_env = "A_SECRET"
jwt_env = "A_JWT"

[[accounts]]
id = "beta_co"
client_id_env = "B_ID"
client_secret_env = "B_SECRET"
jwt_file = "secrets/b.jwt"
server_url = "http://127.0.0.1:9"
filters = ["/restapi/v1.0/account/~/extension/~/message-store"]
"""
    )
    a, b = load_accounts(f, ENV)
    assert (a.label, a.client_id, a.client_secret.get(), a.jwt.get()) == (
        "acme",
        "cid-a",
        "sec-a",
        "jwt-a",
    )
    assert a.server_url == "https://platform.devtest.ringcentral.com" and a.filters == (TEL,)
    assert b.jwt.get() == "jwt-b" and b.server_url == "http://127.0.0.1:9"
    assert b.filters == ("/restapi/v1.0/account/~/extension/~/message-store",)
    assert "sec-a" not in repr(a) and "jwt-a" not in repr(a)


def one(body: str, defaults: str = f'[defaults]\nfilters = ["{TEL}"]\n') -> str:
    return defaults + "[[accounts]]\n" + body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('id = "acme"\nclient_id_env = "A_ID"\nclient_secret_env = "A_SECRET"\n', "exactly one"),
        (
            'id = "acme"\nclient_id_env = "NOPE"\nclient_secret_env = "A_SECRET"\n'
            'jwt_env = "A_JWT"\n',
            'account "acme": client_id_env names NOPE, which is not set',
        ),
        (
            'id = "acme"\nclient_id_env = "A_ID"\nclient_secret = "hunter2"\njwt_env = "A_JWT"\n',
            'account "acme" has client_secret inline',
        ),
        (
            'id = "acme"\nclient_id_env = "A_ID"\nclient_secret_env = "A_SECRET"\njwt_file = "x"\n',
            'account "acme": jwt_file .* cannot be read',
        ),
        ('id = "a b"\n', "entry 1 needs id"),
    ],
)
def test_errors_name_label_and_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        parse_accounts(one(body), base_dir=tmp_path, environ=ENV)
    assert "hunter2" not in str(info.value)


def test_duplicate_labels_and_missing_filters(tmp_path: Path) -> None:
    acct = (
        'id = "acme"\nclient_id_env = "A_ID"\nclient_secret_env = "A_SECRET"\njwt_env = "A_JWT"\n'
    )
    with pytest.raises(ConfigurationError, match='"acme" appears twice'):
        parse_accounts(one(acct + "[[accounts]]\n" + acct), base_dir=tmp_path, environ=ENV)
    with pytest.raises(ConfigurationError, match='"acme" has no filters'):
        parse_accounts(one(acct, defaults=""), base_dir=tmp_path, environ=ENV)
    (only,) = parse_accounts(one(acct), base_dir=tmp_path, environ=ENV)
    assert only.server_url == DEFAULT_SERVER_URL


def test_unknown_keys_are_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # "more keys may be added" (issue 16): a newer file still loads; a typo shows in the log
    body = (
        'id = "acme"\nclient_id_env = "A_ID"\nclient_secret_env = "A_SECRET"\njwt_env = "A_JWT"'
        "\nfilterz = []\npriority = 3\n"
    )
    with caplog.at_level(logging.WARNING, logger="rcstream.fleet.accounts"):
        (acct,) = parse_accounts(one(body), base_dir=tmp_path, environ=ENV)
    assert acct.label == "acme"
    assert 'account "acme": unknown keys filterz, priority ignored' in caplog.text
