"""The ``rcstream`` parser and :func:`main`.

Each command is a module of this package with two functions: ``add_parser(sub, common)``
defines its arguments (light imports only) and ``run(args) -> int`` does the work (heavy
imports inside). Adding a command is one module plus one name in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from rcstream.cli._args import Common, Formatter, Parser
from rcstream.cli._run import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    configure_logging,
    error_message,
    exit_code_for,
    one_sentence,
)
from rcstream.exceptions import RCStreamError

__all__ = ["COMMANDS", "build_parser", "main"]

#: The commands, in ``--help`` order: module names inside :mod:`rcstream.cli`.
COMMANDS: tuple[str, ...] = (
    "listen",
    "demo",
    "emulator",
    "subscriptions",
    "webhook",
    "vcc",
    "bridge",
    "fleet",
)

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
permission (do not restart), 4 gave up after --max-attempts (restart), 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (no heavy imports)."""
    from rcstream import __version__

    common = Common.build()
    parser = Parser(
        prog="rcstream",
        description="Stream RingCentral platform events over the WebSocket gateway.",
        epilog=_EPILOG_MAIN,
        formatter_class=Formatter,
        parents=[common.verbosity],
    )
    parser.add_argument("--version", action="version", version=f"rcstream {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"rcstream.cli.{name}").add_parser(sub, common)
    return parser


def _sigterm_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _install_sigterm_handler() -> Callable[[], None]:
    """SIGTERM raises KeyboardInterrupt (exit 130) until the event loop installs its own
    handler, and again after it removes it: never killed with 143 on the way in or out.
    Returns the function that puts the previous handler back."""
    import contextlib
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
    """Run the ``rcstream`` command line; return the exit code (see :mod:`rcstream.cli`)."""
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
    usage_problem = getattr(args, "check_usage", None)
    if usage_problem is not None and (code := usage_problem(args)) is not None:
        return int(code)

    configure_logging(
        quiet=bool(getattr(args, "quiet", False)),
        verbose=int(getattr(args, "verbose", 0) or 0),
        library_info=getattr(args, "library_info", True),
    )
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        from rcstream.cli.output import silence_stdout

        silence_stdout()
        return EXIT_OK
    except SystemExit:
        raise
    except BaseException as exc:  # also a CancelledError leaking out of a library
        code = exit_code_for(exc)
        if code == EXIT_FAILED and not isinstance(exc, RCStreamError):
            _log.error(
                "Unexpected internal error (%s: %s); rerun with -v for details and report it.",
                type(exc).__name__,
                one_sentence(exc),
                exc_info=bool(getattr(args, "verbose", 0)),
            )
        else:
            _log.error(
                "%s", error_message(exc, access_token_file=getattr(args, "access_token_file", None))
            )
        return code
