"""The web process: uvicorn serving mcp_platform.asgi with N workers, and TCP_NODELAY on every
connection however many workers serve (`python -m mcp_platform.web_server`, runplatform's web
child).

With `--workers` above one, uvicorn binds the listening socket itself as
`socket.socket(family)`, whose protocol is 0. asyncio sets TCP_NODELAY only on connections of a
socket whose protocol is IPPROTO_TCP (`asyncio.base_events._set_nodelay`). Without it, Nagle's
algorithm holds a reply's last segment until the client acknowledges the first, which Linux
delays by up to 40 ms. Measured with wrk against keep-alive connections: two workers served
about a third of one worker's requests at a p50 of 44 ms, the bare django-ninja app alike. One
worker binds through asyncio and was never affected. `Config.bind_socket` below hands the
workers the same socket, labelled IPPROTO_TCP (`multiprocessing` passes the label on with the
socket).
"""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "mcp_platform.asgi:application"


class Config(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mcp_platform.web_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=30)
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.workers < 1:
        raise SystemExit(f"--workers must be at least 1, not {args.workers}")
    config = Config(
        APP,
        host=args.host,
        port=args.port,
        workers=args.workers,
        lifespan="on",
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
        access_log=False,
        log_level=args.log_level,
    )
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return 0
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 3  # uvicorn's STARTUP_FAILURE


if __name__ == "__main__":
    sys.exit(main())
