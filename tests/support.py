"""Helpers shared by the test modules (importable because ``tests`` is on pythonpath)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import rcstream

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> str:
    """A recorded frame from ``tests/fixtures`` as the text the socket would carry."""
    return (FIXTURES / name).read_text(encoding="utf-8").rstrip("\n")


def fast_options(**overrides: Any) -> rcstream.ClientOptions:
    """Client options whose timeouts and backoff are milliseconds, for tests."""
    base: dict[str, Any] = {
        "backoff_base": 0.001,
        "backoff_cap": 0.01,
        "auth_rate_limit": None,
        "heartbeat_interval": 5.0,
        "heartbeat_timeout": 5.0,
        "connect_timeout": 5.0,
        "request_timeout": 5.0,
        "close_timeout": 2.0,
        "ping_interval": None,
        "max_attempts": 20,
    }
    base.update(overrides)
    return rcstream.ClientOptions(**base)
