"""Credentials and settings for the ``rcstream`` command line.

The CLI reads the four ``RINGCENTRAL_*`` variables from, in increasing precedence:

1. a ``.env`` file in the working directory (if there is one),
2. the process environment,
3. the file named by ``--env-file`` (an explicit choice beats the ambient environment),
4. ``--server`` and ``--access-token-file``.

Secrets are never accepted as plain flags (they would land in shell history); the one
exception is ``--access-token-file``, which names a *file* holding a token.

:func:`parse_dotenv` is a small, dependency-free reader for the ``KEY=VALUE`` format.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from rcstream.exceptions import ConfigurationError

__all__ = ["ENV_PREFIX", "load_environment", "parse_dotenv"]

#: Only variables with this prefix are taken from ``.env`` files.
ENV_PREFIX = "RINGCENTRAL_"

_LINE_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def _unquote_double(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_dotenv(text: str, *, source: str = ".env") -> dict[str, str]:
    """Parse ``.env`` text into a dict.

    Supported: ``KEY=value``, an optional ``export`` prefix, blank lines, ``#`` comment
    lines, trailing `` # comments`` after unquoted values, and values in single quotes
    (taken literally) or double quotes (``\\n``, ``\\t``, ``\\"`` and ``\\\\`` escapes).
    Variable expansion (``${OTHER}``) and multi-line values are not supported.

    Raises :class:`~rcstream.exceptions.ConfigurationError` naming ``source`` and the line
    number for a line that is not ``KEY=VALUE``; the message never repeats the line itself,
    which may hold a secret.
    """
    result: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE_RE.match(line)
        if match is None:
            raise ConfigurationError(
                f"{source} line {lineno} is not KEY=VALUE; fix or remove that line."
            )
        key, value = match.group(1), match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = _unquote_double(value[1:-1]) if value[0] == '"' else value[1:-1]
        elif value[:1] in ("'", '"'):
            # A quoted value followed by a comment: 'abc' # note
            quote = value[0]
            end = value.find(quote, 1)
            if end == -1:
                raise ConfigurationError(
                    f"{source} line {lineno} has an unterminated quote; close the quote."
                )
            inner = value[1:end]
            value = _unquote_double(inner) if quote == '"' else inner
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].rstrip()
        result[key] = value
    return result


def _read_env_file(path: Path, *, explicit: bool) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        if explicit:
            raise ConfigurationError(
                f"The env file {str(path)!r} does not exist; check the --env-file path."
            ) from None
        return {}
    except OSError as exc:
        raise ConfigurationError(
            f"The env file {str(path)!r} cannot be read ({exc.strerror}); check its permissions."
        ) from None
    return parse_dotenv(text, source=str(path))


def _read_token_file(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(
            f"The access token file {str(path)!r} cannot be read ({exc.strerror}); "
            "check the --access-token-file path."
        ) from None
    if not token:
        raise ConfigurationError(
            f"The access token file {str(path)!r} is empty; write the access token into it."
        )
    return token


def load_environment(
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | None = None,
    server: str | None = None,
    access_token_file: str | None = None,
    cwd: Path | None = None,
) -> dict[str, str]:
    """Merge the credential sources into one ``RINGCENTRAL_*`` mapping (see module doc).

    ``environ`` defaults to :data:`os.environ`; ``cwd`` (where ``.env`` is looked for)
    defaults to the working directory. Only ``RINGCENTRAL_*`` keys are returned.
    """
    base = os.environ if environ is None else environ
    merged: dict[str, str] = {}
    dotenv = _read_env_file((cwd or Path.cwd()) / ".env", explicit=False)
    merged.update({k: v for k, v in dotenv.items() if k.startswith(ENV_PREFIX)})
    merged.update({k: v for k, v in base.items() if k.startswith(ENV_PREFIX)})
    if env_file is not None:
        explicit = _read_env_file(Path(env_file), explicit=True)
        merged.update({k: v for k, v in explicit.items() if k.startswith(ENV_PREFIX)})
    if server is not None:
        merged["RINGCENTRAL_SERVER_URL"] = server
    if access_token_file is not None:
        merged["RINGCENTRAL_ACCESS_TOKEN"] = _read_token_file(Path(access_token_file))
        # An explicit token wins over any credentials found elsewhere.
        for key in ("RINGCENTRAL_JWT", "RINGCENTRAL_USERNAME", "RINGCENTRAL_PASSWORD"):
            merged.pop(key, None)
    return {k: v for k, v in merged.items() if v != ""}
