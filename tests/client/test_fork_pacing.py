"""Issue 11 item 4: forks share one login, and their wstoken calls are paced through the
parent's Auth budget (the platform's Auth group is about 5 calls a minute, shared with
login and refresh). Real emulator, real sockets; the budget's waits go through an
injected ``sleep`` so the test reads what was paced."""

from __future__ import annotations

import contextlib

from client_helpers import PRESENCE, TELEPHONY, SleepRecorder, client_for, take

from rcstream.emulator import Emulator


async def test_forks_pace_their_wstokens_through_the_shared_auth_budget(emu: Emulator) -> None:
    sleep = SleepRecorder()
    # 3 Auth-group calls per 0.3 s: the login and two wstokens fit, the third fork waits
    async with client_for(emu, sleep=sleep, auth_rate_limit=3, auth_rate_window=0.3) as parent:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(parent.subscribe(TELEPHONY, raw=True))
            subs = []
            for _ in range(3):
                child = await stack.enter_async_context(parent.fork())
                subs.append(await stack.enter_async_context(child.subscribe(PRESENCE, raw=True)))
            assert emu.stats.wstokens == 4
            assert sum(emu.stats.grants.values()) == 1  # one login for four connections
            assert len(emu.oauth_sessions) == 1
            assert any(0 < w <= 0.3 for w in sleep.waits), sleep.waits  # a fork was paced
            uid = await emu.publish_generated("presence")
            for events in subs:  # every fork's subscription delivers
                assert [e["uuid"] for e in await take(events, 1)] == [uid]
    assert emu.stats.revocations == 1
