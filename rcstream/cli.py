"""The ``rcstream`` command line.

.. code-block:: text

    rcstream listen        stream events to stdout (JSON lines, or one pretty line per event)
    rcstream demo          the same against a bundled, in-process emulator: no account needed
    rcstream emulator      run the emulator as a local server for your own code
    rcstream subscriptions list | show ID | delete ID | renew ID

Contract: stdout carries data only (one JSON object per line, flushed per line); status,
reconnects, gaps and errors go to stderr. Exit codes: 0 done, 1 a request was rejected
(``subscriptions``) or an internal error, 2 usage or configuration, 3 authentication or
permission (do not restart), 4 the stream could not be kept alive after the retry budget (a
supervisor should restart), 130 interrupted (Ctrl-C, SIGTERM).

Heavy modules (aiohttp, websockets, pydantic, the client) are imported inside the command
functions so that ``rcstream --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

from rcstream.redact import redact

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STREAM",
    "EXIT_USAGE",
    "build_parser",
    "error_message",
    "exit_code_for",
    "main",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_STREAM = 4
EXIT_INTERRUPTED = 130

_log = logging.getLogger("rcstream.cli")

_EPILOG_MAIN = """\
examples:
  rcstream demo                                  live events from a local emulator, no account
  rcstream listen -e telephony,sms               calls and SMS of the current extension
  rcstream listen -e presence | jq .body.presenceStatus
  rcstream listen --all-extensions presence -n 100 > presence.jsonl
  rcstream listen -e sms --forward-to http://localhost:8000/hook
  rcstream subscriptions list

credentials come from RINGCENTRAL_SERVER_URL, RINGCENTRAL_CLIENT_ID,
RINGCENTRAL_CLIENT_SECRET and RINGCENTRAL_JWT (environment, ./.env or --env-file).

exit codes: 0 done, 1 request rejected, 2 usage/configuration, 3 authentication or
permission (do not restart), 4 stream could not be kept alive (restart), 130 interrupted.
"""

_EPILOG_LISTEN = """\
stdout carries data only: one JSON object per notification per line, exactly as received
(uuid, event, timestamp, subscriptionId, ownerId, body), flushed per line. Status lines,
reconnects, recoveries and gaps go to stderr (-q silences them, -v adds detail). With
--lifecycle, lifecycle records are written to stdout too, as JSON lines with a "type"
field ("connected", "disconnected", "gap") so a pipeline can act on a gap.

examples:
  rcstream listen -e telephony                   call events, JSON lines
  rcstream listen -e sms,voicemail --format pretty
  rcstream listen -f /restapi/v1.0/account/~/extension/~/presence?detailedTelephonyState=true
  rcstream listen -e sms -n 1 | jq -r .body.subject    wait for one SMS, print its text
  rcstream listen --all-extensions presence --lifecycle | jq 'select(.type == "gap")'
  rcstream listen -e sms --forward-to http://localhost:8000/hook -H 'X-Secret: s3cr3t'
  rcstream listen --env-file sandbox.env --timeout 60 -e presence

exit codes: 0 done (--count/--timeout reached, or stdout closed), 2 usage/configuration
(including a request refused for good, e.g. an invalid filter),
3 authentication or permission (fix credentials; do not restart), 4 the stream could not be
kept alive after the retry budget (a supervisor should restart), 130 interrupted.
"""

_EPILOG_DEMO = """\
The demo starts the bundled emulator inside this process (127.0.0.1, a free port), publishes
a steady, realistic mix of calls, presence changes, SMS, voicemail and team messages, and
runs `rcstream listen --format pretty` against it. No account or network needed.

examples:
  rcstream demo
  rcstream demo -n 5 --format json | jq .event
"""

_EPILOG_EMULATOR = """\
Prints the four RINGCENTRAL_* variables for the emulator's throw-away account on stdout,
then serves (REST on http://127.0.0.1:PORT, the gateway on ws://127.0.0.1:PORT/ws) until
Ctrl-C. Synthetic events of every family are published at --rate per second.

examples:
  rcstream emulator --port 8765 --rate 2
  rcstream emulator > emulator.env &             # then, in the same directory:
  rcstream listen --env-file emulator.env -e telephony,presence,sms
"""

_EPILOG_SUBS = """\
Subscriptions are managed over REST (HTTPS) with the same credentials as `listen`.
Output is a table; --json prints the platform's JSON instead.

examples:
  rcstream subscriptions list
  rcstream subscriptions list --json | jq '.records[].id'
  rcstream subscriptions show 5b7a1c9e-0000-4000-8000-0000000005b1
  rcstream subscriptions delete 5b7a1c9e-0000-4000-8000-0000000005b1
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)


class _Parser(argparse.ArgumentParser):
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


_positive_int = _checked(int, "a whole number", lambda v: v >= 1, "must be 1 or more")
_non_negative_int = _checked(int, "a whole number", lambda v: v >= 0, "must be 0 or more")
_port = _checked(
    int, "a port number", lambda v: 0 <= v <= 65535, "is not a port: use 0 to 65535 (0: any free)"
)
_positive_float = _checked(float, "a number", lambda v: v > 0, "must be more than 0")


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not 'Name: value'")
    return name.strip(), value.strip()


def _verbosity_parent() -> _Parser:
    parent = _Parser(add_help=False)
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


def _credentials_parent() -> _Parser:
    parent = _Parser(add_help=False)
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
        type=_non_negative_int,
        metavar="N",
        help="consecutive failed connection attempts before giving up with exit code 4 "
        "(default 10, or RCSTREAM_MAX_ATTEMPTS; 0 retries forever)",
    )
    # Hidden knobs, mostly for tests; also read from RCSTREAM_* environment variables.
    for flag in _HIDDEN_OPTIONS:
        tuning.add_argument(flag, type=_positive_float, help=argparse.SUPPRESS)
    return parent


#: Hidden float flags (and RCSTREAM_* variables) passed to ClientOptions when it has them.
_HIDDEN_OPTIONS = (
    "--backoff-base",
    "--backoff-cap",
    "--connect-timeout",
    "--request-timeout",
    "--heartbeat-interval",
    "--heartbeat-timeout",
    "--close-timeout",
)


def _add_output_options(parser: argparse.ArgumentParser, *, default_format: str | None) -> None:
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
        type=_positive_int,
        metavar="N",
        help="exit 0 after N events",
    )
    group.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="S",
        help="exit 0 after S seconds",
    )
    group.add_argument(
        "--lifecycle",
        action="store_true",
        help='also write lifecycle records (connected, disconnected, gap) with a "type" field',
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (no heavy imports)."""
    from rcstream import __version__

    verbosity = _verbosity_parent()
    credentials = _credentials_parent()
    parser = _Parser(
        prog="rcstream",
        description="Stream RingCentral platform events over the WebSocket gateway.",
        epilog=_EPILOG_MAIN,
        formatter_class=_Formatter,
        parents=[verbosity],
    )
    parser.add_argument("--version", action="version", version=f"rcstream {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    listen = sub.add_parser(
        "listen",
        help="stream events to stdout",
        description="Subscribe to RingCentral events and write each one to stdout.",
        epilog=_EPILOG_LISTEN,
        formatter_class=_Formatter,
        parents=[verbosity, credentials],
    )
    what = listen.add_argument_group("what to listen to (combine freely)")
    what.add_argument(
        "-f",
        "--filter",
        dest="filters",
        action="append",
        default=[],
        metavar="FILTER",
        help="a raw event filter, e.g. /restapi/v1.0/account/~/extension/~/presence (repeatable)",
    )
    what.add_argument(
        "-e",
        "--events",
        action="append",
        default=[],
        metavar="NAMES",
        help="comma-separated presets: telephony, presence, sms, message-store, voicemail, "
        "fax, team-messaging ... (`-e help` lists them all)",
    )
    what.add_argument(
        "--all-extensions",
        choices=("presence",),
        metavar="presence",
        help="list every extension of the account and subscribe to each one's presence "
        "(split over several connections when above the per-subscription filter limit)",
    )
    _add_output_options(listen, default_format=None)
    fwd = listen.add_argument_group("forwarding")
    fwd.add_argument(
        "--forward-to",
        metavar="URL",
        help="also POST each notification as JSON to URL; `--> event` and `<-- status` "
        "lines go to stderr",
    )
    fwd.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        type=_header,
        metavar="'NAME: VALUE'",
        help="extra header for --forward-to (repeatable)",
    )

    demo = sub.add_parser(
        "demo",
        help="live events from a bundled emulator (no account needed)",
        description="Run `listen --format pretty` against an in-process emulator.",
        epilog=_EPILOG_DEMO,
        formatter_class=_Formatter,
        parents=[verbosity],
    )
    demo.add_argument(
        "--rate",
        type=_positive_float,
        default=3.0,
        metavar="EVENTS_PER_S",
        help="synthetic events per second (default 3)",
    )
    _add_output_options(demo, default_format="pretty")

    emulator = sub.add_parser(
        "emulator",
        help="run the emulator as a local server",
        description="Run the bundled RingCentral emulator (REST + WebSocket gateway) locally.",
        epilog=_EPILOG_EMULATOR,
        formatter_class=_Formatter,
        parents=[verbosity],
    )
    emulator.add_argument(
        "--port", type=_port, default=0, help="TCP port on 127.0.0.1 (default 0: any free one)"
    )
    emulator.add_argument(
        "--rate",
        type=float,
        default=1.0,
        metavar="EVENTS_PER_S",
        help="synthetic events per second, 0 for none (default 1)",
    )
    emulator.add_argument(
        "--auth-rate-limit",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="allow only N token/wstoken calls per minute, like the real platform's 5 "
        "(default 0: unlimited)",
    )

    subs = sub.add_parser(
        "subscriptions",
        help="list, show, delete or renew subscriptions over REST",
        description="Manage the account's subscriptions over REST.",
        epilog=_EPILOG_SUBS,
        formatter_class=_Formatter,
    )
    subs.set_defaults(help_parser=subs)
    subs_sub = subs.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    subs_parents = [verbosity, credentials]
    for name, help_text in (
        ("list", "list subscriptions"),
        ("show", "show one subscription"),
        ("delete", "delete a subscription"),
        ("renew", "renew a subscription (webhooks; WebSocket ones renew themselves)"),
    ):
        p = subs_sub.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            formatter_class=_Formatter,
            parents=subs_parents,
        )
        if name != "list":
            p.add_argument("id", metavar="ID", help="subscription id")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


# ----------------------------------------------------------------------------- logging


class _StderrFormatter(logging.Formatter):
    """``rcstream: message`` lines (with time and logger under -v), secrets redacted."""

    def __init__(self, *, verbose: bool) -> None:
        fmt = "%(asctime)s %(levelname)-7s %(name)s: %(message)s" if verbose else "%(message)s"
        super().__init__(fmt, datefmt="%H:%M:%S")
        self._verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        if self._verbose:
            return redact(super().format(record))
        # Default and -q: one line per record, never a traceback.
        lines = record.getMessage().strip().splitlines()
        text = lines[0] if lines else ""
        if record.name == "rcstream.cli.forward":
            return redact(text)
        prefix = "rcstream: "
        if record.levelno >= logging.ERROR:
            prefix += "error: "
        elif record.levelno >= logging.WARNING:
            prefix += "warning: "
        return redact(prefix + text)


def _not_library_error(record: logging.LogRecord) -> bool:
    """Without -v, errors are reported once, by the CLI: drop other loggers' ERROR records.

    The exception that ends a command is written as one sentence by :func:`main`; a
    library logging the same failure (or asyncio logging a stray task) would repeat it.
    """
    return record.levelno < logging.ERROR or record.name in ("rcstream.cli", "rcstream.cli.forward")


def configure_logging(*, quiet: bool, verbose: int, library_info: bool = True) -> None:
    """One stderr handler on the root logger: -q errors only, default INFO, -v DEBUG.

    ``library_info=False`` keeps the library's own INFO lines (logins, connects) out of
    the default output, for one-shot commands; the CLI's own lines still show.
    """
    logging.raiseExceptions = False  # a log call at interpreter exit must not print a traceback
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_StderrFormatter(verbose=verbose > 0))
    if verbose == 0:
        handler.addFilter(_not_library_error)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    rc_logger = logging.getLogger("rcstream")
    if quiet:
        root.setLevel(logging.ERROR)
        rc_logger.setLevel(logging.ERROR)
    elif verbose >= 2:
        root.setLevel(logging.DEBUG)
        rc_logger.setLevel(logging.DEBUG)
    elif verbose == 1:
        root.setLevel(logging.WARNING)
        rc_logger.setLevel(logging.DEBUG)
        logging.getLogger("rcstream.frames").setLevel(logging.INFO)  # frames only with -vv
    else:
        root.setLevel(logging.WARNING)
        rc_logger.setLevel(logging.INFO if library_info else logging.WARNING)
        logging.getLogger("rcstream.cli").setLevel(logging.INFO)


# ----------------------------------------------------------------------------- errors


def _is_permanent_refusal(exc: BaseException) -> bool:
    """A request the platform refused for good (HTTP 4xx other than 408 and 429): running
    the same command again gets the same answer, so a supervisor must not restart it."""
    from rcstream.exceptions import GatewayError, RequestTimeoutError

    if not isinstance(exc, GatewayError) or isinstance(exc, RequestTimeoutError):
        return False
    if (exc.error_code or "").startswith("WSG-"):  # the gateway's own errors: reconnectable
        return False
    status = exc.status
    return status is not None and 400 <= status < 500 and status not in (408, 429)


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code for an exception that ended a command.

    A request refused for good (a :class:`~rcstream.GatewayError` with HTTP 4xx other than
    408/429, e.g. ``SUB-508`` invalid event filter) is a usage/configuration error (2), not
    a stream failure (4): restarting would only repeat it.
    """
    from rcstream import exceptions as e

    if isinstance(exc, e.ConfigurationError | e.UsageError):
        return EXIT_USAGE
    if isinstance(exc, e.AuthenticationError):
        return EXIT_AUTH
    if _is_permanent_refusal(exc):
        return EXIT_USAGE
    if isinstance(exc, e.RCStreamError):
        return EXIT_STREAM
    return EXIT_FAILED


def _one_sentence(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)


def _with_fix(text: str, fix: str) -> str:
    """``text`` (a sentence) with its advice replaced by ``fix``."""
    text = text.rstrip(" .")
    for cut in (": check ", "; check "):  # the library's generic advice, if any
        head, sep, _ = text.rpartition(cut)
        if sep:
            text = head
    return f"{text}; {fix}"


def error_message(exc: BaseException, *, access_token_file: str | None = None) -> str:
    """The one sentence the CLI prints for ``exc``: the library's message, with the advice
    made specific where the CLI knows better (the fix for an invalid filter, a full
    subscription list, a refused ``--access-token-file`` token)."""
    from rcstream import exceptions as e

    text = _one_sentence(exc)
    code = getattr(exc, "error_code", None)
    if code == "SUB-505":
        return _with_fix(
            text,
            "delete unused subscriptions (`rcstream subscriptions list`, then "
            "`rcstream subscriptions delete ID`) and try again.",
        )
    if isinstance(exc, e.PermissionDeniedError):
        return text
    if isinstance(exc, e.AuthenticationError) and access_token_file is not None:
        return _with_fix(
            text,
            f"the access token in {access_token_file!r} is invalid or expired: write a "
            "fresh one into it (or drop --access-token-file to log in with the JWT).",
        )
    if _is_permanent_refusal(exc):
        if code == "SUB-508" or "filter" in text.lower():
            return _with_fix(
                text,
                "fix or remove the filter (`rcstream listen -e help` lists working presets).",
            )
        return _with_fix(text, "fix the request; running it again will not help.")
    return text


# ----------------------------------------------------------------------------- main


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _install_sigterm_handler() -> Callable[[], None]:
    """SIGTERM raises KeyboardInterrupt (exit 130) until the event loop installs its own
    handler, and again after it removes it: never killed with 143 on the way in or out.
    Returns the function that puts the previous handler back."""
    import signal

    try:
        previous = signal.getsignal(signal.SIGTERM)
        if previous != signal.SIG_DFL:
            return lambda: None
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    except (ValueError, OSError, AttributeError):  # not the main thread, or no SIGTERM
        return lambda: None

    def restore() -> None:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGTERM, previous)

    return restore


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rcstream`` command line; return the exit code (see the module doc)."""
    restore = _install_sigterm_handler()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        restore()


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "subscriptions" and getattr(args, "action", None) is None:
        sys.stderr.write("rcstream subscriptions: error: an action is required.\n\n")
        args.help_parser.print_help(sys.stderr)
        return EXIT_USAGE

    configure_logging(
        quiet=bool(getattr(args, "quiet", False)),
        verbose=int(getattr(args, "verbose", 0) or 0),
        library_info=args.command != "subscriptions",
    )
    try:
        if args.command in ("listen", "demo"):
            from rcstream._cli_listen import run_demo, run_listen

            return run_demo(args) if args.command == "demo" else run_listen(args)
        if args.command == "emulator":
            from rcstream._cli_listen import run_emulator

            return run_emulator(args)
        from rcstream._cli_subscriptions import run_subscriptions

        return run_subscriptions(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        from rcstream._cli_output import silence_stdout

        silence_stdout()
        return EXIT_OK
    except SystemExit:
        raise
    except BaseException as exc:  # also a CancelledError leaking out of a library
        code = exit_code_for(exc)
        if code == EXIT_FAILED and not isinstance(exc, _rcstream_error()):
            _log.error(
                "Unexpected internal error (%s: %s); rerun with -v for details and report it.",
                type(exc).__name__,
                _one_sentence(exc),
                exc_info=bool(getattr(args, "verbose", 0)),
            )
        else:
            _log.error(
                "%s", error_message(exc, access_token_file=getattr(args, "access_token_file", None))
            )
        return code


def _rcstream_error() -> type[BaseException]:
    from rcstream.exceptions import RCStreamError

    return RCStreamError


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
