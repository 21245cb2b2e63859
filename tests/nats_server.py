"""A throwaway ``nats-server`` on a free loopback port, and the fixtures that provide one.

Like :mod:`redis_server`: it can be killed and started again on the same port, or paused, for
the fault tests. Without a ``nats-server`` binary, the tests that need it are skipped, unless
``CI`` is set: there they fail, since CI must run them.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from server_process import ServerProcess, require_binary

__all__ = [
    "NatsServer",
    "fresh_nats_server",
    "nats_server",
    "require_nats_server",
    "started_nats_server",
]


def require_nats_server() -> str:
    """The path of ``nats-server``; skips the test without one, or fails it if ``CI`` is set.
    (Debian installs it in /usr/sbin, which may not be on PATH.)"""
    return require_binary("nats-server", "/usr/sbin/nats-server")


class NatsServer(ServerProcess):
    """One ``nats-server`` process on ``127.0.0.1:port``, up once it greets with ``INFO``."""

    name = "nats-server"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            self.binary,
            *("--addr", "127.0.0.1", "--port", str(self.port)),
            *("--log", os.path.join(self._dir.name, "nats.log")),
        ]

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(5) == b"INFO "
        except OSError:
            return False


def started_nats_server(*extra: str) -> NatsServer:
    """A running server on a free port (another is tried if the port was taken meanwhile)."""
    return NatsServer.started(require_nats_server(), *extra)


@pytest.fixture(scope="module")
def nats_server() -> Iterator[NatsServer]:
    """A server shared by the tests of one module: they must use distinct namespaces."""
    server = started_nats_server()
    yield server
    server.stop()


@pytest.fixture
def fresh_nats_server() -> Iterator[NatsServer]:
    """A server of the test's own, which it may kill, pause and restart."""
    server = started_nats_server()
    yield server
    server.stop()
