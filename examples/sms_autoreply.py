"""An SMS auto-reply bot: answer every inbound SMS, sending the reply over the same socket.

    python examples/sms_autoreply.py [--count N] [--dry-run]

Each inbound SMS to the authorised extension gets a reply sent with
``client.request("POST", "/restapi/v1.0/account/~/extension/~/sms", ...)`` — REST over the
WebSocket, no second HTTP connection. One line per reply goes to stdout.

With ``--dry-run`` the bot prints the reply it *would* send instead of sending it. A failed
send is logged and the bot carries on. The bundled emulator accepts the sends (see
``Emulator.sent_sms``), so the whole loop runs offline.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import rcstream
from rcstream import filters
from rcstream.models import InstantMessageNotification

log = logging.getLogger("sms_autoreply")


def reply_text(incoming: str) -> str:
    """What to answer. Replace this with your bot's brain."""
    if "hours" in incoming.lower():
        return "We are open 9am-5pm, Monday to Friday."
    return "Thanks for your message! We will get back to you shortly."


async def main(count: int | None, dry_run: bool) -> None:
    async with (
        rcstream.Client.from_env() as client,
        client.subscribe([filters.instant_sms()]) as events,
    ):
        log.info("Waiting for SMS; Ctrl-C to stop.")
        handled = 0
        async for event in events:
            if not isinstance(event, InstantMessageNotification):
                continue
            sms = event.body
            if sms.direction != "Inbound" or sms.from_ is None or not sms.to:
                continue  # our own outbound messages come through here too
            sender = sms.from_.phone_number
            our_number = sms.to[0].phone_number
            text = reply_text(sms.subject or "")
            request = {
                "from": {"phoneNumber": our_number},
                "to": [{"phoneNumber": sender}],
                "text": text,
            }
            if dry_run:
                print(f"would reply to {sender}: {text}", flush=True)
            else:
                try:
                    await client.request("POST", "/restapi/v1.0/account/~/extension/~/sms", request)
                    print(f"replied to {sender}: {text}", flush=True)
                except rcstream.GatewayError as exc:
                    log.warning("Could not reply to %s: %s", sender, exc)
            handled += 1
            if count is not None and handled >= count:
                break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, help="stop after N messages")
    parser.add_argument("--dry-run", action="store_true", help="print replies, do not send")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        asyncio.run(main(args.count, args.dry_run))
    except KeyboardInterrupt:
        sys.exit(130)  # Ctrl-C: main() was cancelled and its `async with` blocks cleaned up
