"""The fake providers' HTTP server itself."""

from __future__ import annotations

import asyncio
import socket

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.fakes.server import InFlight, listening_socket, serving


async def test_connections_to_a_fake_provider_have_nagles_algorithm_turned_off() -> None:
    """uvicorn serves the fakes with ``loop.create_server(sock=...)``, as here: without
    TCP_NODELAY every small two-part response waits ~40 ms for a delayed ACK."""
    loop = asyncio.get_running_loop()
    nodelay: asyncio.Future[int] = loop.create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            nodelay.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    sock = listening_socket()
    server = await loop.create_server(Probe, sock=sock)
    async with server:
        _, writer = await asyncio.open_connection(*sock.getsockname())
        assert await nodelay
        writer.close()
        await writer.wait_closed()


async def test_work_an_app_does_after_answering_keeps_it_in_flight_until_done() -> None:
    """As our M-Pesa routes acknowledge a status answer, then resend: a caller told only of the
    answer would think all was done."""
    release = asyncio.Event()
    finished: list[str] = []

    async def after_answering() -> None:
        await release.wait()
        finished.append("background")

    async def endpoint(_request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok", background=BackgroundTask(after_answering))

    app = InFlight(Starlette(routes=[Route("/", endpoint, methods=["POST"])]))
    async with serving(app) as url, httpx.AsyncClient() as client:
        assert app.idle
        assert (await client.post(url + "/")).text == "ok"
        assert not app.idle
        changes = app.changes
        release.set()
        await app.wait_idle()
        assert finished == ["background"]
        assert app.idle
        assert app.changes == changes + 1
