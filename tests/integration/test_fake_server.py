"""The fake providers' HTTP server itself."""

from __future__ import annotations

import asyncio
import socket

from tests.fakes.server import listening_socket


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
