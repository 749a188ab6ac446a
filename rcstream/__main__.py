"""``python -m rcstream``: the command line (see :mod:`rcstream.cli`)."""

from __future__ import annotations

import sys

from rcstream.cli import main

if __name__ == "__main__":
    sys.exit(main())
