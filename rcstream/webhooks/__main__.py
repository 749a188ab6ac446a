"""``python -m rcstream.webhooks ARGS``: the same as ``rcstream ARGS`` (see :mod:`rcstream.cli`).

A program entry point, like ``python -m rcstream``: the library modules of
:mod:`rcstream.webhooks` never import the CLI, and ``import rcstream.webhooks`` does not
run this module.
"""

from __future__ import annotations

import sys

from rcstream.cli import main

if __name__ == "__main__":
    sys.exit(main())
