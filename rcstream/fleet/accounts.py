"""The fleet's accounts file (TOML): which accounts to stream, and where their secrets are.

The format is fixed by issue 16 (more keys may be added)::

    [defaults]                       # optional
    server_url = "https://platform.ringcentral.com"
    filters = ["/restapi/v1.0/account/~/extension/~/telephony/sessions"]

    [[accounts]]
    id = "acme"                      # a unique label
    client_id_env = "ACME_CLIENT_ID"
    client_secret_env = "ACME_CLIENT_SECRET"
    jwt_env = "ACME_JWT"             # or jwt_file = "/run/secrets/acme.jwt"
    # server_url, filters: optional, override [defaults]
    # retired = true: leave the fleet (the owner revokes the stored session; then delete
    # the entry)

Secrets are named, never written inline: ``client_id_env``/``client_secret_env``/``jwt_env``
are environment variable names, ``jwt_file`` is a path (relative to the accounts file).
A key such as ``client_secret`` or ``jwt`` with a literal value is refused. Per-account
``filters`` replace the defaults. Labels become NATS KV keys, so they use letters, digits,
``-`` and ``_``. Every error names the account label and the key.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rcstream.exceptions import ConfigurationError
from rcstream.redact import Secret

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_SERVER_URL", "FleetAccount", "load_accounts", "parse_accounts"]

DEFAULT_SERVER_URL = "https://platform.ringcentral.com"
_LABEL_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KNOWN = {
    "id",
    "client_id_env",
    "client_secret_env",
    "jwt_env",
    "jwt_file",
    "server_url",
    "filters",
    "retired",
}
_INLINE_SECRETS = {"client_secret", "jwt", "client_id", "password", "refresh_token"}


@dataclass(frozen=True, slots=True)
class FleetAccount:
    """One account of the fleet, its secrets resolved (and masked in ``repr``)."""

    label: str
    client_id: str
    client_secret: Secret
    jwt: Secret
    server_url: str
    filters: tuple[str, ...]
    #: ``retired = true``: the account leaves the fleet. Its owner revokes the stored
    #: OAuth session and deletes the subscription and the checkpoint instead of streaming.
    retired: bool = False


def load_accounts(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> list[FleetAccount]:
    """Read and resolve the accounts file at ``path``; :class:`ConfigurationError` with
    a sentence naming the file, the account label and the key on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read the accounts file {p} ({exc.strerror}); check --accounts."
        ) from exc
    return parse_accounts(text, base_dir=p.parent, environ=environ, source=str(p))


def parse_accounts(
    text: str,
    *,
    base_dir: Path,
    environ: Mapping[str, str] | None = None,
    source: str = "accounts file",
) -> list[FleetAccount]:
    """:func:`load_accounts` on TOML ``text``; relative ``jwt_file`` paths start at
    ``base_dir``."""
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{source} is not valid TOML ({exc}); fix the syntax.") from exc
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigurationError(f"{source}: [defaults] must be a table.")
    entries = data.get("accounts")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{source} has no [[accounts]]; add at least one.")
    default_url = _str(defaults, "server_url", "[defaults]", source) or DEFAULT_SERVER_URL
    default_filters = _filters(defaults, "[defaults]", source) or ()
    seen: set[str] = set()
    out: list[FleetAccount] = []
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{source}: accounts entry {n} must be a table.")
        label = entry.get("id")
        if not isinstance(label, str) or not _LABEL_RE.match(label):
            raise ConfigurationError(
                f"{source}: accounts entry {n} needs id = a label of letters, digits, '-' "
                "or '_' (at most 64)."
            )
        where = f'{source}: account "{label}"'
        if label in seen:
            raise ConfigurationError(f"{where} appears twice; labels must be unique.")
        seen.add(label)
        inline = sorted(_INLINE_SECRETS & entry.keys())
        if inline:
            raise ConfigurationError(
                f"{where} has {inline[0]} inline; name an environment variable "
                f"({inline[0]}_env) or a file instead of writing the secret."
            )
        unknown = sorted(entry.keys() - _KNOWN)
        if unknown:
            # the format is fixed but "more keys may be added" (issue 16): a file written
            # for a later version still loads here, and a typo is visible in the log
            logger.warning(
                "%s: unknown key%s %s ignored; check the spelling",
                where,
                "s" if len(unknown) > 1 else "",
                ", ".join(unknown),
            )
        client_id = _from_env(entry, "client_id_env", where, env)
        client_secret = _from_env(entry, "client_secret_env", where, env)
        if ("jwt_env" in entry) == ("jwt_file" in entry):
            raise ConfigurationError(f"{where} needs exactly one of jwt_env and jwt_file.")
        if "jwt_env" in entry:
            jwt = _from_env(entry, "jwt_env", where, env)
        else:
            rel = _str(entry, "jwt_file", where, source) or ""
            jwt_path = (base_dir / rel).expanduser()
            try:
                jwt = jwt_path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigurationError(
                    f"{where}: jwt_file {jwt_path} cannot be read ({exc.strerror}); fix the path "
                    "(a relative path starts at the accounts file)."
                ) from exc
            if not jwt:
                raise ConfigurationError(f"{where}: jwt_file {jwt_path} is empty.")
        filters = _filters(entry, where, source)
        if filters is None:
            filters = default_filters
        if not filters:
            raise ConfigurationError(
                f"{where} has no filters; set filters in the account or in [defaults]."
            )
        out.append(
            FleetAccount(
                label=label,
                client_id=client_id,
                client_secret=Secret(client_secret),
                jwt=Secret(jwt),
                server_url=_str(entry, "server_url", where, source) or default_url,
                filters=filters,
                retired=_retired(entry, where),
            )
        )
    return out


def _retired(entry: Mapping[str, Any], where: str) -> bool:
    value = entry.get("retired", False)
    if not isinstance(value, bool):
        raise ConfigurationError(f"{where}: retired must be true or false, not {value!r}.")
    return value


def _str(table: Mapping[str, Any], key: str, where: str, source: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{where}: {key} must be a non-empty string.")
    return value


def _filters(table: Mapping[str, Any], where: str, source: str) -> tuple[str, ...] | None:
    value = table.get("filters")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(f, str) and f for f in value):
        raise ConfigurationError(f"{where}: filters must be a list of event filter strings.")
    return tuple(value)


def _from_env(entry: Mapping[str, Any], key: str, where: str, env: Mapping[str, str]) -> str:
    name = entry.get(key)
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{where} needs {key} = the name of an environment variable.")
    value = env.get(name)
    if not value:
        raise ConfigurationError(f"{where}: {key} names {name}, which is not set; export it.")
    return value
