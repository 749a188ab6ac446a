"""The package version, in a module of its own so that inner modules need not import the
package top (``rcstream/__init__.py``)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
