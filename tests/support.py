"""Helpers shared by the test modules (importable because ``tests`` is on pythonpath)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> str:
    """A recorded frame from ``tests/fixtures`` as the text the socket would carry."""
    return (FIXTURES / name).read_text(encoding="utf-8").rstrip("\n")
