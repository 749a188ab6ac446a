"""``python -m rcstream.webhooks``: the webhook commands before the CLI registers them."""

from __future__ import annotations

import sys

from rcstream.webhooks.commands import main

if __name__ == "__main__":
    sys.exit(main())
