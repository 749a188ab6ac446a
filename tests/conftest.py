"""Shared test configuration.

Time in tests is expressed in multiples of ``MS`` so the whole suite can be slowed
down on a loaded machine by setting ``RCSTREAM_TEST_MS`` (seconds per unit).
"""

from __future__ import annotations

import os

MS = float(os.environ.get("RCSTREAM_TEST_MS", "0.001"))
