"""A throwaway ``redis-server`` on a free loopback port, and the fixtures that provide one.

The server keeps nothing on disk (``--save ''``, ``--appendonly no``) and can be killed and
started again on the same port, for the fault tests. Without a ``redis-server`` binary, the
tests that need it are skipped, unless ``CI`` is set: there they fail, since CI must run them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from server_process import ServerProcess, free_port, require_binary

__all__ = [
    "RedisServer",
    "free_port",
    "fresh_redis_server",
    "redis_server",
    "require_redis_server",
    "started_redis_server",
]


def require_redis_server() -> str:
    """The path of ``redis-server``; skips the test without one, or fails it if ``CI`` is set."""
    return require_binary("redis-server")


class RedisServer(ServerProcess):
    """One ``redis-server`` process on ``127.0.0.1:port``, up once it answers ``PING``."""

    name = "redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.binary,
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", self._dir.name),
            *("--logfile", os.path.join(self._dir.name, "redis.log")),
        ]

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False


def started_redis_server(*extra: str) -> RedisServer:
    """A running server on a free port (another is tried if the port was taken meanwhile)."""
    return RedisServer.started(require_redis_server(), *extra)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A server shared by the tests of one module: they must use distinct namespaces."""
    server = started_redis_server()
    yield server
    server.stop()


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    """A server of the test's own, which it may kill and restart."""
    server = started_redis_server()
    yield server
    server.stop()
