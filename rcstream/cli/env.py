"""Credentials and settings for the ``rcstream`` command line.

The CLI reads the four ``RINGCENTRAL_*`` variables from, in increasing precedence:

1. a ``.env`` file in the working directory (if there is one),
2. the process environment,
3. the file named by ``--env-file`` (an explicit choice beats the ambient environment),
4. ``--server`` and ``--access-token-file``.

Secrets are never accepted as plain flags (they would land in shell history); the one
exception is ``--access-token-file``, which names a *file* holding a token.

:func:`parse_dotenv` is a small, dependency-free reader for the ``KEY=VALUE`` format. The
implicit ``./.env`` is read leniently (it may belong to another tool: entries that cannot be
read are skipped unless they define a ``RINGCENTRAL_*`` variable); ``--env-file`` strictly.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from rcstream.exceptions import ConfigurationError

__all__ = ["ENV_PREFIX", "load_environment", "parse_dotenv"]

#: Only variables with this prefix are taken from ``.env`` files.
ENV_PREFIX = "RINGCENTRAL_"

_KEY_RE = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}
_AFTER_QUOTE_RE = re.compile(r"[ \t]*(?:#[^\n]*)?(?:\n|$)")
_COMMENT_RE = re.compile(r"\s+#")

_log = logging.getLogger("rcstream.cli")


class _LineError(Exception):
    """One entry could not be read; ``message`` names the fix, never the value."""

    def __init__(self, message: str, *, key: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


def _scan_double(text: str, i: int) -> tuple[str, int]:
    """The value of a double-quoted string whose opening quote is at ``text[i - 1]``,
    and the index after the closing quote; ``-1`` if it is never closed."""
    out: list[str] = []
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    return "", -1


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end == -1 else end + 1


def _scan_entries(text: str, source: str) -> list[tuple[int, str, str] | _LineError]:
    """Every ``KEY=VALUE`` entry of ``text`` as ``(line, key, value)``, or a
    :class:`_LineError` for an entry that cannot be read (scanning goes on after it)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    items: list[tuple[int, str, str] | _LineError] = []
    i, n = 0, len(text)
    lineno, counted = 1, 0
    while i < n:
        lineno += text.count("\n", counted, i)  # incrementally: big files stay linear
        counted = i
        end = _line_end(text, i)
        line = text[i:end].strip()
        if not line or line.startswith("#"):
            i = end
            continue
        match = _KEY_RE.match(text, i)
        if match is None:
            guess = re.match(r"(?:export\s+)?([A-Za-z0-9_]*)", line)
            items.append(
                _LineError(
                    f"{source} line {lineno} is not KEY=VALUE; fix or remove that line.",
                    key=guess.group(1) if guess else None,
                )
            )
            i = end
            continue
        key = match.group(1)
        j = match.end()
        quote = text[j : j + 1]
        if quote in ('"', "'"):
            if quote == '"':
                value, after = _scan_double(text, j + 1)
            else:
                close = text.find("'", j + 1)
                value, after = (text[j + 1 : close], close + 1) if close != -1 else ("", -1)
            if after == -1:
                items.append(
                    _LineError(
                        f"{source} line {lineno} has an unterminated quote; close the quote.",
                        key=key,
                    )
                )
                i = end
                continue
            tail = _AFTER_QUOTE_RE.match(text, after)
            if tail is None:
                items.append(
                    _LineError(
                        f"{source} line {lineno + text.count(chr(10), i, after)}: unexpected text "
                        "after the closing quote; quote the whole value, or put ' #' before "
                        "a comment.",
                        key=key,
                    )
                )
                i = _line_end(text, after)
                continue
            items.append((lineno, key, value))
            i = tail.end()
            continue
        raw = text[j:end].rstrip("\n")
        value = _COMMENT_RE.split(raw, maxsplit=1)[0].strip()
        items.append((lineno, key, value))
        i = end
    return items


def parse_dotenv(text: str, *, source: str = ".env", strict: bool = True) -> dict[str, str]:
    """Parse ``.env`` text into a dict.

    Supported: ``KEY=value``, an optional ``export`` prefix, blank lines, ``#`` comment
    lines, trailing `` # comments`` after values, and values in single quotes (taken
    literally) or double quotes (``\\n``, ``\\t``, ``\\r``, ``\\"``, ``\\\\`` and ``\\$``
    escapes); quoted values may span several lines (a PEM key, say). After a closing quote
    only whitespace or a `` # comment`` may follow. Variable expansion (``${OTHER}``) is
    not supported.

    ``strict`` (for ``--env-file``) raises :class:`~rcstream.exceptions.ConfigurationError`
    naming ``source`` and the line number for an entry that cannot be read. Otherwise (the
    implicit ``./.env``, which may belong to another tool) such entries are skipped with
    at most one warning, unless they define a ``RINGCENTRAL_*`` variable. The messages
    never repeat the line itself, which may hold a secret.
    """
    result: dict[str, str] = {}
    skipped: list[_LineError] = []
    for item in _scan_entries(text, source):
        if isinstance(item, _LineError):
            if strict or (item.key or "").startswith(ENV_PREFIX):
                raise ConfigurationError(item.message)
            skipped.append(item)
            continue
        _, key, value = item
        result[key] = value
    if skipped:
        first = skipped[0].message.split(";")[0]
        _log.warning(
            "Skipped %d entr%s of %s that could not be read (first: %s); only RINGCENTRAL_* "
            "variables are taken from it.",
            len(skipped),
            "y" if len(skipped) == 1 else "ies",
            source,
            first.removeprefix(source + " "),
        )
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
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"The env file {str(path)!r} is not UTF-8 text; save it as UTF-8"
            + (" or point --env-file at the right file." if explicit else ".")
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"The env file {str(path)!r} cannot be read ({exc.strerror}); check its permissions."
        ) from None
    return parse_dotenv(text, source=str(path), strict=explicit)


def _read_token_file(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8-sig").strip()
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"The access token file {str(path)!r} is not UTF-8 text; the file must hold just "
            "the token."
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"The access token file {str(path)!r} cannot be read ({exc.strerror}); "
            "check the --access-token-file path."
        ) from None
    if not token:
        raise ConfigurationError(
            f"The access token file {str(path)!r} is empty; write the access token into it."
        )
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise ConfigurationError(
            f"The access token file {str(path)!r} holds more than one token (spaces, line "
            "breaks or control characters); the file must hold just the token."
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
