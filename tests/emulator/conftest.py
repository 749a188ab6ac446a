"""Fixtures for the emulator tests (the helpers live in ``emu_helpers``)."""

from emu_helpers import make_rc, rc

__all__ = ["make_rc", "rc"]
