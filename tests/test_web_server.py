"""The web process's server (mcp_platform/web_server.py): with several workers, every connection
still gets TCP_NODELAY, so no reply waits on the client's delayed ACK."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket

import uvicorn

from mcp_platform.processes import free_port
from mcp_platform.web_server import APP, Config


def listener(config_class: type[uvicorn.Config]) -> socket.socket:
    """The listening socket the workers are handed, as `--workers 2` binds it."""
    config = config_class(APP, host="127.0.0.1", port=free_port(), workers=2)
    return config.bind_socket()


def nodelay_of_an_accepted_connection(sock: socket.socket) -> int:
    """TCP_NODELAY on the server side of a connection accepted by asyncio (as a worker does)."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                server_side = transport.get_extra_info("socket")
                accepted.set_result(server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await loop.create_server(Protocol, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname())
        try:
            return await asyncio.wait_for(accepted, timeout=30)
        finally:
            writer.close()
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


def _report_protocol(sock: socket.socket, results) -> None:
    results.put(sock.proto)


def test_connections_to_several_workers_get_tcp_nodelay():
    sock = listener(Config)
    assert sock.proto == socket.IPPROTO_TCP
    assert nodelay_of_an_accepted_connection(sock) != 0


def test_a_spawned_worker_receives_the_socket_as_tcp():
    """uvicorn starts its workers with multiprocessing's spawn; the label travels with the socket."""
    sock = listener(Config)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    worker = context.Process(target=_report_protocol, args=(sock, results))
    worker.start()
    try:
        assert results.get(timeout=60) == socket.IPPROTO_TCP
    finally:
        worker.join(timeout=30)
        sock.close()


def test_uvicorns_own_socket_would_leave_nagle_on():
    """Why web_server.py exists: uvicorn's socket (0.54) gets no TCP_NODELAY from asyncio. When
    this fails, uvicorn binds its socket as TCP and web_server.Config can go."""
    assert nodelay_of_an_accepted_connection(listener(uvicorn.Config)) == 0
