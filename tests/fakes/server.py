"""Run an ASGI app with uvicorn on 127.0.0.1, on a free port, inside the test's event loop.

The listening socket is bound before uvicorn starts (port 0: the kernel picks a free port), so
there is no race between choosing a port and someone else taking it, and the URL is known the
moment the context is entered.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import uvicorn
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send


def listening_socket() -> socket.socket:
    """A socket bound to a free loopback port.

    Made with ``IPPROTO_TCP``, not the default protocol 0: asyncio turns Nagle's algorithm off
    (TCP_NODELAY) only on connections whose socket says it is TCP, and with it on, a response
    written in two pieces waits ~40 ms for the client's delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class InFlight:
    """An ASGI app that knows whether it still has a request in hand.

    A request counts until the app returns, not until its answer is sent: Starlette runs a
    response's background task after the answer has gone, so whoever waits only for answers
    misses that work, and may close what it uses under it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.changes = 0  # requests begun plus requests ended: unchanged means nothing happened
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def idle(self) -> bool:
        return self._busy == 0

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._busy += 1
        self.changes += 1
        self._idle.clear()
        try:
            await self.app(scope, receive, send)
        finally:
            self._busy -= 1
            self.changes += 1
            if self._busy == 0:
                self._idle.set()


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serve ``app`` for the duration of the block; yields its base URL (no trailing slash)."""
    sock = listening_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn-127.0.0.1:{port}")
    try:
        while not server.started:
            if task.done():
                task.result()  # uvicorn failed to start: raise why
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def form_pairs(request: Request) -> list[tuple[str, str]]:
    """An ``application/x-www-form-urlencoded`` body as (name, value) pairs, repeats kept,
    without needing python-multipart."""
    body = (await request.body()).decode()
    return parse_qsl(body, keep_blank_values=True)


async def form_fields(request: Request) -> dict[str, str]:
    """The form as a dict; for a repeated name the last value wins."""
    return dict(await form_pairs(request))
