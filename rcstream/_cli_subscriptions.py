"""``rcstream subscriptions list | show ID | delete ID | renew ID`` over REST (HTTPS).

Output is a table (or a ``key: value`` block for one subscription); ``--json`` prints the
platform's JSON instead. A rejected request (e.g. an unknown id) is one sentence on stderr
and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from rcstream._cli_env import load_environment
from rcstream._cli_listen import client_options, run_async
from rcstream._cli_output import Output

__all__ = ["format_subscription", "format_table", "run_subscriptions"]

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


async def _run(args: argparse.Namespace, env: Mapping[str, str], options: Any) -> int:
    from rcstream import Client

    out = Output()
    async with Client.from_env(env, options=options) as client:
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


def run_subscriptions(args: argparse.Namespace) -> int:
    """Dispatch ``rcstream subscriptions ACTION``."""
    from rcstream.exceptions import GatewayError

    env = load_environment(
        env_file=args.env_file, server=args.server, access_token_file=args.access_token_file
    )
    options = client_options(args)
    try:
        return run_async(lambda: _run(args, env, options), stopping="stopping")
    except GatewayError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status != 429:
            _log.error("%s", " ".join(str(exc).split()))
            return 1
        raise
