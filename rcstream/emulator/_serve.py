"""Start an aiohttp application on a TCP port: the one way the emulators bind."""

from __future__ import annotations

from aiohttp import web

__all__: list[str] = []


async def start_app(
    app: web.Application, host: str, port: int, *, shutdown_timeout: float = 60.0
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host``:``port`` (0 picks a free port); return the runner (call its
    ``cleanup()`` to stop) and the bound port. Nothing is left running if binding fails."""
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])
