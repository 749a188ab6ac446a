"""What every command shares at run time: the exit-code table, the hidden options, numbers
from ``RCSTREAM_*`` variables, :class:`~rcstream.ClientOptions`, logging on stderr, the one
error sentence, and :func:`run_async` (signals → exit 130).

Light at import (no asyncio, aiohttp, pydantic): ``rcstream --help`` imports it for the
exit codes and the hidden option names.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from rcstream.exceptions import ConfigurationError
from rcstream.redact import redact

if TYPE_CHECKING:
    from rcstream.client import ClientOptions

__all__ = [
    "EXIT_AUTH",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STREAM",
    "EXIT_USAGE",
    "HIDDEN_OPTIONS",
    "client_options",
    "configure_logging",
    "env_number",
    "error_message",
    "exit_code_for",
    "one_sentence",
    "run_async",
]

# ----------------------------------------------------------------------------- exit codes

# The table itself is the library's (rcstream.retry), so it is defined once.
from rcstream.retry import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STREAM,
    EXIT_USAGE,
)

EXIT_INTERRUPTED = 130

#: Hidden float options (``--backoff-base`` ...) and their ``RCSTREAM_BACKOFF_BASE``-style
#: variables, passed to :class:`~rcstream.ClientOptions` when it has a field of that name.
HIDDEN_OPTIONS = (
    "backoff_base",
    "backoff_cap",
    "connect_timeout",
    "request_timeout",
    "heartbeat_interval",
    "heartbeat_timeout",
    "close_timeout",
)

_log = logging.getLogger("rcstream.cli")


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code for an exception that ended a command.

    The table lives in the library (:func:`rcstream.retry.exit_code`, built on
    :func:`rcstream.retry.classify`, the one place that decides retry versus fatal), so
    the CLI and the library never disagree.
    """
    from rcstream.retry import exit_code

    return exit_code(exc)


def refused_for_good(exc: BaseException) -> bool:
    """A request the platform refused and :func:`~rcstream.retry.classify` would not retry
    (for the hint in the error line; the exit code comes from :func:`~rcstream.retry.exit_code`)."""
    from rcstream.exceptions import GatewayError
    from rcstream.retry import classify

    return isinstance(exc, GatewayError) and not classify(exc).retry


# ----------------------------------------------------------------------------- numbers

_N = TypeVar("_N", int, float)


def env_number(
    name: str,
    cast: Callable[[str], _N],
    *,
    minimum: _N,
    unit: str,
    environ: Mapping[str, str] | None = None,
) -> _N | None:
    """The number in the ``name`` variable, or ``None`` when it is unset or empty.

    The one parser of numbers from the environment: anything that is not a ``cast`` number
    of at least ``minimum`` is a :class:`~rcstream.ConfigurationError` naming the variable
    and ``unit`` (what the number counts).
    """
    env = os.environ if environ is None else environ
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = cast(raw)
    except ValueError:
        value = None
    if value is None or value != value or value < minimum:  # NaN never passes
        kind = "whole number" if cast is int else "number"
        raise ConfigurationError(
            f"{name}={raw!r} is not a {kind} of at least {minimum}; set it to {unit} or unset it."
        )
    return value


def client_options(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> ClientOptions:
    """Build :class:`rcstream.ClientOptions` from the flags and ``RCSTREAM_*`` variables.

    ``--max-attempts`` (or ``RCSTREAM_MAX_ATTEMPTS``) is passed only when given, so the
    library's default applies otherwise; 0 means retry forever. ``RCSTREAM_AUTH_RATE_LIMIT``
    sets the client-side limit of token + wstoken calls per minute (0 turns it off). The
    hidden float options (:data:`HIDDEN_OPTIONS`) are passed when ``ClientOptions`` has them.
    """
    import dataclasses

    from rcstream import ClientOptions

    fields = {f.name for f in dataclasses.fields(ClientOptions)}
    kwargs: dict[str, Any] = {}
    attempts = getattr(args, "max_attempts", None)
    if attempts is None:
        attempts = env_number(
            "RCSTREAM_MAX_ATTEMPTS",
            int,
            minimum=0,
            unit="a count (0: retry forever)",
            environ=environ,
        )
    if attempts is not None and "max_attempts" in fields:
        kwargs["max_attempts"] = attempts or None
    limit = env_number(
        "RCSTREAM_AUTH_RATE_LIMIT",
        int,
        minimum=0,
        unit="the token + wstoken calls allowed per minute (0: no client-side limit)",
        environ=environ,
    )
    if limit is not None:
        kwargs["auth_rate_limit"] = limit or None
    for name in HIDDEN_OPTIONS:
        value = getattr(args, name, None)
        if value is None:
            value = env_number(
                "RCSTREAM_" + name.upper(), float, minimum=0.0, unit="seconds", environ=environ
            )
        if value is not None and name in fields:
            kwargs[name] = value
    return ClientOptions(**kwargs)


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

    The exception that ends a command is written as one sentence by ``main``; a library
    logging the same failure (or asyncio logging a stray task) would repeat it.
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
        # frames (and websockets' own per-frame log) only with -vv
        logging.getLogger("rcstream.frames").setLevel(logging.INFO)
        logging.getLogger("rcstream.websockets").setLevel(logging.INFO)
    else:
        root.setLevel(logging.WARNING)
        rc_logger.setLevel(logging.INFO if library_info else logging.WARNING)
        logging.getLogger("rcstream.cli").setLevel(logging.INFO)


# ----------------------------------------------------------------------------- errors


def one_sentence(exc: BaseException) -> str:
    """``exc``'s message on one line, redacted (the type name if it has none)."""
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


#: Added when credentials that worked a moment ago are refused: the likely cause is a
#: restarted ``rcstream emulator`` (or credentials rotated on the platform).
RESTART_HINT = (
    "they worked earlier in this run, so the server changed: if you restarted "
    "`rcstream emulator`, its credentials changed — re-export them and start again"
)


def error_message(exc: BaseException, *, access_token_file: str | None = None) -> str:
    """The one sentence the CLI prints for ``exc``: the library's message, with the advice
    made specific where the CLI knows better (the fix for an invalid filter, a full
    subscription list, a refused ``--access-token-file`` token)."""
    from rcstream import exceptions as e

    text = one_sentence(exc)
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
    if refused_for_good(exc):
        if code == "SUB-508" or "filter" in text.lower():
            return _with_fix(
                text,
                "fix or remove the filter (`rcstream listen -e help` lists working presets).",
            )
        return _with_fix(text, "fix the request; running it again will not help.")
    return text


# ----------------------------------------------------------------------------- running


def run_async(
    main: Callable[[], Awaitable[int]], *, stopping: str = "deleting the subscription and closing"
) -> int:
    """Run ``main()`` in a fresh event loop; SIGINT/SIGTERM cancel it and give 130.

    The first signal cancels the work, so ``async with`` blocks clean up (the subscription
    is deleted, sockets are closed). A second signal exits immediately.
    """
    import asyncio
    import signal

    async def runner() -> int:
        loop = asyncio.get_running_loop()
        work = asyncio.ensure_future(main())
        interrupted = False

        def on_signal(signum: int) -> None:
            nonlocal interrupted
            if interrupted:
                os._exit(EXIT_INTERRUPTED)
            interrupted = True
            _log.info(
                "%s received; %s (repeat to quit at once).", signal.Signals(signum).name, stopping
            )
            work.cancel()

        installed: list[tuple[signal.Signals, Any]] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            try:
                loop.add_signal_handler(signum, on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append((signum, previous))
        try:
            return await work
        except BaseException:
            if interrupted:
                return EXIT_INTERRUPTED
            raise
        finally:
            for signum, previous in installed:
                loop.remove_signal_handler(signum)
                # Back to the handler from before (main()'s SIGTERM -> KeyboardInterrupt),
                # not to the default that would kill the process with 143 while it exits.
                if previous is not None:
                    with contextlib.suppress(ValueError, OSError, TypeError):
                        signal.signal(signum, previous)

    return asyncio.run(runner())
