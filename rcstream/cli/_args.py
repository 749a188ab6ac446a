"""Argument-parsing pieces every command shares: the parser class, value types and the
common option groups. Light on purpose (argparse only): ``rcstream --help`` imports it.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn, TypeVar

from rcstream.cli._run import EXIT_USAGE, HIDDEN_OPTIONS

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = [
    "Common",
    "Formatter",
    "Parser",
    "add_output_options",
    "duration",
    "header",
    "non_negative_int",
    "port",
    "positive_float",
    "positive_int",
]


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Help text as written (epilogs keep their line breaks), 100 columns wide."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error that says how to get help (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}; see `{self.prog} --help`.\n")


_T = TypeVar("_T", int, float)


def _checked(
    cast: Callable[[str], _T], noun: str, ok: Callable[[_T], bool], rule: str
) -> Callable[[str], _T]:
    """An argparse ``type=``: ``cast`` the text (else "is not {noun}"), then check ``ok``
    (else "{rule}")."""

    def parse(text: str) -> _T:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} {rule}")
        return value

    return parse


positive_int = _checked(int, "a whole number", lambda v: v >= 1, "must be 1 or more")
non_negative_int = _checked(int, "a whole number", lambda v: v >= 0, "must be 0 or more")
port = _checked(
    int, "a port number", lambda v: 0 <= v <= 65535, "is not a port: use 0 to 65535 (0: any free)"
)
positive_float = _checked(float, "a number", lambda v: v > 0, "must be more than 0")

_DURATION_RE = re.compile(
    r"\s*(?:(\d+(?:\.\d*)?)\s*h)?\s*(?:(\d+(?:\.\d*)?)\s*m)?\s*"
    r"(?:(\d+(?:\.\d*)?)\s*s?)?\s*",
    re.IGNORECASE,
)


def duration(text: str) -> float:
    """An argparse ``type=`` for a time span in seconds: ``90``, ``90s``, ``1m``, ``1m30s``,
    ``1.5h``. A bare number is seconds."""
    match = _DURATION_RE.fullmatch(text)
    if match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use seconds (90 or 90s), minutes (1m) or hours (1h)"
        )
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    return total


def header(text: str) -> tuple[str, str]:
    """An argparse ``type=`` for ``-H 'Name: value'``."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        # the value is not echoed: a mistyped -H is often an Authorization header
        raise argparse.ArgumentTypeError("a -H header must be 'Name: value' (got no colon)")
    return name.strip(), value.strip()


def _verbosity_parent() -> Parser:
    parent = Parser(add_help=False)
    group = parent.add_argument_group("output on stderr")
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="only errors on stderr",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more detail on stderr (-v rcstream debug logs; -vv also every frame and "
        "other libraries)",
    )
    return parent


def _credentials_parent() -> Parser:
    parent = Parser(add_help=False)
    group = parent.add_argument_group("credentials")
    group.add_argument(
        "--env-file",
        metavar="PATH",
        help="read RINGCENTRAL_* variables from PATH (wins over the environment; ./.env, "
        "if present, is read too and loses to it)",
    )
    group.add_argument(
        "--server",
        metavar="URL",
        help="platform URL, overriding RINGCENTRAL_SERVER_URL "
        "(e.g. https://platform.devtest.ringcentral.com)",
    )
    group.add_argument(
        "--access-token-file",
        metavar="PATH",
        help="use the OAuth access token stored in PATH instead of the client id/secret/JWT",
    )
    tuning = parent.add_argument_group("connection")
    tuning.add_argument(
        "--max-attempts",
        type=non_negative_int,
        metavar="N",
        help="give up with exit code 4 after N failed connection attempts in a row "
        "(or RCSTREAM_MAX_ATTEMPTS; default: retry forever once connected, 0 too)",
    )
    # Hidden knobs, mostly for tests; also read from RCSTREAM_* environment variables.
    for name in HIDDEN_OPTIONS:
        tuning.add_argument(
            "--" + name.replace("_", "-"), type=positive_float, help=argparse.SUPPRESS
        )
    return parent


@dataclass(frozen=True)
class Common:
    """The parent parsers a command may list in ``parents=``."""

    verbosity: Parser
    credentials: Parser

    @classmethod
    def build(cls) -> Common:
        return cls(verbosity=_verbosity_parent(), credentials=_credentials_parent())


def add_filter_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``-f/--filter`` and ``-e/--events``: what to subscribe to (``listen``, ``webhook
    listen``); one definition, so the commands never drift apart."""
    parser.add_argument(
        "-f",
        "--filter",
        dest="filters",
        action="append",
        default=[],
        metavar="FILTER",
        help="a raw event filter, e.g. /restapi/v1.0/account/~/extension/~/presence "
        "(repeatable; -f is --filter, not --forward-to as in `stripe listen`)",
    )
    parser.add_argument(
        "-e",
        "--events",
        action="append",
        default=[],
        metavar="NAMES",
        help="comma-separated presets: telephony, presence, sms, message-store, voicemail, "
        "fax, team-messaging ... (`-e help` lists them all)",
    )


def add_output_options(parser: argparse.ArgumentParser, *, default_format: str | None) -> None:
    """``--format``, ``--no-color``, ``-n``, ``--timeout`` and ``--lifecycle``."""
    group = parser.add_argument_group("output on stdout")
    group.add_argument(
        "--format",
        choices=("json", "pretty"),
        default=default_format,
        help="json: one notification per line, exactly as received; pretty: one readable "
        "line per event (default: "
        + ("pretty" if default_format == "pretty" else "pretty on a terminal, json otherwise")
        + ")",
    )
    group.add_argument(
        "--no-color", action="store_true", help="no colours in pretty output (also NO_COLOR=1)"
    )
    group.add_argument(
        "-n",
        "--count",
        type=positive_int,
        metavar="N",
        help="exit 0 after N events",
    )
    group.add_argument(
        "--timeout",
        type=duration,
        metavar="DURATION",
        help="exit 0 after this long: seconds (90 or 90s), minutes (1m) or hours (1h)",
    )
    group.add_argument(
        "--lifecycle",
        action="store_true",
        help='also write lifecycle records (connected, disconnected, gap) with a "type" field',
    )
