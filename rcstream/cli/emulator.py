"""``rcstream emulator``: run the bundled emulator as a local server for your own code.

A restart must not break the programs pointed at it, so the address and the credentials
are stable: the default port is :data:`DEFAULT_PORT` and the default credentials are the
fixed, public :data:`DEFAULT_CREDENTIALS` (the emulator is a local test double: nothing
they open is worth protecting). ``--state DIR`` instead generates random credentials once
and keeps them, with the port, in ``DIR/emulator.json`` for every later start.

stdout gets ``export NAME=value`` lines, paste-able into a shell (and readable by
``rcstream listen --env-file``); ``--write-env PATH`` also writes them as a ``.env`` file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcstream.cli._args import Formatter, non_negative_int, port
from rcstream.cli._run import EXIT_OK, run_async
from rcstream.exceptions import ConfigurationError

if TYPE_CHECKING:
    from rcstream.cli._args import Common, SubParsers

__all__ = ["DEFAULT_CREDENTIALS", "DEFAULT_PORT", "add_parser", "env_lines", "run", "settings"]

_log = logging.getLogger("rcstream.cli")

#: The port ``rcstream emulator`` listens on unless told otherwise (stable across restarts).
DEFAULT_PORT = 8765

#: Fixed credentials of ``rcstream emulator`` without ``--state``: the same on every start,
#: so a listener survives an emulator restart. Public by design; the emulator is local only.
DEFAULT_CREDENTIALS: dict[str, str] = {
    "account_id": "400000000004",
    "client_id": "rcstream-emulator-client",
    "client_secret": "rcstream-emulator-secret-not-for-production",
    "jwt": "rcstream-emulator-jwt",
}

_STATE_FILE = "emulator.json"

_EPILOG = """\
Prints `export RINGCENTRAL_*=...` lines for the emulator's account on stdout, then serves
(REST on http://127.0.0.1:PORT, the gateway on ws://127.0.0.1:PORT/ws) until Ctrl-C.
Synthetic events of every family are published at --rate per second.

The port (default 8765) and the credentials stay the same across restarts, so a running
`rcstream listen` reconnects after one. Without --state the credentials are fixed, public
test values; with --state DIR random ones are made once and kept in DIR.

examples:
  rcstream emulator --rate 2
  rcstream emulator --write-env emulator.env &          # then, in the same directory:
  rcstream listen --env-file emulator.env -e telephony,presence,sms
"""


def add_parser(sub: SubParsers, common: Common) -> None:
    """Define ``rcstream emulator``."""
    emulator = sub.add_parser(
        "emulator",
        help="run the emulator as a local server",
        description="Run the bundled RingCentral emulator (REST + WebSocket gateway) locally.",
        epilog=_EPILOG,
        formatter_class=Formatter,
        parents=[common.verbosity],
    )
    emulator.add_argument(
        "--port",
        type=port,
        default=None,
        help=f"TCP port on 127.0.0.1 (default {DEFAULT_PORT}, or the one kept in --state; "
        "0: any free one)",
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
        type=non_negative_int,
        default=0,
        metavar="N",
        help="allow only N token/wstoken calls per minute, like the real platform's 5 "
        "(default 0: unlimited)",
    )
    emulator.add_argument(
        "--state",
        metavar="DIR",
        help="keep random credentials and the port in DIR (made on first use) instead of "
        "the fixed public defaults",
    )
    emulator.add_argument(
        "--write-env",
        metavar="PATH",
        help="also write the RINGCENTRAL_* variables to PATH as a .env file "
        "(for `rcstream listen --env-file PATH`)",
    )
    emulator.set_defaults(run=run)


def settings(state_dir: str | None, port_flag: int | None) -> tuple[dict[str, str], int]:
    """The credentials and the port for this start.

    Without ``state_dir``: :data:`DEFAULT_CREDENTIALS` and ``port_flag`` or
    :data:`DEFAULT_PORT`. With it: the values kept in ``state_dir/emulator.json``, made
    (random credentials, ``port_flag`` or the default port) and saved on first use; a
    ``port_flag`` given later replaces the kept port.
    """
    if state_dir is None:
        return dict(DEFAULT_CREDENTIALS), DEFAULT_PORT if port_flag is None else port_flag
    path = Path(state_dir) / _STATE_FILE
    state: dict[str, object] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"The emulator state {str(path)!r} cannot be read ({type(exc).__name__}); "
                "delete it to start afresh."
            ) from None
        if isinstance(loaded, dict):
            state = loaded
    creds = {k: state.get(k) for k in DEFAULT_CREDENTIALS}
    if not all(isinstance(v, str) and v for v in creds.values()):
        creds = {
            "account_id": str(400_000_000_000 + secrets.randbelow(99_999_999) * 1000 + 4),
            "client_id": secrets.token_urlsafe(16),
            "client_secret": secrets.token_urlsafe(32),
            "jwt": secrets.token_urlsafe(48),
        }
    kept_port = state.get("port")
    chosen = port_flag if port_flag is not None else kept_port
    if not isinstance(chosen, int) or not 0 <= chosen <= 65535:
        chosen = DEFAULT_PORT
    final = {k: str(v) for k, v in creds.items()}
    new_state: dict[str, object] = {**final, "port": chosen}
    if new_state != state:
        _save_state(path, new_state)
    return final, chosen


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only from the first byte (a file
    made by ``write_text`` then ``chmod`` is readable by others in between)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)  # an existing file keeps its mode through O_CREAT
        f.write(text)


def _save_state(path: Path, state: dict[str, object]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, json.dumps(state, indent=2) + "\n")
    except OSError as exc:
        raise ConfigurationError(
            f"The emulator state cannot be written to {str(path)!r} "
            f"({exc.strerror or type(exc).__name__}); choose another --state DIR."
        ) from None


def _port_of(emu: Any) -> int:
    from urllib.parse import urlsplit

    return urlsplit(emu.server_url).port or 0


def env_lines(env: dict[str, str], *, export: bool) -> list[str]:
    """``NAME=value`` lines (``export NAME=value`` with ``export``), shell-quoted."""
    prefix = "export " if export else ""
    return [f"{prefix}{key}={shlex.quote(value)}" for key, value in env.items()]


def _write_env(path: str, env: dict[str, str]) -> None:
    try:
        _write_private(Path(path), "\n".join(env_lines(env, export=False)) + "\n")
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot write {path!r} ({exc.strerror or type(exc).__name__}); "
            "choose another --write-env PATH."
        ) from None


def run(args: argparse.Namespace) -> int:
    """``rcstream emulator``: serve until interrupted (exit 130 on Ctrl-C/SIGTERM).

    Prints the ``export RINGCENTRAL_*=…`` lines on stdout first. A port that cannot be
    bound is a configuration error (exit 2).
    """
    import asyncio
    import contextlib

    from rcstream.cli.output import Output
    from rcstream.emulator import Emulator

    creds, chosen_port = settings(args.state, args.port)

    async def main() -> int:
        async with contextlib.AsyncExitStack() as stack:
            try:
                emu = await stack.enter_async_context(
                    Emulator(
                        port=chosen_port,
                        event_rate=args.rate,
                        auth_rate_limit=args.auth_rate_limit or None,
                        account_id=creds["account_id"],
                        client_id=creds["client_id"],
                        client_secret=creds["client_secret"],
                        jwt=creds["jwt"],
                    )
                )
            except OSError as exc:
                raise ConfigurationError(_port_problem(chosen_port, exc)) from None
            env = emu.env()
            if args.state is not None and chosen_port == 0:
                # "any free port" once; the same one on every later start
                _save_state(Path(args.state) / _STATE_FILE, {**creds, "port": _port_of(emu)})
            if args.write_env is not None:
                _write_env(args.write_env, env)
            out = Output()
            for line in env_lines(env, export=True):
                out.write_line(line)
            _log.info(
                "Emulator serving at %s; press Ctrl-C to stop. %s",
                emu.server_url,
                "Credentials kept in " + args.state + "."
                if args.state
                else "Credentials are the fixed public defaults; they survive a restart.",
            )
            await asyncio.Event().wait()
        return EXIT_OK  # pragma: no cover - only a signal ends it

    return run_async(main, stopping="shutting the emulator down")


def _port_problem(port: int, exc: OSError) -> str:
    import errno

    if exc.errno == errno.EADDRINUSE:
        return (
            f"Port {port} is in use (another `rcstream emulator`?); stop it or choose "
            "another --port (0: any free one)."
        )
    reason = exc.strerror or type(exc).__name__
    return f"Port {port} cannot be used ({reason}); choose another --port (0: any free one)."
