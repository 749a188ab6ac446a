"""The smallest useful rcstream program: print calls and SMS as they happen.

    export RINGCENTRAL_SERVER_URL=... RINGCENTRAL_CLIENT_ID=... \\
           RINGCENTRAL_CLIENT_SECRET=... RINGCENTRAL_JWT=...
    python examples/minimal.py          # until Ctrl-C
    python examples/minimal.py 5        # stop after 5 events

Try it offline: run `rcstream emulator` in another shell and paste the `export` lines it
prints into this one.
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
    try:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else None))
    except KeyboardInterrupt:
        # Ctrl-C: asyncio.run cancelled main(), whose `async with` blocks deleted the
        # subscription and closed the client; exit quietly with the shell's code for it.
        sys.exit(130)
