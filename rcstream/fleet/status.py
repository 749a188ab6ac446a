"""``rcstream fleet status`` data, read from KV, and a Prometheus text-format endpoint.

Everything comes from the buckets the workers write: owners from the lease bucket,
live workers from their heartbeats, per-account figures from the status bucket (each
owner rewrites ``stats.<label>`` every tick). ``lag`` is the seconds since the account's
last event was acked by JetStream (``None`` before the first); a quiet account has a
growing lag too, so read it next to ``events``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rcstream.fleet.kv import existing_bucket, snapshot
from rcstream.fleet.lease import LEASE_PREFIX, WORKER_PREFIX
from rcstream.fleet.worker import LEASE_BUCKET, STATUS_BUCKET
from rcstream.models.lifecycle import iso_utc

__all__ = [
    "AccountStatus",
    "FleetStatus",
    "fleet_status",
    "format_status",
    "render_prometheus",
    "serve_metrics",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """One account as the fleet sees it."""

    label: str
    owner: str | None
    account_id: str | None = None
    events: int = 0
    reconnects: int = 0
    in_flight: int = 0
    lag: float | None = None
    last_gap_at: float | None = None
    last_gap_reason: str | None = None


@dataclass(frozen=True, slots=True)
class FleetStatus:
    """The whole fleet at wall-clock time ``at``."""

    at: float
    workers: tuple[str, ...]
    accounts: tuple[AccountStatus, ...]


async def fleet_status(
    js: Any,
    labels: Sequence[str] | None = None,
    *,
    lease_bucket: str = LEASE_BUCKET,
    status_bucket: str = STATUS_BUCKET,
    wall: Callable[[], float] = time.time,
) -> FleetStatus:
    """Read the fleet's state. ``labels`` (from the accounts file) lists accounts nobody
    owns too; without it, every account that has an owner or figures is listed."""
    lease_kv = await existing_bucket(js, lease_bucket)
    status_kv = await existing_bucket(js, status_bucket)
    leases = await snapshot(lease_kv) if lease_kv is not None else {}
    stats = await snapshot(status_kv, "stats.") if status_kv is not None else {}
    now = wall()
    owners: dict[str, str] = {}
    workers: list[str] = []
    for key, entry in leases.items():
        data = _json(entry.value)
        if key.startswith(LEASE_PREFIX):
            owners[key[len(LEASE_PREFIX) :]] = str(data.get("owner"))
        elif key.startswith(WORKER_PREFIX):
            workers.append(key[len(WORKER_PREFIX) :])
    figures = {key[len("stats.") :]: _json(e.value) for key, e in stats.items()}
    names = list(labels) if labels is not None else sorted(set(owners) | set(figures))
    accounts = []
    for label in names:
        f = figures.get(label, {})
        last = f.get("last_event_at")
        accounts.append(
            AccountStatus(
                label=label,
                owner=owners.get(label),
                account_id=f.get("account_id"),
                events=int(f.get("events") or 0),
                reconnects=int(f.get("reconnects") or 0),
                in_flight=int(f.get("in_flight") or 0),
                lag=max(0.0, now - float(last)) if last is not None else None,
                last_gap_at=f.get("last_gap_at"),
                last_gap_reason=f.get("last_gap_reason"),
            )
        )
    return FleetStatus(now, tuple(sorted(workers)), tuple(accounts))


def format_status(status: FleetStatus) -> str:
    """A plain-text table for the terminal."""
    lines = [f"{len(status.workers)} worker(s): {', '.join(status.workers) or '-'}"]
    lines.append(
        f"{'ACCOUNT':<20} {'OWNER':<28} {'ID':<12} {'EVENTS':>8} {'LAG s':>7} "
        f"{'RECONN':>6}  LAST GAP"
    )
    for a in status.accounts:
        lag = f"{a.lag:.1f}" if a.lag is not None else "-"
        gap = "-"
        if a.last_gap_at is not None:
            gap = f"{iso_utc(a.last_gap_at)} {a.last_gap_reason or ''}".strip()
        lines.append(
            f"{a.label:<20} {a.owner or '(none)':<28} {a.account_id or '-':<12} "
            f"{a.events:>8} {lag:>7} {a.reconnects:>6}  {gap}"
        )
    return "\n".join(lines) + "\n"


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_prometheus(status: FleetStatus) -> str:
    """The Prometheus text exposition format (version 0.0.4) of ``status``."""
    out: list[str] = []

    def family(name: str, kind: str, text: str) -> None:
        out.append(f"# HELP {name} {text}")
        out.append(f"# TYPE {name} {kind}")

    family("rcstream_fleet_workers", "gauge", "Live workers (heartbeats in KV).")
    out.append(f"rcstream_fleet_workers {len(status.workers)}")
    family("rcstream_fleet_accounts_unowned", "gauge", "Accounts no worker holds a lease on.")
    out.append(f"rcstream_fleet_accounts_unowned {sum(a.owner is None for a in status.accounts)}")
    series: list[tuple[str, str, str, Callable[[AccountStatus], float | None]]] = [
        (
            "rcstream_fleet_account_owned",
            "gauge",
            "1 if a worker holds the account's lease.",
            lambda a: float(a.owner is not None),
        ),
        (
            "rcstream_fleet_account_events_total",
            "counter",
            "Events the current owner published and had acked.",
            lambda a: float(a.events),
        ),
        (
            "rcstream_fleet_account_reconnects_total",
            "counter",
            "Reconnects of the account's stream under its current owner.",
            lambda a: float(a.reconnects),
        ),
        (
            "rcstream_fleet_account_in_flight",
            "gauge",
            "Publishes awaiting a JetStream ack.",
            lambda a: float(a.in_flight),
        ),
        (
            "rcstream_fleet_account_lag_seconds",
            "gauge",
            "Seconds since the account's last event was acked.",
            lambda a: a.lag,
        ),
        (
            "rcstream_fleet_account_last_gap_timestamp_seconds",
            "gauge",
            "When the account's stream last reported a gap.",
            lambda a: a.last_gap_at,
        ),
    ]
    for name, kind, text, get in series:
        family(name, kind, text)
        for a in status.accounts:
            value = get(a)
            if value is None:
                continue
            labels = f'account="{_esc(a.label)}",owner="{_esc(a.owner or "")}"'
            out.append(f"{name}{{{labels}}} {value:g}")
    return "\n".join(out) + "\n"


async def serve_metrics(
    provider: Callable[[], Awaitable[str]], *, port: int, host: str = "127.0.0.1"
) -> tuple[Any, int]:
    """Serve ``GET /metrics`` (text from ``provider()``) with aiohttp on ``host:port``
    (0 picks a free port). Returns ``(runner, bound_port)``; ``await runner.cleanup()``
    stops it."""
    from aiohttp import web

    async def metrics(_request: web.Request) -> web.Response:
        body = await provider()
        return web.Response(
            text=body,
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Format": "prometheus-0.0.4"},
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = getattr(site, "_server", None)
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    logger.info("metrics on http://%s:%d/metrics", host, bound)
    return runner, int(bound)


def _json(raw: bytes | None) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
