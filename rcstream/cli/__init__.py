"""The ``rcstream`` command line.

.. code-block:: text

    rcstream listen        stream events to stdout (JSON lines, or one pretty line per event)
    rcstream demo          the same against a bundled, in-process emulator: no account needed
    rcstream emulator      run the emulator as a local server for your own code
    rcstream subscriptions list | show ID | delete ID | renew ID

Contract: stdout carries data only (one JSON object per line, flushed per line); status,
reconnects, gaps and errors go to stderr. Exit codes (:mod:`rcstream.cli._run`, decided on
top of :func:`rcstream.retry.classify`): 0 done, 1 a request was rejected
(``subscriptions``) or an internal error, 2 usage or configuration, 3 authentication or
permission (do not restart), 4 the stream gave up after ``--max-attempts`` (a supervisor
should restart), 130 interrupted (Ctrl-C, SIGTERM).

One module per command (:data:`rcstream.cli._main.COMMANDS`). Heavy modules (aiohttp,
websockets, pydantic, the client) are imported inside the commands' ``run`` functions so
that ``rcstream --help`` stays fast.
"""

from __future__ import annotations

from rcstream.cli._main import build_parser, main
from rcstream.cli._run import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STREAM,
    EXIT_USAGE,
    error_message,
    exit_code_for,
)

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
