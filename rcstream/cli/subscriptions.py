"""``rcstream subscriptions list | show ID | delete ID | renew ID`` over REST (HTTPS).

Output is a table (or a ``key: value`` block for one subscription); ``--json`` prints the
platform's JSON instead. A rejected request (e.g. an unknown id) is one sentence on stderr
and exit code 1.

Each call logs in, so each would leave an OAuth session behind; the platform keeps only a
few per user and app and a new login revokes the oldest, which could be a running
listener's. So when the command logged in itself (JWT or password), it revokes its session
on the way out. A caller-supplied token (``--access-token-file``) is never revoked.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rcstream.cli._args import Formatter, Parser
from rcstream.cli._run import EXIT_FAILED, EXIT_USAGE, client_options, run_async
from rcstream.exceptions import GatewayError
from rcstream.retry import exit_code

if TYPE_CHECKING:
    from rcstream.cli._args import Common, SubParsers
    from rcstream.client import Client, ClientOptions

__all__ = ["add_parser", "format_subscription", "format_table", "run"]

_EPILOG = """\
Subscriptions are managed over REST (HTTPS) with the same credentials as `listen`.
Output is a table; --json prints the platform's JSON instead. When the command logged in
itself, it revokes that OAuth session on exit, so it never pushes out a running listener's.

examples:
  rcstream subscriptions list
  rcstream subscriptions list --json | jq '.records[].id'
  rcstream subscriptions show 5b7a1c9e-0000-4000-8000-0000000005b1
  rcstream subscriptions delete 5b7a1c9e-0000-4000-8000-0000000005b1
"""


def add_parser(sub: SubParsers, common: Common) -> None:
    """Define ``rcstream subscriptions ACTION``."""
    subs = sub.add_parser(
        "subscriptions",
        help="list, show, delete or renew subscriptions over REST",
        description="Manage the account's subscriptions over REST.",
        epilog=_EPILOG,
        formatter_class=Formatter,
    )
    subs.set_defaults(
        run=run, check_usage=_check_usage, help_parser=subs, library_info=False, action=None
    )
    subs_sub = subs.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
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
            formatter_class=Formatter,
            parents=[common.verbosity, common.credentials],
        )
        if name != "list":
            p.add_argument("id", metavar="ID", help="subscription id")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _check_usage(args: argparse.Namespace) -> int | None:
    if args.action is None:
        sys.stderr.write("rcstream subscriptions: error: an action is required.\n\n")
        args.help_parser.print_help(sys.stderr)
        return EXIT_USAGE
    return None


_log = logging.getLogger("rcstream.cli")
_PATH = "/restapi/v1.0/subscription"


def _transport(sub: Mapping[str, Any]) -> str:
    mode = sub.get("deliveryMode")
    return str(mode.get("transportType", "?")) if isinstance(mode, Mapping) else "?"


def format_table(records: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table: id, status, transport, expiry and the event filters."""
    if not records:
        return "No subscriptions."
    rows = [("ID", "STATUS", "TRANSPORT", "EXPIRES", "FILTERS")]
    for sub in records:
        filters = [str(f) for f in sub.get("eventFilters") or []]
        shown = filters[0] if filters else "-"
        if len(filters) > 1:
            shown += f" (+{len(filters) - 1} more)"
        rows.append(
            (
                str(sub.get("id", "?")),
                str(sub.get("status", "?")),
                _transport(sub),
                str(sub.get("expirationTime", "-")),
                shown,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    )


def format_subscription(sub: Mapping[str, Any]) -> str:
    """One subscription as aligned ``key: value`` lines, filters one per line."""
    lines = []
    for key in ("id", "status", "creationTime", "expirationTime", "expiresIn"):
        if key in sub:
            lines.append(f"{key + ':':<16} {sub[key]}")
    lines.append(f"{'transport:':<16} {_transport(sub)}")
    lines.append("eventFilters:")
    lines.extend(f"  {f}" for f in sub.get("eventFilters") or [])
    for disabled in sub.get("disabledFilters") or []:
        if isinstance(disabled, Mapping):
            lines.append(f"  disabled: {disabled.get('filter')} ({disabled.get('reason')})")
    return "\n".join(lines)


async def _run(args: argparse.Namespace, env: Mapping[str, str], options: ClientOptions) -> int:
    from rcstream import Client

    # leaving the block revokes the OAuth session when rcstream logged in itself (the one
    # rule, TokenManager.owns_session), so CLI calls do not use up the user's sessions
    async with Client.from_env(env, options=options) as client:
        return await _act(args, client)


async def _act(args: argparse.Namespace, client: Client) -> int:
    from rcstream.cli.output import Output

    out = Output()
    if args.action == "list":
        resp = await client.rest("GET", _PATH)
        body = resp.body if isinstance(resp.body, dict) else {"records": []}
        if args.json:
            out.write_line(json.dumps(body, indent=2))
        else:
            out.write_line(format_table(body.get("records") or []))
        return 0
    if args.action == "show":
        resp = await client.rest("GET", f"{_PATH}/{args.id}")
    elif args.action == "renew":
        resp = await client.rest("POST", f"{_PATH}/{args.id}/renew")
    else:
        await client.rest("DELETE", f"{_PATH}/{args.id}")
        if args.json:
            out.write_line(json.dumps({"id": args.id, "deleted": True}))
        else:
            _log.info("Deleted subscription %s.", args.id)
        return 0
    body = resp.body if isinstance(resp.body, dict) else {}
    out.write_line(json.dumps(body, indent=2) if args.json else format_subscription(body))
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch ``rcstream subscriptions ACTION``."""
    from rcstream.cli._run import one_sentence
    from rcstream.cli.env import load_environment

    env = load_environment(
        env_file=args.env_file, server=args.server, access_token_file=args.access_token_file
    )
    options = client_options(args)
    try:
        return run_async(lambda: _run(args, env, options), stopping="stopping")
    except Exception as exc:
        # the platform refused the request (or the id is unknown): exit 1, from the one
        # table in rcstream.retry; anything else goes to the common handler
        if isinstance(exc, GatewayError) and exit_code(exc, one_shot=True) == EXIT_FAILED:
            _log.error("%s", one_sentence(exc))
            return EXIT_FAILED
        raise
