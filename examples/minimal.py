"""The smallest useful rcstream program: print calls and SMS as they happen.

    export RINGCENTRAL_SERVER_URL=... RINGCENTRAL_CLIENT_ID=... \\
           RINGCENTRAL_CLIENT_SECRET=... RINGCENTRAL_JWT=...
    python examples/minimal.py          # until Ctrl-C
    python examples/minimal.py 5        # stop after 5 events

Try it offline: `rcstream emulator > emulator.env &`, then `set -a; . ./emulator.env; set +a`.
"""

from __future__ import annotations

import asyncio
import sys

import rcstream
from rcstream import filters


async def main(count: int | None) -> None:
    async with (
        rcstream.Client.from_env() as client,  # RINGCENTRAL_* from the environment
        client.subscribe(filters.preset("telephony,sms,presence")) as events,
    ):
        print("listening", file=sys.stderr, flush=True)
        seen = 0
        async for event in events:
            print(f"{event.timestamp} {event.family:<20} {event.event}", flush=True)
            seen += 1
            if count is not None and seen >= count:
                break


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
