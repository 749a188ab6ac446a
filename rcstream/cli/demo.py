"""``rcstream demo``: ``listen --format pretty`` against a bundled, in-process emulator."""

from __future__ import annotations

import argparse
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from rcstream.cli._args import Formatter, add_output_options, positive_float
from rcstream.cli._run import run_async

if TYPE_CHECKING:
    from rcstream.cli._args import Common, SubParsers

__all__ = ["DEMO_MIX", "add_parser", "demo_filters", "demo_traffic", "run"]

_log = logging.getLogger("rcstream.cli")

_EPILOG = """\
The demo starts the bundled emulator inside this process (127.0.0.1, a free port), publishes
a steady, realistic mix of calls, presence changes, SMS, voicemail and team messages, and
runs `rcstream listen --format pretty` against it. No account or network needed.

examples:
  rcstream demo
  rcstream demo -n 5 --format json | jq .event
"""


def add_parser(sub: SubParsers, common: Common) -> None:
    """Define ``rcstream demo``."""
    demo = sub.add_parser(
        "demo",
        help="live events from a bundled emulator (no account needed)",
        description="Run `listen --format pretty` against an in-process emulator.",
        epilog=_EPILOG,
        formatter_class=Formatter,
        parents=[common.verbosity],
    )
    demo.add_argument(
        "--rate",
        type=positive_float,
        default=3.0,
        metavar="EVENTS_PER_S",
        help="synthetic events per second (default 3)",
    )
    add_output_options(demo, default_format="pretty")
    # The library's login/connect lines would come before the first event: warnings only.
    demo.set_defaults(run=run, library_info=False)


#: The demo's traffic mix: (family, weight). A "telephony-sessions" pick is a whole call
#: (Setup → Proceeding → Answered → Disconnected) whose events interleave with the rest.
DEMO_MIX: tuple[tuple[str, int], ...] = (
    ("telephony-sessions", 3),
    ("presence", 4),
    ("instant-sms", 3),
    ("message-store", 1),
    ("voicemail", 1),
    ("fax", 1),
    ("team-messaging-posts", 2),
)


async def demo_traffic(emu: Any, rate: float, *, seed: int | None = None) -> None:
    """Publish a steady, realistic mix of events on ``emu`` at about ``rate`` per second."""
    import asyncio
    import random

    from rcstream.emulator import catalog

    rng = random.Random(seed)
    families = [f for f, _ in DEMO_MIX]
    weights = [w for _, w in DEMO_MIX]
    pending: list[tuple[str, dict[str, Any]]] = []
    while True:
        await asyncio.sleep(rng.expovariate(rate))
        if pending and rng.random() < 0.6:
            event, body = pending.pop(0)
            await emu.publish(event, body)
            continue
        family = rng.choices(families, weights)[0]
        if family == "telephony-sessions":
            pending.extend(
                catalog.telephony_call(
                    account_id=emu.account_id, extension_id=emu.extension_id, rng=rng
                )
            )
            event, body = pending.pop(0)
            await emu.publish(event, body)
        else:
            await emu.publish_generated(family)


def demo_filters() -> list[str]:
    """The event filters that receive every family of :data:`DEMO_MIX`."""
    from rcstream.emulator import catalog

    return [catalog.filter_for(f) for f, _ in DEMO_MIX]


async def _demo(args: argparse.Namespace, fmt: str, color: bool) -> int:
    import asyncio

    from rcstream.cli import listen
    from rcstream.emulator import Emulator

    async with Emulator(auth_rate_limit=None) as emu:

        def intro() -> None:
            # After the first event, not before: a new user sees events first.
            _log.info(
                "Demo: a local emulator at %s publishes about %g events/s; press Ctrl-C to "
                "stop. Run `rcstream emulator` to point your own code at one.",
                emu.server_url,
                args.rate,
            )

        traffic = asyncio.ensure_future(demo_traffic(emu, args.rate))
        try:
            return await listen.listen(
                env=emu.env(),
                filters=demo_filters(),
                fmt=fmt,
                color=color,
                count=args.count,
                timeout=args.timeout,
                lifecycle=args.lifecycle,
                after_first=intro,
            )
        finally:
            traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await traffic


def run(args: argparse.Namespace) -> int:
    """``rcstream demo``: in-process emulator plus ``listen --format pretty``."""
    from rcstream.cli.output import choose_format

    fmt, color = choose_format(args.format or "pretty", no_color=args.no_color)
    return run_async(lambda: _demo(args, fmt, color))
